/* Runs differential-test programs on quail's hart. */
#ifndef DIFF_QUAILRUN_H
#define DIFF_QUAILRUN_H

#include <stdint.h>

#include "layout.h"

typedef struct QuailRunner QuailRunner;

/* Returns NULL with the error set (err_set) on failure. */
QuailRunner *quailrun_new(void);
void quailrun_free(QuailRunner *q);
/* Runs one program from the same initial state the riscv64 runner uses and
 * fills rec.  At most max_insns instructions. */
void quailrun_prog(QuailRunner *q, const DiffProgHdr *h, const uint8_t *code,
                   uint64_t max_insns, DiffRecord *rec);

#endif
