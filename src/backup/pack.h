/* Pack files and the chunk index (docs/backup-repository.md).
 *
 * Chunks are not stored one file each: creating thousands of small files per
 * backup costs more than hashing them.  A writer appends the chunks it stores
 * to a pack (about PACK_TARGET_SIZE bytes), writes the pack once, and records
 * where each chunk went in an index file.  Packs and index files are never
 * changed once written; gc writes new ones and removes the old.
 *
 *   pack:   "QBPK" u8 version=1 u8[3] 0 u64 0 | records
 *   record: hash[32] | chunk header (chunk.h) | payload
 *   index:  "QBIX" u8 version=1 u8[3] 0 u64le count | entries | sha256 of all before
 *   entry:  hash[32] pack id[16] u64le offset u32le length u32le 0
 * A record carries its hash, so a pack describes itself and a reader checks it
 * got the record the index promised. */
#ifndef QUAIL_BACKUP_PACK_H
#define QUAIL_BACKUP_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/chunk.h"
#include "backup/repo.h"
#include "backup/store.h"

#define PACK_ID_LEN        16
#define PACK_HEADER_LEN    16
#define PACK_RECORD_HDR    (REPO_HASH_LEN + CHUNK_HEADER_LEN)
#define PACK_RECORD_MAX    (PACK_RECORD_HDR + REPO_MAX_CHUNK_SIZE)
/* A pack is written out once it holds this much; fewer, larger files are
 * cheaper to create and sync, and gc rewrites at most one pack's worth per
 * partly used pack. */
#define PACK_TARGET_SIZE   (16u << 20)
#define PACK_MAX_SIZE      (PACK_TARGET_SIZE + PACK_RECORD_MAX)
/* "packs/" + 32 hex digits */
#define PACK_PATH_LEN      (6 + 2 * PACK_ID_LEN + 1)

#define INDEX_HEADER_LEN   16
#define INDEX_ENTRY_LEN    64
/* One index file holds at most this many entries (64 MiB), so reading one
 * stays bounded; gc writes several when the repository is larger. */
#define INDEX_MAX_ENTRIES  (1u << 20)
#define INDEX_MAX_FILE     (INDEX_HEADER_LEN + (size_t)INDEX_MAX_ENTRIES * INDEX_ENTRY_LEN + REPO_HASH_LEN)
/* "index/" + 32 hex digits + ".idx" */
#define INDEX_PATH_LEN     (6 + 2 * PACK_ID_LEN + 4 + 1)

typedef struct IndexEntry {
    uint8_t hash[REPO_HASH_LEN];
    uint8_t pack[PACK_ID_LEN];
    uint64_t offset;              /* of the record in the pack */
    uint32_t length;              /* of the whole record */
} IndexEntry;

void pack_path(const uint8_t id[PACK_ID_LEN], char path[PACK_PATH_LEN]);
/* Parses a pack file name (32 hex digits); false for anything else. */
bool pack_id_parse(const char *name, uint8_t id[PACK_ID_LEN]);
int pack_new_id(uint8_t id[PACK_ID_LEN]);

/* ---- the chunk index: where each stored chunk is ---- */

typedef struct IndexSlot {
    uint8_t hash[REPO_HASH_LEN];
    uint64_t offset;
    uint32_t length;              /* 0: empty slot */
    uint32_t pack;                /* into ChunkIndex.packs */
} IndexSlot;

typedef struct ChunkIndex {
    IndexSlot *slots;
    size_t cap, count;
    uint8_t (*packs)[PACK_ID_LEN];   /* distinct pack ids */
    uint32_t *pack_slots;            /* hash table over packs: index+1, 0 empty */
    size_t npacks, packs_cap, pack_slots_cap;
    char (*files)[INDEX_PATH_LEN];   /* index files loaded */
    size_t nfiles;
    size_t ndamaged;                 /* index files that could not be read */
} ChunkIndex;

/* Adds hash at the given place unless it is known: 1 added, 0 known, -ENOMEM. */
int chunk_index_add(ChunkIndex *ix, const IndexEntry *e);
const IndexSlot *chunk_index_find(const ChunkIndex *ix, const uint8_t hash[REPO_HASH_LEN]);
static inline const uint8_t *chunk_index_pack(const ChunkIndex *ix, const IndexSlot *s)
{
    return ix->packs[s->pack];
}
/* Pack number of id, or -1 if no entry names it. */
long chunk_index_pack_no(const ChunkIndex *ix, const uint8_t id[PACK_ID_LEN]);
void chunk_index_free(ChunkIndex *ix);

/* Checks and adds the entries of one index file (name for messages).  Damage
 * fails with -EBADMSG and adds nothing. */
int chunk_index_parse(ChunkIndex *ix, const void *buf, size_t len, const char *name);
/* Reads every index/<id>.idx.  A damaged one is reported (log), counted in
 * ndamaged and skipped: its chunks read as missing, and gc refuses to run. */
int chunk_index_load(Store *st, ChunkIndex *ix);
/* Writes entries as new index files (at most INDEX_MAX_ENTRIES each),
 * atomically and durably.  names, if not NULL, gets the paths written. */
int chunk_index_write(Store *st, const IndexEntry *e, size_t n,
                      char (**names)[INDEX_PATH_LEN], size_t *nnames);
/* Serializes entries as one index file (n <= INDEX_MAX_ENTRIES). */
int index_file_encode(const IndexEntry *e, size_t n, void **out, size_t *len);

/* ---- building packs ---- */

typedef struct PackBuilder {
    uint8_t id[PACK_ID_LEN];
    uint8_t *buf;
    size_t len, cap;
    IndexEntry *ents;
    size_t n, ents_cap;
    size_t target;                /* full at this size; 0: PACK_TARGET_SIZE */
    void *fh;                     /* the staged file, when records go straight there */
} PackBuilder;

/* Appends a record (the first one starts a pack with a fresh id). */
int pack_builder_add(PackBuilder *b, const uint8_t hash[REPO_HASH_LEN],
                     const uint8_t hdr[CHUNK_HEADER_LEN], const void *payload, size_t plen);
/* For records written elsewhere (straight to a file): pack_builder_begin()
 * starts a pack (fresh id, header counted) if none is started and fills
 * hdr with its header; pack_builder_note() records a record of len bytes
 * written at the current end. */
int pack_builder_begin(PackBuilder *b, uint8_t hdr[PACK_HEADER_LEN]);
int pack_builder_note(PackBuilder *b, const uint8_t hash[REPO_HASH_LEN], size_t len);
/* Appends a record as read from another pack (gc); rec has PACK_RECORD_HDR+ bytes. */
int pack_builder_add_record(PackBuilder *b, const uint8_t *rec, size_t len);
static inline bool pack_builder_full(const PackBuilder *b)
{
    return b->len >= (b->target ? b->target : PACK_TARGET_SIZE);
}
void pack_builder_reset(PackBuilder *b);    /* empty, memory kept */
void pack_builder_free(PackBuilder *b);

/* ---- reading ---- */

/* Checks a record read from a pack: length, that it holds hash, and that its
 * chunk header agrees with the length.  name is used in messages. */
int pack_check_record(const uint8_t *rec, size_t len, const uint8_t hash[REPO_HASH_LEN],
                      const char *name);
/* Reads, checks and decodes the chunk at s into buf; returns its length. */
int pack_read_chunk(Store *st, const ChunkIndex *ix, const IndexSlot *s, uint32_t piece,
                    void *buf, size_t buflen);

#endif
