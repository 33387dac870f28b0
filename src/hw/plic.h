/* SiFive PLIC as on QEMU's virt machine: 96 sources (0 is reserved), 3-bit
 * priorities, two contexts per hart (M then S) driving MEIP and SEIP. */
#ifndef QUAIL_HW_PLIC_H
#define QUAIL_HW_PLIC_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

#define PLIC_NUM_SOURCES 96            /* QEMU VIRT_IRQCHIP_NUM_SOURCES */
#define PLIC_PRIO_MASK 7               /* VIRT_IRQCHIP_NUM_PRIO_BITS = 3 */
#define PLIC_MAX_CONTEXTS 16           /* 8 harts x (M, S) */
#define PLIC_WORDS ((PLIC_NUM_SOURCES + 31) / 32)

#define PLIC_PRIORITY_BASE 0x0
#define PLIC_PENDING_BASE 0x1000
#define PLIC_ENABLE_BASE 0x2000
#define PLIC_ENABLE_STRIDE 0x80
#define PLIC_CONTEXT_BASE 0x200000
#define PLIC_CONTEXT_STRIDE 0x1000
/* QEMU sizes the region for its maximum of 512 harts; the DT says the same. */
#define PLIC_MMIO_SIZE (PLIC_CONTEXT_BASE + 1024 * PLIC_CONTEXT_STRIDE)

/* Called when a context's external-interrupt line changes: context c belongs
 * to hart c/2, M-mode when c is even. */
typedef void (*PlicOutput)(void *opaque, int context, bool level);

typedef struct Plic {
    int ncontexts;
    uint8_t priority[PLIC_NUM_SOURCES];
    uint32_t level[PLIC_WORDS];     /* device line state */
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS];   /* claimed, not yet completed */
    uint32_t enable[PLIC_MAX_CONTEXTS][PLIC_WORDS];
    uint8_t threshold[PLIC_MAX_CONTEXTS];
    bool out[PLIC_MAX_CONTEXTS];
    PlicOutput output;
    void *opaque;
} Plic;

extern const MmioOps plic_ops;

void plic_init(Plic *p, int nharts, PlicOutput output, void *opaque);
void plic_reset(Plic *p);
/* Level-triggered input from a device.  Callers hold the bus io_lock (MMIO
 * callbacks already do). */
void plic_set_irq(Plic *p, int source, bool level);

#endif
