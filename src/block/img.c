/* `quail img COMMAND`: dispatcher and helpers shared by the commands. */
#include "block/img.h"
#include "block/blockdev_opts.h"
#include "util/error.h"
#include "util/subcommand.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *usage;
} commands[] = {
    { "create", img_create_main, "create [-f fmt] [-o options] [-b backing [-F fmt]] file [size]" },
    { "info", img_info_main, "info [-f fmt] [--output=human|json] [--backing-chain] [-U] file" },
    { "check", img_check_main, "check [-f fmt] [-r leaks|all] [--output=human|json] [-q] file" },
    { "convert", img_convert_main, "convert [-f fmt] [-O fmt] [-o options] [-c] [-n] [-U] src dst" },
    { "map", img_map_main, "map [-f fmt] [--output=human|json] file" },
    { "resize", img_resize_main, "resize [-f fmt] [-q] [--shrink] file [+|-]size" },
    { "compare", img_compare_main, "compare [-f fmt] [-F fmt] [-s] file1 file2" },
    { "io", img_io_main, "io [-f fmt] [-r|-U] [--image-opts] [-c command]... file\n"
      "      (read/write [-P pat] [-z [-u]]/discard/flush/aio-read/aio-write/wait; stdin without -c)" },
};
#define NCMD (sizeof(commands) / sizeof(commands[0]))

void img_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "quail img: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* Each open image is used through a root edge, as qemu-img's BlockBackend:
 * that is what takes the image locks of pass-through drivers (raw). */
#define MAX_OPEN 8
static struct { BlockNode *bs; BlockChild *root; } opened[MAX_OPEN];

int img_open(const char *filename, const char *fmt, int flags, BlockNode **out)
{
    int ret = blk_open_image(filename, fmt, flags, out);
    if (ret < 0) {
        img_err("Could not open '%s': %s", filename, err_msg());
        return ret;
    }
    return img_adopt(filename, flags, out);
}

int img_adopt(const char *filename, int flags, BlockNode **out)
{
    int ret;
    unsigned perm = BLK_PERM_CONSISTENT_READ, shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    if (flags & BLK_O_RDWR)
        perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    if (flags & BLK_O_FORCE_SHARE) {
        perm = 0;
        shared = BLK_PERM_ALL;
    }
    int slot = 0;
    while (slot < MAX_OPEN && opened[slot].bs)
        slot++;
    BlockChild *root = NULL;
    if (slot == MAX_OPEN)
        ret = err_set(EMFILE, "too many open images");
    else
        ret = blk_root_attach(*out, "quail-img", perm, shared, &root);
    if (ret < 0) {
        img_err("Could not open '%s': %s", filename, err_msg());
        blk_unref(*out);
        *out = NULL;
        return ret;
    }
    opened[slot].bs = *out;
    opened[slot].root = root;
    return 0;
}

void img_close(BlockNode *bs)
{
    if (!bs)
        return;
    for (int i = 0; i < MAX_OPEN; i++) {
        if (opened[i].bs == bs) {
            blk_root_detach(opened[i].root);
            opened[i].bs = NULL;
            break;
        }
    }
    blk_unref(bs);
}

void img_size_str(uint64_t v, char *buf, size_t cap)
{
    static const char *const pfx[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    int i = v ? (int)floor(log2((double)v) / 10.0) : 0;
    if (i < 0)
        i = 0;
    if (i > 6)
        i = 6;
    snprintf(buf, cap, "%0.3g %sB", (double)v / (double)(1ull << (i * 10)), pfx[i]);
}

int img_chain_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                     int *depth, uint64_t *map, BlockNode **file)
{
    *depth = 0;
    for (;;) {
        int64_t len = blk_getlength(bs);
        if (len < 0)
            return (int)len;
        if (off >= (uint64_t)len) {
            *pnum = bytes;  /* past a shorter backing file: zeroes */
            return BLK_STATUS_ZERO;
        }
        int ret = blk_block_status(bs, off, bytes, pnum, map, file);
        if (ret < 0)
            return ret;
        if ((ret & BLK_STATUS_ALLOCATED) || !bs->backing) {
            if (!(ret & BLK_STATUS_ALLOCATED))
                ret |= BLK_STATUS_ZERO;
            return ret;
        }
        bytes = *pnum;
        bs = bs->backing->node;
        (*depth)++;
    }
}

bool img_is_zero(const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        if (*p++)
            return false;
        n--;
    }
    const uint64_t *q = (const uint64_t *)(const void *)p;
    for (; n >= 8; n -= 8, q++)
        if (*q)
            return false;
    p = (const uint8_t *)q;
    while (n--)
        if (*p++)
            return false;
    return true;
}

int img_parse_create_opts(char *str, BlockCreateOpts *o, bool *have_size)
{
    json_object *kv;
    int ret = keyval_parse(str, NULL, &kv);
    if (ret < 0)
        return ret;
    ret = 0;
    json_object_object_foreach(kv, k, v) {
        const char *val = json_object_get_string(v);
        uint64_t n;
        if (!strcmp(k, "size")) {
            if ((ret = parse_size(val, &n)) < 0)
                break;
            o->size = n;
            *have_size = true;
        } else if (!strcmp(k, "cluster_size")) {
            if ((ret = parse_size(val, &n)) < 0)
                break;
            if (n > (1u << 21)) {
                ret = err_set(EINVAL, "Cluster size must be a power of two between 512 and 2048k");
                break;
            }
            o->cluster_size = (uint32_t)n;
        } else if (!strcmp(k, "backing_file")) {
            o->backing_file = strdup(val);
        } else if (!strcmp(k, "backing_fmt")) {
            o->backing_fmt = strdup(val);
        } else if (!strcmp(k, "compat")) {
            if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
                o->compat = 2;
            else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
                o->compat = 3;
            else {
                ret = err_set(EINVAL, "Invalid parameter '%s'", val);
                break;
            }
        } else if (!strcmp(k, "refcount_bits")) {
            if ((ret = parse_size(val, &n)) < 0)
                break;
            o->refcount_bits = (int)(n > 64 ? 65 : n);
        } else if (!strcmp(k, "compression_type")) {
            if (!strcmp(val, "zlib"))
                o->compression_type = 0;
            else if (!strcmp(val, "zstd"))
                o->compression_type = 1;
            else {
                ret = err_set(EINVAL, "Invalid parameter '%s'", val);
                break;
            }
        } else if (!strcmp(k, "lazy_refcounts")) {
            o->lazy_refcounts = !strcmp(val, "on") || !strcmp(val, "true");
        } else if (!strcmp(k, "preallocation") && !strcmp(val, "off")) {
            /* the default */
        } else {
            ret = err_set(EINVAL, "Invalid parameter '%s'", k);
            break;
        }
    }
    json_object_put(kv);
    return ret;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: quail img COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < NCMD; i++)
        fprintf(out, "  %s\n", commands[i].usage);
}

static int img_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCMD; i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            for (int k = 2; k < argc; k++)
                if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
                    printf("usage: quail img %s\n", commands[i].usage);
                    return 0;
                }
            return commands[i].main(argc - 1, argv + 1);
        }
    }
    img_err("Command not found: %s", argv[1]);
    usage(stderr);
    return 1;
}

static const Subcommand img_subcommand = { "img", "create, inspect, check and convert disk images", img_main };
SUBCOMMAND_REGISTER(img_subcommand)
