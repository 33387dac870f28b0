/* Chunk encoding: hashing, zero detection and the compressed on-disk form
 *   "QBCK" | u8 version=1 | u8 codec (0 none, 1 zstd) | u16 0 |
 *   u32le uncompressed length | u32le payload length | payload
 * The hash (the file's name) is of the uncompressed data, so decoding re-hashes
 * and any damage to the header, payload or name is caught. */
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

int chunk_hash(const void *data, size_t len, uint8_t hash[REPO_HASH_LEN]);
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
/* Decodes enc into buf (at most buflen bytes) and checks it hashes to hash;
 * returns the length.  name is used in messages. */
int chunk_decode(const void *enc, size_t enc_len, const uint8_t hash[REPO_HASH_LEN],
                 void *buf, size_t buflen, const char *name);
/* "chunks/ab/abcd...": path needs 6+3+64+1 bytes. */
#define CHUNK_PATH_LEN (7 + 3 + 2 * REPO_HASH_LEN + 1)
void chunk_path(const uint8_t hash[REPO_HASH_LEN], char path[CHUNK_PATH_LEN]);

#endif
