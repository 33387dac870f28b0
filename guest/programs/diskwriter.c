/* diskwriter: appends a sequence-numbered log to two block devices, for the
 * backup acceptance test.  Record i (4 KiB at offset i*4096) is written to
 * dev a, then to dev b, each with O_DIRECT|O_DSYNC so it has reached the
 * virtual disk before the next write starts.  A backup taken at one instant
 * of both disks therefore holds a prefix of the log on each, with
 * n(b) <= n(a) <= n(b)+1; the host checks that with `diskwriter check=...`
 * (the file builds natively too).
 * Arguments: a=DEV b=DEV [count=N] [start=N]   (write mode)
 *            check=FILE_A,FILE_B               (host: prints "a=N b=M" or fails)
 * Record layout: "QLOG" magic, u32 disk id (0 a, 1 b), u64 sequence number,
 * then the byte (seq*7+disk) % 251 + 1 repeated. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "guest.h"

#define REC 4096

static void make(uint8_t *r, uint64_t seq, uint32_t disk)
{
    memset(r, (int)((seq * 7 + disk) % 251 + 1), REC);
    memcpy(r, "QLOG", 4);
    memcpy(r + 4, &disk, 4);
    memcpy(r + 8, &seq, 8);
}

/* Length of the valid prefix of the log in file; fails if data follows it. */
static long long prefix(const char *path, uint32_t disk)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail("open %s: %s", path, strerror(errno));
    static uint8_t got[REC], want[REC];
    long long n = 0;
    int in_prefix = 1;
    while (fread(got, 1, REC, f) == REC) {
        if (in_prefix) {
            make(want, (uint64_t)n, disk);
            if (memcmp(got, want, REC) == 0) {
                n++;
                continue;
            }
            in_prefix = 0;
        }
        for (int i = 0; i < REC; i++)
            if (got[i])
                fail("%s: data after the log prefix of %lld records: not one instant", path, n);
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    const char *check = arg_str(argc, argv, "check", NULL);
    if (check) {
        char a[512], *b;
        snprintf(a, sizeof(a), "%s", check);
        if (!(b = strchr(a, ',')))
            fail("check=FILE_A,FILE_B");
        *b++ = 0;
        long long na = prefix(a, 0), nb = prefix(b, 1);
        printf("a=%lld b=%lld\n", na, nb);
        if (!(nb <= na && na <= nb + 1))
            fail("disks not frozen at one instant: a=%lld b=%lld", na, nb);
        return 0;
    }
    const char *da = arg_str(argc, argv, "a", NULL), *db = arg_str(argc, argv, "b", NULL);
    long long count = arg_num(argc, argv, "count", 1000);
    if (!da || !db || count <= 0)
        fail("usage: diskwriter a=DEV b=DEV [count=N]");
    int fa = open(da, O_WRONLY | O_DIRECT | O_DSYNC), fb = open(db, O_WRONLY | O_DIRECT | O_DSYNC);
    if (fa < 0 || fb < 0)
        fail("open %s/%s: %s", da, db, strerror(errno));
    uint8_t *r;
    if (posix_memalign((void **)&r, 4096, REC))
        fail("out of memory");
    for (long long i = 0; i < count; i++) {
        make(r, (uint64_t)i, 0);
        if (pwrite(fa, r, REC, i * REC) != REC)
            fail("write a@%lld: %s", i, strerror(errno));
        make(r, (uint64_t)i, 1);
        if (pwrite(fb, r, REC, i * REC) != REC)
            fail("write b@%lld: %s", i, strerror(errno));
        if (i % 256 == 0)
            printf("diskwriter: %lld records\n", i);
        fflush(stdout);
    }
    printf("diskwriter: done, %lld records\n", count);
    return 0;
}
