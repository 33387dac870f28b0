/* quail img convert: copies guest-visible content, skipping zero and
 * unallocated extents so the output stays sparse. */
#include "block/img.h"
#include "util/error.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (2u << 20)
#define ZERO_GRAIN 4096u

/* Writes buf[0..n) at off, skipping ZERO_GRAIN-aligned all-zero pieces. */
static int write_sparse(BlockNode *dst, uint64_t off, const uint8_t *buf, uint64_t n, bool fresh)
{
    uint64_t pos = 0;
    while (pos < n) {
        uint64_t g = ZERO_GRAIN - ((off + pos) % ZERO_GRAIN);
        if (g > n - pos)
            g = n - pos;
        bool z = img_is_zero(buf + pos, g);
        uint64_t end = pos + g;
        while (end < n) {
            uint64_t g2 = n - end < ZERO_GRAIN ? n - end : ZERO_GRAIN;
            if (img_is_zero(buf + end, g2) != z)
                break;
            end += g2;
        }
        int ret = 0;
        if (!z)
            ret = blk_pwrite(dst, off + pos, buf + pos, end - pos);
        else if (!fresh)
            ret = blk_write_zeroes(dst, off + pos, end - pos, BLK_ZERO_MAY_UNMAP);
        if (ret < 0)
            return ret;
        pos = end;
    }
    return 0;
}

/* -c: every cluster with data goes through the compressed write path. */
static int convert_compressed(BlockNode *src, BlockNode *dst, uint64_t size, uint8_t *buf)
{
    uint64_t cs = dst->cluster_size;
    if (!dst->drv->pwrite_compressed || !cs || cs > CHUNK) {
        img_err("Compression not supported for this file format");
        return -ENOTSUP;
    }
    for (uint64_t off = 0; off < size;) {
        uint64_t n = size - off < cs ? size - off : cs, pnum, map;
        int depth;
        BlockNode *f;
        int st = img_chain_status(src, off, size - off, &pnum, &depth, &map, &f);
        if (st < 0) {
            img_err("error while reading block status at offset %llu: %s",
                    (unsigned long long)off, err_msg());
            return st;
        }
        if ((st & BLK_STATUS_ZERO) && pnum >= n) {
            uint64_t whole = pnum / cs * cs;
            off += whole ? whole : n;
            continue;
        }
        int ret = blk_pread(src, off, buf, n);
        if (ret < 0) {
            img_err("error while reading at byte %llu: %s", (unsigned long long)off, err_msg());
            return ret;
        }
        if (!img_is_zero(buf, n) && (ret = blk_pwrite_compressed(dst, off, buf, n)) < 0) {
            img_err("error while compressing at byte %llu: %s", (unsigned long long)off, err_msg());
            return ret;
        }
        off += n;
    }
    return 0;
}

int img_convert_main(int argc, char **argv)
{
    const char *fmt = NULL, *out_fmt = "raw";
    char *optstr = NULL;
    bool no_create = false, force_share = false, compress = false, quiet = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:O:o:nUcqpW", NULL, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'o': optstr = optarg; break;
        case 'n': no_create = true; break;
        case 'U': force_share = true; break;
        case 'c': compress = true; break;
        case 'q': quiet = true; break;
        case 'p': case 'W': break;
        default: return 1;
        }
    }
    (void)quiet;
    if (optind != argc - 2) {
        img_err("Expecting a source and a target file name");
        return 1;
    }
    const char *src_name = argv[optind], *dst_name = argv[optind + 1];
    BlockNode *src = NULL, *dst = NULL;
    uint8_t *buf = NULL;
    int status = 1;
    BlockCreateOpts o = { 0 };
    if (img_open(src_name, fmt, force_share ? BLK_O_FORCE_SHARE : 0, &src) < 0)
        return 1;
    int64_t size = blk_getlength(src);
    if (size < 0) {
        img_err("%s", err_msg());
        goto out;
    }
    if (!no_create) {
        bool have_size = false;
        if (optstr) {
            char *dup = strdup(optstr);
            int ret = dup ? img_parse_create_opts(dup, &o, &have_size) : -ENOMEM;
            free(dup);
            if (ret < 0) {
                img_err("%s", err_msg());
                goto out;
            }
        }
        o.size = (uint64_t)size;
        if (blk_create(out_fmt, dst_name, &o) < 0) {
            img_err("%s: error while converting %s: %s", dst_name, out_fmt, err_msg());
            goto out;
        }
    }
    if (img_open(dst_name, out_fmt, BLK_O_RDWR | BLK_O_NO_FLUSH, &dst) < 0)
        goto out;
    int64_t dsize = blk_getlength(dst);
    if (dsize < size) {
        img_err("output image is smaller than the source");
        goto out;
    }
    buf = malloc(CHUNK);
    if (!buf) {
        img_err("out of memory");
        goto out;
    }
    if (compress) {
        if (convert_compressed(src, dst, (uint64_t)size, buf) < 0)
            goto out;
        goto done;
    }
    for (uint64_t off = 0; off < (uint64_t)size;) {
        uint64_t n = (uint64_t)size - off < CHUNK ? (uint64_t)size - off : CHUNK, pnum, map;
        int depth;
        BlockNode *f;
        int st = img_chain_status(src, off, n, &pnum, &depth, &map, &f);
        if (st < 0) {
            img_err("error while reading block status at offset %llu: %s",
                    (unsigned long long)off, err_msg());
            goto out;
        }
        int ret = 0;
        if (st & BLK_STATUS_ZERO) {
            if (no_create)
                ret = blk_write_zeroes(dst, off, pnum, BLK_ZERO_MAY_UNMAP);
        } else {
            ret = blk_pread(src, off, buf, pnum);
            if (ret < 0) {
                img_err("error while reading at byte %llu: %s", (unsigned long long)off, err_msg());
                goto out;
            }
            ret = write_sparse(dst, off, buf, pnum, !no_create);
        }
        if (ret < 0) {
            img_err("error while writing at byte %llu: %s", (unsigned long long)off, err_msg());
            goto out;
        }
        off += pnum;
    }
done:
    if (blk_flush(dst) < 0) {
        img_err("error while flushing: %s", err_msg());
        goto out;
    }
    status = 0;
out:
    free(buf);
    free((char *)o.backing_file);
    free((char *)o.backing_fmt);
    img_close(dst);
    img_close(src);
    return status;
}
