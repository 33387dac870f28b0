/* Chunk encoding: hashing, zero detection and the compressed on-disk form
 *   "QBCK" | u8 version=1 | u8 codec (0 none, 1 zstd) | u16 0 |
 *   u32le uncompressed length | u32le payload length | payload
 * The chunk's name (chunk_name()) is of the uncompressed data, so decoding
 * re-hashes and any damage to the header, payload or name is caught. */
#ifndef QUAIL_BACKUP_CHUNK_H
#define QUAIL_BACKUP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/repo.h"

#define CHUNK_MAGIC        "QBCK"
#define CHUNK_HEADER_LEN   16
#define CHUNK_CODEC_NONE   0
#define CHUNK_CODEC_ZSTD   1

/* Plain SHA-256 (checksums of manifests' chunk lists and index files). */
int chunk_hash(const void *data, size_t len, uint8_t hash[REPO_HASH_LEN]);

/* A chunk's name: SHA-256 over the tag, the piece size (u32le), the length
 * (u64le) and the SHA-256 of each piece of the chunk in order (the last may
 * be shorter).  Pieces are hashed in parallel where the CPU allows.  The
 * piece size is the repository's (config "hash_piece"): chunk_piece_for()
 * of its chunk size: 16 pieces per chunk up to 256 KiB chunks, the 16 lanes
 * of AVX-512, and more beyond. */
#define CHUNK_NAME_TAG      "quail-tree-v1"
#define CHUNK_NAME_TAG_LEN  13
#define CHUNK_PIECE_MIN     4096u
#define CHUNK_PIECE_MAX     16384u
int chunk_name(uint32_t piece, const void *data, size_t len, uint8_t hash[REPO_HASH_LEN]);
uint32_t chunk_piece_for(uint32_t chunk_size);
/* Whether the multi-buffer hashing is in use (for messages and benches). */
bool chunk_name_accelerated(void);
bool chunk_is_zero(const void *data, size_t len);
/* zstd level of new chunks: level 1 already shrinks text and zeros well and is
 * several times faster than the default 3 on incompressible data. */
#define CHUNK_ZSTD_LEVEL   1

/* Reusable encoding state (one per thread). Zero-initialise; free with
 * chunk_coder_free(). */
typedef struct ChunkCoder {
    void *cctx;
    uint8_t *out;
    size_t cap;
} ChunkCoder;
void chunk_coder_free(ChunkCoder *c);
/* Encodes data: hdr gets the header, *payload the payload, which is c's buffer
 * or, for data stored as is, data itself (no copy).  Valid until the next call. */
int chunk_encode_with(ChunkCoder *c, const void *data, size_t len,
                      uint8_t hdr[CHUNK_HEADER_LEN], const void **payload, size_t *plen);
/* Encodes data into a malloc'd buffer. */
int chunk_encode(const void *data, size_t len, void **out, size_t *out_len);
/* Decodes enc into buf (at most buflen bytes) and checks that its name
 * (chunk_name() with piece) is hash; returns the length.  name is used in
 * messages. */
int chunk_decode(const void *enc, size_t enc_len, const uint8_t hash[REPO_HASH_LEN],
                 uint32_t piece, void *buf, size_t buflen, const char *name);

#endif
