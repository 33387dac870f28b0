/* qcow2 reference counts and cluster allocation.
 *
 * Order on disk keeps a crash harmless (at worst a leak): a cluster's refcount
 * is written and flushed before anything points at it, and a pointer is
 * removed and flushed before the refcount drops.  New refcount blocks describe
 * themselves (they live in the range they cover).  Callers hold the state's
 * lock exclusively.
 */
#include "block/qcow2.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rb_entries(Qcow2State *s)
{
    return 1ull << s->rb_bits;
}

static uint64_t rb_get(Qcow2State *s, const uint8_t *rb, uint64_t idx)
{
    switch (s->refcount_order) {
    case 0: return (rb[idx / 8] >> (idx % 8)) & 1;
    case 1: return (rb[idx / 4] >> (2 * (idx % 4))) & 3;
    case 2: return (rb[idx / 2] >> (4 * (idx % 2))) & 15;
    case 3: return rb[idx];
    case 4: return be16_get(rb + 2 * idx);
    case 5: return be32_get(rb + 4 * idx);
    default: return be64_get(rb + 8 * idx);
    }
}

/* Sets the entry; returns the byte range of rb that changed. */
static void rb_set(Qcow2State *s, uint8_t *rb, uint64_t idx, uint64_t v, size_t *boff, size_t *blen)
{
    unsigned bits = s->refcount_bits;
    if (bits < 8) {
        unsigned per = 8 / bits, sh = (unsigned)(idx % per) * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << sh);
        rb[idx / per] = (uint8_t)((rb[idx / per] & ~mask) | ((v << sh) & mask));
        *boff = idx / per;
        *blen = 1;
        return;
    }
    size_t w = bits / 8;
    *boff = idx * w;
    *blen = w;
    switch (w) {
    case 1: rb[idx] = (uint8_t)v; break;
    case 2: be16_put(rb + 2 * idx, (uint16_t)v); break;
    case 4: be32_put(rb + 4 * idx, (uint32_t)v); break;
    default: be64_put(rb + 8 * idx, v); break;
    }
}

int qcow2_refcount_init(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    size_t bytes = (size_t)s->reftable_clusters * s->cluster_size;
    s->reftable = malloc(bytes);
    if (!s->reftable)
        return err_set(ENOMEM, "out of memory for the refcount table");
    int ret = blk_pread(bs->file->node, s->reftable_offset, s->reftable, bytes);
    if (ret < 0)
        return err_prefix(ret, "Could not read the refcount table");
    for (uint64_t i = 0; i < s->reftable_size; i++)
        s->reftable[i] = be64_get(&s->reftable[i]);
    return 0;
}

static int load_rb(BlockNode *bs, uint64_t rb_off, uint8_t **rb)
{
    Qcow2State *s = bs->opaque;
    if (rb_off & (s->cluster_size - 1))
        return qcow2_signal_corruption(bs, "Refblock offset %#llx unaligned",
                                       (unsigned long long)rb_off);
    /* A block over the header or the tables would have refcount updates
     * overwrite them. */
    uint64_t cs = s->cluster_size;
    if (rb_off < cs ||
        (rb_off < s->l1_offset + (uint64_t)s->l1_size * 8 && rb_off + cs > s->l1_offset) ||
        (rb_off < s->reftable_offset + (uint64_t)s->reftable_clusters * cs &&
         rb_off + cs > s->reftable_offset))
        return qcow2_signal_corruption(bs, "Refblock offset %#llx overlaps metadata",
                                       (unsigned long long)rb_off);
    pthread_mutex_lock(&s->cache_lock);
    int ret = qcow2_cache_get(bs, &s->rb_cache, rb_off, rb);
    pthread_mutex_unlock(&s->cache_lock);
    return ret;
}

int qcow2_get_refcount(BlockNode *bs, uint64_t cluster, uint64_t *rc)
{
    Qcow2State *s = bs->opaque;
    uint64_t idx = cluster >> s->rb_bits;
    *rc = 0;
    if (idx >= s->reftable_size)
        return 0;
    uint64_t rb_off = s->reftable[idx] & REFT_OFFSET_MASK;
    if (!rb_off)
        return 0;
    uint8_t *rb;
    int ret = load_rb(bs, rb_off, &rb);
    if (ret < 0)
        return ret;
    *rc = rb_get(s, rb, cluster & (rb_entries(s) - 1));
    return 0;
}

/* Sets a refcount whose block exists. */
static int set_existing(BlockNode *bs, uint64_t cluster, uint64_t v)
{
    Qcow2State *s = bs->opaque;
    uint64_t idx = cluster >> s->rb_bits;
    uint64_t rb_off = s->reftable[idx] & REFT_OFFSET_MASK;
    uint8_t *rb;
    int ret = load_rb(bs, rb_off, &rb);
    if (ret < 0)
        return ret;
    size_t boff, blen;
    rb_set(s, rb, cluster & (rb_entries(s) - 1), v, &boff, &blen);
    s->meta_dirty = true;
    return blk_pwrite(bs->file->node, rb_off + boff, rb + boff, blen);
}

static int write_reftable_entry(BlockNode *bs, uint64_t idx)
{
    Qcow2State *s = bs->opaque;
    uint8_t e[8];
    be64_put(e, s->reftable[idx]);
    return blk_pwrite(bs->file->node, s->reftable_offset + idx * 8, e, 8);
}

static void note_end(Qcow2State *s, uint64_t end)
{
    if (end > s->file_len)
        s->file_len = end;
}

/* Writes a fresh refcount block, stored at rb_cluster, for range idx; the
 * clusters of `ones` that lie in that range get refcount 1. */
static int write_new_rb(BlockNode *bs, uint64_t rb_cluster, uint64_t idx, const uint64_t *ones, int n)
{
    Qcow2State *s = bs->opaque;
    uint8_t *buf = calloc(1, s->cluster_size);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    uint64_t base = idx << s->rb_bits;
    for (int i = 0; i < n; i++) {
        size_t bo, bl;
        if ((ones[i] >> s->rb_bits) == idx)
            rb_set(s, buf, ones[i] - base, 1, &bo, &bl);
    }
    uint64_t off = rb_cluster << s->cluster_bits;
    int ret = blk_pwrite(bs->file->node, off, buf, s->cluster_size);
    if (ret == 0) {
        pthread_mutex_lock(&s->cache_lock);
        qcow2_cache_put(bs, &s->rb_cache, off, buf);
        pthread_mutex_unlock(&s->cache_lock);
        note_end(s, off + s->cluster_size);
    }
    free(buf);
    return ret;
}

/* Replaces the refcount table with a larger one at the end of the file, so
 * that index need_idx fits.  New refcount blocks for the new table's own
 * clusters are placed right after it. */
static int grow_reftable(BlockNode *bs, uint64_t need_idx)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t start = (s->file_len + cs - 1) >> s->cluster_bits;
    uint64_t entries = need_idx + 1 > s->reftable_size * 2 ? need_idx + 1 : s->reftable_size * 2;
    uint64_t tclusters, nrb;
    uint64_t *tbl = NULL, *rbs = NULL, *ones = NULL;
    int ret;
    for (;;) {
        tclusters = (entries * 8 + cs - 1) / cs;
        /* Refcount blocks for [start, start + tclusters + nrb): iterate until stable. */
        nrb = 0;
        for (int k = 0; k < 8; k++) {
            uint64_t end = start + tclusters + nrb;
            uint64_t first = start >> s->rb_bits, last = (end - 1) >> s->rb_bits, missing = 0;
            for (uint64_t i = first; i <= last; i++)
                if (i >= s->reftable_size || !s->reftable[i])
                    missing++;
            if (missing == nrb)
                break;
            nrb = missing;
        }
        uint64_t last_idx = (start + tclusters + nrb - 1) >> s->rb_bits;
        if (last_idx < entries)
            break;
        entries = last_idx + 1;
    }
    if (tclusters * cs > QCOW2_MAX_REFTABLE_BYTES)
        return err_set(EFBIG, "refcount table would grow too large");
    tbl = calloc(tclusters, cs);
    rbs = calloc(nrb + 1, sizeof(uint64_t));
    ones = calloc(tclusters + nrb + 1, sizeof(uint64_t));
    if (!tbl || !rbs || !ones) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    memcpy(tbl, s->reftable, s->reftable_size * 8);
    uint64_t end = start + tclusters + nrb;
    int n1 = 0;
    for (uint64_t c = start; c < end; c++)
        ones[n1++] = c;
    uint64_t next_rb = start + tclusters, r = 0;
    for (uint64_t i = start >> s->rb_bits; i <= (end - 1) >> s->rb_bits; i++) {
        if (tbl[i])
            continue;
        if (r == nrb) {
            ret = err_set(EIO, "refcount table growth miscounted");
            goto out;
        }
        rbs[r++] = i;   /* the range it describes; its cluster is in tbl[i] */
        tbl[i] = next_rb << s->cluster_bits;
        next_rb++;
    }
    /* Clusters in ranges that already have a block get their count there. */
    for (uint64_t c = start; c < end; c++) {
        uint64_t i = c >> s->rb_bits;
        if (i < s->reftable_size && s->reftable[i]) {
            ret = set_existing(bs, c, 1);
            if (ret < 0)
                goto out;
        }
    }
    for (uint64_t k = 0; k < r; k++) {
        ret = write_new_rb(bs, tbl[rbs[k]] >> s->cluster_bits, rbs[k], ones, n1);
        if (ret < 0)
            goto out;
    }
    uint8_t *disk = (uint8_t *)tbl;
    uint64_t *host = calloc(tclusters, cs);
    if (!host) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    memcpy(host, tbl, tclusters * cs);
    for (uint64_t i = 0; i < tclusters * cs / 8; i++)
        be64_put(disk + i * 8, host[i]);
    ret = blk_pwrite(bs->file->node, start << s->cluster_bits, disk, tclusters * cs);
    if (ret == 0)
        ret = blk_flush(bs->file->node);
    if (ret < 0) {
        free(host);
        goto out;
    }
    note_end(s, end << s->cluster_bits);
    uint8_t hdr[12];
    be64_put(hdr, start << s->cluster_bits);
    be32_put(hdr + 8, (uint32_t)tclusters);
    ret = qcow2_write_header_field(bs, QH_REFTABLE_OFFSET, hdr, sizeof(hdr));
    if (ret == 0)
        ret = blk_flush(bs->file->node);
    if (ret < 0) {
        free(host);
        goto out;
    }
    uint64_t old_off = s->reftable_offset, old_clusters = s->reftable_clusters;
    free(s->reftable);
    s->reftable = host;
    s->reftable_offset = start << s->cluster_bits;
    s->reftable_clusters = (uint32_t)tclusters;
    s->reftable_size = tclusters * cs / 8;
    ret = qcow2_free_range(bs, old_off, old_clusters * cs, false);
out:
    free(tbl);
    free(rbs);
    free(ones);
    return ret;
}

/* Makes sure the block covering cluster exists.  Returns 1 if it had to
 * allocate (the caller's view of free space is then stale), 0 if it existed. */
static int ensure_rb(BlockNode *bs, uint64_t cluster)
{
    Qcow2State *s = bs->opaque;
    uint64_t idx = cluster >> s->rb_bits;
    int ret;
    if (idx >= s->reftable_size) {
        ret = grow_reftable(bs, idx);
        return ret < 0 ? ret : 1;
    }
    if (s->reftable[idx])
        return 0;
    /* Nothing in this block's range is referenced: put the block at cluster. */
    ret = write_new_rb(bs, cluster, idx, &cluster, 1);
    if (ret == 0)
        ret = blk_flush(bs->file->node);
    if (ret < 0)
        return ret;
    s->reftable[idx] = cluster << s->cluster_bits;
    ret = write_reftable_entry(bs, idx);
    if (ret == 0)
        ret = blk_flush(bs->file->node);
    return ret < 0 ? ret : 1;
}

int qcow2_set_refcount(BlockNode *bs, uint64_t cluster, uint64_t rc)
{
    Qcow2State *s = bs->opaque;
    uint64_t idx = cluster >> s->rb_bits;
    if (idx >= s->reftable_size || !s->reftable[idx])
        return err_set(ENOSPC, "no refcount block covers cluster %#llx",
                       (unsigned long long)(cluster << s->cluster_bits));
    return set_existing(bs, cluster, rc);
}

/* Allocates n clusters at the end of the file, with any refcount blocks
 * they need placed right after them (each counting what lies in its range).
 * Used when a search among existing free space keeps running into missing
 * refcount blocks, e.g. runs as long as a block's range. */
static int alloc_at_end(BlockNode *bs, uint64_t n, uint64_t *off)
{
    Qcow2State *s = bs->opaque;
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t start = (s->file_len + s->cluster_size - 1) >> s->cluster_bits;
        uint64_t m = 0;
        for (int k = 0; k < 16; k++) {
            uint64_t end = start + n + m, missing = 0;
            for (uint64_t i = start >> s->rb_bits; i <= (end - 1) >> s->rb_bits; i++)
                if (i >= s->reftable_size || !s->reftable[i])
                    missing++;
            if (missing == m)
                break;
            m = missing;
        }
        uint64_t end = start + n + m;
        if (((end - 1) >> s->rb_bits) >= s->reftable_size) {
            int ret = grow_reftable(bs, (end - 1) >> s->rb_bits);
            if (ret < 0)
                return ret;
            continue;   /* the table moved the end of the file */
        }
        uint64_t *ones = calloc(n + m, sizeof(uint64_t));
        if (!ones)
            return err_set(ENOMEM, "out of memory");
        for (uint64_t c = start; c < end; c++)
            ones[c - start] = c;
        uint64_t next_rb = start + n, *newidx = calloc(m + 1, sizeof(uint64_t)), placed = 0;
        int ret = newidx ? 0 : err_set(ENOMEM, "out of memory");
        for (uint64_t i = start >> s->rb_bits; ret == 0 && i <= (end - 1) >> s->rb_bits; i++) {
            if (s->reftable[i])
                continue;
            if (placed == m) {
                ret = err_set(EIO, "refcount block placement miscounted");
                break;
            }
            newidx[placed++] = i;
            s->reftable[i] = next_rb++ << s->cluster_bits;
        }
        /* Counts in blocks that already exist, then the new blocks (which
         * hold counts for their own ranges), then the table entries. */
        for (uint64_t c = start; ret == 0 && c < end; c++) {
            bool fresh = false;
            for (uint64_t k = 0; k < placed; k++)
                fresh |= newidx[k] == c >> s->rb_bits;
            if (!fresh)
                ret = set_existing(bs, c, 1);
        }
        for (uint64_t k = 0; ret == 0 && k < placed; k++)
            ret = write_new_rb(bs, s->reftable[newidx[k]] >> s->cluster_bits, newidx[k], ones,
                               (int)(n + m));
        if (ret == 0)
            ret = blk_flush(bs->file->node);
        for (uint64_t k = 0; ret == 0 && k < placed; k++)
            ret = write_reftable_entry(bs, newidx[k]);
        if (ret == 0)
            ret = blk_flush(bs->file->node);
        if (ret < 0)
            for (uint64_t k = 0; k < placed; k++)
                s->reftable[newidx[k]] = 0;
        free(ones);
        free(newidx);
        if (ret < 0)
            return ret;
        note_end(s, end << s->cluster_bits);
        *off = start << s->cluster_bits;
        return 0;
    }
    return err_set(EIO, "cluster allocation at the end of the image did not converge");
}

int qcow2_alloc_clusters(BlockNode *bs, uint64_t n, uint64_t *off)
{
    Qcow2State *s = bs->opaque;
    if (n == 0)
        return err_set(EINVAL, "zero-sized allocation");
    uint64_t limit = (1ull << 56) >> s->cluster_bits;
    for (int attempts = 0; attempts < 8; attempts++) {
        uint64_t start = s->free_hint, c = start, lowest = UINT64_MAX;
        while (c - start < n) {
            if (c >= limit)
                return err_set(ENOSPC, "qcow2 image would exceed the maximum file size");
            uint64_t rc;
            int ret = qcow2_get_refcount(bs, c, &rc);
            if (ret < 0)
                return ret;
            if (rc)
                start = c + 1;
            else if (lowest == UINT64_MAX)
                lowest = c;
            c++;
        }
        bool changed = false;
        for (c = start; c < start + n; c++) {
            int ret = ensure_rb(bs, c);
            if (ret < 0)
                return ret;
            if (ret == 1) {
                changed = true;
                break;
            }
        }
        if (changed)
            continue;
        for (c = start; c < start + n; c++) {
            int ret = set_existing(bs, c, 1);
            if (ret < 0)
                return ret;
        }
        s->free_hint = lowest == start ? start + n : lowest;
        note_end(s, (start + n) << s->cluster_bits);
        *off = start << s->cluster_bits;
        return 0;
    }
    return alloc_at_end(bs, n, off);
}

int qcow2_free_range(BlockNode *bs, uint64_t off, uint64_t len, bool discard)
{
    Qcow2State *s = bs->opaque;
    if (!len)
        return 0;
    uint64_t first = off >> s->cluster_bits, last = (off + len - 1) >> s->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, c, &rc);
        if (ret < 0)
            return ret;
        if (rc == 0)
            return qcow2_signal_corruption(bs, "Refcount of cluster %#llx would drop below zero",
                                           (unsigned long long)(c << s->cluster_bits));
        ret = set_existing(bs, c, rc - 1);
        if (ret < 0)
            return ret;
        if (rc == 1) {
            if (c < s->free_hint)
                s->free_hint = c;
            if (s->free_byte_offset && (s->free_byte_offset >> s->cluster_bits) == c)
                s->free_byte_offset = 0;    /* never pack into a reused cluster */
            pthread_mutex_lock(&s->cache_lock);
            qcow2_cache_drop(&s->l2_cache, c << s->cluster_bits);
            pthread_mutex_unlock(&s->cache_lock);
            if (discard)
                blk_discard(bs->file->node, c << s->cluster_bits, s->cluster_size);
        }
    }
    return 0;
}
