/* quail backup restore: one disk of a backup to a file, without any daemon. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup/chunk.h"
#include "backup/cmd_common.h"
#include "backup/commands.h"
#include "backup/repo_internal.h"
#include "block/node.h"
#include "util/error.h"

/* The block layer is another subsystem's: weak references let restore fall
 * back to qemu-img in a build that does not have it. */
#pragma weak blk_create
#pragma weak blk_open_image
#pragma weak blk_pwrite
#pragma weak blk_flush
#pragma weak blk_unref

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *b = buf;
    while (len) {
        ssize_t n = pwrite(fd, b, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        b += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Raw output stays thin: zero chunks are holes (a regular file is truncated to
 * the disk's size first), except on block devices, which get real zeroes. */
int restore_disk_raw(Repo *r, const DiskIndex *d, const char *to);
int restore_disk_raw(Repo *r, const DiskIndex *d, const char *to)
{
    struct stat st;
    bool blockdev = stat(to, &st) == 0 && S_ISBLK(st.st_mode);
    int fd = open(to, O_WRONLY | O_CLOEXEC | (blockdev ? 0 : O_CREAT | O_TRUNC), 0600);
    if (fd < 0)
        return err_set_errno(errno, "opening %s", to);
    uint8_t *buf = calloc(1, d->chunk_size);
    int ret = 0;
    if (!buf) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    if (!blockdev && ftruncate(fd, (off_t)d->size) < 0) {
        ret = err_set_errno(errno, "sizing %s", to);
        goto out;
    }
    static const uint8_t zeroes[4096];
    for (uint64_t i = 0; i < d->nchunks; i++) {
        uint64_t off = i * d->chunk_size;
        size_t len = d->size - off < d->chunk_size ? d->size - off : d->chunk_size;
        if (d->chunks[i].zero) {
            for (size_t z = 0; blockdev && z < len && ret == 0; z += sizeof(zeroes))
                ret = pwrite_all(fd, zeroes, len - z < sizeof(zeroes) ? len - z : sizeof(zeroes),
                                 off + z);
            if (ret < 0) {
                ret = err_set_errno(-ret, "writing %s", to);
                goto out;
            }
            continue;
        }
        int got = repo_read_chunk(r, d->chunks[i].hash, buf, d->chunk_size);
        if (got < 0) {
            ret = err_prefix(got, "disk %s at offset %llu", d->name, (unsigned long long)off);
            goto out;
        }
        if ((size_t)got != len) {
            ret = err_set(EBADMSG, "disk %s: chunk at offset %llu has %d bytes, expected %zu",
                          d->name, (unsigned long long)off, got, len);
            goto out;
        }
        if ((ret = pwrite_all(fd, buf, len, off)) < 0) {
            ret = err_set_errno(-ret, "writing %s", to);
            goto out;
        }
    }
    if (fsync(fd) < 0)
        ret = err_set_errno(errno, "syncing %s", to);
out:
    free(buf);
    if (close(fd) < 0 && ret == 0)
        ret = err_set_errno(errno, "closing %s", to);
    return ret;
}

/* qcow2 through quail's own block layer: a fresh image reads as zeroes, so
 * only data chunks are written and the output stays thin. */
static int restore_qcow2_native(Repo *r, const DiskIndex *d, const char *to)
{
    BlockCreateOpts o = { .size = d->size };
    int ret = blk_create("qcow2", to, &o);
    if (ret < 0)
        return err_prefix(ret, "creating %s", to);
    BlockNode *bs;
    if ((ret = blk_open_image(to, "qcow2", BLK_O_RDWR, &bs)) < 0)
        return err_prefix(ret, "opening %s", to);
    uint8_t *buf = malloc(d->chunk_size);
    if (!buf) {
        blk_unref(bs);
        return err_set(ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < d->nchunks && ret == 0; i++) {
        uint64_t off = i * d->chunk_size;
        size_t len = d->size - off < d->chunk_size ? d->size - off : d->chunk_size;
        if (d->chunks[i].zero)
            continue;
        int got = repo_read_chunk(r, d->chunks[i].hash, buf, d->chunk_size);
        if (got < 0)
            ret = err_prefix(got, "disk %s at offset %llu", d->name, (unsigned long long)off);
        else if ((size_t)got != len)
            ret = err_set(EBADMSG, "disk %s: chunk at offset %llu has %d bytes, expected %zu",
                          d->name, (unsigned long long)off, got, len);
        else if ((ret = blk_pwrite(bs, off, buf, len)) < 0)
            ret = err_prefix(ret, "writing %s", to);
    }
    if (ret == 0 && (ret = blk_flush(bs)) < 0)
        ret = err_prefix(ret, "flushing %s", to);
    free(buf);
    blk_unref(bs);
    return ret;
}

/* Last resort when this build has no block layer: qemu-img converts a sparse
 * (so cheap) raw temp file. */
static int restore_qcow2_via_qemu_img(Repo *r, const DiskIndex *d, const char *to)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.raw-tmp.%d", to, (int)getpid()) < 0)
        return err_set(ENOMEM, "out of memory");
    int ret = restore_disk_raw(r, d, tmp);
    if (ret == 0) {
        fprintf(stderr, "quail backup restore: this build has no qcow2 driver; writing qcow2 "
                "with qemu-img convert\n");
        pid_t pid = fork();
        if (pid == 0) {
            execlp("qemu-img", "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", tmp,
                   to, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status))
            ret = err_set(EIO, "qemu-img convert to %s failed", to);
    }
    unlink(tmp);
    free(tmp);
    return ret;
}

static int restore_qcow2(Repo *r, const DiskIndex *d, const char *to)
{
    if (blk_create && blk_open_image && blk_pwrite && blk_flush && blk_unref)
        return restore_qcow2_native(r, d, to);
    return restore_qcow2_via_qemu_img(r, d, to);
}

int backup_cmd_restore(int argc, char **argv)
{
    const char *disk = NULL, *to = NULL, *format = "raw";
    const CmdOpt opts[] = {
        { "disk", true, &disk }, { "to", true, &to }, { "format", true, &format },
        { NULL, false, NULL },
    };
    const char *usage = "restore REPO ID --disk NODE --to FILE [--format raw|qcow2]";
    CmdArgs a;
    if (cmd_parse(argc, argv, opts, usage, &a))
        return 2;
    if (a.npos != 1 || !to || (strcmp(format, "raw") && strcmp(format, "qcow2"))) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    Repo *r;
    Manifest *m = NULL;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("restore");
    int status = 0;
    if (repo_load_manifest(r, a.pos[0], &m) < 0) {
        status = cmd_fail("restore");
        goto out;
    }
    const DiskIndex *d = NULL;
    if (disk) {
        d = manifest_disk(m, disk);
    } else if (m->ndisks == 1) {
        d = &m->disks[0];          /* one disk: --disk may be left out */
    }
    if (!d) {
        fprintf(stderr, "quail backup restore: backup %s has %s disk %s; its disks:", m->id,
                disk ? "no" : "more than one", disk ? disk : "(use --disk)");
        for (size_t i = 0; i < m->ndisks; i++)
            fprintf(stderr, " %s", m->disks[i].name);
        fprintf(stderr, "\n");
        status = 1;
        goto out;
    }
    int ret = !strcmp(format, "raw") ? restore_disk_raw(r, d, to)
                                     : restore_qcow2(r, d, to);
    if (ret < 0) {
        status = cmd_fail("restore");
        goto out;
    }
    printf("restored disk %s of backup %s (%llu bytes) to %s (%s)\n", d->name, m->id,
           (unsigned long long)d->size, to, format);
out:
    manifest_free(m);
    repo_close(r);
    return status;
}
