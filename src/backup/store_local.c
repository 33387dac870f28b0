/* Local-directory storage backend. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backup/store.h"
#include "util/error.h"

typedef struct LocalStore {
    Store s;
    char *root;
    int lock_fd;
} LocalStore;

static char *lpath(LocalStore *ls, const char *rel)
{
    char *p;
    if (!strcmp(rel, "."))
        return strdup(ls->root);
    if (asprintf(&p, "%s/%s", ls->root, rel) < 0)
        return NULL;
    return p;
}

static int local_read(Store *s, const char *path, void **buf, size_t *len, size_t max)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        err_set_errno(e, "%s", p);
        free(p);
        return -e;
    }
    struct stat st;
    int ret = 0;
    char *data = NULL;
    if (fstat(fd, &st) < 0) {
        ret = err_set_errno(errno, "%s", p);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        ret = err_set(EFBIG, "%s: %lld bytes, more than the %zu allowed", p,
                      (long long)st.st_size, max);
        goto out;
    }
    data = malloc(st.st_size ? st.st_size : 1);
    if (!data) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, data + done, st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = err_set_errno(errno, "reading %s", p);
            goto out;
        }
        if (n == 0)
            break;
        done += n;
    }
    *buf = data;
    *len = done;
    data = NULL;
out:
    free(data);
    close(fd);
    free(p);
    return ret;
}

static int fsync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return err_set(ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int fd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ret = 0;
    if (fd < 0 || fsync(fd) < 0)
        ret = err_set_errno(errno, "syncing directory %s", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return ret;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *b = buf;
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        b += n;
        len -= n;
    }
    return 0;
}

static int local_write_atomic(Store *s, const char *path, const void *buf, size_t len,
                              bool exclusive)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, path), *tmp = NULL;
    int ret = 0, fd = -1;
    if (!p || asprintf(&tmp, "%s.tmp.%d.%08x", p, (int)getpid(), (unsigned)random()) < 0) {
        tmp = NULL;
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ret = err_set_errno(errno, "creating %s", tmp);
        goto out;
    }
    int e = write_all(fd, buf, len);
    if (!e && fsync(fd) < 0)
        e = -errno;
    if (e) {
        ret = err_set_errno(-e, "writing %s", tmp);
        goto out;
    }
    close(fd);
    fd = -1;
    if (exclusive) {
        /* link() never replaces, unlike rename(), and works on every local fs. */
        if (link(tmp, p) < 0) {
            int le = errno;
            ret = le == EEXIST ? -EEXIST : err_set_errno(le, "linking %s", p);
            if (le == EEXIST)
                err_set(EEXIST, "%s exists", p);
            goto out;
        }
        unlink(tmp);
    } else if (rename(tmp, p) < 0) {
        ret = err_set_errno(errno, "renaming %s", tmp);
        goto out;
    }
    ret = fsync_parent(p);
out:
    if (fd >= 0)
        close(fd);
    if (tmp && ret < 0)
        unlink(tmp);
    free(tmp);
    free(p);
    return ret;
}

static int local_stage(Store *s, const char *path, const char *suffix, const void *hdr,
                       size_t hlen, const void *data, size_t len)
{
    LocalStore *ls = (LocalStore *)s;
    char *tmp;
    if (asprintf(&tmp, "%s/%s%s", ls->root, path, suffix) < 0)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        ret = err_set_errno(errno, "creating %s", tmp);
        goto out;
    }
    struct iovec iov[2] = { { (void *)hdr, hlen }, { (void *)data, len } };
    int i = 0;
    while (i < 2) {
        ssize_t n = writev(fd, iov + i, 2 - i);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = err_set_errno(errno, "writing %s", tmp);
            break;
        }
        while (i < 2 && (size_t)n >= iov[i].iov_len)
            n -= iov[i++].iov_len;
        if (i < 2) {
            iov[i].iov_base = (char *)iov[i].iov_base + n;
            iov[i].iov_len -= n;
        }
    }
    /* Start writeback now, without waiting, so the disk works while the
     * backup goes on and the sync at commit has little left to do. */
    if (ret == 0)
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (close(fd) < 0 && ret == 0)
        ret = err_set_errno(errno, "writing %s", tmp);
    if (ret < 0)
        unlink(tmp);
out:
    free(tmp);
    return ret;
}

/* One syncfs() instead of an fsync per file and directory: it writes back and
 * waits for every dirty page and inode of the file system, and since Linux 5.8
 * reports writeback errors. */
typedef struct LocalStaged {
    int fd;
    char *tmp;
} LocalStaged;

static int local_stage_open(Store *s, const char *path, const char *suffix, void **fh)
{
    LocalStore *ls = (LocalStore *)s;
    LocalStaged *f = calloc(1, sizeof(*f));
    if (!f || asprintf(&f->tmp, "%s/%s%s", ls->root, path, suffix) < 0) {
        free(f);
        return err_set(ENOMEM, "out of memory");
    }
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        int ret = err_set_errno(errno, "creating %s", f->tmp);
        free(f->tmp);
        free(f);
        return ret;
    }
    *fh = f;
    return 0;
}

static int local_stage_append(Store *s, void *fh, const struct iovec *iov, int n)
{
    (void)s;
    LocalStaged *f = fh;
    struct iovec v[8];
    if (n < 1 || n > 8)
        return err_set(EINVAL, "bad iovec count %d", n);
    memcpy(v, iov, n * sizeof(*v));
    int i = 0;
    while (i < n) {
        ssize_t k = writev(f->fd, v + i, n - i);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return err_set_errno(errno, "writing %s", f->tmp);
        while (i < n && (size_t)k >= v[i].iov_len)
            k -= v[i++].iov_len;
        if (i < n) {
            v[i].iov_base = (char *)v[i].iov_base + k;
            v[i].iov_len -= k;
        }
    }
    return 0;
}

static int local_stage_close(Store *s, void *fh, bool discard)
{
    (void)s;
    LocalStaged *f = fh;
    int ret = 0;
    /* Start writeback now, without waiting, so the disk works while the
     * backup goes on and the sync at commit has little left to do. */
    if (!discard)
        sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (close(f->fd) < 0 && !discard)
        ret = err_set_errno(errno, "writing %s", f->tmp);
    if (discard || ret < 0)
        unlink(f->tmp);
    free(f->tmp);
    free(f);
    return ret;
}

static int local_sync(Store *s)
{
    LocalStore *ls = (LocalStore *)s;
    int fd = open(ls->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set_errno(errno, "opening %s", ls->root);
    int ret = 0;
    if (syncfs(fd) < 0)
        ret = err_set_errno(errno, "syncing the file system of %s", ls->root);
    close(fd);
    return ret;
}

static int local_publish(Store *s, const char *path, const char *suffix)
{
    LocalStore *ls = (LocalStore *)s;
    char *tmp = NULL, *p = NULL;
    int ret = 0;
    if (asprintf(&tmp, "%s/%s%s", ls->root, path, suffix) < 0) {
        tmp = NULL;
        ret = err_set(ENOMEM, "out of memory");
    } else if (!(p = lpath(ls, path))) {
        ret = err_set(ENOMEM, "out of memory");
    } else if (rename(tmp, p) < 0) {
        /* Replacing is harmless: only durable, complete content ever has a
         * chunk's name, and the name says what the content is. */
        ret = err_set_errno(errno, "renaming %s", tmp);
    }
    free(tmp);
    free(p);
    return ret;
}

static int local_read_range(Store *s, const char *path, uint64_t offset, void *buf,
                            size_t len)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = errno == ENOENT ? -ENOENT : err_set_errno(errno, "%s", p);
        free(p);
        return ret;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = err_set_errno(errno, "reading %s", p);
            break;
        }
        if (n == 0) {
            ret = err_set(ENODATA, "%s ends before %llu", p,
                          (unsigned long long)(offset + len));
            break;
        }
        done += n;
    }
    close(fd);
    free(p);
    return ret;
}

static int local_stat(Store *s, const char *path, uint64_t *size)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    struct stat st;
    int ret = 0;
    if (stat(p, &st) < 0)
        ret = errno == ENOENT ? -ENOENT : err_set_errno(errno, "%s", p);
    else if (size)
        *size = st.st_size;
    free(p);
    return ret;
}

static int local_list(Store *s, const char *dir, int (*cb)(void *, const char *), void *opaque)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, dir);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    DIR *d = opendir(p);
    if (!d) {
        int e = errno;
        err_set_errno(e, "%s", p);
        free(p);
        return -e;
    }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        ret = cb(opaque, de->d_name);
        if (ret)
            break;
    }
    closedir(d);
    free(p);
    return ret;
}

static int local_mkdir(Store *s, const char *path)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        ret = err_set_errno(errno, "creating %s", p);
    free(p);
    return ret;
}

static int local_remove(Store *s, const char *path)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    if (unlink(p) < 0)
        ret = errno == ENOENT ? -ENOENT : err_set_errno(errno, "removing %s", p);
    free(p);
    return ret;
}

/* flock() is the real lock here (the kernel drops it when a holder dies); the
 * owner text is also written so an SFTP writer on another host sees a holder,
 * and an SFTP holder's file is honoured in turn. */
static int local_lock(Store *s, const char *owner)
{
    LocalStore *ls = (LocalStore *)s;
    char *p = lpath(ls, "lock");
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            ret = err_set_errno(errno, "opening %s", p);
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            char text[256] = "";
            ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
            text[n > 0 ? n : 0] = '\0';
            text[strcspn(text, "\n")] = '\0';
            close(fd);
            ret = err_set(EBUSY, "repository %s is locked by %s", ls->root,
                          text[0] ? text : "another process");
            break;
        }
        /* The previous holder may have unlinked the file between our open and
         * flock; then we locked an orphan and must start again. */
        struct stat a, b;
        if (fstat(fd, &a) < 0 || stat(p, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            close(fd);
            continue;
        }
        char text[256] = "";
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        text[n > 0 ? n : 0] = '\0';
        if (text[0] && !store_lock_is_stale(text, a.st_mtime)) {
            close(fd);
            text[strcspn(text, "\n")] = '\0';
            ret = err_set(EBUSY, "repository %s is locked by %s", ls->root, text);
            break;
        }
        if (ftruncate(fd, 0) < 0 || pwrite(fd, owner, strlen(owner), 0) < 0) {
            ret = err_set_errno(errno, "writing %s", p);
            close(fd);
            break;
        }
        ls->lock_fd = fd;
        ret = 0;
        break;
    }
    free(p);
    return ret;
}

static void local_lock_refresh(Store *s)
{
    LocalStore *ls = (LocalStore *)s;
    if (ls->lock_fd >= 0)
        futimens(ls->lock_fd, NULL);
}

static void local_unlock(Store *s)
{
    LocalStore *ls = (LocalStore *)s;
    if (ls->lock_fd < 0)
        return;
    char *p = lpath(ls, "lock");
    if (p)
        unlink(p);
    free(p);
    close(ls->lock_fd);
    ls->lock_fd = -1;
}

static void local_close(Store *s)
{
    LocalStore *ls = (LocalStore *)s;
    local_unlock(s);
    free(ls->root);
    free(ls->s.url);
    free(ls);
}

static const StoreOps local_ops = {
    .name = "local",
    .read = local_read,
    .write_atomic = local_write_atomic,
    .stat = local_stat,
    .list = local_list,
    .mkdir = local_mkdir,
    .remove = local_remove,
    .read_range = local_read_range,
    .stage = local_stage,
    .sync = local_sync,
    .publish = local_publish,
    .stage_open = local_stage_open,
    .stage_append = local_stage_append,
    .stage_close = local_stage_close,
    .thread_safe = true,
    .lock = local_lock,
    .lock_refresh = local_lock_refresh,
    .unlock = local_unlock,
    .close = local_close,
};

int store_local_open(const char *path, Store **out)
{
    LocalStore *ls = calloc(1, sizeof(*ls));
    if (!ls)
        return err_set(ENOMEM, "out of memory");
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    ls->root = strndup(path, n);
    ls->s.url = strdup(path);
    if (!ls->root || !ls->s.url) {
        free(ls->root);
        free(ls->s.url);
        free(ls);
        return err_set(ENOMEM, "out of memory");
    }
    ls->s.ops = &local_ops;
    ls->lock_fd = -1;
    *out = &ls->s;
    return 0;
}
