/* snapshot-access: a read-only view of the point in time its `file` child, a
 * copy-before-write node, froze (QEMU >= 7.0 fleecing: export this over NBD
 * while the guest keeps writing the disk). */
#include <stdio.h>

#include "block/job.h"
#include "block/node.h"
#include "util/error.h"

static int sa_open(BlockNode *bs, json_object *opts, int flags)
{
    int ret = blk_open_child(bs, opts, "file", BLK_ROLE_FILE, flags & ~BLK_O_RDWR, false,
                             &bs->file);
    if (ret < 0)
        return ret;
    if (!cbw_is_filter(bs->file->node))
        return err_set(EINVAL, "snapshot-access: '%s' is not a copy-before-write node",
                       bs->file->node->node_name);
    snprintf(bs->filename, sizeof(bs->filename), "%s", bs->file->node->filename);
    bs->read_only = true;
    return 0;
}

static int sa_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    return cbw_snapshot_read(bs->file->node, off, bytes, iov, niov);
}

static int sa_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    (void)bs; (void)off; (void)bytes; (void)iov; (void)niov;
    return err_set(EPERM, "snapshot-access is read-only");
}

static int sa_flush(BlockNode *bs)
{
    (void)bs;
    return 0;   /* nothing of ours to make durable */
}

static int64_t sa_getlength(BlockNode *bs)
{
    return blk_getlength(bs->file->node);
}

static void sa_child_perm(BlockNode *bs, BlockRole role, unsigned parent_perm,
                          unsigned parent_shared, unsigned *perm, unsigned *shared)
{
    (void)bs; (void)role; (void)parent_perm; (void)parent_shared;
    *perm = BLK_PERM_CONSISTENT_READ;
    *shared = BLK_PERM_ALL;
}

static const BlockDriver sa_driver = {
    .name = "snapshot-access",
    .open = sa_open,
    .preadv = sa_preadv,
    .pwritev = sa_pwritev,
    .flush = sa_flush,
    .getlength = sa_getlength,
    .child_perm = sa_child_perm,
};
BLOCK_DRIVER_REGISTER(sa_driver)
