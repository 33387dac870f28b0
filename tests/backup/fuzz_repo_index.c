/* libFuzzer: index files (and pack records) from a repository are untrusted
 * input: parsing must reject anything malformed cleanly and never admit an
 * entry that points outside the bounds pack.h promises.  Odd first bytes get a
 * valid checksum appended, so the entry checks behind it are reached too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > INDEX_MAX_FILE)
        return 0;
    const uint8_t *in = data;
    size_t len = size;
    uint8_t *buf = NULL;
    if (data[0] & 1) {
        len = size - 1 + REPO_HASH_LEN;
        buf = malloc(len);
        if (!buf)
            return 0;
        memcpy(buf, data + 1, size - 1);
        if (chunk_hash(buf, size - 1, buf + size - 1) < 0)
            abort();
        in = buf;
    }
    ChunkIndex ix = { 0 };
    if (chunk_index_parse(&ix, in, len, "fuzz") == 0) {
        size_t seen = 0;
        for (size_t i = 0; i < ix.cap; i++) {
            const IndexSlot *s = &ix.slots[i];
            if (!s->length)
                continue;
            seen++;
            if (s->length <= PACK_RECORD_HDR || s->length > PACK_RECORD_MAX ||
                s->offset < PACK_HEADER_LEN || s->offset + s->length > PACK_MAX_SIZE ||
                s->pack >= ix.npacks || chunk_index_find(&ix, s->hash) != s)
                abort();
        }
        if (seen != ix.count)
            abort();
    } else if (ix.count) {
        abort();                 /* a rejected file adds nothing */
    }
    chunk_index_free(&ix);
    uint8_t hash[REPO_HASH_LEN] = { 0 };
    if (size > REPO_HASH_LEN)
        memcpy(hash, data, REPO_HASH_LEN);
    pack_check_record(data, size, hash, "fuzz");
    free(buf);
    return 0;
}
