#include <stdlib.h>
#include <string.h>

#include "backup/chunkset.h"
#include "util/error.h"

static size_t slot_of(const uint8_t *h, size_t cap)
{
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (cap - 1));
}

static void insert(uint8_t (*keys)[REPO_HASH_LEN], uint8_t *used, size_t cap, const uint8_t *h)
{
    size_t i = slot_of(h, cap);
    while (used[i])
        i = (i + 1) & (cap - 1);
    used[i] = 1;
    memcpy(keys[i], h, REPO_HASH_LEN);
}

bool chunkset_has(const ChunkSet *s, const uint8_t hash[REPO_HASH_LEN])
{
    if (!s->cap)
        return false;
    for (size_t i = slot_of(hash, s->cap); s->used[i]; i = (i + 1) & (s->cap - 1))
        if (!memcmp(s->keys[i], hash, REPO_HASH_LEN))
            return true;
    return false;
}

int chunkset_add(ChunkSet *s, const uint8_t hash[REPO_HASH_LEN])
{
    if (chunkset_has(s, hash))
        return 0;
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint8_t (*nk)[REPO_HASH_LEN] = malloc(ncap * REPO_HASH_LEN);
        uint8_t *nu = calloc(ncap, 1);
        if (!nk || !nu) {
            free(nk);
            free(nu);
            return err_set(ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->used[i])
                insert(nk, nu, ncap, s->keys[i]);
        free(s->keys);
        free(s->used);
        s->keys = nk;
        s->used = nu;
        s->cap = ncap;
    }
    insert(s->keys, s->used, s->cap, hash);
    s->count++;
    return 1;
}

void chunkset_free(ChunkSet *s)
{
    free(s->keys);
    free(s->used);
    memset(s, 0, sizeof(*s));
}
