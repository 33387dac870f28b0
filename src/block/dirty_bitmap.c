/* Dirty bitmaps (see dirty_bitmap.h). */
#include "block/dirty_bitmap.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* Recursive: merge and transactions call the public helpers with it held. */
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void dbm_lock(void) { pthread_mutex_lock(&lock); }
void dbm_unlock(void) { pthread_mutex_unlock(&lock); }

uint64_t dbm_default_granularity(BlockNode *bs)
{
    if (bs->cluster_size)
        return bs->cluster_size < 4096 ? 4096 : bs->cluster_size;
    return 65536;
}

static int alloc_bits(DirtyBitmap *bm, uint64_t size, uint64_t gran)
{
    bm->granularity = gran;
    bm->size = size;
    bm->nbits = (size + gran - 1) / gran;
    bm->words = calloc(bm->nbits / 64 + 1, sizeof(uint64_t));
    return bm->words ? 0 : err_set(ENOMEM, "out of memory");
}

int dbm_create(BlockNode *bs, const char *name, uint64_t granularity, DirtyBitmap **out)
{
    if (!name[0])
        return err_set(EINVAL, "Bitmap name cannot be empty");
    if (strlen(name) > 1023)
        return err_set(EINVAL, "Bitmap name too long: %s", name);
    if (granularity < 512 || (granularity & (granularity - 1)) || granularity > (1ull << 31))
        return err_set(EINVAL, "Granularity must be power of 2 and at least 512");
    int64_t size = blk_getlength(bs);
    if (size < 0)
        return (int)size;
    dbm_lock();
    if (dbm_find(bs, name)) {
        dbm_unlock();
        return err_set(EEXIST, "Bitmap already exists: %s", name);
    }
    DirtyBitmap *bm = calloc(1, sizeof(*bm));
    if (!bm || !(bm->name = strdup(name)) || alloc_bits(bm, (uint64_t)size, granularity) < 0) {
        if (bm)
            free(bm->name);
        free(bm);
        dbm_unlock();
        return err_set(ENOMEM, "out of memory");
    }
    bm->bs = bs;
    bm->enabled = true;
    bm->next = bs->dirty_bitmaps;
    bs->dirty_bitmaps = bm;
    dbm_unlock();
    *out = bm;
    return 0;
}

DirtyBitmap *dbm_find(BlockNode *bs, const char *name)
{
    dbm_lock();
    DirtyBitmap *bm = bs->dirty_bitmaps;
    while (bm && strcmp(bm->name, name))
        bm = bm->next;
    dbm_unlock();
    return bm;
}

void dbm_free_detached(DirtyBitmap *bm)
{
    if (!bm)
        return;
    free(bm->words);
    free(bm->name);
    free(bm);
}

void dbm_release(DirtyBitmap *bm)
{
    dbm_lock();
    for (DirtyBitmap **pp = &bm->bs->dirty_bitmaps; *pp; pp = &(*pp)->next)
        if (*pp == bm) {
            *pp = bm->next;
            break;
        }
    dbm_unlock();
    dbm_free_detached(bm);
}

void dbm_release_all(BlockNode *bs)
{
    dbm_lock();
    while (bs->dirty_bitmaps) {
        DirtyBitmap *bm = bs->dirty_bitmaps;
        bs->dirty_bitmaps = bm->next;
        dbm_free_detached(bm);
    }
    dbm_unlock();
}

static void bits_range(DirtyBitmap *bm, uint64_t off, uint64_t len, bool set)
{
    if (!len || off >= bm->size)
        return;
    if (len > bm->size - off)
        len = bm->size - off;
    uint64_t first = off / bm->granularity, last = (off + len - 1) / bm->granularity;
    for (uint64_t b = first; b <= last && b < bm->nbits; b++) {
        uint64_t m = 1ull << (b & 63);
        if (set)
            bm->words[b >> 6] |= m;
        else
            bm->words[b >> 6] &= ~m;
    }
}

void dbm_set_range(DirtyBitmap *bm, uint64_t off, uint64_t len)
{
    dbm_lock();
    bits_range(bm, off, len, true);
    dbm_unlock();
}

/* Only whole chunks inside the range are cleared: a partly covered chunk may
 * still hold other changes. */
void dbm_reset_range(DirtyBitmap *bm, uint64_t off, uint64_t len)
{
    dbm_lock();
    uint64_t g = bm->granularity;
    uint64_t start = (off + g - 1) / g * g, end = off + len;
    if (end >= bm->size)
        end = bm->nbits * g;
    else
        end = end / g * g;
    if (end > start)
        bits_range(bm, start, end - start, false);
    dbm_unlock();
}

void dbm_clear(DirtyBitmap *bm)
{
    dbm_lock();
    memset(bm->words, 0, (bm->nbits / 64 + 1) * sizeof(uint64_t));
    dbm_unlock();
}

static bool bit(const DirtyBitmap *bm, uint64_t b)
{
    return b < bm->nbits && (bm->words[b >> 6] >> (b & 63)) & 1;
}

bool dbm_get(DirtyBitmap *bm, uint64_t off)
{
    dbm_lock();
    bool r = bit(bm, off / bm->granularity);
    dbm_unlock();
    return r;
}

uint64_t dbm_count(DirtyBitmap *bm)
{
    dbm_lock();
    uint64_t n = 0;
    for (uint64_t w = 0; w <= bm->nbits / 64; w++)
        n += (uint64_t)__builtin_popcountll(bm->words[w]);
    uint64_t bytes = n * bm->granularity;
    /* QEMU counts the last, partial chunk in full too; keep its numbers. */
    dbm_unlock();
    return bytes;
}

bool dbm_extent(DirtyBitmap *bm, uint64_t off, uint64_t max, uint64_t *len)
{
    dbm_lock();
    uint64_t g = bm->granularity, b = off / g;
    bool state = bit(bm, b);
    uint64_t end = (b + 1) * g;
    while (end < off + max && end < bm->size && bit(bm, end / g) == state)
        end += g;
    if (end > off + max)
        end = off + max;
    *len = end - off;
    dbm_unlock();
    return state;
}

int dbm_merge(DirtyBitmap *dst, DirtyBitmap *src)
{
    if (dst->size != src->size)
        return err_set(EINVAL, "Bitmaps are of different sizes (destination size is %llu, "
                       "source size is %llu) and can't be merged",
                       (unsigned long long)dst->size, (unsigned long long)src->size);
    dbm_lock();
    if (dst->granularity == src->granularity) {
        for (uint64_t w = 0; w <= dst->nbits / 64; w++)
            dst->words[w] |= src->words[w];
    } else {
        for (uint64_t b = 0; b < src->nbits; b++)
            if (bit(src, b))
                bits_range(dst, b * src->granularity, src->granularity, true);
    }
    dbm_unlock();
    return 0;
}

int dbm_clone(DirtyBitmap *src, DirtyBitmap **out)
{
    DirtyBitmap *bm = calloc(1, sizeof(*bm));
    if (!bm || !(bm->name = strdup(src->name))) {
        free(bm);
        return err_set(ENOMEM, "out of memory");
    }
    dbm_lock();
    int ret = alloc_bits(bm, src->size, src->granularity);
    if (ret == 0) {
        memcpy(bm->words, src->words, (bm->nbits / 64 + 1) * sizeof(uint64_t));
        bm->bs = src->bs;
        bm->enabled = src->enabled;
        bm->persistent = src->persistent;
    }
    dbm_unlock();
    if (ret < 0) {
        dbm_free_detached(bm);
        return ret;
    }
    *out = bm;
    return 0;
}

void dbm_restore(DirtyBitmap *dst, DirtyBitmap *src)
{
    dbm_lock();
    if (dst->nbits == src->nbits)
        memcpy(dst->words, src->words, (dst->nbits / 64 + 1) * sizeof(uint64_t));
    dbm_unlock();
}

void dbm_mark_node(BlockNode *bs, uint64_t off, uint64_t len)
{
    if (!bs->dirty_bitmaps)
        return;
    dbm_lock();
    for (DirtyBitmap *bm = bs->dirty_bitmaps; bm; bm = bm->next)
        if (bm->enabled)
            bits_range(bm, off, len, true);
    dbm_unlock();
}
