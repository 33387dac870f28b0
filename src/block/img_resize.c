/* quail img resize */
#include "block/img.h"
#include "block/blockdev_opts.h"
#include "util/error.h"

#include <getopt.h>
#include <string.h>

int img_resize_main(int argc, char **argv)
{
    const char *fmt = NULL;
    bool shrink = false, quiet = false;
    static const struct option longopts[] = { { "shrink", no_argument, 0, 'S' }, { 0 } };
    int c;
    optind = 0;
    /* A leading '-' in the size is not an option: stop at the file name. */
    while ((c = getopt_long(argc, argv, "+f:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'S': shrink = true; break;
        default: return 1;
        }
    }
    if (optind != argc - 2) {
        img_err("Expecting image file name and size");
        return 1;
    }
    const char *filename = argv[optind], *sz = argv[optind + 1];
    int sign = 0;
    if (*sz == '+' || *sz == '-')
        sign = *sz++ == '+' ? 1 : -1;
    uint64_t n;
    if (parse_size(sz, &n) < 0) {
        img_err("Invalid size specified: %s", err_msg());
        return 1;
    }
    BlockNode *bs;
    if (img_open(filename, fmt, BLK_O_RDWR, &bs) < 0)
        return 1;
    int64_t cur = blk_getlength(bs);
    uint64_t target = sign > 0 ? (uint64_t)cur + n : sign < 0 ? (uint64_t)cur - n : n;
    if (sign < 0 && n > (uint64_t)cur) {
        img_err("New image size must be positive");
        img_close(bs);
        return 1;
    }
    if (target < (uint64_t)cur && !shrink) {
        img_err("Use the --shrink option to perform a shrink operation.");
        img_close(bs);
        return 1;
    }
    int ret = blk_truncate(bs, target, shrink);
    if (ret == 0)
        ret = blk_flush(bs);
    img_close(bs);
    if (ret < 0) {
        img_err("%s", err_msg());
        return 1;
    }
    if (!quiet)
        printf("Image resized.\n");
    return 0;
}
