/* A set of chunk hashes (open addressing; hashes are uniformly random, so their
 * first bytes are the bucket index). */
#ifndef QUAIL_BACKUP_CHUNKSET_H
#define QUAIL_BACKUP_CHUNKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/repo.h"

typedef struct ChunkSet {
    uint8_t (*keys)[REPO_HASH_LEN];
    uint8_t *used;
    size_t cap, count;
} ChunkSet;

/* Returns 1 if added, 0 if present, -ENOMEM. */
int chunkset_add(ChunkSet *s, const uint8_t hash[REPO_HASH_LEN]);
bool chunkset_has(const ChunkSet *s, const uint8_t hash[REPO_HASH_LEN]);
void chunkset_free(ChunkSet *s);
/* Iteration: i from 0 while i < s->cap; returns NULL for empty slots. */
static inline const uint8_t *chunkset_at(const ChunkSet *s, size_t i)
{
    return s->used[i] ? s->keys[i] : NULL;
}

#endif
