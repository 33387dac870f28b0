/* Dirty bitmaps: which granularity-sized chunks of a node changed since the
 * bitmap was created or cleared.  The block core marks every enabled bitmap
 * of a node after a successful write, zero-write or discard on that node
 * (QEMU tracks in the core too); everything else (QMP commands, backup jobs,
 * NBD's qemu:dirty-bitmap context, qcow2 persistence) uses this interface.
 *
 * One process-wide lock guards every bitmap and every node's list, so a
 * bitmap read by a job or an NBD client never races a guest write marking it.
 */
#ifndef QUAIL_BLOCK_DIRTY_BITMAP_H
#define QUAIL_BLOCK_DIRTY_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "block/node.h"

typedef struct DirtyBitmap DirtyBitmap;
struct DirtyBitmap {
    char *name;
    BlockNode *bs;
    uint64_t granularity;       /* bytes per bit, power of two >= 512 */
    uint64_t size;              /* bytes covered (the node's length) */
    uint64_t nbits;
    uint64_t *words;
    bool enabled;               /* "recording" */
    bool persistent;
    bool inconsistent;          /* loaded in-use: contents untrustworthy */
    int busy;                   /* users (export, job): frozen against changes */
    DirtyBitmap *next;          /* newest first, as QEMU lists them */
};

/* Default granularity for bs: its cluster size (at least 4 KiB) or 64 KiB. */
uint64_t dbm_default_granularity(BlockNode *bs);
/* Creates an empty enabled bitmap on bs; fails with QEMU's messages. */
int dbm_create(BlockNode *bs, const char *name, uint64_t granularity, DirtyBitmap **out);
DirtyBitmap *dbm_find(BlockNode *bs, const char *name);
/* Unlinks and frees (callers check busy first). */
void dbm_release(DirtyBitmap *bm);
/* Frees every bitmap of a node that is going away. */
void dbm_release_all(BlockNode *bs);

/* Called by the block core after a write to [off, off+len) of bs succeeded. */
void dbm_mark_node(BlockNode *bs, uint64_t off, uint64_t len);

void dbm_set_range(DirtyBitmap *bm, uint64_t off, uint64_t len);
void dbm_reset_range(DirtyBitmap *bm, uint64_t off, uint64_t len);
void dbm_clear(DirtyBitmap *bm);
bool dbm_get(DirtyBitmap *bm, uint64_t off);
/* Number of dirty bytes (dirty bits times granularity, last chunk clipped). */
uint64_t dbm_count(DirtyBitmap *bm);
/* Extent starting at off: returns whether it is dirty and sets *len to how far
 * that state goes (at most max). */
bool dbm_extent(DirtyBitmap *bm, uint64_t off, uint64_t max, uint64_t *len);
/* dst |= src (sizes must match; granularities may differ). */
int dbm_merge(DirtyBitmap *dst, DirtyBitmap *src);
/* A copy not linked into any node (for transactions and jobs' snapshots). */
int dbm_clone(DirtyBitmap *src, DirtyBitmap **out);
void dbm_free_detached(DirtyBitmap *bm);
/* Replaces dst's bits with src's (same geometry). */
void dbm_restore(DirtyBitmap *dst, DirtyBitmap *src);

/* QEMU's BlockDirtyInfo list for bs (cmds_bitmap.c). */
#include <json-c/json.h>
json_object *dbm_query_json(BlockNode *bs);

void dbm_lock(void);
void dbm_unlock(void);

#endif
