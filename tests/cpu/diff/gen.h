/* Random RV64GC program generator for the differential test. */
#ifndef DIFF_GEN_H
#define DIFF_GEN_H

#include <stdint.h>

#include "layout.h"

typedef struct DiffProg {
    DiffProgHdr hdr;
    uint8_t code[DIFF_CODE_MAX];
} DiffProg;

/* Fills p with program number index of seed: deterministic, host independent.
 * The program ends by jumping to DIFF_STUB with hdr.base_reg still holding
 * DIFF_DATA_MID; every memory access stays in the data buffer. */
void diff_gen(uint64_t seed, uint64_t index, DiffProg *p);
/* Same, leaving out the top-level items i < ndrop with drop[i] set (each item
 * keeps every invariant on its own).  Returns the number of items. */
unsigned diff_gen_ex(uint64_t seed, uint64_t index, DiffProg *p, const uint8_t *drop,
                     unsigned ndrop);

#endif
