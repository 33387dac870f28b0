/* libFuzzer: manifest and config-like JSON parsing and chunk decoding must
 * reject any input cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chunk.h"
#include "backup/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Manifest *m = NULL;
    if (manifest_from_json((const char *)data, size, "fuzz", NULL, &m) == 0) {
        char *text;
        size_t len;
        /* Whatever parses must serialize and parse back. */
        if (manifest_to_json(m, &text, &len) == 0) {
            Manifest *again = NULL;
            if (manifest_from_json(text, len, "again", m->id, &again) != 0)
                abort();
            manifest_free(again);
            free(text);
        }
        manifest_free(m);
    }
    static uint8_t out[REPO_MIN_CHUNK_SIZE];
    uint8_t hash[REPO_HASH_LEN] = { 0 };
    if (size > REPO_HASH_LEN)
        memcpy(hash, data, REPO_HASH_LEN);
    chunk_decode(data, size, hash, CHUNK_PIECE_MIN, out, sizeof(out), "fuzz");
    return 0;
}
