/* throttle filter: requests pass to `file` once the node's throttle group
 * allows them (throttle_group.c).  Reads count as reads; writes, zero-writes
 * and discards as writes, as in QEMU; flushes are not throttled.  The node
 * exists only while limits are wanted: blockdev-add it above a node, or let
 * block_set_io_throttle insert it (see docs/block-filters.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/blockdev_opts.h"
#include "block/node.h"
#include "block/throttle.h"
#include "util/error.h"

typedef struct ThrottleState {
    ThrottleGroup *group;
    char *group_name;
} ThrottleState;

static int thr_open(BlockNode *bs, json_object *opts, int flags)
{
    ThrottleState *s = bs->opaque;
    const char *gname = bopt_str(opts, "throttle-group");
    if (!gname)
        return err_set(EINVAL, "Parameter 'throttle-group' is missing");
    s->group = throttle_group_get(gname);
    if (!s->group)
        return err_set(ENOENT, "Throttle group '%s' does not exist", gname);
    if (!(s->group_name = strdup(gname)))
        return err_set(ENOMEM, "out of memory");
    int ret = blk_open_child(bs, opts, "file", BLK_ROLE_FILE, flags, false, &bs->file);
    if (ret < 0)
        return ret;
    snprintf(bs->filename, sizeof(bs->filename), "%s", bs->file->node->filename);
    return 0;
}

static void thr_close(BlockNode *bs)
{
    ThrottleState *s = bs->opaque;
    if (s->group)
        throttle_group_put(s->group);
    free(s->group_name);
}

static int thr_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    throttle_group_wait(((ThrottleState *)bs->opaque)->group, false, bytes);
    return blk_preadv(bs->file->node, off, iov, niov);
}

static int thr_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    throttle_group_wait(((ThrottleState *)bs->opaque)->group, true, bytes);
    return blk_pwritev(bs->file->node, off, iov, niov);
}

static int thr_discard(BlockNode *bs, uint64_t off, uint64_t bytes)
{
    throttle_group_wait(((ThrottleState *)bs->opaque)->group, true, bytes);
    return blk_discard(bs->file->node, off, bytes);
}

static int thr_zeroes(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags)
{
    throttle_group_wait(((ThrottleState *)bs->opaque)->group, true, bytes);
    return blk_write_zeroes(bs->file->node, off, bytes, flags);
}

static int thr_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                            uint64_t *map, BlockNode **file)
{
    return blk_block_status(bs->file->node, off, bytes, pnum, map, file);
}

static int64_t thr_getlength(BlockNode *bs)
{
    return blk_getlength(bs->file->node);
}

static void thr_child_perm(BlockNode *bs, BlockRole role, unsigned parent_perm,
                           unsigned parent_shared, unsigned *perm, unsigned *shared)
{
    (void)bs; (void)role;
    *perm = parent_perm | BLK_PERM_CONSISTENT_READ;
    *shared = parent_shared;
}

/* Asynchronous requests (virtio-blk's) wait in the group's queue, not on an
 * I/O worker, and go on to the file asynchronously. */
static void thr_done(void *opaque, int ret)
{
    blk_aio_complete(opaque, ret);
}

static void thr_go(void *opaque)
{
    BlockAIO *req = opaque;
    BlockNode *f = req->bs->file->node;
    int ret;
    switch (req->op) {
    case BLK_AIO_READ:
        ret = blk_aio_preadv(f, req->offset, req->iov, req->niov, thr_done, req);
        break;
    case BLK_AIO_WRITE:
        ret = blk_aio_pwritev(f, req->offset, req->iov, req->niov, thr_done, req);
        break;
    case BLK_AIO_DISCARD:
        ret = blk_aio_discard(f, req->offset, req->bytes, thr_done, req);
        break;
    default:
        ret = blk_aio_write_zeroes(f, req->offset, req->bytes, req->flags, thr_done, req);
        break;
    }
    if (ret < 0)
        blk_aio_complete(req, ret);
}

static int thr_aio_submit(BlockNode *bs, BlockAIO *req)
{
    if (req->op == BLK_AIO_FLUSH)
        return blk_aio_flush(bs->file->node, thr_done, req);
    return throttle_group_submit(((ThrottleState *)bs->opaque)->group, req->op != BLK_AIO_READ,
                                 req->bytes, thr_go, req);
}

bool throttle_node_limits(BlockNode *bs, ThrottleLimits *out)
{
    if (strcmp(bs->drv->name, "throttle"))
        return false;
    throttle_group_limits(((ThrottleState *)bs->opaque)->group, out);
    return true;
}

static const BlockDriver thr_driver = {
    .name = "throttle",
    .protocol = true,           /* a pass-through: a file below may grow */
    .state_size = sizeof(ThrottleState),
    .open = thr_open,
    .close = thr_close,
    .preadv = thr_preadv,
    .pwritev = thr_pwritev,
    .discard = thr_discard,
    .write_zeroes = thr_zeroes,
    .block_status = thr_block_status,
    .getlength = thr_getlength,
    .child_perm = thr_child_perm,
    .aio_submit = thr_aio_submit,
};
BLOCK_DRIVER_REGISTER(thr_driver)
