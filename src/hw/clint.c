#include "hw/clint.h"

#include <string.h>

#include "util/clock.h"
#include "util/log.h"

void clint_init(Clint *c, RiscvCpu **cpus, int nharts)
{
    memset(c, 0, sizeof(*c));
    if (nharts > CLINT_MAX_HARTS)
        nharts = CLINT_MAX_HARTS;
    c->nharts = nharts;
    for (int i = 0; i < nharts; i++)
        c->cpus[i] = cpus[i];
}

void clint_reset(Clint *c)
{
    for (int i = 0; i < c->nharts; i++) {
        c->msip[i] = 0;
        if (!c->cpus[i])
            continue;
        atomic_store(&c->cpus[i]->mtimecmp, UINT64_MAX);
        riscv_cpu_set_irq(c->cpus[i], IRQ_MSI, false);
    }
}

/* Reads an 8-byte register whole or by 4-byte halves. */
static bool part(uint64_t off, unsigned size, uint64_t reg, unsigned *shift)
{
    if (size == 8 && off == reg) {
        *shift = 0;
        return true;
    }
    if (size == 4 && (off == reg || off == reg + 4)) {
        *shift = (unsigned)(off - reg) * 8;
        return true;
    }
    return false;
}

static int clint_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    Clint *c = opaque;
    unsigned shift;
    *val = 0;
    if (off < CLINT_MTIMECMP_BASE) {
        uint64_t h = off / 4;
        if (size == 4 && !(off & 3) && h < (uint64_t)c->nharts) {
            *val = c->msip[h];
            return 0;
        }
    } else if (off >= CLINT_MTIMECMP_BASE && off < CLINT_MTIME) {
        uint64_t h = (off - CLINT_MTIMECMP_BASE) / 8;
        if (h < (uint64_t)c->nharts &&
            part(off, size, CLINT_MTIMECMP_BASE + 8 * h, &shift)) {
            uint64_t v = atomic_load(&c->cpus[h]->mtimecmp) >> shift;
            *val = size == 4 ? (uint32_t)v : v;
            return 0;
        }
    } else if (part(off, size, CLINT_MTIME, &shift)) {
        uint64_t v = clock_mtime() >> shift;
        *val = size == 4 ? (uint32_t)v : v;
        return 0;
    }
    log_guest_error("clint: bad read size %u at 0x%llx", size, (unsigned long long)off);
    return 0;
}

static int clint_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    Clint *c = opaque;
    unsigned shift;
    if (off < CLINT_MTIMECMP_BASE) {
        uint64_t h = off / 4;
        if (size == 4 && !(off & 3) && h < (uint64_t)c->nharts) {
            c->msip[h] = val & 1;
            riscv_cpu_set_irq(c->cpus[h], IRQ_MSI, val & 1);
            return 0;
        }
    } else if (off >= CLINT_MTIMECMP_BASE && off < CLINT_MTIME) {
        uint64_t h = (off - CLINT_MTIMECMP_BASE) / 8;
        if (h < (uint64_t)c->nharts &&
            part(off, size, CLINT_MTIMECMP_BASE + 8 * h, &shift)) {
            RiscvCpu *cpu = c->cpus[h];
            uint64_t old = atomic_load(&cpu->mtimecmp), v;
            if (size == 8)
                v = val;
            else
                v = (old & ~(0xffffffffULL << shift)) | ((val & 0xffffffffULL) << shift);
            atomic_store(&cpu->mtimecmp, v);
            riscv_cpu_kick(cpu);
            return 0;
        }
    } else if (part(off, size, CLINT_MTIME, &shift)) {
        log_guest_error("clint: writes to mtime are not supported; ignored");
        return 0;
    }
    log_guest_error("clint: bad write size %u at 0x%llx", size, (unsigned long long)off);
    return 0;
}

const MmioOps clint_ops = { clint_read, clint_write };
