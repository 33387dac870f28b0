/* libFuzzer target: the qcow2 bitmap directory parser on untrusted bytes.
 * The first 8 input bytes choose the geometry (bitmap count, cluster bits,
 * disk size); the rest is the directory.  Whole images with bitmaps reach
 * the loader through fuzz_qcow2. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_bitmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint32_t nb = (uint32_t)data[0] << 8 | data[1];
    uint32_t cbits = 9 + data[2] % 13;
    uint64_t disk = ((uint64_t)data[3] << 32 | (uint64_t)data[4] << 24 | (uint64_t)data[5] << 16 |
                     (uint64_t)data[6] << 8 | data[7]) << 9;
    static Qcow2BitmapEntry out[16];
    /* Copy so reads past the directory end are caught by the sanitizer. */
    size_t dsize = size - 8;
    uint8_t *dir = malloc(dsize ? dsize : 1);
    if (!dir)
        return 0;
    memcpy(dir, data + 8, dsize);
    int n = qcow2_bitmap_parse_dir(dir, dsize, nb, cbits, disk, out, 16);
    for (int i = 0; i < n && i < 16; i++) {
        /* Parsed entries must satisfy what the loader relies on. */
        if (strlen(out[i].name) == 0 || strlen(out[i].name) > 1023 ||
            out[i].granularity_bits < 9 || out[i].granularity_bits > 31 ||
            (out[i].table_offset & ((1ull << cbits) - 1)))
            abort();
    }
    free(dir);
    return 0;
}
