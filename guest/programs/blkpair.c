/* Two O_DIRECT sequential writers at once, one per device, for the shared
 * throttle-group benchmark (bench/throttle-guest.sh).  Both write for the
 * same wall-clock interval (wrapping around the first `size` bytes), so
 * their rates compare shares of one budget over one period.
 *   blkpair: dev1 MB/s=...   blkpair: dev2 MB/s=...
 * Arguments: dev1=PATH dev2=PATH size=BYTES [secs=N] (default 10) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static double deadline;

typedef struct Job {
    const char *dev;
    long long size;
    double rate;
    int err;
} Job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
    Job *j = arg;
    const size_t bs = 1 << 20;
    uint8_t *buf;
    int fd = open(j->dev, O_WRONLY | O_DIRECT);
    if (fd < 0 || posix_memalign((void **)&buf, 4096, bs)) {
        j->err = 1;
        return NULL;
    }
    for (size_t i = 0; i < bs; i++)
        buf[i] = (uint8_t)i;
    double t0 = now();
    long long done = 0, off = 0;
    while (now() < deadline) {
        if (pwrite(fd, buf, bs, off) != (ssize_t)bs) {
            j->err = 1;
            break;
        }
        done += (long long)bs;
        off = off + 2 * (long long)bs <= j->size ? off + (long long)bs : 0;
    }
    j->rate = (double)done / 1e6 / (now() - t0);
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    Job jobs[2] = {
        { arg_str(argc, argv, "dev1", NULL), arg_num(argc, argv, "size", 32LL << 20), 0, 0 },
        { arg_str(argc, argv, "dev2", NULL), arg_num(argc, argv, "size", 32LL << 20), 0, 0 },
    };
    if (!jobs[0].dev || !jobs[1].dev)
        fail("usage: blkpair dev1=PATH dev2=PATH size=BYTES");
    deadline = now() + (double)arg_num(argc, argv, "secs", 10);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, writer, &jobs[i]))
            fail("cannot start a writer");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (jobs[i].err)
            fail("writing %s failed", jobs[i].dev);
        printf("blkpair: dev%d MB/s=%.2f\n", i + 1, jobs[i].rate);
    }
    return 0;
}
