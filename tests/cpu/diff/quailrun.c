/* Quail side of the differential test: the program runs in M-mode with bare
 * translation and the FPU on, starting from the state the riscv64 runner
 * loads, until the pc reaches DIFF_STUB.  Any trap goes to DIFF_TRAP and is a
 * failure (the QEMU side cannot trap without killing the runner). */
#include "quailrun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/riscv.h"
#include "hw/bus.h"
#include "util/error.h"

struct QuailRunner {
    Bus bus;
    RiscvCpu cpu;
    bool cpu_live;
};

QuailRunner *quailrun_new(void)
{
    QuailRunner *q = calloc(1, sizeof(*q));
    if (!q) {
        err_set_errno(ENOMEM, "difftest: runner");
        return NULL;
    }
    if (bus_init(&q->bus, DIFF_MEM_BASE, DIFF_MEM_SIZE) < 0) {
        free(q);
        return NULL;
    }
    return q;
}

void quailrun_free(QuailRunner *q)
{
    if (!q)
        return;
    if (q->cpu_live)
        riscv_cpu_destroy(&q->cpu);
    bus_destroy(&q->bus);
    free(q);
}

void quailrun_prog(QuailRunner *q, const DiffProgHdr *h, const uint8_t *code,
                   uint64_t max_insns, DiffRecord *rec)
{
    RiscvCpu *cpu = &q->cpu;
    memset(q->bus.ram, 0, DIFF_MEM_SIZE);
    bus_copy_to(&q->bus, DIFF_CODE, code, h->code_len);
    bus_copy_to(&q->bus, DIFF_DATA, h->data, DIFF_DATA_SIZE);

    /* a fresh hart per program: no decoded-code or TLB state carries over */
    if (q->cpu_live)
        riscv_cpu_destroy(cpu);
    riscv_cpu_init(cpu, &q->bus, 0);
    q->cpu_live = true;
    riscv_cpu_reset(cpu, DIFF_CODE);
    cpu->priv = PRV_M;
    memcpy(cpu->x, h->x, sizeof(cpu->x));
    cpu->x[0] = 0;
    memcpy(cpu->f, h->f, sizeof(cpu->f));
    cpu->fflags = (uint32_t)(h->fcsr & 0x1f);
    cpu->frm = (uint32_t)((h->fcsr >> 5) & 7);
    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | ((uint64_t)FS_DIRTY << 13);
    cpu->mtvec = DIFF_TRAP;
    cpu->pc = DIFF_CODE;

    memset(rec, 0, sizeof(*rec));
    rec->status = DIFF_TIMEOUT;
    for (uint64_t n = 0; n < max_insns; n++) {
        if (cpu->pc == DIFF_STUB) {
            rec->status = DIFF_OK;
            break;
        }
        if (cpu->pc == DIFF_TRAP) {
            rec->status = DIFF_TRAPPED;
            rec->aux = cpu->mcause;
            break;
        }
        if (riscv_cpu_step(cpu, 1) == 0)
            break;
    }
    if (rec->status == DIFF_TIMEOUT)
        rec->aux = cpu->pc;
    if (rec->status == DIFF_TRAPPED)
        rec->aux |= cpu->mepc << 8 ;
    memcpy(rec->x, cpu->x, sizeof(rec->x));
    memcpy(rec->f, cpu->f, sizeof(rec->f));
    rec->fcsr = (cpu->fflags & 0x1f) | (uint64_t)(cpu->frm & 7) << 5;
    bus_copy_from(&q->bus, DIFF_DATA, rec->data, DIFF_DATA_SIZE);
    rec->csum = diff_fnv1a(rec->data, DIFF_DATA_SIZE);
}
