/* Hart lifecycle, the run loop, the timer interrupt and WFI sleeping. */
#include "cpu/cpu_internal.h"

#include <errno.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"

/* Instructions between checks of the timer and device interrupt lines. */
#define CHUNK 1024

#define MISA_RV64 (2ULL << 62)
#define MISA_EXT(c) (1ULL << ((c) - 'A'))

int riscv_cpu_init(RiscvCpu *cpu, Bus *bus, uint64_t hartid)
{
    memset(cpu, 0, sizeof(*cpu));
    cpu->bus = bus;
    cpu->mhartid = hartid;
    cpu->misa = MISA_RV64 | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') |
                MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U');
    atomic_init(&cpu->mtimecmp, UINT64_MAX);
    atomic_init(&cpu->mip, 0);
    atomic_init(&cpu->stop_request, false);

    pthread_condattr_t ca;
    int r = pthread_condattr_init(&ca);
    if (r == 0)
        r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (r == 0)
        r = pthread_cond_init(&cpu->wfi_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0)
        return err_set(r, "hart %llu: cannot create its wakeup condition",
                       (unsigned long long)hartid);
    r = pthread_mutex_init(&cpu->wfi_lock, NULL);
    if (r != 0) {
        pthread_cond_destroy(&cpu->wfi_cond);
        return err_set(r, "hart %llu: cannot create its lock", (unsigned long long)hartid);
    }
    riscv_compressed_init();
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
    memset(cpu->f, 0, sizeof(cpu->f));
    cpu->fflags = cpu->frm = 0;
    cpu->pc = reset_pc;
    cpu->priv = PRV_M;
    cpu->virt_wfi = false;
    cpu->mstatus = 0;
    cpu->medeleg = cpu->mideleg = 0;
    cpu->mie = 0;
    atomic_store(&cpu->mip, 0);
    cpu->mtvec = cpu->mscratch = cpu->mepc = cpu->mcause = cpu->mtval = 0;
    cpu->mcounteren = cpu->mcountinhibit = cpu->menvcfg = 0;
    cpu->stvec = cpu->sscratch = cpu->sepc = cpu->scause = cpu->stval = 0;
    cpu->scounteren = cpu->senvcfg = 0;
    cpu->satp = 0;
    memset(cpu->pmpcfg, 0, sizeof(cpu->pmpcfg));
    memset(cpu->pmpaddr, 0, sizeof(cpu->pmpaddr));
    cpu->pmp_active = 0;
    cpu->pmp_nranges = 0;
    cpu->pmp_locked = false;
    cpu->stimecmp = 0;
    cpu->instret = cpu->mcycle_off = cpu->minstret_off = 0;
    cpu->lr_addr = UINT64_MAX;
    cpu->lr_val = 0;
    cpu->exc_pending = false;
    cpu->break_loop = false;
    cpu->tlb_ctx_fetch = UINT64_MAX;    /* forces riscv_update_ctx to drop the fetch page */
    riscv_tlb_init(cpu);
    riscv_update_ctx(cpu);
}

/* MTIP is a level: mtime >= mtimecmp. */
void riscv_update_timer(RiscvCpu *cpu)
{
    uint64_t cmp = atomic_load_explicit(&cpu->mtimecmp, memory_order_relaxed);
    bool due = cmp != UINT64_MAX && clock_mtime() >= cmp;
    bool set = (atomic_load_explicit(&cpu->mip, memory_order_relaxed) & MIP_MTIP) != 0;
    if (due && !set)
        atomic_fetch_or(&cpu->mip, MIP_MTIP);
    else if (!due && set)
        atomic_fetch_and(&cpu->mip, ~MIP_MTIP);
}

void riscv_wfi(RiscvCpu *cpu)
{
    riscv_update_timer(cpu);
    if (riscv_pending_irqs(cpu))
        return;
    pthread_mutex_lock(&cpu->wfi_lock);
    cpu->virt_wfi = true;
    while (!atomic_load(&cpu->stop_request)) {
        riscv_update_timer(cpu);
        if (riscv_pending_irqs(cpu))
            break;
        uint64_t cmp = atomic_load(&cpu->mtimecmp);
        if (cmp != UINT64_MAX && (cpu->mie & MIP_MTIP)) {
            uint64_t ns = clock_mtime_to_ns(cmp);
            struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
            pthread_cond_timedwait(&cpu->wfi_cond, &cpu->wfi_lock, &ts);
        } else {
            pthread_cond_wait(&cpu->wfi_cond, &cpu->wfi_lock);
        }
    }
    cpu->virt_wfi = false;
    pthread_mutex_unlock(&cpu->wfi_lock);
}

uint64_t riscv_cpu_step(RiscvCpu *cpu, uint64_t n)
{
    uint64_t done = 0;
    while (done < n && !atomic_load_explicit(&cpu->stop_request, memory_order_relaxed)) {
        riscv_update_timer(cpu);
        riscv_check_interrupts(cpu);
        cpu->break_loop = false;
        uint64_t chunk = n - done < CHUNK ? n - done : CHUNK;
        done += riscv_exec(cpu, chunk);
    }
    return done;
}

int riscv_cpu_run(RiscvCpu *cpu)
{
    while (!atomic_load_explicit(&cpu->stop_request, memory_order_relaxed))
        riscv_cpu_step(cpu, UINT64_MAX);
    return 0;
}

void riscv_cpu_set_irq(RiscvCpu *cpu, int irq, bool level)
{
    if (irq < 0 || irq > 63)
        return;
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
