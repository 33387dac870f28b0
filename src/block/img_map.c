/* quail img map: allocation of each extent through the backing chain, in
 * qemu-img's json and human formats. */
#include "block/img.h"
#include "util/error.h"

#include <getopt.h>
#include <string.h>

typedef struct Extent {
    uint64_t start, length, offset;
    int depth;
    bool present, zero, data, has_offset;
    const char *file;
} Extent;

static bool mergeable(const Extent *a, const Extent *b)
{
    return a->depth == b->depth && a->present == b->present && a->zero == b->zero &&
           a->data == b->data && a->has_offset == b->has_offset && a->file == b->file &&
           (!a->has_offset || a->offset + a->length == b->offset);
}

static void emit(const Extent *e, bool json, bool first)
{
    if (json) {
        printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, \"present\": %s, \"zero\": %s, "
               "\"data\": %s", first ? "[" : ",\n", (unsigned long long)e->start,
               (unsigned long long)e->length, e->depth, e->present ? "true" : "false",
               e->zero ? "true" : "false", e->data ? "true" : "false");
        if (e->has_offset)
            printf(", \"offset\": %llu", (unsigned long long)e->offset);
        printf("}");
    } else if (e->data && e->has_offset) {
        printf("%#-15llx %#-15llx %#-15llx %s\n", (unsigned long long)e->start,
               (unsigned long long)e->length, (unsigned long long)e->offset, e->file);
    }
}

int img_map_main(int argc, char **argv)
{
    const char *fmt = NULL, *output = "human";
    bool force_share = false;
    static const struct option longopts[] = {
        { "output", required_argument, 0, 'O' },
        { "force-share", no_argument, 0, 'U' },
        { 0 },
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': output = optarg; break;
        case 'U': force_share = true; break;
        default: return 1;
        }
    }
    if (optind != argc - 1) {
        img_err("Expecting one image file name");
        return 1;
    }
    bool json = !strcmp(output, "json");
    BlockNode *bs;
    if (img_open(argv[optind], fmt, force_share ? BLK_O_FORCE_SHARE : 0, &bs) < 0)
        return 1;
    int64_t size = blk_getlength(bs);
    if (!json)
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    Extent cur = { 0 };
    bool have = false, first = true;
    int status = 0;
    for (uint64_t off = 0; size > 0 && off < (uint64_t)size;) {
        uint64_t pnum, map;
        int depth;
        BlockNode *f = NULL;
        int st = img_chain_status(bs, off, (uint64_t)size - off, &pnum, &depth, &map, &f);
        if (st < 0) {
            img_err("%s", err_msg());
            status = 1;
            break;
        }
        if (!json && (st & BLK_STATUS_DATA) && !(st & BLK_STATUS_OFFSET_VALID)) {
            img_err("File contains external, encrypted or compressed clusters.");
            status = 1;
            have = false;
            break;
        }
        Extent e = {
            .start = off, .length = pnum, .depth = depth,
            .present = !!(st & BLK_STATUS_ALLOCATED), .zero = !!(st & BLK_STATUS_ZERO),
            .data = !!(st & BLK_STATUS_DATA), .has_offset = !!(st & BLK_STATUS_OFFSET_VALID),
            .offset = map, .file = f ? f->filename : "",
        };
        if (have && mergeable(&cur, &e)) {
            cur.length += e.length;
        } else {
            if (have) {
                emit(&cur, json, first);
                first = false;
            }
            cur = e;
            have = true;
        }
        off += pnum;
    }
    if (have)
        emit(&cur, json, first);
    if (json)
        printf(first && !have ? "[]\n" : "]\n");
    img_close(bs);
    return status;
}
