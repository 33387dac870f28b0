/* Write-through LRU caches of L2 tables and refcount blocks.  Callers update
 * the on-disk copy themselves (entry by entry, in a crash-safe order) and the
 * cached copy in place, so the cache never holds anything newer than the disk.
 * Callers hold the Qcow2State cache_lock. */
#include "block/qcow2.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int qcow2_cache_init(Qcow2Cache *c, int n, uint32_t cluster_size)
{
    c->n = n;
    c->tick = 0;
    c->offsets = calloc((size_t)n, sizeof(uint64_t));
    c->lru = calloc((size_t)n, sizeof(uint64_t));
    c->data = malloc((size_t)n * cluster_size);
    if (!c->offsets || !c->lru || !c->data) {
        qcow2_cache_free(c);
        return err_set(ENOMEM, "out of memory for the qcow2 cache");
    }
    return 0;
}

void qcow2_cache_free(Qcow2Cache *c)
{
    free(c->offsets);
    free(c->lru);
    free(c->data);
    memset(c, 0, sizeof(*c));
}

static int slot_for(Qcow2Cache *c, uint64_t off, bool *hit)
{
    int victim = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->offsets[i] == off) {
            *hit = true;
            return i;
        }
        if (c->lru[i] < c->lru[victim])
            victim = i;
    }
    *hit = false;
    return victim;
}

int qcow2_cache_get(BlockNode *bs, Qcow2Cache *c, uint64_t off, uint8_t **data)
{
    Qcow2State *s = bs->opaque;
    bool hit;
    int i = slot_for(c, off, &hit);
    uint8_t *p = c->data + (size_t)i * s->cluster_size;
    if (!hit) {
        c->offsets[i] = 0;
        int64_t flen = blk_getlength(bs->file->node);
        if (flen < 0)
            return (int)flen;
        if (off >= (uint64_t)flen)
            return qcow2_signal_corruption(bs, "metadata cluster %#llx is beyond the end of the file",
                                           (unsigned long long)off);
        uint64_t n = (uint64_t)flen - off < s->cluster_size ? (uint64_t)flen - off : s->cluster_size;
        memset(p + n, 0, s->cluster_size - n);
        int ret = blk_pread(bs->file->node, off, p, n);
        if (ret < 0)
            return ret;
        c->offsets[i] = off;
    }
    c->lru[i] = ++c->tick;
    *data = p;
    return 0;
}

void qcow2_cache_put(BlockNode *bs, Qcow2Cache *c, uint64_t off, const uint8_t *data)
{
    Qcow2State *s = bs->opaque;
    bool hit;
    int i = slot_for(c, off, &hit);
    memcpy(c->data + (size_t)i * s->cluster_size, data, s->cluster_size);
    c->offsets[i] = off;
    c->lru[i] = ++c->tick;
}

void qcow2_cache_drop(Qcow2Cache *c, uint64_t off)
{
    for (int i = 0; i < c->n; i++)
        if (c->offsets[i] == off) {
            c->offsets[i] = 0;
            c->lru[i] = 0;
        }
}

uint8_t *qcow2_cache_peek(Qcow2Cache *c, uint64_t off, uint32_t cluster_size)
{
    for (int i = 0; i < c->n; i++) {
        if (c->offsets[i] == off) {
            c->lru[i] = ++c->tick;
            return c->data + (size_t)i * cluster_size;
        }
    }
    return NULL;
}
