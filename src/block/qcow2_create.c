/* Creates a qcow2 image: header, one refcount table cluster and one refcount
 * block, then grows it to the requested size through the driver (which
 * allocates the L1 table), giving the same layout as qemu-img. */
#include "block/qcow2.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct { uint8_t type, bit; const char *name; } features[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
};

static size_t put_ext(uint8_t *p, uint32_t type, const void *data, uint32_t len)
{
    be32_put(p, type);
    be32_put(p + 4, len);
    memcpy(p + 8, data, len);
    size_t padded = (len + 7u) & ~7u;
    memset(p + 8 + len, 0, padded - len);
    return 8 + padded;
}

static int write_initial(const char *filename, const BlockCreateOpts *o, uint32_t cbits)
{
    uint32_t cs = 1u << cbits;
    int version = o->compat ? o->compat : 3;
    int rbits = o->refcount_bits ? o->refcount_bits : 16;
    int order = 0;
    while ((1 << order) < rbits)
        order++;
    if ((1 << order) != rbits || order > 6)
        return err_set(EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
    if (version == 2 && order != 4)
        return err_set(EINVAL, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
    if (version == 2 && (o->compression_type || o->lazy_refcounts))
        return err_set(EINVAL, "compression_type and lazy_refcounts need compat=1.1");

    uint8_t *buf = calloc(3, cs);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    uint8_t *h = buf;
    be32_put(h, QCOW2_MAGIC);
    be32_put(h + 4, (uint32_t)version);
    be32_put(h + 20, cbits);
    be64_put(h + QH_REFTABLE_OFFSET, cs);
    be32_put(h + 56, 1);
    size_t pos;
    if (version >= 3) {
        uint64_t incompat = o->compression_type == QCOW2_COMP_ZSTD ? QCOW2_INCOMPAT_COMPRESSION : 0;
        be64_put(h + 72, incompat);
        be64_put(h + 80, o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        be32_put(h + 96, (uint32_t)order);
        be32_put(h + 100, 112);
        h[104] = (uint8_t)o->compression_type;
        pos = 112;
    } else {
        pos = 72;
    }
    if (o->backing_fmt && *o->backing_fmt)
        pos += put_ext(h + pos, QCOW2_EXT_BACKING_FMT, o->backing_fmt, (uint32_t)strlen(o->backing_fmt));
    if (version >= 3) {
        uint8_t tbl[sizeof(features) / sizeof(features[0]) * 48] = { 0 };
        for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
            tbl[i * 48] = features[i].type;
            tbl[i * 48 + 1] = features[i].bit;
            memcpy(tbl + i * 48 + 2, features[i].name, strlen(features[i].name));
        }
        pos += put_ext(h + pos, QCOW2_EXT_FEATURE_TABLE, tbl, sizeof(tbl));
    }
    pos += 8;   /* end-of-extensions marker, already zero */
    if (o->backing_file && *o->backing_file) {
        size_t bl = strlen(o->backing_file);
        if (bl > 1023 || pos + bl > cs) {
            free(buf);
            return err_set(EINVAL, "Backing file name too long");
        }
        be64_put(h + 8, pos);
        be32_put(h + 16, (uint32_t)bl);
        memcpy(h + pos, o->backing_file, bl);
    }
    /* Refcount table at cluster 1 pointing to the block at cluster 2, which
     * counts clusters 0-2. */
    be64_put(buf + cs, 2ull * cs);
    uint8_t *rb = buf + 2 * cs;
    for (int k = 0; k < 3; k++) {
        unsigned bits = 1u << order;
        if (bits < 8)
            rb[(k * bits) / 8] |= (uint8_t)(1u << ((k * bits) % 8));
        else
            rb[(k + 1) * (bits / 8) - 1] = 1;
    }
    int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(buf);
        return err_set_errno(errno, "Could not create '%s'", filename);
    }
    int ret = 0;
    size_t done = 0;
    while (done < 3u * cs) {
        ssize_t n = pwrite(fd, buf + done, 3u * cs - done, (off_t)done);
        if (n <= 0) {
            ret = err_set_errno(n < 0 ? errno : EIO, "Could not write '%s'", filename);
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) < 0 && ret == 0)
        ret = err_set_errno(errno, "Could not close '%s'", filename);
    free(buf);
    return ret;
}

int qcow2_create(const char *filename, const BlockCreateOpts *o)
{
    uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
    uint32_t cbits = 0;
    while ((1u << cbits) < cs)
        cbits++;
    if ((1u << cbits) != cs || cbits < QCOW2_MIN_CLUSTER_BITS || cbits > QCOW2_MAX_CLUSTER_BITS)
        return err_set(EINVAL, "Cluster size must be a power of two between 512 and 2048k");
    if (o->compat && o->compat != 2 && o->compat != 3)
        return err_set(EINVAL, "Invalid compat version");
    uint64_t size = (o->size + 511) & ~511ull;
    int ret = write_initial(filename, o, cbits);
    if (ret < 0)
        return ret;
    BlockNode *bs;
    ret = blk_open_image(filename, "qcow2", BLK_O_RDWR | BLK_O_NO_BACKING, &bs);
    if (ret < 0)
        return err_prefix(ret, "Could not open the new image");
    ret = blk_truncate(bs, size, false);
    if (ret == 0)
        ret = blk_flush(bs);
    blk_unref(bs);
    return ret;
}
