/* The block layer graph.
 *
 * A BlockNode is one driver instance (file, raw, qcow2, later filters) with a
 * node-name.  Nodes are linked by BlockChild edges carrying a role ("file",
 * "backing", "target") and the permissions the parent needs plus those it lets
 * others have; a root user (device, export, job) attaches through a BlockChild
 * with no parent node.  Attaching checks those permissions against every other
 * user of the node so two writers conflict as in QEMU.
 *
 * Drivers implement synchronous operations, called on whatever thread submits
 * them (a tool, a test, or an I/O worker).  The asynchronous interface
 * (blk_aio_*) never blocks the caller: a driver with native async support
 * (file over io_uring, raw passing through) gets the request directly, any
 * other request runs on the shared I/O worker pool.  The core knows nothing of
 * throttling or write notifiers: those are filter drivers.
 *
 * Options of a node are a json-c object tree (see blockdev_opts.h); values may
 * be strings (from the dotted command-line form) or typed JSON (QMP), so
 * drivers read them with the bopt_* helpers.
 */
#ifndef QUAIL_BLOCK_NODE_H
#define QUAIL_BLOCK_NODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <json-c/json.h>

/* Same bit numbers as QEMU: the file driver's lock bytes derive from them. */
enum {
    BLK_PERM_CONSISTENT_READ = 0x01,
    BLK_PERM_WRITE = 0x02,
    BLK_PERM_WRITE_UNCHANGED = 0x04,
    BLK_PERM_RESIZE = 0x08,
    BLK_PERM_ALL = 0x0f,
};
#define BLK_PERM_COUNT 4
const char *blk_perm_name(unsigned bit);

typedef enum BlockRole {
    BLK_ROLE_FILE,      /* protocol under a format, or filtered child */
    BLK_ROLE_BACKING,   /* COW backing image */
    BLK_ROLE_TARGET,    /* job/filter target */
    BLK_ROLE_ROOT,      /* device, export, tool */
} BlockRole;

/* block_status flags */
enum {
    BLK_STATUS_DATA = 0x01,         /* reads come from data in the image */
    BLK_STATUS_ZERO = 0x02,         /* reads return zeroes */
    BLK_STATUS_ALLOCATED = 0x04,    /* this layer decides the content */
    BLK_STATUS_OFFSET_VALID = 0x08, /* *map holds the offset in *file */
};

/* write_zeroes flags */
enum { BLK_ZERO_MAY_UNMAP = 0x01 };

/* open flags */
enum {
    BLK_O_RDWR = 0x01,
    BLK_O_NO_BACKING = 0x02,   /* do not open a format's backing chain */
    BLK_O_FORCE_SHARE = 0x04,  /* -U: take no locks, share everything (read-only) */
    BLK_O_NO_FLUSH = 0x08,     /* cache=unsafe: flushes are no-ops (tools' temporary output) */
};

typedef struct BlockNode BlockNode;
typedef struct BlockChild BlockChild;

struct BlockChild {
    char *name;             /* "file", "backing", or the root user's name */
    BlockRole role;
    BlockNode *parent;      /* NULL for a root user */
    BlockNode *node;
    unsigned perm, shared;
    BlockChild *next_parent;    /* in node->parents */
    BlockChild *next_child;     /* in parent->children */
};

typedef struct BlockAIO BlockAIO;
typedef void BlockCompletionFunc(void *opaque, int ret);

enum { BLK_AIO_READ, BLK_AIO_WRITE, BLK_AIO_FLUSH, BLK_AIO_DISCARD, BLK_AIO_ZERO };

struct BlockAIO {
    BlockNode *bs;
    int op;
    uint64_t offset, bytes;
    struct iovec *iov;      /* caller-owned until completion */
    int niov;
    unsigned flags;
    BlockCompletionFunc *cb;
    void *opaque;
    BlockAIO *next;         /* worker queue */
    void *drv_priv;
};

/* Parameters for creating an image file (quail img create, blockdev-create). */
typedef struct BlockCreateOpts {
    uint64_t size;
    uint32_t cluster_size;      /* 0: driver default */
    const char *backing_file;
    const char *backing_fmt;
    int compat;                 /* qcow2: 2 or 3 (0: 3) */
    int refcount_bits;          /* 0: 16 */
    int compression_type;       /* 0 zlib, 1 zstd */
    bool lazy_refcounts;
} BlockCreateOpts;

/* qcow2-style consistency check results (qemu-img check). */
typedef struct BlockCheckResult {
    int64_t corruptions, leaks, check_errors;
    int64_t corruptions_fixed, leaks_fixed;
    int64_t image_end_offset;
    int64_t allocated_clusters, total_clusters, fragmented_clusters, compressed_clusters;
} BlockCheckResult;
enum { BLK_FIX_LEAKS = 1, BLK_FIX_ERRORS = 2, BLK_CHECK_QUIET = 0x100 /* no per-cluster messages */ };

typedef struct BlockDriver {
    const char *name;
    size_t state_size;          /* bs->opaque is zero-allocated with this size */
    bool is_format;             /* format over a protocol child named "file" */
    bool supports_backing;
    bool protocol;              /* writes may extend it (formats grow their file) */
    /* Score for format probing from the first bytes (0: not this format). */
    int (*probe)(const uint8_t *buf, size_t len);

    int (*open)(BlockNode *bs, json_object *opts, int flags);
    void (*close)(BlockNode *bs);

    int (*preadv)(BlockNode *bs, uint64_t off, uint64_t bytes,
                  struct iovec *iov, int niov);
    int (*pwritev)(BlockNode *bs, uint64_t off, uint64_t bytes,
                   struct iovec *iov, int niov);
    int (*flush)(BlockNode *bs);
    int (*discard)(BlockNode *bs, uint64_t off, uint64_t bytes);
    int (*write_zeroes)(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags);
    /* One cluster (off cluster-aligned, len = cluster size or the image's
     * last partial cluster) stored compressed. */
    int (*pwrite_compressed)(BlockNode *bs, uint64_t off, const void *buf, uint64_t len);
    /* Returns BLK_STATUS_* flags for [off, off + *pnum) with *pnum in (0, bytes]. */
    int (*block_status)(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                        uint64_t *map, BlockNode **file);
    int (*truncate)(BlockNode *bs, uint64_t size, bool shrink);
    int64_t (*getlength)(BlockNode *bs);
    int64_t (*allocated_size)(BlockNode *bs);   /* bytes used on the host */
    /* Adds format members to a qemu-img-info-shaped object: cluster-size,
     * format-specific {type, data}, dirty-flag. */
    int (*get_info)(BlockNode *bs, json_object *info);
    int (*check)(BlockNode *bs, BlockCheckResult *res, int fix);
    int (*create)(const char *filename, const BlockCreateOpts *o);

    /* Native asynchronous submission; return -ENOTSUP to use the worker pool.
     * On 0 the driver completes the request exactly once with blk_aio_complete(). */
    int (*aio_submit)(BlockNode *bs, BlockAIO *req);

    /* Permissions this node needs on a child in role, and shares with others,
     * given what the node's own parents use (parent_perm) and share
     * (parent_shared).  Formats ignore them (their needs follow read-only);
     * pass-through drivers (raw, filters) forward them.  Recomputed whenever
     * a node's users change, so edges below follow the users above. */
    void (*child_perm)(BlockNode *bs, BlockRole role, unsigned parent_perm,
                       unsigned parent_shared, unsigned *perm, unsigned *shared);
    /* The node's cumulative use changed (file: retake the image locks). */
    int (*set_perm)(BlockNode *bs, unsigned perm, unsigned shared);
} BlockDriver;

struct BlockNode {
    char *node_name;
    bool auto_named;
    bool monitor_owned;         /* added with blockdev-add: blockdev-del may remove */
    const BlockDriver *drv;
    void *opaque;
    char filename[4096];        /* for info: the protocol file name */
    bool read_only;
    int open_flags;
    int refcnt;
    BlockChild *children;
    BlockChild *parents;
    BlockChild *file, *backing; /* shortcuts into children */
    char backing_file[1024];    /* as recorded in the image */
    char backing_fmt[32];
    uint32_t request_alignment;
    uint32_t cluster_size;      /* allocation unit of a format, 0 if none */
    json_object *options;       /* the options it was opened with (owned ref) */
    struct DirtyBitmap *dirty_bitmaps;  /* dirty_bitmap.h; marked by the core after writes */

    pthread_mutex_t inflight_lock;
    pthread_cond_t inflight_cond;
    int inflight;

    BlockNode *next_node;       /* global list */
};

/* Driver registry (constructor-registered, like devices). */
void blk_driver_register(const BlockDriver *drv);
const BlockDriver *blk_driver_find(const char *name);
#define BLOCK_DRIVER_REGISTER(var) \
    static void __attribute__((constructor)) blk_driver_reg_##var(void) \
    { blk_driver_register(&(var)); }

/* Opens a node tree from options (driver, node-name, read-only, children as
 * nested objects or node-name references).  Returns a new reference. */
int blk_open(json_object *opts, int flags, BlockNode **out);
/* Convenience for tools: filename with format ("qcow2", "raw", or NULL to probe). */
int blk_open_image(const char *filename, const char *fmt, int flags, BlockNode **out);
/* Probes the format of a file by its first bytes ("qcow2" or "raw"). */
int blk_probe_format(const char *filename, const char **fmt);

void blk_ref(BlockNode *bs);
void blk_unref(BlockNode *bs);
BlockNode *blk_find_node(const char *node_name);
BlockNode *blk_next_node(BlockNode *bs);    /* iteration: blk_next_node(NULL) first */
/* blockdev-del: removes a monitor-owned node that nobody uses. */
int blk_node_del(const char *node_name);

/* For drivers' open(): opens or references child `key` of opts and attaches it. */
int blk_open_child(BlockNode *parent, json_object *opts, const char *key, BlockRole role,
                   int flags, bool optional, BlockChild **out);
int blk_attach_child(BlockNode *parent, BlockNode *child, const char *name, BlockRole role,
                     BlockChild **out);
void blk_detach_child(BlockChild *c);
/* Root users: devices, exports, jobs.  Fails with QEMU-like conflict messages. */
int blk_root_attach(BlockNode *bs, const char *user, unsigned perm, unsigned shared,
                    BlockChild **out);
void blk_root_detach(BlockChild *c);
/* Moves every parent edge of `from` except those of `to` itself onto `to`
 * (filter insertion above `from`, or removal when `from` is the filter),
 * after draining both; fails without change if a permission conflicts. */
int blk_replace_node(BlockNode *from, BlockNode *to);
/* The node's cumulative permissions over all its parents. */
void blk_node_perms(BlockNode *bs, unsigned *perm, unsigned *shared);

/* Synchronous I/O.  Bounds-checked against the node's length. */
int blk_preadv(BlockNode *bs, uint64_t off, struct iovec *iov, int niov);
int blk_pwritev(BlockNode *bs, uint64_t off, struct iovec *iov, int niov);
int blk_pread(BlockNode *bs, uint64_t off, void *buf, uint64_t len);
int blk_pwrite(BlockNode *bs, uint64_t off, const void *buf, uint64_t len);
int blk_flush(BlockNode *bs);
/* Compressed cluster write (qcow2): -ENOTSUP where the driver has none. */
int blk_pwrite_compressed(BlockNode *bs, uint64_t off, const void *buf, uint64_t len);
int blk_discard(BlockNode *bs, uint64_t off, uint64_t len);
int blk_write_zeroes(BlockNode *bs, uint64_t off, uint64_t len, unsigned flags);
int blk_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                     uint64_t *map, BlockNode **file);
int blk_truncate(BlockNode *bs, uint64_t size, bool shrink);
int64_t blk_getlength(BlockNode *bs);
int64_t blk_allocated_size(BlockNode *bs);
/* Waits until no request of bs is in flight. */
void blk_drain(BlockNode *bs);
/* The same for every node (a paused machine has no I/O still landing). */
void blk_drain_all(void);

/* Asynchronous I/O: returns 0 once queued (cb then runs exactly once, on an
 * I/O thread, possibly before this returns; a read the page cache satisfies
 * without waiting may complete inline on the submitting thread) or a
 * negative errno without calling cb.  iov must stay valid until cb. */
int blk_aio_preadv(BlockNode *bs, uint64_t off, struct iovec *iov, int niov,
                   BlockCompletionFunc *cb, void *opaque);
int blk_aio_pwritev(BlockNode *bs, uint64_t off, struct iovec *iov, int niov,
                    BlockCompletionFunc *cb, void *opaque);
int blk_aio_flush(BlockNode *bs, BlockCompletionFunc *cb, void *opaque);
int blk_aio_discard(BlockNode *bs, uint64_t off, uint64_t len,
                    BlockCompletionFunc *cb, void *opaque);
int blk_aio_write_zeroes(BlockNode *bs, uint64_t off, uint64_t len, unsigned flags,
                         BlockCompletionFunc *cb, void *opaque);
/* For drivers with aio_submit: finishes req (calls cb, frees req). */
void blk_aio_complete(BlockAIO *req, int ret);
/* Runs req's synchronous operation now (drivers forwarding requests use it). */
int blk_aio_run_sync(BlockAIO *req);

/* Creation through a driver (quail img create, blockdev-create). */
int blk_create(const char *fmt, const char *filename, const BlockCreateOpts *o);

/* iovec helpers */
uint64_t iov_size(const struct iovec *iov, int niov);
void iov_memset(struct iovec *iov, int niov, uint64_t off, int c, uint64_t len);
void iov_to_buf(const struct iovec *iov, int niov, uint64_t off, void *buf, uint64_t len);
void iov_from_buf(struct iovec *iov, int niov, uint64_t off, const void *buf, uint64_t len);
/* Builds dst (at most max entries) covering [off, off+len) of src; returns count or -EINVAL. */
int iov_slice(struct iovec *dst, int max, const struct iovec *src, int niov,
              uint64_t off, uint64_t len);

#endif
