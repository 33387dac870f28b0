/* Persistent bitmaps: load at open, store at close (see qcow2_bitmap.h).
 *
 * Bitmap data is QEMU's serialization: bit i (chunk i of `granularity`
 * bytes) is bit i % 8 of byte i / 8; a table entry points at one cluster of
 * it, 0 means all zeroes, offset 0 with bit 0 set means all ones.  While a
 * writable image is open the bitmaps on disk carry the in-use flag
 * (qcow2.c), so a crash leaves them inconsistent, as in QEMU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/dirty_bitmap.h"
#include "block/qcow2.h"
#include "block/qcow2_bitmap.h"
#include "util/error.h"
#include "util/log.h"

#define BME_TABLE_MASK 0x00fffffffffffe00ull
#define BME_MAX_TABLE_BYTES (64u << 20)
#define BME_KNOWN_FLAGS 7u

static uint64_t table_entries(uint64_t disk_size, unsigned gbits, uint32_t cluster_bits)
{
    uint64_t bits = (disk_size + (1ull << gbits) - 1) >> gbits;
    uint64_t bits_per_cluster = 8ull << cluster_bits;
    return (bits + bits_per_cluster - 1) / bits_per_cluster;
}

int qcow2_bitmap_parse_dir(const uint8_t *d, uint64_t size, uint32_t nb, uint32_t cluster_bits,
                           uint64_t disk_size, Qcow2BitmapEntry *out, uint32_t max)
{
    if (nb > QCOW2_MAX_BITMAPS)
        return err_set(EINVAL, "too many bitmaps (%u)", nb);
    uint64_t pos = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (size < 24 || pos > size - 24)
            return err_set(EINVAL, "bitmap directory is truncated");
        const uint8_t *e = d + pos;
        uint64_t toff = be64_get(e);
        uint32_t tsize = be32_get(e + 8), flags = be32_get(e + 12);
        uint8_t type = e[16], gbits = e[17];
        uint16_t name_len = be16_get(e + 18);
        uint32_t extra = be32_get(e + 20);
        uint64_t len = 24 + (uint64_t)extra + name_len;
        if (len > size - pos)
            return err_set(EINVAL, "bitmap directory entry %u overflows the directory", i);
        if (type != 1)
            return err_set(EINVAL, "bitmap %u has unknown type %u", i, type);
        if (gbits < 9 || gbits > 31)
            return err_set(EINVAL, "bitmap %u has invalid granularity bits %u", i, gbits);
        if (flags & ~BME_KNOWN_FLAGS)
            return err_set(EINVAL, "bitmap %u has unknown flags %#x", i, flags);
        if (extra && !(flags & QCOW2_BME_EXTRA_COMPAT))
            return err_set(ENOTSUP, "bitmap %u has extra data it cannot be used without", i);
        if (name_len == 0 || name_len > 1023)
            return err_set(EINVAL, "bitmap %u has an invalid name length %u", i, name_len);
        if (toff & ((1ull << cluster_bits) - 1) || toff == 0)
            return err_set(EINVAL, "bitmap %u table is not cluster aligned", i);
        if (tsize != table_entries(disk_size, gbits, cluster_bits))
            return err_set(EINVAL, "bitmap %u table has %u entries, expected %llu", i, tsize,
                           (unsigned long long)table_entries(disk_size, gbits, cluster_bits));
        if ((uint64_t)tsize * 8 > BME_MAX_TABLE_BYTES)
            return err_set(EFBIG, "bitmap %u table is too large", i);
        if (n < max) {
            Qcow2BitmapEntry *o = &out[n++];
            o->table_offset = toff;
            o->table_size = tsize;
            o->flags = flags;
            o->granularity_bits = gbits;
            memcpy(o->name, e + 24 + extra, name_len);
            o->name[name_len] = '\0';
            if (memchr(o->name, '\0', name_len))
                return err_set(EINVAL, "bitmap %u name contains a NUL byte", i);
        }
        pos += (len + 7) & ~7ull;
    }
    return (int)n;
}

static int read_dir(BlockNode *bs, uint8_t **dir, Qcow2BitmapEntry **ents)
{
    Qcow2State *s = bs->opaque;
    *dir = malloc(s->bitmap_dir_size ? s->bitmap_dir_size : 1);
    *ents = calloc(s->nb_bitmaps ? s->nb_bitmaps : 1, sizeof(**ents));
    if (!*dir || !*ents)
        return err_set(ENOMEM, "out of memory");
    int ret = blk_pread(bs->file->node, s->bitmap_dir_offset, *dir, s->bitmap_dir_size);
    if (ret < 0)
        return ret;
    return qcow2_bitmap_parse_dir(*dir, s->bitmap_dir_size, s->nb_bitmaps, s->cluster_bits,
                                  s->size, *ents, s->nb_bitmaps);
}

static bool has_bitmaps(Qcow2State *s)
{
    return s->nb_bitmaps && (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS);
}

static int load_one(BlockNode *bs, const Qcow2BitmapEntry *e)
{
    Qcow2State *s = bs->opaque;
    DirtyBitmap *bm;
    int ret = dbm_create(bs, e->name, 1ull << e->granularity_bits, &bm);
    if (ret < 0)
        return ret;
    bm->persistent = true;
    bm->enabled = (e->flags & QCOW2_BME_AUTO) != 0;
    bm->inconsistent = (e->flags & QCOW2_BME_IN_USE) != 0;
    if (bm->inconsistent) {
        bm->enabled = false;
        return 0;       /* its contents cannot be trusted, so are not read */
    }
    uint64_t *table = malloc((size_t)e->table_size * 8 + 8);
    uint8_t *buf = malloc(s->cluster_size);
    if (!table || !buf) {
        free(table);
        free(buf);
        return err_set(ENOMEM, "out of memory");
    }
    ret = blk_pread(bs->file->node, e->table_offset, table, (uint64_t)e->table_size * 8);
    uint64_t bits_per_cluster = 8ull * s->cluster_size;
    for (uint32_t k = 0; ret == 0 && k < e->table_size; k++) {
        uint64_t te = be64_get(&table[k]), off = te & BME_TABLE_MASK;
        uint64_t first = k * bits_per_cluster;
        if (!off) {
            if (te & 1)
                dbm_set_range(bm, first * bm->granularity, bits_per_cluster * bm->granularity);
            continue;
        }
        if (off + s->cluster_size > s->file_len || qcow2_overlaps_metadata(s, off, s->cluster_size)) {
            ret = err_set(EINVAL, "bitmap '%s' data cluster %#llx is invalid", e->name,
                          (unsigned long long)off);
            break;
        }
        if ((ret = blk_pread(bs->file->node, off, buf, s->cluster_size)) < 0)
            break;
        dbm_lock();
        for (uint64_t b = 0; b < bits_per_cluster && first + b < bm->nbits; b++)
            if (buf[b >> 3] & (1u << (b & 7)))
                bm->words[(first + b) >> 6] |= 1ull << ((first + b) & 63);
        dbm_unlock();
    }
    free(table);
    free(buf);
    return ret;
}

int qcow2_bitmaps_load(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    if (!has_bitmaps(s))
        return 0;
    uint8_t *dir = NULL;
    Qcow2BitmapEntry *ents = NULL;
    int ret = read_dir(bs, &dir, &ents);
    for (int i = 0; ret > 0 && i < ret; i++) {
        int r = load_one(bs, &ents[i]);
        if (r < 0) {
            ret = err_prefix(r, "Could not load bitmap '%s'", ents[i].name);
            break;
        }
    }
    free(dir);
    free(ents);
    if (ret < 0)
        dbm_release_all(bs);
    return ret < 0 ? ret : 0;
}

/* Rebuilds the header cluster's extension area with the bitmaps extension
 * set to (nb, dsize, doff), or dropped when nb == 0; the backing file name
 * follows the end marker, as QEMU lays it out. */
static int write_extension(BlockNode *bs, uint32_t nb, uint64_t dsize, uint64_t doff)
{
    Qcow2State *s = bs->opaque;
    uint32_t cs = s->cluster_size;
    uint8_t *h = malloc(cs), *n = calloc(1, cs);
    int ret = 0;
    if (!h || !n) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    if ((ret = blk_pread(bs->file->node, 0, h, cs)) < 0)
        goto out;
    uint32_t hl = s->header_length;
    uint64_t boff = be64_get(h + 8);
    uint32_t blen = be32_get(h + 16);
    if (hl < QCOW2_HEADER_V3_LEN || hl > cs || (blen && (boff > cs || blen > cs - boff))) {
        ret = err_set(EINVAL, "qcow2 header cannot hold a bitmaps extension");
        goto out;
    }
    memcpy(n, h, hl);
    uint32_t in = hl, outp = hl;
    while (in + 8 <= cs) {
        uint32_t type = be32_get(h + in), len = be32_get(h + in + 4);
        if (type == QCOW2_EXT_END || len > cs - in - 8)
            break;
        uint32_t step = 8 + ((len + 7) & ~7u);
        if (type != QCOW2_EXT_BITMAPS) {
            if (outp + step > cs) {
                ret = err_set(ENOSPC, "qcow2 header extensions overflow");
                goto out;
            }
            memcpy(n + outp, h + in, step);
            outp += step;
        }
        in += step;
    }
    if (nb) {
        if (outp + 32 > cs) {
            ret = err_set(ENOSPC, "no room for the bitmaps extension in the header");
            goto out;
        }
        be32_put(n + outp, QCOW2_EXT_BITMAPS);
        be32_put(n + outp + 4, 24);
        be32_put(n + outp + 8, nb);
        be32_put(n + outp + 12, 0);
        be64_put(n + outp + 16, dsize);
        be64_put(n + outp + 24, doff);
        outp += 32;
    }
    outp += 8;      /* end marker (zeroes) */
    if (blen) {
        if (outp + blen > cs) {
            ret = err_set(ENOSPC, "no room for the backing file name in the header");
            goto out;
        }
        memmove(n + outp, h + boff, blen);
        be64_put(n + 8, outp);
        outp += blen;
    }
    uint64_t ac = nb ? s->autoclear | QCOW2_AUTOCLEAR_BITMAPS : s->autoclear & ~QCOW2_AUTOCLEAR_BITMAPS;
    be64_put(n + QH_AUTOCLEAR, ac);
    if ((ret = blk_pwrite(bs->file->node, 0, n, cs)) < 0 || (ret = blk_flush(bs->file->node)) < 0)
        goto out;
    s->autoclear = ac;
    s->nb_bitmaps = nb;
    s->bitmap_dir_size = dsize;
    s->bitmap_dir_offset = doff;
out:
    free(h);
    free(n);
    return ret;
}

/* Writes one bitmap's data and table; returns the table offset via *toff. */
static int store_one(BlockNode *bs, DirtyBitmap *bm, unsigned gbits, uint64_t *toff,
                     uint32_t *tsize)
{
    Qcow2State *s = bs->opaque;
    uint64_t n = table_entries(s->size, gbits, s->cluster_bits);
    uint64_t tbytes = n * 8, tclusters = (tbytes + s->cluster_size - 1) >> s->cluster_bits;
    uint8_t *table = calloc(tclusters ? tclusters : 1, s->cluster_size);
    uint8_t *buf = malloc(s->cluster_size);
    int ret = 0;
    if (!table || !buf) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    uint64_t bpc = 8ull * s->cluster_size;
    for (uint64_t k = 0; k < n; k++) {
        memset(buf, 0, s->cluster_size);
        bool any = false;
        dbm_lock();
        for (uint64_t b = 0; b < bpc && k * bpc + b < bm->nbits; b++) {
            uint64_t i = k * bpc + b;
            if (bm->words[i >> 6] >> (i & 63) & 1) {
                buf[b >> 3] |= (uint8_t)(1u << (b & 7));
                any = true;
            }
        }
        dbm_unlock();
        if (!any)
            continue;
        uint64_t off;
        if ((ret = qcow2_alloc_clusters(bs, 1, &off)) < 0 ||
            (ret = blk_pwrite(bs->file->node, off, buf, s->cluster_size)) < 0)
            goto out;
        be64_put(table + 8 * k, off);
    }
    if ((ret = qcow2_alloc_clusters(bs, tclusters, toff)) < 0 ||
        (ret = blk_pwrite(bs->file->node, *toff, table, tclusters * s->cluster_size)) < 0)
        goto out;
    *tsize = (uint32_t)n;
out:
    free(table);
    free(buf);
    return ret;
}

static void free_old(BlockNode *bs, const Qcow2BitmapEntry *ents, int n, uint64_t doff,
                     uint64_t dsize)
{
    Qcow2State *s = bs->opaque;
    uint64_t *t = NULL;
    for (int i = 0; i < n; i++) {
        free(t);
        t = malloc((size_t)ents[i].table_size * 8 + 8);
        if (!t || blk_pread(bs->file->node, ents[i].table_offset, t,
                            (uint64_t)ents[i].table_size * 8) < 0)
            continue;   /* leaked clusters, which check repairs; never a wrong free */
        for (uint32_t k = 0; k < ents[i].table_size; k++) {
            uint64_t off = be64_get(&t[k]) & BME_TABLE_MASK;
            if (off)
                qcow2_free_range(bs, off, s->cluster_size, false);
        }
        qcow2_free_range(bs, ents[i].table_offset, (uint64_t)ents[i].table_size * 8, false);
    }
    free(t);
    if (dsize)
        qcow2_free_range(bs, doff, dsize, false);
}

int qcow2_bitmaps_store(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    uint8_t *olddir = NULL;
    Qcow2BitmapEntry *old = NULL;
    int nold = 0, ret = 0;
    uint64_t old_doff = s->bitmap_dir_offset, old_dsize = s->bitmap_dir_size;
    if (has_bitmaps(s)) {
        nold = read_dir(bs, &olddir, &old);
        if (nold < 0) {
            log_msg("qcow2: not freeing an unreadable old bitmap directory: %s", err_msg());
            nold = 0;
            old_dsize = 0;
        }
    }
    /* Oldest first: the order they were created (and loaded) in. */
    DirtyBitmap *list[QCOW2_MAX_BITMAPS > 256 ? 256 : QCOW2_MAX_BITMAPS];
    uint32_t nb = 0;
    dbm_lock();
    for (DirtyBitmap *bm = bs->dirty_bitmaps; bm && nb < 256; bm = bm->next)
        if (bm->persistent)
            list[nb++] = bm;
    dbm_unlock();
    if (!nb && !has_bitmaps(s))
        goto out;
    if (s->version < 3) {
        ret = err_set(ENOTSUP, "Cannot store dirty bitmaps in qcow2 v2 files");
        goto out;
    }
    uint64_t dsize = 0;
    for (uint32_t i = 0; i < nb; i++)
        dsize += (24 + strlen(list[i]->name) + 7) & ~7ull;
    uint8_t *dir = calloc(1, dsize + 8);
    if (!dir) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    uint64_t pos = 0, doff = 0;
    for (uint32_t i = nb; i-- > 0;) {
        DirtyBitmap *bm = list[i];
        unsigned gbits = (unsigned)__builtin_ctzll(bm->granularity);
        uint64_t toff = 0;
        uint32_t tsize = 0;
        if ((ret = store_one(bs, bm, gbits, &toff, &tsize)) < 0) {
            free(dir);
            goto out;
        }
        size_t nl = strlen(bm->name);
        be64_put(dir + pos, toff);
        be32_put(dir + pos + 8, tsize);
        be32_put(dir + pos + 12, (bm->enabled ? QCOW2_BME_AUTO : 0) |
                                 (bm->inconsistent ? QCOW2_BME_IN_USE : 0));
        dir[pos + 16] = 1;
        dir[pos + 17] = (uint8_t)gbits;
        be16_put(dir + pos + 18, (uint16_t)nl);
        be32_put(dir + pos + 20, 0);
        memcpy(dir + pos + 24, bm->name, nl);
        pos += (24 + nl + 7) & ~7ull;
    }
    if (nb) {
        uint64_t dcl = (dsize + s->cluster_size - 1) >> s->cluster_bits;
        if ((ret = qcow2_alloc_clusters(bs, dcl, &doff)) < 0 ||
            (ret = blk_pwrite(bs->file->node, doff, dir, dsize)) < 0) {
            free(dir);
            goto out;
        }
    }
    free(dir);
    if ((ret = blk_flush(bs->file->node)) < 0 ||
        (ret = write_extension(bs, nb, nb ? dsize : 0, doff)) < 0)
        goto out;
    free_old(bs, old, nold, old_doff, old_dsize);
    ret = blk_flush(bs->file->node);
out:
    free(olddir);
    free(old);
    return ret;
}

/* QEMU stores bitmaps when it closes every node at exit.  quail run leaves
 * nodes with users (exports, jobs) open at quit, so writable qcow2 nodes
 * still around at exit store theirs here; closed nodes already did. */
static void store_all_at_exit(void)
{
    for (BlockNode *bs = blk_next_node(NULL); bs; bs = blk_next_node(bs)) {
        if (strcmp(bs->drv->name, "qcow2") || bs->read_only || !bs->file)
            continue;
        Qcow2State *s = bs->opaque;
        bool any = has_bitmaps(s);
        for (DirtyBitmap *bm = bs->dirty_bitmaps; bm && !any; bm = bm->next)
            any = bm->persistent;
        if (!any)
            continue;
        blk_drain(bs);
        if (qcow2_bitmaps_store(bs) < 0)
            log_msg("qcow2: storing bitmaps of %s failed: %s", bs->node_name, err_msg());
    }
}

static void __attribute__((constructor)) register_exit_store(void)
{
    atexit(store_all_at_exit);
}
