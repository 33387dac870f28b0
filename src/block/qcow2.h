/* qcow2 format internals (see QEMU's docs/interop/qcow2.txt). */
#ifndef QUAIL_BLOCK_QCOW2_H
#define QUAIL_BLOCK_QCOW2_H

#include "block/node.h"

#define QCOW2_MAGIC 0x514649fbu     /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_HEADER_V3_LEN 104

/* header field offsets */
#define QH_SIZE 24
#define QH_L1_SIZE 36
#define QH_L1_OFFSET 40
#define QH_REFTABLE_OFFSET 48
#define QH_INCOMPAT 72
#define QH_AUTOCLEAR 88

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ull << 1)

#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

#define QCOW_OFLAG_COPIED (1ull << 63)
#define QCOW_OFLAG_COMPRESSED (1ull << 62)
#define QCOW_OFLAG_ZERO 1ull
#define L1E_OFFSET_MASK 0x00fffffffffffe00ull
#define L2E_OFFSET_MASK 0x00fffffffffffe00ull
#define REFT_OFFSET_MASK 0xfffffffffffffe00ull

enum { QCOW2_COMP_ZLIB = 0, QCOW2_COMP_ZSTD = 1 };

typedef enum {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,
    QCOW2_CLUSTER_ZERO_ALLOC,
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} Qcow2ClusterType;

typedef struct Qcow2Cache {
    int n;
    uint64_t *offsets;
    uint64_t *lru;
    uint8_t *data;          /* n clusters */
    uint64_t tick;
} Qcow2Cache;

typedef struct Qcow2State {
    /* Readers and in-place writers share; allocation, discard and metadata
     * updates are exclusive. */
    pthread_rwlock_t lock;
    pthread_mutex_t cache_lock;     /* the caches below, under either lock mode */

    uint32_t version;
    uint32_t cluster_bits, cluster_size;
    uint64_t size;
    uint64_t incompat, compat, autoclear;
    uint32_t refcount_order, refcount_bits;
    uint64_t refcount_max;
    uint32_t header_length;
    uint8_t compression_type;
    uint32_t l2_bits, l2_entries;
    uint32_t rb_bits;           /* log2 of refcount entries per block */
    uint32_t csize_shift;
    uint64_t csize_mask, cluster_offset_mask;

    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t *l1;               /* host byte order */
    uint64_t reftable_offset;
    uint32_t reftable_clusters;
    uint64_t reftable_size;     /* entries */
    uint64_t *reftable;         /* host byte order */
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t bitmap_dir_offset, bitmap_dir_size;
    uint32_t nb_bitmaps;

    uint64_t file_len;          /* host file length when opened, grown by allocation */
    uint64_t free_hint;         /* lowest cluster index that may be free */
    uint64_t free_byte_offset;  /* next free byte in the cluster compressed data is packed into */
    bool meta_dirty;            /* refcounts written since the last flush */
    bool corrupt_signalled;

    Qcow2Cache l2_cache, rb_cache;
    uint8_t *cbuf;              /* decompressed cluster */
    uint64_t cbuf_entry;        /* the L2 entry it came from (0: none) */
    uint8_t *zero_cluster;
} Qcow2State;

static inline uint64_t be64_get(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)b[0] << 56) | ((uint64_t)b[1] << 48) | ((uint64_t)b[2] << 40) |
           ((uint64_t)b[3] << 32) | ((uint64_t)b[4] << 24) | ((uint64_t)b[5] << 16) |
           ((uint64_t)b[6] << 8) | b[7];
}
static inline uint32_t be32_get(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}
static inline uint16_t be16_get(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}
static inline void be64_put(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}
static inline void be32_put(void *p, uint32_t v)
{
    uint8_t *b = p;
    for (int i = 3; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}
static inline void be16_put(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* qcow2.c */
int qcow2_signal_corruption(BlockNode *bs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int qcow2_write_header_field(BlockNode *bs, uint64_t off, const void *buf, size_t len);
int qcow2_meta_flush(BlockNode *bs);
bool qcow2_overlaps_metadata(Qcow2State *s, uint64_t off, uint64_t len);
int qcow2_grow(BlockNode *bs, uint64_t size);

/* qcow2_cache.c */
int qcow2_cache_init(Qcow2Cache *c, int n, uint32_t cluster_size);
void qcow2_cache_free(Qcow2Cache *c);
/* Returns the cached copy of the cluster at off, reading it on a miss. */
int qcow2_cache_get(BlockNode *bs, Qcow2Cache *c, uint64_t off, uint8_t **data);
/* Installs a cluster's contents (just written) without reading. */
void qcow2_cache_put(BlockNode *bs, Qcow2Cache *c, uint64_t off, const uint8_t *data);
void qcow2_cache_drop(Qcow2Cache *c, uint64_t off);
/* The cached copy of the cluster at off, or NULL: never reads. */
uint8_t *qcow2_cache_peek(Qcow2Cache *c, uint64_t off, uint32_t cluster_size);

/* qcow2_refcount.c */
int qcow2_refcount_init(BlockNode *bs);
int qcow2_get_refcount(BlockNode *bs, uint64_t cluster, uint64_t *rc);
int qcow2_set_refcount(BlockNode *bs, uint64_t cluster, uint64_t rc);
/* Allocates n contiguous clusters with refcount 1; returns the byte offset. */
int qcow2_alloc_clusters(BlockNode *bs, uint64_t n, uint64_t *off);
/* Drops one reference from each cluster overlapping [off, off+len). */
int qcow2_free_range(BlockNode *bs, uint64_t off, uint64_t len, bool discard);

/* qcow2_cluster.c */
Qcow2ClusterType qcow2_entry_type(Qcow2State *s, uint64_t l2e);
int qcow2_get_l2_entry(BlockNode *bs, uint64_t guest_off, uint64_t *l2e);
int qcow2_preadv(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov);
int qcow2_pwritev(BlockNode *bs, uint64_t off, uint64_t bytes, struct iovec *iov, int niov);
int qcow2_discard(BlockNode *bs, uint64_t off, uint64_t bytes);
int qcow2_shrink(BlockNode *bs, uint64_t size);
int qcow2_aio_submit(BlockNode *bs, BlockAIO *req);
int qcow2_write_zeroes(BlockNode *bs, uint64_t off, uint64_t bytes, unsigned flags);
int qcow2_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                       uint64_t *map, BlockNode **file);

/* qcow2_compress.c */
int qcow2_decompress(int type, const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen);
/* Returns the compressed size, or -ENOSPC when it would not be smaller than cap. */
int qcow2_compress(int type, const uint8_t *src, size_t slen, uint8_t *dst, size_t cap);
int qcow2_pwrite_compressed(BlockNode *bs, uint64_t off, const void *buf, uint64_t len);

/* qcow2_check.c */
int qcow2_check(BlockNode *bs, BlockCheckResult *res, int fix);

/* qcow2_create.c */
int qcow2_create(const char *filename, const BlockCreateOpts *o);

/* qcow2_header.c: parses and validates; never writes. */
int qcow2_parse_header(BlockNode *bs, const uint8_t *hdr, size_t hdr_len, uint64_t file_len);

#endif
