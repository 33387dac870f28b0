/* Runs differential-test programs on quail's hart. */
#ifndef DIFF_QUAILRUN_H
#define DIFF_QUAILRUN_H

#include <stdint.h>

#include "layout.h"

/* How quail runs a program: the result must not depend on it. */
enum {
    QR_M_BARE = 0,      /* M-mode, no translation */
    QR_U_SV39_4K,       /* U-mode, Sv39 4 KiB pages, neighbouring pages swapped in RAM */
    QR_U_SV39_1G,       /* U-mode, Sv39 identity gigapage */
    QR_S_SV39_2M,       /* S-mode, Sv39 identity megapage */
    QR_NMODES
};

extern const char *const quailrun_mode_name[QR_NMODES];

typedef struct QuailRunner QuailRunner;

/* Returns NULL with the error set (err_set) on failure. */
QuailRunner *quailrun_new(void);
void quailrun_free(QuailRunner *q);
/* Runs one program from the same initial state the riscv64 runner uses and
 * fills rec.  At most max_insns instructions. */
void quailrun_prog(QuailRunner *q, const DiffProgHdr *h, const uint8_t *code, int mode,
                   uint64_t max_insns, DiffRecord *rec);

#endif
