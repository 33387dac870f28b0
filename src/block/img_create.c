/* quail img create */
#include "block/img.h"
#include "block/blockdev_opts.h"
#include "util/error.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int img_create_main(int argc, char **argv)
{
    const char *fmt = "raw", *backing = NULL, *backing_fmt = NULL;
    char *optstr = NULL;
    bool quiet = false, unsafe = false;
    static const struct option longopts[] = { { "help", no_argument, 0, 'h' }, { 0 } };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:b:F:o:qu", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'F': backing_fmt = optarg; break;
        case 'o': optstr = optarg; break;
        case 'q': quiet = true; break;
        case 'u': unsafe = true; break;
        default: return 1;
        }
    }
    if (optind >= argc) {
        img_err("Expecting image file name");
        return 1;
    }
    const char *filename = argv[optind++];
    BlockCreateOpts o = { 0 };
    bool have_size = false;
    int status = 1;
    if (optstr) {
        char *dup = strdup(optstr);
        int ret = dup ? img_parse_create_opts(dup, &o, &have_size) : -ENOMEM;
        free(dup);
        if (ret < 0) {
            img_err("%s", err_msg());
            goto out;
        }
    }
    if (backing) {
        free((char *)o.backing_file);
        o.backing_file = strdup(backing);
    }
    if (backing_fmt) {
        free((char *)o.backing_fmt);
        o.backing_fmt = strdup(backing_fmt);
    }
    if (optind < argc) {
        uint64_t sz;
        if (parse_size(argv[optind], &sz) < 0) {
            img_err("Invalid image size specified. Must be between 0 and 9223372036854775807.");
            goto out;
        }
        o.size = sz;
        have_size = true;
        optind++;
    }
    if (optind < argc) {
        img_err("Unexpected argument: %s", argv[optind]);
        goto out;
    }
    if (o.backing_file && !o.backing_fmt && !unsafe) {
        img_err("Backing file specified without backing format\n"
                "Detected format of %s; use -F to specify it", o.backing_file);
        goto out;
    }
    if (o.backing_file && !unsafe) {
        /* Check the backing file opens, and take its size when none was given. */
        char path[8192];
        const char *slash = strrchr(filename, '/');
        if (o.backing_file[0] != '/' && slash)
            snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - filename), filename, o.backing_file);
        else
            snprintf(path, sizeof(path), "%s", o.backing_file);
        BlockNode *b;
        if (img_open(path, o.backing_fmt, 0, &b) < 0)
            goto out;
        int64_t bl = blk_getlength(b);
        img_close(b);
        if (bl < 0) {
            img_err("%s", err_msg());
            goto out;
        }
        if (!have_size) {
            o.size = (uint64_t)bl;
            have_size = true;
        }
    }
    if (!have_size) {
        img_err("Image creation needs a size parameter");
        goto out;
    }
    if (o.size > (uint64_t)INT64_MAX) {
        img_err("Invalid image size specified. Must be between 0 and 9223372036854775807.");
        goto out;
    }
    if (!quiet && !strcmp(fmt, "qcow2")) {
        /* The option list qemu-img prints, in its order. */
        printf("Formatting '%s', fmt=qcow2 cluster_size=%u extended_l2=off compression_type=%s "
               "size=%llu", filename, o.cluster_size ? o.cluster_size : 65536,
               o.compression_type ? "zstd" : "zlib", (unsigned long long)o.size);
        if (o.backing_file)
            printf(" backing_file=%s", o.backing_file);
        if (o.backing_fmt)
            printf(" backing_fmt=%s", o.backing_fmt);
        if (o.compat == 2)
            printf(" compat=0.10");
        else if (o.compat == 3 && optstr && strstr(optstr, "compat="))
            printf(" compat=1.1");
        printf(" lazy_refcounts=%s refcount_bits=%d\n", o.lazy_refcounts ? "on" : "off",
               o.refcount_bits ? o.refcount_bits : 16);
    } else if (!quiet) {
        printf("Formatting '%s', fmt=%s size=%llu\n", filename, fmt, (unsigned long long)o.size);
    }
    if (blk_create(fmt, filename, &o) < 0) {
        img_err("%s: %s", filename, err_msg());
        goto out;
    }
    status = 0;
out:
    free((char *)o.backing_file);
    free((char *)o.backing_fmt);
    return status;
}
