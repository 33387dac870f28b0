/* copy-before-write filter: before a write, discard or zero-write reaches
 * the `file` child, the old content of every chunk it touches that is still
 * pending is copied to the `target` child.  The target thus holds the image
 * as it was when the filter started, for every chunk that changed since.
 *
 * This is the only place backups intercept writes: the block core has no
 * write notifiers.  The filter sits in the graph only while a backup job or
 * a fleecing user wants it (see docs/block-filters.md).
 *
 * Options (QEMU 7.2): file, target, bitmap {node, name} (copy only those
 * chunks), on-cbw-error (break-guest-write | break-snapshot), cbw-timeout
 * (seconds; accepted, copies are not timed out). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/blockdev_opts.h"
#include "block/dirty_bitmap.h"
#include "block/job.h"
#include "block/node.h"
#include "util/error.h"

typedef struct CbwState {
    BlockChild *target;
    DirtyBitmap *pending;       /* chunks whose old data is not in the target yet */
    DirtyBitmap *in_target;     /* chunks whose old data is in the target */
    uint64_t cluster;
    bool break_snapshot;        /* on-cbw-error=break-snapshot */
    bool snapshot_broken;
    pthread_mutex_t lock;       /* one chunk copy at a time, and reads vs copies */
    bool lock_init;
} CbwState;

static const BlockDriver cbw_driver;

bool cbw_is_filter(BlockNode *bs)
{
    return bs && bs->drv == &cbw_driver;
}

static int detached_bitmap(uint64_t size, uint64_t gran, DirtyBitmap **out)
{
    DirtyBitmap *bm = calloc(1, sizeof(*bm));
    if (!bm || !(bm->name = strdup("cbw"))) {
        free(bm);
        return err_set(ENOMEM, "out of memory");
    }
    bm->granularity = gran;
    bm->size = size;
    bm->nbits = (size + gran - 1) / gran;
    bm->words = calloc(bm->nbits / 64 + 1, sizeof(uint64_t));
    if (!bm->words) {
        dbm_free_detached(bm);
        return err_set(ENOMEM, "out of memory");
    }
    *out = bm;
    return 0;
}

static int cbw_open(BlockNode *bs, json_object *opts, int flags)
{
    CbwState *s = bs->opaque;
    pthread_mutex_init(&s->lock, NULL);
    s->lock_init = true;
    int ret = blk_open_child(bs, opts, "file", BLK_ROLE_FILE, flags, false, &bs->file);
    if (ret < 0)
        return ret;
    BlockChild *t;
    if ((ret = blk_open_child(bs, opts, "target", BLK_ROLE_TARGET, flags | BLK_O_RDWR, false, &t)) < 0)
        return ret;
    s->target = t;
    int64_t size = blk_getlength(bs->file->node), tsize = blk_getlength(t->node);
    if (size < 0)
        return (int)size;
    if (tsize >= 0 && tsize < size)
        return err_set(EINVAL, "Source and target sizes differ (%lld and %lld)",
                       (long long)size, (long long)tsize);
    s->cluster = 65536;
    if (t->node->cluster_size > s->cluster)
        s->cluster = t->node->cluster_size;
    const char *mode = bopt_str(opts, "on-cbw-error");
    if (mode && strcmp(mode, "break-guest-write") && strcmp(mode, "break-snapshot"))
        return err_set(EINVAL, "Parameter 'on-cbw-error' does not accept value '%s'", mode);
    s->break_snapshot = mode && !strcmp(mode, "break-snapshot");
    if ((ret = detached_bitmap((uint64_t)size, s->cluster, &s->pending)) < 0 ||
        (ret = detached_bitmap((uint64_t)size, s->cluster, &s->in_target)) < 0)
        return ret;
    snprintf(bs->filename, sizeof(bs->filename), "%s", bs->file->node->filename);
    json_object *bmo;
    if (json_object_object_get_ex(opts, "bitmap", &bmo)) {
        const char *bn = bopt_str(bmo, "node"), *name = bopt_str(bmo, "name");
        BlockNode *b = bn ? blk_find_node(bn) : NULL;
        DirtyBitmap *src = b && name ? dbm_find(b, name) : NULL;
        if (!src)
            return err_set(ENOENT, "Dirty bitmap '%s' not found", name ? name : "");
        return cbw_set_pending(bs, src);
    }
    dbm_set_range(s->pending, 0, (uint64_t)size);
    return 0;
}

static void cbw_close(BlockNode *bs)
{
    CbwState *s = bs->opaque;
    dbm_free_detached(s->pending);
    dbm_free_detached(s->in_target);
    if (s->lock_init)
        pthread_mutex_destroy(&s->lock);
}

int cbw_set_pending(BlockNode *bs, DirtyBitmap *from)
{
    CbwState *s = bs->opaque;
    pthread_mutex_lock(&s->lock);
    dbm_clear(s->pending);
    if (from)
        dbm_merge(s->pending, from);
    else
        dbm_set_range(s->pending, 0, s->pending->size);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

uint64_t cbw_cluster_size(BlockNode *bs) { return ((CbwState *)bs->opaque)->cluster; }
DirtyBitmap *cbw_pending(BlockNode *bs) { return ((CbwState *)bs->opaque)->pending; }

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Which side of the last failed copy on this thread failed (BLOCK_JOB_ERROR's
 * "operation"). */
static _Thread_local bool last_write_failed;
bool cbw_last_error_was_write(void);
bool cbw_last_error_was_write(void) { return last_write_failed; }

/* With s->lock held. */
static int copy_locked(BlockNode *bs, CbwState *s, uint64_t off, uint64_t len, uint8_t *buf)
{
    uint64_t c = s->cluster, size = s->pending->size;
    uint64_t end = off + len > size ? size : off + len;
    for (uint64_t o = off / c * c; o < end; o += c) {
        if (!dbm_get(s->pending, o))
            continue;
        uint64_t n = o + c > size ? size - o : c;
        int ret = blk_pread(bs->file->node, o, buf, n);
        last_write_failed = ret >= 0;
        if (ret >= 0)
            ret = all_zero(buf, n) ? blk_write_zeroes(s->target->node, o, n, 0)
                                   : blk_pwrite(s->target->node, o, buf, n);
        if (ret < 0) {
            if (!s->break_snapshot)
                return ret;
            /* The guest write wins; the snapshot is no longer whole. */
            s->snapshot_broken = true;
            dbm_clear(s->pending);
            return 0;
        }
        dbm_reset_range(s->pending, o, n);
        dbm_set_range(s->in_target, o, n);
    }
    return 0;
}

int cbw_copy_range(BlockNode *bs, uint64_t off, uint64_t len)
{
    CbwState *s = bs->opaque;
    uint8_t *buf = malloc(s->cluster);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    pthread_mutex_lock(&s->lock);
    int ret = copy_locked(bs, s, off, len, buf);
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return ret;
}

static int cbw_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    (void)bytes;
    return blk_preadv(bs->file->node, off, iov, niov);
}

static int cbw_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    int ret = cbw_copy_range(bs, off, bytes);
    return ret < 0 ? ret : blk_pwritev(bs->file->node, off, iov, niov);
}

static int cbw_discard(BlockNode *bs, uint64_t off, uint64_t bytes)
{
    int ret = cbw_copy_range(bs, off, bytes);
    return ret < 0 ? ret : blk_discard(bs->file->node, off, bytes);
}

static int cbw_zeroes(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags)
{
    int ret = cbw_copy_range(bs, off, bytes);
    return ret < 0 ? ret : blk_write_zeroes(bs->file->node, off, bytes, flags);
}

static int cbw_flush(BlockNode *bs)
{
    CbwState *s = bs->opaque;
    int ret = blk_flush(s->target->node);
    int r2 = blk_flush(bs->file->node);
    return ret < 0 ? ret : r2;
}

static int cbw_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                            uint64_t *map, BlockNode **file)
{
    return blk_block_status(bs->file->node, off, bytes, pnum, map, file);
}

static int64_t cbw_getlength(BlockNode *bs)
{
    return blk_getlength(bs->file->node);
}

int cbw_snapshot_read(BlockNode *bs, uint64_t off, uint64_t len, struct iovec *iov, int niov)
{
    CbwState *s = bs->opaque;
    if (s->snapshot_broken)
        return err_set(EACCES, "The snapshot of '%s' is broken (a copy failed)", bs->node_name);
    uint64_t c = s->cluster, done = 0;
    struct iovec sub[64];
    pthread_mutex_lock(&s->lock);
    int ret = 0;
    while (done < len && ret >= 0) {
        uint64_t o = off + done, n = (o / c + 1) * c - o;
        if (n > len - done)
            n = len - done;
        bool target = dbm_get(s->in_target, o);
        int k = iov_slice(sub, 64, iov, niov, done, n);
        if (k < 0) {
            ret = k;
            break;
        }
        ret = blk_preadv(target ? s->target->node : bs->file->node, o, sub, k);
        done += n;
    }
    pthread_mutex_unlock(&s->lock);
    return ret < 0 ? ret : 0;
}

static void cbw_child_perm(BlockNode *bs, BlockRole role, unsigned parent_perm,
                           unsigned parent_shared, unsigned *perm, unsigned *shared)
{
    (void)bs;
    if (role == BLK_ROLE_TARGET) {
        *perm = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE;
        *shared = BLK_PERM_ALL;
        return;
    }
    /* A pass-through for its users; reading old data needs consistent reads. */
    *perm = parent_perm | BLK_PERM_CONSISTENT_READ;
    *shared = parent_shared | BLK_PERM_WRITE_UNCHANGED;
}

static const BlockDriver cbw_driver = {
    .name = "copy-before-write",
    .protocol = true,           /* a pass-through: a file below may grow */
    .state_size = sizeof(CbwState),
    .open = cbw_open,
    .close = cbw_close,
    .preadv = cbw_preadv,
    .pwritev = cbw_pwritev,
    .flush = cbw_flush,
    .discard = cbw_discard,
    .write_zeroes = cbw_zeroes,
    .block_status = cbw_block_status,
    .getlength = cbw_getlength,
    .child_perm = cbw_child_perm,
};
BLOCK_DRIVER_REGISTER(cbw_driver)
