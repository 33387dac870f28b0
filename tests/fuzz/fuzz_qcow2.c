/* libFuzzer target: a qcow2 image given as bytes (in a memfd, so the normal
 * file driver reads it) goes through header/extension validation, L1/L2 and
 * refcount parsing, reads of the whole guest range (compressed clusters
 * included), block status, the consistency check and a write with discard
 * on a writable copy. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/node.h"

#define MAX_READ (8u << 20)

static int memfd_with(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return fd;
}

static void exercise(BlockNode *bs, bool writable)
{
    int64_t len = blk_getlength(bs);
    if (len <= 0)
        return;
    static uint8_t buf[65536];
    uint64_t limit = (uint64_t)len < MAX_READ ? (uint64_t)len : MAX_READ;
    for (uint64_t off = 0; off < limit; off += sizeof(buf)) {
        uint64_t n = limit - off < sizeof(buf) ? limit - off : sizeof(buf);
        blk_pread(bs, off, buf, n);
    }
    uint64_t off = 0;
    for (int i = 0; i < 256 && off < (uint64_t)len; i++) {
        uint64_t pnum = 0, map;
        BlockNode *file;
        if (blk_block_status(bs, off, (uint64_t)len - off, &pnum, &map, &file) < 0 || !pnum)
            break;
        off += pnum;
    }
    if (bs->drv->check) {
        BlockCheckResult r;
        bs->drv->check(bs, &r, BLK_CHECK_QUIET);
    }
    if (writable) {
        memset(buf, 0x5a, 4096);
        blk_pwrite(bs, 0, buf, 4096);
        blk_pwrite(bs, (uint64_t)len / 2, buf, 100 < len / 2 ? 100 : 1);
        blk_discard(bs, 0, (uint64_t)len < 1048576 ? (uint64_t)len : 1048576);
        blk_write_zeroes(bs, 0, 4096 < len ? 4096 : (uint64_t)len, 0);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    setenv("QUAIL_NO_IO_URING", "1", 1);  /* one ring per run would dominate */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int rw = 0; rw < 2; rw++) {
        int fd = memfd_with(data, size);
        if (fd < 0)
            return 0;
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        BlockNode *bs;
        int flags = BLK_O_NO_BACKING | (rw ? BLK_O_RDWR | BLK_O_NO_FLUSH : BLK_O_FORCE_SHARE);
        if (blk_open_image(path, "qcow2", flags, &bs) == 0) {
            exercise(bs, rw);
            blk_unref(bs);
        }
        close(fd);
    }
    return 0;
}
