/* In-guest block benchmark for bench/blk.sh: sequential write and read in
 * 1 MiB requests, then 4 KiB random reads, all O_DIRECT so the guest page
 * cache does not hide the device.  Prints one line per phase:
 *   blkbench: seq-write MB/s=... | seq-read MB/s=... | rand-read IOPS=...
 * Arguments: dev=PATH size=BYTES [reads=N] [seed=N] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *dev = arg_str(argc, argv, "dev", NULL);
    long long size = arg_num(argc, argv, "size", 64LL << 20);
    long long reads = arg_num(argc, argv, "reads", 4000);
    uint64_t seed = (uint64_t)arg_num(argc, argv, "seed", 1);
    const size_t bs = 1 << 20;
    if (!dev || size < (long long)bs)
        fail("usage: blkbench dev=PATH size=BYTES [reads=N]");
    int fd = open(dev, O_RDWR | O_DIRECT);
    if (fd < 0)
        fail("open %s failed", dev);
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 4096, bs))
        fail("out of memory");
    for (size_t i = 0; i < bs; i++)
        buf[i] = (uint8_t)(i * 31 + seed);
    long long blocks = size / (long long)bs;

    double t0 = now();
    for (long long b = 0; b < blocks; b++)
        if (pwrite(fd, buf, bs, b * (off_t)bs) != (ssize_t)bs)
            fail("write failed at block %lld", b);
    if (fsync(fd))
        fail("fsync failed");
    double t1 = now();
    for (long long b = 0; b < blocks; b++)
        if (pread(fd, buf, bs, b * (off_t)bs) != (ssize_t)bs)
            fail("read failed at block %lld", b);
    double t2 = now();
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    long long pages = size / 4096;
    for (long long i = 0; i < reads; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        off_t off = (off_t)(x % (uint64_t)pages) * 4096;
        if (pread(fd, buf, 4096, off) != 4096)
            fail("random read failed at %lld", (long long)off);
    }
    double t3 = now();
    double mb = (double)(blocks * (long long)bs) / 1e6;
    printf("blkbench: seq-write MB/s=%.1f\n", mb / (t1 - t0));
    printf("blkbench: seq-read MB/s=%.1f\n", mb / (t2 - t1));
    printf("blkbench: rand-read IOPS=%.0f\n", (double)reads / (t3 - t2));
    close(fd);
    free(buf);
    return 0;
}
