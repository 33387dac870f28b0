/* Hart lifecycle, run loop and WFI sleeping.  (Initial minimal version so the
 * rest of quail links; the interpreter follows.) */
#include "cpu/riscv.h"

#include <string.h>

#include "util/error.h"

int riscv_cpu_init(RiscvCpu *cpu, Bus *bus, uint64_t hartid)
{
    memset(cpu, 0, sizeof(*cpu));
    cpu->bus = bus;
    cpu->mhartid = hartid;
    pthread_mutex_init(&cpu->wfi_lock, NULL);
    pthread_cond_init(&cpu->wfi_cond, NULL);
    riscv_cpu_reset(cpu, 0x1000);
    return 0;
}

void riscv_cpu_destroy(RiscvCpu *cpu)
{
    pthread_mutex_destroy(&cpu->wfi_lock);
    pthread_cond_destroy(&cpu->wfi_cond);
}

void riscv_cpu_reset(RiscvCpu *cpu, uint64_t reset_pc)
{
    memset(cpu->x, 0, sizeof(cpu->x));
    cpu->pc = reset_pc;
    cpu->priv = PRV_M;
    cpu->lr_addr = UINT64_MAX;
    riscv_tlb_flush(cpu);
}

int riscv_cpu_run(RiscvCpu *cpu)
{
    while (!atomic_load(&cpu->stop_request))
        riscv_cpu_step(cpu, 1024);
    return 0;
}

uint64_t riscv_cpu_step(RiscvCpu *cpu, uint64_t n)
{
    (void)cpu;
    (void)n;
    return 0;
}

void riscv_cpu_set_irq(RiscvCpu *cpu, int irq, bool level)
{
    if (level)
        atomic_fetch_or(&cpu->mip, 1ULL << irq);
    else
        atomic_fetch_and(&cpu->mip, ~(1ULL << irq));
    riscv_cpu_kick(cpu);
}

void riscv_cpu_kick(RiscvCpu *cpu)
{
    pthread_mutex_lock(&cpu->wfi_lock);
    pthread_cond_broadcast(&cpu->wfi_cond);
    pthread_mutex_unlock(&cpu->wfi_lock);
}

void riscv_cpu_request_stop(RiscvCpu *cpu)
{
    atomic_store(&cpu->stop_request, true);
    riscv_cpu_kick(cpu);
}

void riscv_raise_exception(RiscvCpu *cpu, uint64_t cause, uint64_t tval)
{
    cpu->exc_pending = true;
    cpu->exc_cause = cause;
    cpu->exc_tval = tval;
}

int riscv_load(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t *val)
{
    if (bus_read(cpu->bus, vaddr, size, val) < 0) {
        riscv_raise_exception(cpu, EXC_LOAD_ACCESS, vaddr);
        return -1;
    }
    return 0;
}

int riscv_store(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t val)
{
    if (bus_write(cpu->bus, vaddr, size, val) < 0) {
        riscv_raise_exception(cpu, EXC_STORE_ACCESS, vaddr);
        return -1;
    }
    return 0;
}

void riscv_tlb_flush(RiscvCpu *cpu)
{
    for (int i = 0; i < RISCV_TLB_SIZE; i++) {
        cpu->tlb_fetch[i].tag = UINT64_MAX;
        cpu->tlb_load[i].tag = UINT64_MAX;
        cpu->tlb_store[i].tag = UINT64_MAX;
    }
}
