/* SiFive CLINT / ACLINT (MSWI + MTIMER) as on QEMU's virt machine.
 *
 * mtime is the host-derived clock_mtime(): the harts compare their mtimecmp
 * with the same clock, so the device only stores mtimecmp and kicks the hart.
 * Writes to mtime are ignored (logged once): an offset would have to be shared
 * with every hart's rdtime and timer check, and no guest we boot writes it. */
#ifndef QUAIL_HW_CLINT_H
#define QUAIL_HW_CLINT_H

#include <stdint.h>

#include "cpu/riscv.h"
#include "hw/bus.h"

#define CLINT_MMIO_SIZE 0x10000
#define CLINT_MSIP_BASE 0x0
#define CLINT_MTIMECMP_BASE 0x4000
#define CLINT_MTIME 0xbff8
#define CLINT_MAX_HARTS 8

typedef struct Clint {
    int nharts;
    RiscvCpu *cpus[CLINT_MAX_HARTS];
    uint32_t msip[CLINT_MAX_HARTS];
} Clint;

extern const MmioOps clint_ops;

void clint_init(Clint *c, RiscvCpu **cpus, int nharts);
/* msip = 0 and mtimecmp = all ones (no timer interrupt until the guest arms it). */
void clint_reset(Clint *c);

#endif
