/* qcow2 consistency check (quail img check, repair of dirty images).
 *
 * Recomputes every cluster's reference count from the metadata (header, L1,
 * L2, refcount structures, snapshots, bitmaps) and compares with the stored
 * refcounts: stored > computed is a leak, stored < computed corruption.
 * Messages match qemu-img's so scripts can read either. */
#include "block/qcow2.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_MAX_CLUSTERS (1ull << 28)

static _Thread_local bool check_quiet;
#define fprintf(f, ...) (check_quiet ? 0 : fprintf(f, __VA_ARGS__))

typedef struct Ctx {
    BlockNode *bs;
    Qcow2State *s;
    uint32_t *ref;
    uint64_t nb;
    BlockCheckResult *res;
} Ctx;

static void inc_range(Ctx *c, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    uint64_t first = off >> c->s->cluster_bits, last = (off + len - 1) >> c->s->cluster_bits;
    for (uint64_t k = first; k <= last; k++) {
        if (k >= c->nb) {
            fprintf(stderr, "ERROR: cluster %llu (offset %#llx) is beyond the end of the image\n",
                    (unsigned long long)k, (unsigned long long)(k << c->s->cluster_bits));
            c->res->corruptions++;
            return;
        }
        if (c->ref[k] < UINT32_MAX)
            c->ref[k]++;
    }
}

static int check_l2(Ctx *c, uint64_t l2_off, bool active, uint64_t *next_contig)
{
    Qcow2State *s = c->s;
    uint8_t *t = malloc(s->cluster_size);
    if (!t)
        return err_set(ENOMEM, "out of memory");
    int ret = blk_pread(c->bs->file->node, l2_off, t, s->cluster_size);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l2\n");
        c->res->check_errors++;
        free(t);
        return 0;
    }
    for (uint32_t i = 0; i < s->l2_entries; i++) {
        uint64_t e = be64_get(t + 8 * i);
        switch (qcow2_entry_type(s, e)) {
        case QCOW2_CLUSTER_COMPRESSED: {
            if (e & QCOW_OFLAG_COPIED) {
                fprintf(stderr, "ERROR: coffset=%#llx: copied flag must never be set for compressed clusters\n",
                        (unsigned long long)(e & s->cluster_offset_mask));
                c->res->corruptions++;
            }
            uint64_t coff = e & s->cluster_offset_mask;
            uint64_t nsec = ((e >> s->csize_shift) & s->csize_mask) + 1;
            inc_range(c, coff & ~511ull, nsec * 512);
            if (active) {
                c->res->allocated_clusters++;
                c->res->compressed_clusters++;
                c->res->fragmented_clusters++;  /* as qemu-img counts them */
            }
            break;
        }
        case QCOW2_CLUSTER_ZERO_ALLOC:
        case QCOW2_CLUSTER_NORMAL: {
            uint64_t off = e & L2E_OFFSET_MASK;
            if (off & (s->cluster_size - 1)) {
                fprintf(stderr, "ERROR offset=%llx: Cluster is not properly aligned; L2 entry corrupted.\n",
                        (unsigned long long)off);
                c->res->corruptions++;
                break;
            }
            if (active) {
                c->res->allocated_clusters++;
                if (*next_contig && off != *next_contig)
                    c->res->fragmented_clusters++;
                *next_contig = off + s->cluster_size;
            }
            inc_range(c, off, s->cluster_size);
            if (active) {
                uint64_t rc = 0;
                if (qcow2_get_refcount(c->bs, off >> s->cluster_bits, &rc) == 0 &&
                    (rc == 1) != !!(e & QCOW_OFLAG_COPIED)) {
                    fprintf(stderr, "ERROR OFLAG_COPIED data cluster: l2_entry=%llx refcount=%llu\n",
                            (unsigned long long)e, (unsigned long long)rc);
                    c->res->corruptions++;
                }
            }
            break;
        }
        default:
            break;
        }
    }
    free(t);
    return 0;
}

static int check_l1(Ctx *c, uint64_t l1_off, uint32_t l1_size, bool active)
{
    Qcow2State *s = c->s;
    inc_range(c, l1_off, (uint64_t)l1_size * 8);
    if (!l1_size)
        return 0;
    if ((uint64_t)l1_size * 8 > QCOW2_MAX_L1_BYTES || l1_off >= c->nb << s->cluster_bits) {
        fprintf(stderr, "ERROR: L1 table at %#llx is invalid\n", (unsigned long long)l1_off);
        c->res->corruptions++;
        return 0;
    }
    uint64_t *l1 = malloc((size_t)l1_size * 8);
    if (!l1)
        return err_set(ENOMEM, "out of memory");
    int ret = blk_pread(c->bs->file->node, l1_off, l1, (size_t)l1_size * 8);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l1\n");
        c->res->check_errors++;
        free(l1);
        return 0;
    }
    uint64_t next_contig = 0;
    for (uint32_t i = 0; i < l1_size && ret == 0; i++) {
        uint64_t e = be64_get(&l1[i]), l2 = e & L1E_OFFSET_MASK;
        if (!l2)
            continue;
        if (l2 & (s->cluster_size - 1)) {
            fprintf(stderr, "ERROR l2_offset=%llx: Table is not cluster aligned; L1 entry corrupted\n",
                    (unsigned long long)l2);
            c->res->corruptions++;
            continue;
        }
        if ((l2 >> s->cluster_bits) >= c->nb) {
            fprintf(stderr, "ERROR l2_offset=%llx: Table is outside the image\n", (unsigned long long)l2);
            c->res->corruptions++;
            continue;
        }
        inc_range(c, l2, s->cluster_size);
        if (active) {
            uint64_t rc = 0;
            if (qcow2_get_refcount(c->bs, l2 >> s->cluster_bits, &rc) == 0 &&
                (rc == 1) != !!(e & QCOW_OFLAG_COPIED)) {
                fprintf(stderr, "ERROR OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%llx refcount=%llu\n",
                        i, (unsigned long long)e, (unsigned long long)rc);
                c->res->corruptions++;
            }
        }
        ret = check_l2(c, l2, active, &next_contig);
    }
    free(l1);
    return ret;
}

static int check_snapshots(Ctx *c)
{
    Qcow2State *s = c->s;
    uint64_t off = s->snapshots_offset, start = off;
    uint64_t flen = c->nb << s->cluster_bits;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        uint8_t h[40];
        if (off + 40 > flen || blk_pread(c->bs->file->node, off, h, 40) < 0) {
            fprintf(stderr, "ERROR: snapshot table is truncated\n");
            c->res->corruptions++;
            return 0;
        }
        uint64_t l1_off = be64_get(h);
        uint32_t l1_size = be32_get(h + 8);
        uint16_t id_len = be16_get(h + 12), name_len = be16_get(h + 14);
        uint32_t extra = be32_get(h + 36);
        if (extra > 1024) {
            fprintf(stderr, "ERROR: snapshot %u has too much extra data\n", i);
            c->res->corruptions++;
            return 0;
        }
        int ret = check_l1(c, l1_off, l1_size, false);
        if (ret < 0)
            return ret;
        off += 40 + extra + id_len + name_len;
        off = (off + 7) & ~7ull;
    }
    inc_range(c, start, off - start);
    return 0;
}

static int check_bitmaps(Ctx *c)
{
    Qcow2State *s = c->s;
    if (!s->nb_bitmaps || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
        return 0;
    uint64_t dsize = s->bitmap_dir_size;
    uint8_t *d = malloc(dsize ? dsize : 1);
    if (!d)
        return err_set(ENOMEM, "out of memory");
    inc_range(c, s->bitmap_dir_offset, dsize);
    if (blk_pread(c->bs->file->node, s->bitmap_dir_offset, d, dsize) < 0) {
        c->res->check_errors++;
        free(d);
        return 0;
    }
    uint64_t pos = 0;
    for (uint32_t i = 0; i < s->nb_bitmaps && pos + 24 <= dsize; i++) {
        uint64_t tbl = be64_get(d + pos);
        uint32_t tsize = be32_get(d + pos + 8);
        uint16_t name_len = be16_get(d + pos + 18);
        uint32_t extra = be32_get(d + pos + 20);
        if ((uint64_t)tsize * 8 > (64u << 20) || (tbl >> s->cluster_bits) >= c->nb) {
            c->res->corruptions++;
            break;
        }
        inc_range(c, tbl, (uint64_t)tsize * 8);
        uint8_t *t = malloc((size_t)tsize * 8 + 1);
        if (t && blk_pread(c->bs->file->node, tbl, t, (size_t)tsize * 8) == 0) {
            for (uint32_t k = 0; k < tsize; k++) {
                uint64_t e = be64_get(t + 8 * k) & 0x00fffffffffffe00ull;
                if (e)
                    inc_range(c, e, s->cluster_size);
            }
        }
        free(t);
        pos += (24 + (uint64_t)extra + name_len + 7) & ~7ull;
    }
    free(d);
    return 0;
}

static int compare(Ctx *c, int fix, int64_t *highest)
{
    Qcow2State *s = c->s;
    /* Like qemu-img, only clusters inside the file are compared: counts
     * beyond the end are harmless and allocation skips them. */
    *highest = -1;
    for (uint64_t k = 0; k < c->nb; k++) {
        uint64_t stored = 0, computed = c->ref[k];
        if (computed)
            *highest = (int64_t)k;
        int ret = qcow2_get_refcount(c->bs, k, &stored);
        if (ret < 0) {
            c->res->check_errors++;
            continue;
        }
        if (stored == computed)
            continue;
        bool leak = stored > computed;
        fprintf(stderr, "%s cluster %llu refcount=%llu reference=%llu\n",
                leak ? (fix & BLK_FIX_LEAKS ? "Repairing" : "Leaked")
                     : (fix & BLK_FIX_ERRORS ? "Repairing" : "ERROR"),
                (unsigned long long)k, (unsigned long long)stored, (unsigned long long)computed);
        if (leak)
            c->res->leaks++;
        else
            c->res->corruptions++;
        if ((leak && (fix & BLK_FIX_LEAKS)) || (!leak && (fix & BLK_FIX_ERRORS))) {
            uint64_t v = computed > s->refcount_max ? s->refcount_max : computed;
            if (qcow2_set_refcount(c->bs, k, v) == 0) {
                if (leak)
                    c->res->leaks_fixed++;
                else
                    c->res->corruptions_fixed++;
            }
        }
    }
    return 0;
}

int qcow2_check(BlockNode *bs, BlockCheckResult *res, int fix)
{
    Qcow2State *s = bs->opaque;
    memset(res, 0, sizeof(*res));
    check_quiet = fix & BLK_CHECK_QUIET;
    fix &= BLK_FIX_LEAKS | BLK_FIX_ERRORS;
    if (bs->read_only)
        fix = 0;
    int64_t flen = blk_getlength(bs->file->node);
    if (flen < 0)
        return (int)flen;
    Ctx c = { .bs = bs, .s = s, .res = res };
    uint64_t alloc_end = s->file_len > (uint64_t)flen ? s->file_len : (uint64_t)flen;
    c.nb = (alloc_end + s->cluster_size - 1) >> s->cluster_bits;
    if (c.nb > CHECK_MAX_CLUSTERS)
        return err_set(EFBIG, "image has too many clusters to check");
    c.ref = calloc(c.nb ? c.nb : 1, sizeof(uint32_t));
    if (!c.ref)
        return err_set(ENOMEM, "out of memory for the refcount check");
    res->total_clusters = (int64_t)((s->size + s->cluster_size - 1) >> s->cluster_bits);

    pthread_rwlock_wrlock(&s->lock);
    inc_range(&c, 0, s->cluster_size);
    int ret = check_l1(&c, s->l1_offset, s->l1_size, true);
    if (ret == 0)
        ret = check_snapshots(&c);
    if (ret == 0)
        ret = check_bitmaps(&c);
    if (ret == 0) {
        inc_range(&c, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size);
        for (uint64_t i = 0; i < s->reftable_size; i++) {
            uint64_t r = s->reftable[i] & REFT_OFFSET_MASK;
            if (!r)
                continue;
            if (r & (s->cluster_size - 1)) {
                fprintf(stderr, "ERROR refcount block %llu is not cluster aligned; refcount table entry corrupted\n",
                        (unsigned long long)i);
                res->corruptions++;
                continue;
            }
            if ((r >> s->cluster_bits) >= c.nb) {
                fprintf(stderr, "ERROR refcount block %llu is outside image\n", (unsigned long long)i);
                res->corruptions++;
                continue;
            }
            inc_range(&c, r, s->cluster_size);
        }
    }
    int64_t highest = -1;
    if (ret == 0)
        ret = compare(&c, fix, &highest);
    if (ret == 0 && fix && (res->leaks_fixed || res->corruptions_fixed)) {
        s->free_hint = 0;
        ret = blk_flush(bs->file->node);
    }
    pthread_rwlock_unlock(&s->lock);
    res->image_end_offset = (highest + 1) << s->cluster_bits;
    free(c.ref);
    return ret;
}
