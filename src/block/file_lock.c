/* Image locking compatible with QEMU's file-posix.
 *
 * Open-file-description locks on single bytes: byte 100+i is read-locked while
 * this node holds permission bit i, byte 200+i while it does not share bit i.
 * A conflict is another process's lock on the opposite byte, found with
 * F_OFD_GETLK, so QEMU and quail see each other's use of an image.
 */
#include "block/file_priv.h"
#include "util/error.h"

#include <fcntl.h>
#include <string.h>

#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200

static int lock_byte(int fd, int byte, bool on)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = byte, .l_len = 1,
        .l_type = on ? F_RDLCK : F_UNLCK,
    };
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
        return -errno;
    return 0;
}

/* Is byte locked by another open file description? */
static int byte_taken(int fd, int byte)
{
    struct flock fl = { .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

static int apply(int fd, unsigned perm, unsigned shared, const char *fn)
{
    for (unsigned i = 0; i < BLK_PERM_COUNT; i++) {
        int r = lock_byte(fd, LOCK_PERM_BASE + (int)i, perm & (1u << i));
        if (r == 0)
            r = lock_byte(fd, LOCK_SHARED_BASE + (int)i, !(shared & (1u << i)));
        if (r < 0) {
            if (r == -EAGAIN || r == -EACCES)
                return err_set(EAGAIN, "Failed to lock byte %u of '%s'", i, fn);
            return err_set_errno(-r, "Failed to lock '%s'", fn);
        }
    }
    return 0;
}

static int check(int fd, unsigned perm, unsigned shared, const char *fn)
{
    for (unsigned i = 0; i < BLK_PERM_COUNT; i++) {
        unsigned bit = 1u << i;
        if (perm & bit) {
            int r = byte_taken(fd, LOCK_SHARED_BASE + (int)i);
            if (r < 0)
                return err_set_errno(-r, "Failed to check lock on '%s'", fn);
            if (r)
                return err_set(EAGAIN, "Failed to get \"%s\" lock\n"
                               "Is another process using the image [%s]?", blk_perm_name(bit), fn);
        }
        if (!(shared & bit)) {
            int r = byte_taken(fd, LOCK_PERM_BASE + (int)i);
            if (r < 0)
                return err_set_errno(-r, "Failed to check lock on '%s'", fn);
            if (r)
                return err_set(EAGAIN, "Failed to get shared \"%s\" lock\n"
                               "Is another process using the image [%s]?", blk_perm_name(bit), fn);
        }
    }
    return 0;
}

int file_set_perm(BlockNode *bs, unsigned perm, unsigned shared)
{
    FileState *s = bs->opaque;
    if (!s->locking || s->fd < 0)
        return 0;
    /* Take the new locks first, then look for conflicts: two processes
     * racing both see each other instead of both passing the check. */
    int ret = apply(s->fd, perm, shared, bs->filename);
    if (ret == 0)
        ret = check(s->fd, perm, shared, bs->filename);
    if (ret < 0) {
        apply(s->fd, s->locked_perm, s->locked_shared, bs->filename);
        return ret;
    }
    s->locked_perm = perm;
    s->locked_shared = shared;
    return 0;
}
