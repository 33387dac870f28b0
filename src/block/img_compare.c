/* quail img compare: 0 identical, 1 different, 2 error (qemu-img's codes). */
#include "block/img.h"
#include "util/error.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20)

static uint64_t first_diff(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return i;
    return n;
}

int img_compare_main(int argc, char **argv)
{
    const char *fmt1 = NULL, *fmt2 = NULL;
    bool strict = false, quiet = false, force_share = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:F:sqU", NULL, NULL)) != -1) {
        switch (c) {
        case 'f': fmt1 = optarg; break;
        case 'F': fmt2 = optarg; break;
        case 's': strict = true; break;
        case 'q': quiet = true; break;
        case 'U': force_share = true; break;
        default: return 2;
        }
    }
    if (optind != argc - 2) {
        img_err("Expecting two image file names");
        return 2;
    }
    if (!fmt2)
        fmt2 = fmt1;
    int flags = force_share ? BLK_O_FORCE_SHARE : 0;
    BlockNode *a = NULL, *b = NULL;
    if (img_open(argv[optind], fmt1, flags, &a) < 0)
        return 2;
    if (img_open(argv[optind + 1], fmt2, flags, &b) < 0) {
        img_close(a);
        return 2;
    }
    int status = 2;
    uint8_t *ba = malloc(CHUNK), *bb = malloc(CHUNK);
    int64_t la = blk_getlength(a), lb = blk_getlength(b);
    if (!ba || !bb || la < 0 || lb < 0)
        goto out;
    if (strict && la != lb) {
        if (!quiet)
            printf("Strict mode: Image size mismatch!\n");
        status = 1;
        goto out;
    }
    uint64_t common = (uint64_t)(la < lb ? la : lb), big = (uint64_t)(la > lb ? la : lb);
    BlockNode *longer = la > lb ? a : b;
    for (uint64_t off = 0, n = 0; off < big; off += n) {
        n = big - off < CHUNK ? big - off : CHUNK;
        if (off < common) {
            if (n > common - off)
                n = common - off;
            if (blk_pread(a, off, ba, n) < 0 || blk_pread(b, off, bb, n) < 0) {
                img_err("Error while reading offset %llu: %s", (unsigned long long)off, err_msg());
                goto out;
            }
            uint64_t d = first_diff(ba, bb, n);
            if (d < n) {
                if (!quiet)
                    printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + d));
                status = 1;
                goto out;
            }
        } else {
            if (off < common + CHUNK && n > big - off)
                n = big - off;
            if (blk_pread(longer, off, ba, n) < 0) {
                img_err("Error while reading offset %llu: %s", (unsigned long long)off, err_msg());
                goto out;
            }
            memset(bb, 0, n);
            uint64_t d = first_diff(ba, bb, n);
            if (d < n) {
                if (!quiet)
                    printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + d));
                status = 1;
                goto out;
            }
        }
    }
    if (!quiet)
        printf("Images are identical.\n");
    status = 0;
out:
    free(ba);
    free(bb);
    img_close(a);
    img_close(b);
    return status;
}
