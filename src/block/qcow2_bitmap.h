/* Persistent dirty bitmaps in qcow2's bitmaps extension (QEMU's
 * docs/interop/qcow2.txt, "Bitmaps extension"). */
#ifndef QUAIL_BLOCK_QCOW2_BITMAP_H
#define QUAIL_BLOCK_QCOW2_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "block/node.h"

#define QCOW2_BME_IN_USE 1u
#define QCOW2_BME_AUTO 2u
#define QCOW2_BME_EXTRA_COMPAT 4u
#define QCOW2_MAX_BITMAPS 65535

typedef struct Qcow2BitmapEntry {
    uint64_t table_offset;
    uint32_t table_size;        /* entries */
    uint32_t flags;
    uint8_t granularity_bits;
    char name[1024];
} Qcow2BitmapEntry;

/* Parses a bitmap directory (untrusted bytes): validates each entry against
 * the image geometry and fills at most max entries.  Returns the count or
 * -errno with a message. */
int qcow2_bitmap_parse_dir(const uint8_t *dir, uint64_t dir_size, uint32_t nb_bitmaps,
                           uint32_t cluster_bits, uint64_t disk_size,
                           Qcow2BitmapEntry *out, uint32_t max);
/* Open: loads the image's bitmaps into bs's dirty bitmap list (in-use ones
 * as inconsistent).  Call before marking them in use. */
int qcow2_bitmaps_load(BlockNode *bs);
/* Close of a writable image: writes every persistent bitmap (not in use),
 * rewrites the extension and frees the old structures. */
int qcow2_bitmaps_store(BlockNode *bs);

#endif
