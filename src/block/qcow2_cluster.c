/* qcow2 guest I/O: L1/L2 lookup, reads (including backing and compressed
 * clusters), allocating writes, discard, zero writes and block status. */
#include "block/qcow2.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

Qcow2ClusterType qcow2_entry_type(Qcow2State *s, uint64_t l2e)
{
    if (l2e & QCOW_OFLAG_COMPRESSED)
        return QCOW2_CLUSTER_COMPRESSED;
    if (s->version >= 3 && (l2e & QCOW_OFLAG_ZERO))
        return (l2e & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
    if (l2e & L2E_OFFSET_MASK)
        return QCOW2_CLUSTER_NORMAL;
    return QCOW2_CLUSTER_UNALLOCATED;
}

static int check_l2_offset(BlockNode *bs, uint64_t l2_off)
{
    Qcow2State *s = bs->opaque;
    if (l2_off & (s->cluster_size - 1))
        return qcow2_signal_corruption(bs, "L2 table offset %#llx unaligned",
                                       (unsigned long long)l2_off);
    if (l2_off >= s->file_len)
        return qcow2_signal_corruption(bs, "L2 table offset %#llx is beyond the end of the image",
                                       (unsigned long long)l2_off);
    if (l2_off < s->cluster_size ||
        (l2_off < s->l1_offset + (uint64_t)s->l1_size * 8 && l2_off + s->cluster_size > s->l1_offset) ||
        (l2_off < s->reftable_offset + (uint64_t)s->reftable_clusters * s->cluster_size &&
         l2_off + s->cluster_size > s->reftable_offset))
        return qcow2_signal_corruption(bs, "L2 table offset %#llx overlaps metadata",
                                       (unsigned long long)l2_off);
    return 0;
}

/* Data cluster pointer checks: reading beyond EOF or writing over metadata
 * means the image is inconsistent. */
static int check_data_offset(BlockNode *bs, uint64_t host, bool write)
{
    Qcow2State *s = bs->opaque;
    if (host & (s->cluster_size - 1))
        return qcow2_signal_corruption(bs, "Cluster allocation offset %#llx unaligned",
                                       (unsigned long long)host);
    if (host >= s->file_len)
        return qcow2_signal_corruption(bs, "Data cluster offset %#llx is beyond the end of the image",
                                       (unsigned long long)host);
    if (host < s->cluster_size || (write && qcow2_overlaps_metadata(s, host, s->cluster_size)))
        return qcow2_signal_corruption(bs, "Data cluster offset %#llx overlaps metadata",
                                       (unsigned long long)host);
    return 0;
}

/* Reads the L2 entry for guest offset goff (0 if no L2 table). */
int qcow2_get_l2_entry(BlockNode *bs, uint64_t goff, uint64_t *l2e)
{
    Qcow2State *s = bs->opaque;
    uint64_t l1_idx = goff >> (s->cluster_bits + s->l2_bits);
    *l2e = 0;
    if (l1_idx >= s->l1_size)
        return qcow2_signal_corruption(bs, "L1 index %llu out of range", (unsigned long long)l1_idx);
    uint64_t l2_off = s->l1[l1_idx] & L1E_OFFSET_MASK;
    if (!l2_off)
        return 0;
    int ret = check_l2_offset(bs, l2_off);
    if (ret < 0)
        return ret;
    uint8_t *t;
    pthread_mutex_lock(&s->cache_lock);
    ret = qcow2_cache_get(bs, &s->l2_cache, l2_off, &t);
    if (ret == 0)
        *l2e = be64_get(t + 8 * ((goff >> s->cluster_bits) & (s->l2_entries - 1)));
    pthread_mutex_unlock(&s->cache_lock);
    return ret;
}

static int write_l1_entry(BlockNode *bs, uint64_t idx)
{
    Qcow2State *s = bs->opaque;
    uint8_t e[8];
    be64_put(e, s->l1[idx]);
    return blk_pwrite(bs->file->node, s->l1_offset + idx * 8, e, 8);
}

/* Returns the offset of the L2 table for goff, allocating (or copying a
 * shared one) when needed.  Exclusive lock held. */
static int get_l2_for_write(BlockNode *bs, uint64_t goff, uint64_t *l2_off_out)
{
    Qcow2State *s = bs->opaque;
    uint64_t l1_idx = goff >> (s->cluster_bits + s->l2_bits);
    if (l1_idx >= s->l1_size)
        return qcow2_signal_corruption(bs, "L1 index %llu out of range", (unsigned long long)l1_idx);
    uint64_t l1e = s->l1[l1_idx], old = l1e & L1E_OFFSET_MASK;
    if (old && (l1e & QCOW_OFLAG_COPIED)) {
        int ret = check_l2_offset(bs, old);
        if (ret < 0)
            return ret;
        *l2_off_out = old;
        return 0;
    }
    uint8_t *buf = calloc(1, s->cluster_size);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    if (old) {
        uint8_t *t;
        ret = check_l2_offset(bs, old);
        if (ret == 0) {
            pthread_mutex_lock(&s->cache_lock);
            ret = qcow2_cache_get(bs, &s->l2_cache, old, &t);
            if (ret == 0)
                memcpy(buf, t, s->cluster_size);
            pthread_mutex_unlock(&s->cache_lock);
        }
    }
    uint64_t new_off;
    if (ret == 0)
        ret = qcow2_alloc_clusters(bs, 1, &new_off);
    if (ret == 0 && qcow2_overlaps_metadata(s, new_off, s->cluster_size))
        ret = qcow2_signal_corruption(bs, "Allocated L2 table at %#llx overlaps metadata",
                                      (unsigned long long)new_off);
    if (ret == 0)
        ret = blk_pwrite(bs->file->node, new_off, buf, s->cluster_size);
    if (ret == 0)
        ret = qcow2_meta_flush(bs);
    if (ret == 0) {
        pthread_mutex_lock(&s->cache_lock);
        qcow2_cache_put(bs, &s->l2_cache, new_off, buf);
        pthread_mutex_unlock(&s->cache_lock);
        s->l1[l1_idx] = new_off | QCOW_OFLAG_COPIED;
        ret = write_l1_entry(bs, l1_idx);
        if (ret < 0)
            s->l1[l1_idx] = l1e;
    }
    if (ret == 0 && old) {
        ret = qcow2_meta_flush(bs);
        if (ret == 0)
            ret = qcow2_free_range(bs, old, s->cluster_size, false);
    }
    free(buf);
    if (ret == 0)
        *l2_off_out = new_off;
    return ret;
}

/* Writes n consecutive L2 entries (all in one table) on disk and in cache. */
static int set_l2_entries(BlockNode *bs, uint64_t l2_off, uint64_t idx, const uint64_t *v, uint64_t n)
{
    Qcow2State *s = bs->opaque;
    uint8_t *t, *buf = malloc(n * 8);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        be64_put(buf + i * 8, v[i]);
    int ret = blk_pwrite(bs->file->node, l2_off + idx * 8, buf, n * 8);
    if (ret == 0) {
        pthread_mutex_lock(&s->cache_lock);
        ret = qcow2_cache_get(bs, &s->l2_cache, l2_off, &t);
        if (ret == 0)
            memcpy(t + idx * 8, buf, n * 8);
        pthread_mutex_unlock(&s->cache_lock);
    }
    free(buf);
    return ret;
}

static int read_compressed(BlockNode *bs, uint64_t l2e, uint8_t *dst, uint64_t in_cl, uint64_t n)
{
    Qcow2State *s = bs->opaque;
    uint64_t coff = l2e & s->cluster_offset_mask;
    uint64_t nsec = ((l2e >> s->csize_shift) & s->csize_mask) + 1;
    uint64_t clen = nsec * 512 - (coff & 511);
    if (coff < s->cluster_size || coff >= s->file_len)
        return qcow2_signal_corruption(bs, "Compressed cluster at %#llx lies outside the image",
                                       (unsigned long long)coff);
    int64_t flen = blk_getlength(bs->file->node);
    if (flen < 0)
        return (int)flen;
    if (coff >= (uint64_t)flen)
        return qcow2_signal_corruption(bs, "Compressed cluster at %#llx lies outside the image",
                                       (unsigned long long)coff);
    if (clen > (uint64_t)flen - coff)
        clen = (uint64_t)flen - coff;
    int ret = 0;
    pthread_mutex_lock(&s->cache_lock);
    if (s->cbuf_entry != l2e) {
        s->cbuf_entry = 0;
        uint8_t *src = malloc(clen);
        if (!src) {
            ret = err_set(ENOMEM, "out of memory");
        } else {
            ret = blk_pread(bs->file->node, coff, src, clen);
            if (ret == 0)
                ret = qcow2_decompress(s->compression_type, src, clen, s->cbuf, s->cluster_size);
            free(src);
            if (ret == 0)
                s->cbuf_entry = l2e;
            else
                ret = qcow2_signal_corruption(bs, "Compressed cluster at %#llx is invalid: %s",
                                              (unsigned long long)coff, err_msg());
        }
    }
    if (ret == 0)
        memcpy(dst, s->cbuf + in_cl, n);
    pthread_mutex_unlock(&s->cache_lock);
    return ret;
}

static int read_backing(BlockNode *bs, uint64_t off, struct iovec *iov, int niov, uint64_t n)
{
    if (!bs->backing) {
        iov_memset(iov, niov, 0, 0, n);
        return 0;
    }
    int64_t blen = blk_getlength(bs->backing->node);
    if (blen < 0)
        return (int)blen;
    uint64_t avail = off < (uint64_t)blen ? (uint64_t)blen - off : 0;
    if (avail > n)
        avail = n;
    if (avail < n)
        iov_memset(iov, niov, avail, 0, n - avail);
    if (!avail)
        return 0;
    struct iovec *part = malloc(sizeof(*part) * (size_t)(niov + 1));
    if (!part)
        return err_set(ENOMEM, "out of memory");
    int k = iov_slice(part, niov + 1, iov, niov, 0, avail);
    int ret = k < 0 ? k : blk_preadv(bs->backing->node, off, part, k);
    free(part);
    return ret;
}

/* Reads [goff, goff+n) (n within one cluster run of the same kind) whose L2
 * entry is l2e into the vector; used by reads and by COW filling. */
static int read_chunk(BlockNode *bs, uint64_t goff, uint64_t l2e, struct iovec *iov, int niov,
                      uint64_t n)
{
    Qcow2State *s = bs->opaque;
    uint64_t in_cl = goff & (s->cluster_size - 1);
    switch (qcow2_entry_type(s, l2e)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return read_backing(bs, goff, iov, niov, n);
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        iov_memset(iov, niov, 0, 0, n);
        return 0;
    case QCOW2_CLUSTER_COMPRESSED: {
        uint8_t *tmp = malloc(n);
        if (!tmp)
            return err_set(ENOMEM, "out of memory");
        int ret = read_compressed(bs, l2e, tmp, in_cl, n);
        if (ret == 0)
            iov_from_buf(iov, niov, 0, tmp, n);
        free(tmp);
        return ret;
    }
    case QCOW2_CLUSTER_NORMAL: {
        uint64_t host = l2e & L2E_OFFSET_MASK;
        int ret = check_data_offset(bs, host, false);
        if (ret < 0)
            return ret;
        return blk_preadv(bs->file->node, host + in_cl, iov, niov);
    }
    }
    return err_set(EIO, "bad cluster type");
}

/* Length of the run from goff (at most max) of clusters that read the same
 * way as the first one: same type, and contiguous host clusters for data. */
static int run_length(BlockNode *bs, uint64_t goff, uint64_t l2e, uint64_t max, uint64_t *n)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t len = cs - (goff & (cs - 1));
    Qcow2ClusterType t = qcow2_entry_type(s, l2e);
    uint64_t host = l2e & L2E_OFFSET_MASK;
    while (len < max && t != QCOW2_CLUSTER_COMPRESSED && len < (16u << 20)) {
        uint64_t e;
        int ret = qcow2_get_l2_entry(bs, goff + len, &e);
        if (ret < 0)
            return ret;
        Qcow2ClusterType t2 = qcow2_entry_type(s, e);
        bool same = t2 == t || (t == QCOW2_CLUSTER_ZERO_PLAIN && t2 == QCOW2_CLUSTER_ZERO_ALLOC) ||
                    (t == QCOW2_CLUSTER_ZERO_ALLOC && t2 == QCOW2_CLUSTER_ZERO_PLAIN);
        if (!same || (t == QCOW2_CLUSTER_NORMAL &&
                      (e & L2E_OFFSET_MASK) != host + ((goff + len) & ~(cs - 1)) - (goff & ~(cs - 1))))
            break;
        len += cs;
    }
    *n = len < max ? len : max;
    return 0;
}

int qcow2_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    Qcow2State *s = bs->opaque;
    struct iovec *part = malloc(sizeof(*part) * (size_t)(niov + 1));
    if (!part)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (uint64_t pos = 0; pos < bytes && ret == 0;) {
        uint64_t l2e, n;
        ret = qcow2_get_l2_entry(bs, off + pos, &l2e);
        if (ret == 0)
            ret = run_length(bs, off + pos, l2e, bytes - pos, &n);
        if (ret < 0)
            break;
        int k = iov_slice(part, niov + 1, iov, niov, pos, n);
        ret = k < 0 ? k : read_chunk(bs, off + pos, l2e, part, k, n);
        pos += n;
    }
    pthread_rwlock_unlock(&s->lock);
    free(part);
    return ret;
}

/* In-place writes to clusters we own need only the shared lock. */
static int try_write_in_place(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov,
                              int niov, struct iovec *part, bool *done)
{
    Qcow2State *s = bs->opaque;
    *done = false;
    for (uint64_t pos = 0; pos < bytes;) {
        uint64_t l2e;
        int ret = qcow2_get_l2_entry(bs, off + pos, &l2e);
        if (ret < 0)
            return ret;
        if (qcow2_entry_type(s, l2e) != QCOW2_CLUSTER_NORMAL || !(l2e & QCOW_OFLAG_COPIED))
            return 0;
        pos += s->cluster_size - ((off + pos) & (s->cluster_size - 1));
    }
    for (uint64_t pos = 0; pos < bytes;) {
        uint64_t l2e, n;
        int ret = qcow2_get_l2_entry(bs, off + pos, &l2e);
        if (ret == 0)
            ret = run_length(bs, off + pos, l2e, bytes - pos, &n);
        if (ret < 0)
            return ret;
        uint64_t host = l2e & L2E_OFFSET_MASK;
        ret = check_data_offset(bs, host, true);
        if (ret < 0)
            return ret;
        int k = iov_slice(part, niov + 1, iov, niov, pos, n);
        if (k < 0)
            return k;
        ret = blk_pwritev(bs->file->node, host + ((off + pos) & (s->cluster_size - 1)), part, k);
        if (ret < 0)
            return ret;
        pos += n;
    }
    *done = true;
    return 0;
}

/* Exclusive-lock write of [off, off+bytes) which stays within one L2 table:
 * clusters we own are written in place, the others get new clusters filled
 * with their old content (backing, zero, compressed) around the new data. */
static int write_in_table(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov,
                          int niov, struct iovec *part)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t first = off & ~(cs - 1), end = (off + bytes + cs - 1) & ~(cs - 1);
    uint64_t nclusters = (end - first) / cs;
    uint64_t l2_off;
    int ret = get_l2_for_write(bs, off, &l2_off);
    if (ret < 0)
        return ret;
    uint64_t *old = calloc(nclusters, sizeof(uint64_t)), *neu = calloc(nclusters, sizeof(uint64_t));
    uint8_t *buf = NULL;
    if (!old || !neu) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    uint64_t idx0 = (first >> s->cluster_bits) & (s->l2_entries - 1);
    for (uint64_t i = 0; i < nclusters && ret == 0; i++)
        ret = qcow2_get_l2_entry(bs, first + i * cs, &old[i]);
    if (ret < 0)
        goto out;
    for (uint64_t i = 0; i < nclusters;) {
        uint64_t cstart = first + i * cs;
        if (qcow2_entry_type(s, old[i]) == QCOW2_CLUSTER_NORMAL && (old[i] & QCOW_OFLAG_COPIED)) {
            uint64_t host = old[i] & L2E_OFFSET_MASK;
            ret = check_data_offset(bs, host, true);
            if (ret < 0)
                goto out;
            uint64_t a = cstart > off ? cstart : off;
            uint64_t b = cstart + cs < off + bytes ? cstart + cs : off + bytes;
            int k = iov_slice(part, niov + 1, iov, niov, a - off, b - a);
            ret = k < 0 ? k : blk_pwritev(bs->file->node, host + (a - cstart), part, k);
            if (ret < 0)
                goto out;
            neu[i] = old[i];
            i++;
            continue;
        }
        /* A run of clusters needing allocation. */
        uint64_t j = i;
        while (j < nclusters && !(qcow2_entry_type(s, old[j]) == QCOW2_CLUSTER_NORMAL &&
                                  (old[j] & QCOW_OFLAG_COPIED)))
            j++;
        uint64_t n = j - i, host;
        buf = malloc(n * cs);
        if (!buf) {
            ret = err_set(ENOMEM, "out of memory");
            goto out;
        }
        uint64_t rs = cstart, re = cstart + n * cs;
        /* Old content for the partial head and tail clusters. */
        for (uint64_t c = i; c < j; c++) {
            uint64_t cs0 = first + c * cs;
            if (cs0 >= off && cs0 + cs <= off + bytes)
                continue;
            struct iovec v = { buf + (c - i) * cs, cs };
            ret = read_chunk(bs, cs0, old[c], &v, 1, cs);
            if (ret < 0)
                goto out;
        }
        uint64_t a = rs > off ? rs : off, b = re < off + bytes ? re : off + bytes;
        iov_to_buf(iov, niov, a - off, buf + (a - rs), b - a);
        ret = qcow2_alloc_clusters(bs, n, &host);
        /* Refcounts that call metadata free would have us write over it. */
        if (ret == 0 && qcow2_overlaps_metadata(s, host, n * cs))
            ret = qcow2_signal_corruption(bs, "Allocated clusters at %#llx overlap metadata",
                                          (unsigned long long)host);
        if (ret == 0)
            ret = blk_pwrite(bs->file->node, host, buf, n * cs);
        if (ret < 0)
            goto out;
        for (uint64_t c = i; c < j; c++)
            neu[c] = (host + (c - i) * cs) | QCOW_OFLAG_COPIED;
        free(buf);
        buf = NULL;
        i = j;
    }
    ret = qcow2_meta_flush(bs);
    if (ret == 0)
        ret = set_l2_entries(bs, l2_off, idx0, neu, nclusters);
    if (ret < 0)
        goto out;
    bool freed = false;
    for (uint64_t i = 0; i < nclusters && ret == 0; i++) {
        if (neu[i] == old[i])
            continue;
        Qcow2ClusterType t = qcow2_entry_type(s, old[i]);
        if (!freed && t != QCOW2_CLUSTER_UNALLOCATED && t != QCOW2_CLUSTER_ZERO_PLAIN) {
            ret = blk_flush(bs->file->node);
            freed = true;
        }
        if (ret < 0)
            break;
        if (t == QCOW2_CLUSTER_COMPRESSED) {
            uint64_t coff = old[i] & s->cluster_offset_mask;
            uint64_t nsec = ((old[i] >> s->csize_shift) & s->csize_mask) + 1;
            ret = qcow2_free_range(bs, coff & ~511ull, nsec * 512, false);
        } else if (t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) {
            ret = qcow2_free_range(bs, old[i] & L2E_OFFSET_MASK, cs, false);
        }
    }
out:
    free(buf);
    free(old);
    free(neu);
    return ret;
}

int qcow2_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov)
{
    Qcow2State *s = bs->opaque;
    if (s->corrupt_signalled || (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return err_set(EIO, "qcow2 image '%s' is marked corrupt: refusing to write", bs->filename);
    struct iovec *part = malloc(sizeof(*part) * (size_t)(niov + 1));
    if (!part)
        return err_set(ENOMEM, "out of memory");
    bool done;
    pthread_rwlock_rdlock(&s->lock);
    int ret = try_write_in_place(bs, off, bytes, iov, niov, part, &done);
    pthread_rwlock_unlock(&s->lock);
    if (ret < 0 || done) {
        free(part);
        return ret;
    }
    pthread_rwlock_wrlock(&s->lock);
    uint64_t table_span = (uint64_t)s->cluster_size << s->l2_bits;
    for (uint64_t pos = 0; pos < bytes && ret == 0;) {
        uint64_t goff = off + pos;
        uint64_t n = table_span - (goff & (table_span - 1));
        if (n > bytes - pos)
            n = bytes - pos;
        struct iovec *sub = malloc(sizeof(*sub) * (size_t)(niov + 1));
        int k = sub ? iov_slice(sub, niov + 1, iov, niov, pos, n) : err_set(ENOMEM, "out of memory");
        ret = k < 0 ? k : write_in_table(bs, goff, n, sub, k, part);
        free(sub);
        pos += n;
    }
    pthread_rwlock_unlock(&s->lock);
    free(part);
    return ret;
}

static int free_entry(BlockNode *bs, uint64_t old, bool discard)
{
    Qcow2State *s = bs->opaque;
    switch (qcow2_entry_type(s, old)) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coff = old & s->cluster_offset_mask;
        uint64_t nsec = ((old >> s->csize_shift) & s->csize_mask) + 1;
        return qcow2_free_range(bs, coff & ~511ull, nsec * 512, discard);
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return qcow2_free_range(bs, old & L2E_OFFSET_MASK, s->cluster_size, discard);
    default:
        return 0;
    }
}

/* Replaces the entries of whole clusters in [off, off+bytes) (within one L2
 * table) with `entry` (0 or the zero flag), freeing what they pointed to once
 * the new entries are on disk.  keep_alloc keeps allocated clusters (as
 * preallocated zero clusters) instead. */
static int zap_in_table(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t entry,
                        bool keep_alloc, bool discard)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size, n = bytes / cs;
    uint64_t *old = calloc(n, 8), *neu = calloc(n, 8);
    int ret = 0;
    if (!old || !neu) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    bool change = false, frees = false;
    for (uint64_t i = 0; i < n && ret == 0; i++) {
        ret = qcow2_get_l2_entry(bs, off + i * cs, &old[i]);
        Qcow2ClusterType t = qcow2_entry_type(s, old[i]);
        neu[i] = entry;
        if (keep_alloc && t == QCOW2_CLUSTER_NORMAL && (old[i] & QCOW_OFLAG_COPIED))
            neu[i] = (old[i] & (L2E_OFFSET_MASK | QCOW_OFLAG_COPIED)) | QCOW_OFLAG_ZERO;
        if (keep_alloc && t == QCOW2_CLUSTER_ZERO_ALLOC)
            neu[i] = old[i];
        change |= neu[i] != old[i];
        frees |= neu[i] != old[i] && !(neu[i] & L2E_OFFSET_MASK) &&
                 (t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC ||
                  t == QCOW2_CLUSTER_COMPRESSED);
    }
    if (ret < 0 || !change)
        goto out;
    if (!(s->l1[off >> (s->cluster_bits + s->l2_bits)] & L1E_OFFSET_MASK) && entry == 0)
        goto out;   /* no table: already unallocated */
    uint64_t l2_off;
    ret = get_l2_for_write(bs, off, &l2_off);
    if (ret == 0)
        ret = set_l2_entries(bs, l2_off, (off >> s->cluster_bits) & (s->l2_entries - 1), neu, n);
    if (ret == 0 && frees)
        ret = blk_flush(bs->file->node);
    for (uint64_t i = 0; i < n && ret == 0; i++)
        if (neu[i] != old[i] && !(neu[i] & L2E_OFFSET_MASK))
            ret = free_entry(bs, old[i], discard);
out:
    free(old);
    free(neu);
    return ret;
}

static int zap_clusters(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t entry,
                        bool keep_alloc, bool discard)
{
    Qcow2State *s = bs->opaque;
    uint64_t span = (uint64_t)s->cluster_size << s->l2_bits;
    int ret = 0;
    for (uint64_t pos = off; pos < off + bytes && ret == 0;) {
        uint64_t n = span - (pos & (span - 1));
        if (n > off + bytes - pos)
            n = off + bytes - pos;
        ret = zap_in_table(bs, pos, n, entry, keep_alloc, discard);
        pos += n;
    }
    return ret;
}

int qcow2_discard(BlockNode *bs, uint64_t off, uint64_t bytes)
{
    Qcow2State *s = bs->opaque;
    if (s->corrupt_signalled || (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return err_set(EIO, "qcow2 image '%s' is marked corrupt: refusing to write", bs->filename);
    uint64_t cs = s->cluster_size;
    uint64_t a = (off + cs - 1) & ~(cs - 1), b = (off + bytes) & ~(cs - 1);
    if (off + bytes == s->size)
        b = (off + bytes + cs - 1) & ~(cs - 1);    /* the partial last cluster */
    if (b <= a)
        return 0;   /* discard is advisory: partial clusters stay */
    uint64_t entry = (s->version >= 3 && bs->backing) ? QCOW_OFLAG_ZERO : 0;
    pthread_rwlock_wrlock(&s->lock);
    int ret = zap_clusters(bs, a, b - a, entry, false, true);
    pthread_rwlock_unlock(&s->lock);
    return ret;
}

int qcow2_write_zeroes(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags)
{
    Qcow2State *s = bs->opaque;
    if (s->corrupt_signalled || (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return err_set(EIO, "qcow2 image '%s' is marked corrupt: refusing to write", bs->filename);
    uint64_t cs = s->cluster_size;
    uint64_t a = (off + cs - 1) & ~(cs - 1), b = (off + bytes) & ~(cs - 1);
    if (off + bytes == s->size)
        b = (off + bytes + cs - 1) & ~(cs - 1);
    if (b < a)
        a = b = off;
    bool can_zap = s->version >= 3 || !bs->backing;
    if (!can_zap || b <= a)
        a = b = off + bytes;    /* everything gets real zeroes */
    uint64_t end = off + bytes;
    /* Partial clusters get real zeroes. */
    uint64_t pieces[2][2] = { { off, a }, { b < end ? b : end, end } };
    static const uint8_t zeros[65536];
    int ret = 0;
    for (int p = 0; p < 2 && ret == 0; p++) {
        for (uint64_t x = pieces[p][0]; x < pieces[p][1] && ret == 0;) {
            uint64_t n = pieces[p][1] - x < sizeof(zeros) ? pieces[p][1] - x : sizeof(zeros);
            struct iovec v = { (void *)zeros, n };
            ret = qcow2_pwritev(bs, x, n, &v, 1);
            x += n;
        }
    }
    if (ret < 0 || b <= a)
        return ret;
    uint64_t entry = s->version >= 3 ? QCOW_OFLAG_ZERO : 0;
    pthread_rwlock_wrlock(&s->lock);
    ret = zap_clusters(bs, a, b - a, entry, !(flags & BLK_ZERO_MAY_UNMAP) && s->version >= 3, false);
    pthread_rwlock_unlock(&s->lock);
    return ret;
}

int qcow2_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                       uint64_t *map, BlockNode **file)
{
    Qcow2State *s = bs->opaque;
    uint64_t l2e, n;
    pthread_rwlock_rdlock(&s->lock);
    int ret = qcow2_get_l2_entry(bs, off, &l2e);
    if (ret == 0)
        ret = run_length(bs, off, l2e, bytes, &n);
    pthread_rwlock_unlock(&s->lock);
    if (ret < 0)
        return ret;
    *pnum = n;
    switch (qcow2_entry_type(s, l2e)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return bs->backing ? 0 : BLK_STATUS_ZERO;
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED;
    case QCOW2_CLUSTER_COMPRESSED:
        return BLK_STATUS_DATA | BLK_STATUS_ALLOCATED;
    case QCOW2_CLUSTER_NORMAL:
        *map = (l2e & L2E_OFFSET_MASK) + (off & (s->cluster_size - 1));
        *file = bs->file->node;
        return BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
    }
    return err_set(EIO, "bad cluster type");
}

/* Packs compressed data into the partly used cluster at free_byte_offset
 * when it fits, otherwise into a fresh cluster.  Every compressed cluster
 * adds one reference to the host cluster it lies in. */
static int alloc_compressed_bytes(BlockNode *bs, uint64_t n, uint64_t *off)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size, fbo = s->free_byte_offset;
    if (fbo && (fbo & (cs - 1)) && cs - (fbo & (cs - 1)) >= n) {
        uint64_t c = fbo >> s->cluster_bits, rc;
        int ret = qcow2_get_refcount(bs, c, &rc);
        if (ret < 0)
            return ret;
        if (rc > 0 && rc < s->refcount_max) {
            ret = qcow2_set_refcount(bs, c, rc + 1);
            if (ret < 0)
                return ret;
            *off = fbo;
            s->free_byte_offset = (fbo + n) & (cs - 1) ? fbo + n : 0;
            return 0;
        }
    }
    int ret = qcow2_alloc_clusters(bs, 1, off);
    if (ret < 0)
        return ret;
    s->free_byte_offset = n < cs ? *off + n : 0;
    return 0;
}

int qcow2_pwrite_compressed(BlockNode *bs, uint64_t off, const void *buf, uint64_t len)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    if (s->corrupt_signalled || (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return err_set(EIO, "qcow2 image '%s' is marked corrupt: refusing to write", bs->filename);
    if ((off & (cs - 1)) || len > cs || (len < cs && off + len != s->size))
        return err_set(EINVAL, "compressed writes must cover exactly one cluster");
    uint8_t *in = calloc(1, cs), *out = malloc(cs);
    if (!in || !out) {
        free(in);
        free(out);
        return err_set(ENOMEM, "out of memory");
    }
    memcpy(in, buf, len);
    int clen = qcow2_compress(s->compression_type, in, cs, out, cs - 512);
    int ret;
    if (clen < 0) {
        /* Incompressible: store it as a normal cluster. */
        struct iovec v = { in, len };
        ret = qcow2_pwritev(bs, off, len, &v, 1);
        free(in);
        free(out);
        return ret;
    }
    pthread_rwlock_wrlock(&s->lock);
    pthread_mutex_lock(&s->cache_lock);
    s->cbuf_entry = 0;  /* an entry value may come back for new data */
    pthread_mutex_unlock(&s->cache_lock);
    uint64_t old, coff, l2_off;
    ret = qcow2_get_l2_entry(bs, off, &old);
    if (ret == 0)
        ret = alloc_compressed_bytes(bs, (uint64_t)clen, &coff);
    if (ret == 0)
        ret = blk_pwrite(bs->file->node, coff, out, (uint64_t)clen);
    if (ret == 0)
        ret = qcow2_meta_flush(bs);
    if (ret == 0)
        ret = get_l2_for_write(bs, off, &l2_off);
    if (ret == 0) {
        uint64_t nsec = ((coff + (uint64_t)clen - 1) >> 9) - (coff >> 9);
        uint64_t e = coff | QCOW_OFLAG_COMPRESSED | (nsec << s->csize_shift);
        ret = set_l2_entries(bs, l2_off, (off >> s->cluster_bits) & (s->l2_entries - 1), &e, 1);
    }
    Qcow2ClusterType t = qcow2_entry_type(s, old);
    if (ret == 0 && (t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC ||
                     t == QCOW2_CLUSTER_COMPRESSED)) {
        ret = blk_flush(bs->file->node);
        if (ret == 0)
            ret = free_entry(bs, old, false);
    }
    pthread_rwlock_unlock(&s->lock);
    free(in);
    free(out);
    return ret;
}

/* Shrinks the guest size: clusters past the new end are freed, then L2
 * tables wholly past it (L1 entry cleared and flushed first), then the
 * header size is written.  The L1 table keeps its length. */
int qcow2_shrink(BlockNode *bs, uint64_t size)
{
    Qcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size, span = cs << s->l2_bits;
    uint64_t from = (size + cs - 1) & ~(cs - 1), old_end = (s->size + cs - 1) & ~(cs - 1);
    int ret = 0;
    if (old_end > from)
        ret = zap_clusters(bs, from, old_end - from, 0, false, true);
    for (uint64_t i = (size + span - 1) / span; ret == 0 && i < s->l1_size; i++) {
        uint64_t l2 = s->l1[i] & L1E_OFFSET_MASK;
        if (!l2)
            continue;
        uint64_t old = s->l1[i];
        s->l1[i] = 0;
        ret = write_l1_entry(bs, i);
        if (ret < 0) {
            s->l1[i] = old;
            break;
        }
        ret = blk_flush(bs->file->node);
        if (ret == 0) {
            pthread_mutex_lock(&s->cache_lock);
            qcow2_cache_drop(&s->l2_cache, l2);
            pthread_mutex_unlock(&s->cache_lock);
            ret = qcow2_free_range(bs, l2, cs, true);
        }
    }
    if (ret == 0) {
        uint8_t b[8];
        be64_put(b, size);
        ret = qcow2_write_header_field(bs, QH_SIZE, b, 8);
        if (ret == 0)
            s->size = size;
    }
    return ret;
}

/* L2 entry from the cache only; -EAGAIN when that would need a read. */
static int cached_l2_entry(BlockNode *bs, uint64_t goff, uint64_t *l2e)
{
    Qcow2State *s = bs->opaque;
    uint64_t l1_idx = goff >> (s->cluster_bits + s->l2_bits);
    if (l1_idx >= s->l1_size)
        return -EAGAIN;
    uint64_t l2_off = s->l1[l1_idx] & L1E_OFFSET_MASK;
    *l2e = 0;
    if (!l2_off)
        return 0;
    if ((l2_off & (s->cluster_size - 1)) || l2_off < s->cluster_size || l2_off >= s->file_len)
        return -EAGAIN;     /* the pool path reports the corruption */
    pthread_mutex_lock(&s->cache_lock);
    uint8_t *t = qcow2_cache_peek(&s->l2_cache, l2_off, s->cluster_size);
    if (t)
        *l2e = be64_get(t + 8 * ((goff >> s->cluster_bits) & (s->l2_entries - 1)));
    pthread_mutex_unlock(&s->cache_lock);
    return t ? 0 : -EAGAIN;
}

static void forwarded_read_done(void *opaque, int ret)
{
    blk_aio_complete(opaque, ret);
}

/* Reads whose mapping is in the cache go straight to the file's
 * asynchronous path (one contiguous data run) or complete at once (zero
 * clusters); everything else, or anything that would read metadata on the
 * submitting thread, takes the worker pool. */
int qcow2_aio_submit(BlockNode *bs, BlockAIO *req)
{
    Qcow2State *s = bs->opaque;
    if (req->op != BLK_AIO_READ || !req->bytes)
        return -ENOTSUP;
    uint64_t cs = s->cluster_size, first;
    pthread_rwlock_rdlock(&s->lock);
    int ret = cached_l2_entry(bs, req->offset, &first);
    Qcow2ClusterType t = qcow2_entry_type(s, first);
    uint64_t host = first & L2E_OFFSET_MASK;
    uint64_t len = cs - (req->offset & (cs - 1));
    while (ret == 0 && len < req->bytes) {
        uint64_t e;
        ret = cached_l2_entry(bs, req->offset + len, &e);
        Qcow2ClusterType t2 = qcow2_entry_type(s, e);
        bool zero = t == QCOW2_CLUSTER_ZERO_PLAIN || t == QCOW2_CLUSTER_ZERO_ALLOC;
        bool zero2 = t2 == QCOW2_CLUSTER_ZERO_PLAIN || t2 == QCOW2_CLUSTER_ZERO_ALLOC;
        if (ret == 0 && !(t2 == t || (zero && zero2)))
            ret = -EAGAIN;
        if (ret == 0 && t == QCOW2_CLUSTER_NORMAL &&
            (e & L2E_OFFSET_MASK) != host + ((req->offset + len) & ~(cs - 1)) - (req->offset & ~(cs - 1)))
            ret = -EAGAIN;
        len += cs;
    }
    if (ret == 0 && t == QCOW2_CLUSTER_NORMAL &&
        ((host & (cs - 1)) || host < cs || host >= s->file_len))
        ret = -EAGAIN;  /* the pool path reports the corruption */
    pthread_rwlock_unlock(&s->lock);
    if (ret < 0)
        return -ENOTSUP;
    switch (t) {
    case QCOW2_CLUSTER_NORMAL:
        /* On a refused submission the pool gets to try (no callback ran). */
        return blk_aio_preadv(bs->file->node, host + (req->offset & (cs - 1)), req->iov, req->niov,
                              forwarded_read_done, req) < 0 ? -ENOTSUP : 0;
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        iov_memset(req->iov, req->niov, 0, 0, req->bytes);
        blk_aio_complete(req, 0);
        return 0;
    case QCOW2_CLUSTER_UNALLOCATED:
        if (bs->backing)
            return -ENOTSUP;
        iov_memset(req->iov, req->niov, 0, 0, req->bytes);
        blk_aio_complete(req, 0);
        return 0;
    default:
        return -ENOTSUP;
    }
}
