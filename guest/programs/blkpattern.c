/* blkpattern: writes and/or verifies a pattern on a block device (or file).
 * Every 8-byte word holds a function of (seed, byte offset), so a later boot
 * (or the host, after a backup/restore) can verify the data independently.
 * Arguments: dev=PATH size=BYTES [offset=BYTES] [seed=N] [mode=write|verify|both]
 * I/O is O_DIRECT when the device allows it, so "both" really reads the
 * device back rather than the page cache. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "guest.h"

#define CHUNK (256 * 1024)

static uint64_t pattern(uint64_t seed, uint64_t off)
{
    /* splitmix64 finaliser: cheap, and any misplaced block or byte shows. */
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + off;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill(uint64_t *buf, size_t len, uint64_t seed, uint64_t off)
{
    for (size_t i = 0; i < len / 8; i++)
        buf[i] = pattern(seed, off + i * 8);
}

int main(int argc, char **argv)
{
    const char *dev = arg_str(argc, argv, "dev", NULL);
    const char *mode = arg_str(argc, argv, "mode", "both");
    long long size = arg_num(argc, argv, "size", -1);
    long long offset = arg_num(argc, argv, "offset", 0);
    uint64_t seed = (uint64_t)arg_num(argc, argv, "seed", 1);
    int do_write = strcmp(mode, "write") == 0 || strcmp(mode, "both") == 0;
    int do_verify = strcmp(mode, "verify") == 0 || strcmp(mode, "both") == 0;
    if (!dev || size <= 0 || offset < 0 || size % 8 || offset % 8 || (!do_write && !do_verify))
        fail("usage: blkpattern dev=PATH size=N [offset=N] [seed=N] [mode=write|verify|both]"
             " (size/offset multiples of 8)");

    int direct = (size % 4096 == 0) && (offset % 4096 == 0);
    int flags = do_write ? O_RDWR | O_CREAT : O_RDONLY;
    int fd = open(dev, flags | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && direct && errno == EINVAL) {
        direct = 0;
        fd = open(dev, flags, 0644);
    }
    if (fd < 0)
        fail("open %s: %s", dev, strerror(errno));

    struct stat st;
    uint64_t devsize = 0;
    if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &devsize) < 0)
            fail("BLKGETSIZE64: %s", strerror(errno));
        if ((uint64_t)(offset + size) > devsize)
            fail("region %lld+%lld beyond device size %llu", offset, size,
                 (unsigned long long)devsize);
    }

    uint64_t *buf, *want;
    if (posix_memalign((void **)&buf, 4096, CHUNK) || posix_memalign((void **)&want, 4096, CHUNK))
        fail("out of memory");

    if (do_write) {
        for (long long done = 0; done < size;) {
            size_t n = (size_t)(size - done < CHUNK ? size - done : CHUNK);
            fill(buf, n, seed, (uint64_t)(offset + done));
            ssize_t w = pwrite(fd, buf, n, offset + done);
            if (w != (ssize_t)n)
                fail("write at %lld: %s", offset + done, w < 0 ? strerror(errno) : "short");
            done += (long long)n;
        }
        if (fsync(fd) < 0)
            fail("fsync: %s", strerror(errno));
        printf("blkpattern: wrote %lld bytes at %lld seed=%llu\n", size, offset,
               (unsigned long long)seed);
    }
    if (do_verify) {
        if (!direct)
            posix_fadvise(fd, offset, size, POSIX_FADV_DONTNEED);
        for (long long done = 0; done < size;) {
            size_t n = (size_t)(size - done < CHUNK ? size - done : CHUNK);
            ssize_t r = pread(fd, buf, n, offset + done);
            if (r != (ssize_t)n)
                fail("read at %lld: %s", offset + done, r < 0 ? strerror(errno) : "short");
            fill(want, n, seed, (uint64_t)(offset + done));
            if (memcmp(buf, want, n) != 0) {
                size_t i = 0;
                while (buf[i] == want[i])
                    i++;
                fail("mismatch at byte %lld: got %016llx want %016llx", offset + done + (long long)i * 8,
                     (unsigned long long)buf[i], (unsigned long long)want[i]);
            }
            done += (long long)n;
        }
        printf("blkpattern: verified %lld bytes at %lld seed=%llu\n", size, offset,
               (unsigned long long)seed);
    }
    close(fd);
    return 0;
}
