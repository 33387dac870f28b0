/* Storage backends of a backup repository: a small table of operations on
 * paths relative to the repository root, so the repository code is the same for
 * a local directory and an SFTP server. */
#ifndef QUAIL_BACKUP_STORE_H
#define QUAIL_BACKUP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct Store Store;

/* How old a remote lock may grow without its holder refreshing it before
 * another writer may break it; the holder refreshes every STORE_LOCK_REFRESH. */
#define STORE_LOCK_STALE_SECS   3600
#define STORE_LOCK_REFRESH_SECS 600

typedef struct StoreOps {
    const char *name;
    /* Reads a whole file of at most max bytes (-EFBIG beyond); *buf is malloc'd. */
    int (*read)(Store *s, const char *path, void **buf, size_t *len, size_t max);
    /* Writes path atomically: temp file, fsync, rename, fsync of the directory.
     * With exclusive set, fails with -EEXIST if path exists (never replaces). */
    int (*write_atomic)(Store *s, const char *path, const void *buf, size_t len,
                        bool exclusive);
    /* Reads exactly len bytes at offset of path into buf: -ENOENT if there is
     * no such file, -ENODATA if it ends first. */
    int (*read_range)(Store *s, const char *path, uint64_t offset, void *buf, size_t len);
    /* 0 and the size if path exists, -ENOENT if not. */
    int (*stat)(Store *s, const char *path, uint64_t *size);
    /* Calls cb for every entry of dir except "." and ".."; a non-zero return of
     * cb stops the walk and is returned. */
    int (*list)(Store *s, const char *dir,
                int (*cb)(void *opaque, const char *name), void *opaque);
    int (*mkdir)(Store *s, const char *path);     /* existing is fine */
    int (*remove)(Store *s, const char *path);
    /* Exclusive repository lock; owner is a short text stored in the lock file.
     * -EBUSY with a message naming the holder if someone holds it. */
    /* Optional fast path for chunks; a backend without it gets write_atomic
     * (one sync per chunk).  stage() writes hdr then data to path+suffix
     * without syncing; sync() makes everything staged so far durable;
     * publish() renames path+suffix to path, without syncing.  A chunk name
     * therefore only ever appears for durable content (see
     * docs/backup-repository.md).  All three are safe to call from several
     * threads at once, and so are read and stat when thread_safe is set. */
    int (*stage)(Store *s, const char *path, const char *suffix, const void *hdr,
                 size_t hlen, const void *data, size_t len);
    int (*sync)(Store *s);
    int (*publish)(Store *s, const char *path, const char *suffix);
    /* Optional, with stage(): a staged file written piece by piece (packs
     * go straight to the file instead of through a buffer).  stage_open
     * creates path+suffix exclusively; stage_append writes the pieces at
     * its end; stage_close starts writeback and closes it, or with discard
     * removes it.  One file is used by one thread at a time. */
    int (*stage_open)(Store *s, const char *path, const char *suffix, void **fh);
    int (*stage_append)(Store *s, void *fh, const struct iovec *iov, int n);
    int (*stage_close)(Store *s, void *fh, bool discard);
    bool thread_safe;
    int (*lock)(Store *s, const char *owner);
    void (*lock_refresh)(Store *s);
    void (*unlock)(Store *s);
    void (*close)(Store *s);
} StoreOps;

struct Store {
    const StoreOps *ops;
    char *url;                     /* for messages */
};

/* Opens the backend for url (a local path or ssh://user@host[:port]/path). */
int store_open(const char *url, Store **out);
int store_local_open(const char *path, Store **out);
int store_sftp_open(const char *url, Store **out);
bool store_url_is_ssh(const char *url);

/* Lock file contents and staleness, shared by the backends. */
int store_lock_owner_text(char *buf, size_t len, const char *what);
/* True if the lock described by text (with modification time mtime) belongs to
 * a process that is gone: same host and dead pid, or not refreshed for
 * STORE_LOCK_STALE_SECS. */
bool store_lock_is_stale(const char *text, int64_t mtime);

#endif
