/* SiFive test finisher ("sifive,test0"): one 32-bit register the guest writes
 * to power off, reset, or fail with an exit code (code << 16 | 0x3333). */
#ifndef QUAIL_HW_SIFIVE_TEST_H
#define QUAIL_HW_SIFIVE_TEST_H

#include "hw/bus.h"

#define SIFIVE_TEST_MMIO_SIZE 0x1000
#define FINISHER_FAIL 0x3333
#define FINISHER_PASS 0x5555
#define FINISHER_RESET 0x7777

typedef enum { FINISH_POWEROFF, FINISH_RESET, FINISH_FAIL } FinishKind;

typedef struct SifiveTest {
    void (*finish)(void *opaque, FinishKind kind, int code);
    void *opaque;
} SifiveTest;

extern const MmioOps sifive_test_ops;

#endif
