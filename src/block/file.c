/* `file` protocol driver: a host file or block device.
 *
 * Synchronous requests use pread/pwrite on the caller's thread; asynchronous
 * ones go to io_uring (aio=io_uring, the default) with a completion thread per
 * node, or to the core worker pool (aio=threads, or when io_uring cannot be
 * set up, e.g. under a seccomp sandbox).  Image locking matches QEMU's
 * file-posix so quail and QEMU refuse to share an image for writing.
 */
#include "block/file_priv.h"
#include "block/blockdev_opts.h"
#include "util/error.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t file_getlength(BlockNode *bs)
{
    FileState *s = bs->opaque;
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return err_set_errno(errno, "stat '%s'", bs->filename);
    if (S_ISBLK(st.st_mode)) {
        uint64_t sz;
        if (ioctl(s->fd, BLKGETSIZE64, &sz) < 0)
            return err_set_errno(errno, "BLKGETSIZE64 '%s'", bs->filename);
        return (int64_t)sz;
    }
    return st.st_size;
}

static int64_t file_allocated_size(BlockNode *bs)
{
    FileState *s = bs->opaque;
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return err_set_errno(errno, "stat '%s'", bs->filename);
    return (int64_t)st.st_blocks * 512;
}

#define DIRECT_ALIGN 4096u

bool file_aligned(FileState *s, uint64_t off, const struct iovec *iov, int niov)
{
    if (!s->direct)
        return true;
    if (off % DIRECT_ALIGN)
        return false;
    for (int i = 0; i < niov; i++)
        if ((uintptr_t)iov[i].iov_base % DIRECT_ALIGN || iov[i].iov_len % DIRECT_ALIGN)
            return false;
    return true;
}

static int rw_plain(FileState *s, bool write, uint64_t off, struct iovec *iov, int niov);

/* O_DIRECT with an unaligned request: go through an aligned bounce buffer
 * (read-modify-write for writes). */
static int rw_bounce(FileState *s, bool write, uint64_t off, struct iovec *iov, int niov)
{
    uint64_t len = iov_size(iov, niov);
    uint64_t a = off / DIRECT_ALIGN * DIRECT_ALIGN;
    uint64_t b = (off + len + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
    void *buf;
    if (posix_memalign(&buf, DIRECT_ALIGN, b - a))
        return err_set(ENOMEM, "out of memory for an O_DIRECT bounce buffer");
    struct iovec v = { buf, b - a };
    int ret = 0;
    if (!write || a != off || b != off + len)
        ret = rw_plain(s, false, a, &v, 1);
    if (ret == 0) {
        if (write) {
            struct stat st;
            uint64_t old_size = fstat(s->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
            iov_to_buf(iov, niov, 0, (uint8_t *)buf + (off - a), len);
            ret = rw_plain(s, true, a, &v, 1);
            /* The aligned write must not grow the file past the request. */
            uint64_t keep = old_size > off + len ? old_size : off + len;
            if (ret == 0 && b > keep && ftruncate(s->fd, (off_t)keep) < 0)
                ret = err_set_errno(errno, "truncate after an O_DIRECT write");
        } else {
            iov_from_buf(iov, niov, 0, (uint8_t *)buf + (off - a), len);
        }
    }
    free(buf);
    return ret;
}

int file_rw_sync(FileState *s, bool write, uint64_t off, struct iovec *iov, int niov)
{
    if (!s->direct)
        return rw_plain(s, write, off, iov, niov);
    bool bounce = !file_aligned(s, off, iov, niov);
    if (bounce && write)
        pthread_rwlock_wrlock(&s->rmw_lock);
    else
        pthread_rwlock_rdlock(&s->rmw_lock);
    int ret = bounce ? rw_bounce(s, write, off, iov, niov) : rw_plain(s, write, off, iov, niov);
    pthread_rwlock_unlock(&s->rmw_lock);
    return ret;
}

static int rw_plain(FileState *s, bool write, uint64_t off, struct iovec *iov, int niov)
{
    uint64_t total = iov_size(iov, niov), done = 0;
    struct iovec local[64];
    while (done < total) {
        int n = iov_slice(local, 64, iov, niov, done, total - done);
        if (n < 0)
            n = iov_slice(local, 1, iov, niov, done, iov[0].iov_len);
        if (n <= 0)
            return err_set(EINVAL, "bad I/O vector");
        ssize_t r = write ? pwritev(s->fd, local, n, (off_t)(off + done))
                          : preadv(s->fd, local, n, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && s->direct && !write && done) {
                /* O_DIRECT tail past an unaligned end of file */
                iov_memset(iov, niov, done, 0, total - done);
                break;
            }
            return err_set_errno(errno, "%s at %llu", write ? "write" : "read",
                                 (unsigned long long)(off + done));
        }
        if (r == 0) {
            if (write)
                return err_set(EIO, "short write at %llu", (unsigned long long)(off + done));
            /* Past end of file reads as zeroes (the file may be shorter than a
             * format believes during allocation races). */
            iov_memset(iov, niov, done, 0, total - done);
            break;
        }
        done += (uint64_t)r;
    }
    return 0;
}

static int file_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    (void)bytes;
    return file_rw_sync(bs->opaque, false, off, iov, niov);
}

static int file_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    (void)bytes;
    return file_rw_sync(bs->opaque, true, off, iov, niov);
}

static int file_flush(BlockNode *bs)
{
    FileState *s = bs->opaque;
    if (bs->read_only || s->no_flush)
        return 0;
    if (fdatasync(s->fd) < 0)
        return err_set_errno(errno, "flush '%s'", bs->filename);
    return 0;
}

static int file_discard(BlockNode *bs, uint64_t off, uint64_t bytes)
{
    FileState *s = bs->opaque;
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)bytes) < 0) {
        /* Discard is advisory: a file system without hole punching keeps the data. */
        if (errno == EOPNOTSUPP || errno == ENOSYS)
            return 0;
        return err_set_errno(errno, "discard '%s'", bs->filename);
    }
    return 0;
}

static int file_write_zeroes(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags)
{
    FileState *s = bs->opaque;
    int64_t len = file_getlength(bs);
    if (len < 0)
        return (int)len;
    int mode = (flags & BLK_ZERO_MAY_UNMAP) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                            : FALLOC_FL_ZERO_RANGE;
    if (fallocate(s->fd, mode, (off_t)off, (off_t)bytes) == 0)
        return 0;
    if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) &&
        fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)bytes) == 0)
        return 0;
    static const uint8_t zeros[65536];
    while (bytes) {
        uint64_t n = bytes < sizeof(zeros) ? bytes : sizeof(zeros);
        struct iovec v = { (void *)zeros, n };
        int ret = file_rw_sync(s, true, off, &v, 1);
        if (ret < 0)
            return ret;
        off += n;
        bytes -= n;
    }
    return 0;
}

static int file_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                             uint64_t *map, BlockNode **file)
{
    FileState *s = bs->opaque;
    *map = off;
    *file = bs;
    off_t data = lseek(s->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) {
        *pnum = bytes;  /* trailing hole */
        return BLK_STATUS_ZERO | BLK_STATUS_OFFSET_VALID;
    }
    if (data < 0) {
        *pnum = bytes;  /* no SEEK_DATA: everything is data */
        return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
    }
    if ((uint64_t)data > off) {
        uint64_t n = (uint64_t)data - off;
        *pnum = n < bytes ? n : bytes;
        return BLK_STATUS_ZERO | BLK_STATUS_OFFSET_VALID;
    }
    off_t hole = lseek(s->fd, (off_t)off, SEEK_HOLE);
    uint64_t n = (hole < 0 || (uint64_t)hole <= off) ? bytes : (uint64_t)hole - off;
    *pnum = n < bytes ? n : bytes;
    return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
}

static int file_truncate(BlockNode *bs, uint64_t size, bool shrink)
{
    FileState *s = bs->opaque;
    int64_t cur = file_getlength(bs);
    if (cur < 0)
        return (int)cur;
    if (size < (uint64_t)cur && !shrink)
        return err_set(EINVAL, "Use the --shrink option to shrink '%s'", bs->filename);
    if (ftruncate(s->fd, (off_t)size) < 0)
        return err_set_errno(errno, "Failed to resize '%s'", bs->filename);
    return 0;
}

static int file_open(BlockNode *bs, json_object *opts, int flags)
{
    FileState *s = bs->opaque;
    s->fd = -1;
    s->locked_shared = BLK_PERM_ALL;
    pthread_rwlock_init(&s->rmw_lock, NULL);
    const char *fn = bopt_str(opts, "filename");
    if (!fn)
        return err_set(EINVAL, "Parameter 'filename' is required");
    if (strlen(fn) >= sizeof(bs->filename))
        return err_set(ENAMETOOLONG, "file name too long");
    snprintf(bs->filename, sizeof(bs->filename), "%s", fn);

    const char *aio = bopt_str(opts, "aio");
    if (!aio || !strcmp(aio, "io_uring") || !strcmp(aio, "native"))
        s->want_uring = true;
    else if (strcmp(aio, "threads"))
        return err_set(EINVAL, "Parameter 'aio' does not accept value '%s'", aio);
    const char *lock = bopt_str(opts, "locking");
    s->locking = !lock || strcmp(lock, "off");
    bool direct;
    int ret = bopt_bool(opts, "direct", false, &direct);
    if (ret < 0)
        return ret;
    json_object *cache;
    s->no_flush = flags & BLK_O_NO_FLUSH;
    if (json_object_object_get_ex(opts, "cache", &cache) &&
        (ret = bopt_bool(cache, "no-flush", s->no_flush, &s->no_flush)) < 0)
        return ret;

    int oflags = O_CLOEXEC | ((flags & BLK_O_RDWR) ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0);
    s->fd = open(fn, oflags);
    if (s->fd < 0)
        return err_set_errno(errno, "Could not open '%s'", fn);
    s->direct = direct;
    if (direct)
        bs->request_alignment = DIRECT_ALIGN;
    if (flags & BLK_O_FORCE_SHARE)
        s->locking = false;
    file_uring_init(bs);
    return 0;
}

static void file_close(BlockNode *bs)
{
    FileState *s = bs->opaque;
    file_uring_cleanup(bs);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    pthread_rwlock_destroy(&s->rmw_lock);
}

static BlockDriver file_driver = {
    .name = "file",
    .protocol = true,
    .state_size = sizeof(FileState),
    .open = file_open,
    .close = file_close,
    .preadv = file_preadv,
    .pwritev = file_pwritev,
    .flush = file_flush,
    .discard = file_discard,
    .write_zeroes = file_write_zeroes,
    .block_status = file_block_status,
    .truncate = file_truncate,
    .getlength = file_getlength,
    .allocated_size = file_allocated_size,
    .aio_submit = file_aio_submit,
    .set_perm = file_set_perm,
};
BLOCK_DRIVER_REGISTER(file_driver)
