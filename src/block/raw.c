/* `raw` format: the guest sees the protocol child's bytes, optionally a window
 * of them (offset=, size=).  Asynchronous requests pass straight through. */
#include "block/node.h"
#include "block/blockdev_opts.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct RawState {
    uint64_t offset, size;
    bool has_size;
} RawState;

static int raw_probe(const uint8_t *buf, size_t len)
{
    (void)buf; (void)len;
    return 1;   /* anything is raw, lowest priority */
}

static int64_t raw_getlength(BlockNode *bs)
{
    RawState *s = bs->opaque;
    if (s->has_size)
        return (int64_t)s->size;
    int64_t len = blk_getlength(bs->file->node);
    if (len < 0)
        return len;
    return (uint64_t)len > s->offset ? len - (int64_t)s->offset : 0;
}

static int raw_open(BlockNode *bs, json_object *opts, int flags)
{
    RawState *s = bs->opaque;
    int ret = bopt_size(opts, "offset", 0, &s->offset);
    if (ret < 0)
        return ret;
    ret = bopt_size(opts, "size", 0, &s->size);
    if (ret < 0)
        return ret;
    s->has_size = ret == 0;
    BlockChild *c;
    ret = blk_open_child(bs, opts, "file", BLK_ROLE_FILE, flags, false, &c);
    if (ret < 0)
        return ret;
    snprintf(bs->filename, sizeof(bs->filename), "%s", c->node->filename);
    bs->request_alignment = c->node->request_alignment;
    int64_t len = blk_getlength(c->node);
    if (len < 0)
        return (int)len;
    if (s->has_size && (s->offset > (uint64_t)len || s->size > (uint64_t)len - s->offset))
        return err_set(EINVAL, "The sum of offset (%llu) and size (%llu) has to be smaller or "
                       "equal to the actual size of the containing file (%lld)",
                       (unsigned long long)s->offset, (unsigned long long)s->size, (long long)len);
    if (s->offset > (uint64_t)len)
        return err_set(EINVAL, "The offset (%llu) is beyond the end of the file",
                       (unsigned long long)s->offset);
    return 0;
}

static int raw_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    RawState *s = bs->opaque;
    (void)bytes;
    return blk_preadv(bs->file->node, off + s->offset, iov, niov);
}

static int raw_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    RawState *s = bs->opaque;
    (void)bytes;
    return blk_pwritev(bs->file->node, off + s->offset, iov, niov);
}

static int raw_flush(BlockNode *bs)
{
    return blk_flush(bs->file->node);
}

static int raw_discard(BlockNode *bs, uint64_t off, uint64_t bytes)
{
    RawState *s = bs->opaque;
    return blk_discard(bs->file->node, off + s->offset, bytes);
}

static int raw_write_zeroes(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags)
{
    RawState *s = bs->opaque;
    return blk_write_zeroes(bs->file->node, off + s->offset, bytes, flags);
}

static int raw_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                            uint64_t *map, BlockNode **file)
{
    RawState *s = bs->opaque;
    int ret = blk_block_status(bs->file->node, off + s->offset, bytes, pnum, map, file);
    if (ret < 0)
        return ret;
    if (*pnum == 0) {
        /* Past the end of a shorter child: zeroes. */
        *pnum = bytes;
        *map = off + s->offset;
        *file = bs->file->node;
        return BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
    }
    return ret | BLK_STATUS_ALLOCATED;
}

static int raw_truncate(BlockNode *bs, uint64_t size, bool shrink)
{
    RawState *s = bs->opaque;
    if (s->has_size || s->offset)
        return err_set(ENOTSUP, "Cannot resize a raw node with offset or size options");
    return blk_truncate(bs->file->node, size, shrink);
}

struct raw_fwd { BlockAIO *parent; };

static void raw_child_done(void *opaque, int ret)
{
    blk_aio_complete(opaque, ret);
}

static int raw_aio_submit(BlockNode *bs, BlockAIO *req)
{
    RawState *s = bs->opaque;
    BlockNode *f = bs->file->node;
    switch (req->op) {
    case BLK_AIO_READ:
        return blk_aio_preadv(f, req->offset + s->offset, req->iov, req->niov, raw_child_done, req);
    case BLK_AIO_WRITE:
        return blk_aio_pwritev(f, req->offset + s->offset, req->iov, req->niov, raw_child_done, req);
    case BLK_AIO_FLUSH:
        return blk_aio_flush(f, raw_child_done, req);
    default:
        return -ENOTSUP;
    }
}

static void raw_child_perm(BlockNode *bs, BlockRole role, unsigned parent_perm,
                           unsigned parent_shared, unsigned *perm, unsigned *shared)
{
    RawState *s = bs->opaque;
    (void)role;
    /* A pass-through: the file is used exactly as this node is used.  A
     * window (offset/size) has a fixed size, so it shares no resize. */
    *perm = parent_perm;
    *shared = parent_shared;
    if (s->has_size || s->offset) {
        *perm &= ~BLK_PERM_RESIZE;
        *shared &= ~BLK_PERM_RESIZE;
    }
}

static int raw_create(const char *filename, const BlockCreateOpts *o)
{
    int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set_errno(errno, "Could not create '%s'", filename);
    int ret = 0;
    if (ftruncate(fd, (off_t)o->size) < 0)
        ret = err_set_errno(errno, "Could not resize file '%s'", filename);
    close(fd);
    return ret;
}

static BlockDriver raw_driver = {
    .name = "raw",
    .is_format = true,
    .probe = raw_probe,
    .open = raw_open,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .block_status = raw_block_status,
    .truncate = raw_truncate,
    .getlength = raw_getlength,
    .aio_submit = raw_aio_submit,
    .child_perm = raw_child_perm,
    .create = raw_create,
    .state_size = sizeof(RawState),
};
BLOCK_DRIVER_REGISTER(raw_driver)
