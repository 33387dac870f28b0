/* Quail side of the differential test.  A program runs from the state the
 * riscv64 runner loads, until the pc reaches DIFF_STUB, either in M-mode with
 * bare translation or in U-mode under Sv39 (entered through a small M-mode
 * boot stub ending in MRET, so privilege and translation change the
 * architectural way).  Any trap goes to DIFF_TRAP in M-mode and is a failure:
 * the QEMU side cannot trap without killing the runner. */
#include "quailrun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/riscv.h"
#include "hw/bus.h"
#include "rvenc.h"
#include "util/error.h"

const char *const quailrun_mode_name[QR_NMODES] = {
    "M-mode bare", "U-mode Sv39 4K pages", "U-mode Sv39 gigapage", "S-mode Sv39 megapage (offset)",
};

/* Physical layout on the quail side (beyond the shared guest layout): the
 * 4K-page mode places guest page i at QR_PAGES + ((i ^ 1) << 12), so that
 * neighbouring virtual pages are not neighbours in RAM; the megapage maps
 * the guest 2 MiB higher; page tables and the boot stub sit where no program
 * address reaches in any mapping. */
#define QR_RAM_SIZE 0x400000ULL
#define QR_MEGA     0x40200000ULL   /* where the S-mode megapage points */
#define QR_PAGES    0x40020000ULL
#define QR_PT_ROOT  0x4001c000ULL
#define QR_PT_L1    0x4001d000ULL
#define QR_PT_L0    0x4001e000ULL
#define QR_BOOT     0x4001f000ULL
#define QR_NPAGES   0x20u

#define PTE_V 0x01u
#define PTE_LEAF 0xdfu       /* V R W X U A D */
#define PTE_U 0x10u

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
    if (bus_init(&q->bus, DIFF_MEM_BASE, QR_RAM_SIZE) < 0) {
        free(q);
        return NULL;
    }
    memset(q->bus.ram, 0, QR_RAM_SIZE);
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

static uint64_t va_to_pa(int mode, uint64_t va)
{
    if (mode == QR_S_SV39_2M)
        return va - DIFF_MEM_BASE + QR_MEGA;
    if (mode != QR_U_SV39_4K)
        return va;
    uint64_t page = (va - DIFF_MEM_BASE) >> 12;
    return QR_PAGES + ((page ^ 1) << 12) + (va & 0xfff);
}

/* Copies between host memory and guest virtual addresses page by page. */
static void copy_va(QuailRunner *q, int mode, uint64_t va, void *buf, uint64_t len, bool to_guest)
{
    uint8_t *p = buf;
    while (len) {
        uint64_t n = 0x1000 - (va & 0xfff);
        if (n > len)
            n = len;
        uint8_t *h = bus_ram_ptr(&q->bus, va_to_pa(mode, va), n);
        if (h) {
            if (to_guest)
                memcpy(h, p, n);
            else
                memcpy(p, h, n);
        }
        va += n;
        p += n;
        len -= n;
    }
}

static void put64(QuailRunner *q, uint64_t pa, uint64_t v)
{
    uint8_t *h = bus_ram_ptr(&q->bus, pa, 8);
    if (h)
        memcpy(h, &v, 8);
}

static void put32(QuailRunner *q, uint64_t *pa, uint32_t v)
{
    uint8_t *h = bus_ram_ptr(&q->bus, *pa, 4);
    if (h)
        memcpy(h, &v, 4);
    *pa += 4;
}

static void setup_paging(QuailRunner *q, int mode)
{
    uint8_t *pt = bus_ram_ptr(&q->bus, QR_PT_ROOT, 0x3000);
    if (pt)
        memset(pt, 0, 0x3000);
    uint64_t vpn2 = (DIFF_MEM_BASE >> 30) & 0x1ff;
    uint64_t vpn1 = (DIFF_MEM_BASE >> 21) & 0x1ff;
    if (mode == QR_U_SV39_1G) {
        put64(q, QR_PT_ROOT + 8 * vpn2, (DIFF_MEM_BASE >> 12) << 10 | PTE_LEAF);
    } else if (mode == QR_S_SV39_2M) {
        put64(q, QR_PT_ROOT + 8 * vpn2, (QR_PT_L1 >> 12) << 10 | PTE_V);
        put64(q, QR_PT_L1 + 8 * vpn1, (QR_MEGA >> 12) << 10 | (PTE_LEAF & ~PTE_U));
    } else {
        put64(q, QR_PT_ROOT + 8 * vpn2, (QR_PT_L1 >> 12) << 10 | PTE_V);
        put64(q, QR_PT_L1 + 8 * vpn1, (QR_PT_L0 >> 12) << 10 | PTE_V);
        for (unsigned i = 0; i < QR_NPAGES; i++) {
            uint64_t va = DIFF_MEM_BASE + ((uint64_t)i << 12);
            put64(q, QR_PT_L0 + 8 * ((va >> 12) & 0x1ff), (va_to_pa(mode, va) >> 12) << 10 | PTE_LEAF);
        }
    }
    /* satp = Sv39 | root; sfence.vma; mepc = DIFF_CODE; MPP = U or S; FS = dirty; mret */
    uint64_t pc = QR_BOOT;
    put32(q, &pc, rv_i(OPC_OP_IMM, 0, 5, 0, 8));
    put32(q, &pc, rv_i(OPC_OP_IMM, 1, 5, 5, 60));
    put32(q, &pc, rv_u(OPC_LUI, 6, (uint32_t)(QR_PT_ROOT >> 24)));
    put32(q, &pc, rv_i(OPC_OP_IMM, 0, 6, 6, (int)((QR_PT_ROOT >> 12) & 0xfff)));
    put32(q, &pc, rv_r(OPC_OP, 6, 0, 5, 5, 6));
    put32(q, &pc, rv_csr(1, 0, 5, 0x180));
    put32(q, &pc, 0x12000073);                                   /* sfence.vma */
    put32(q, &pc, rv_u(OPC_LUI, 5, (uint32_t)(DIFF_CODE >> 12)));
    put32(q, &pc, rv_csr(1, 0, 5, 0x341));
    put32(q, &pc, rv_i(OPC_OP_IMM, 0, 5, 0, 0x18));
    put32(q, &pc, rv_i(OPC_OP_IMM, 1, 5, 5, 8));
    put32(q, &pc, rv_csr(3, 0, 5, 0x300));
    /* FS = dirty, and MPP = S for the S-mode run */
    put32(q, &pc, rv_i(OPC_OP_IMM, 0, 5, 0, 6));
    put32(q, &pc, rv_i(OPC_OP_IMM, 1, 5, 5, 12));
    put32(q, &pc, rv_csr(2, 0, 5, 0x300));
    if (mode == QR_S_SV39_2M) {
        put32(q, &pc, rv_i(OPC_OP_IMM, 0, 5, 0, 1));
        put32(q, &pc, rv_i(OPC_OP_IMM, 1, 5, 5, 11));
        put32(q, &pc, rv_csr(2, 0, 5, 0x300));
    }
    put32(q, &pc, 0x30200073);                                   /* mret */
}

/* Steps until pc is stop (and, for stop == DIFF_CODE, M-mode is left),
 * a trap or the budget runs out. */
static uint64_t run_until(RiscvCpu *cpu, uint64_t stop, uint64_t max, uint64_t *aux)
{
    for (uint64_t n = 0; n < max; n++) {
        if (cpu->pc == stop && (stop != DIFF_CODE || cpu->priv != PRV_M))
            return DIFF_OK;
        if (cpu->pc == DIFF_TRAP) {
            *aux = (cpu->mcause & 0xff) | cpu->mepc << 8;
            return DIFF_TRAPPED;
        }
        if (riscv_cpu_step(cpu, 1) == 0)
            break;
    }
    *aux = cpu->pc;
    return DIFF_TIMEOUT;
}

void quailrun_prog(QuailRunner *q, const DiffProgHdr *h, const uint8_t *code, int mode,
                   uint64_t max_insns, DiffRecord *rec)
{
    RiscvCpu *cpu = &q->cpu;
    uint8_t data[DIFF_DATA_SIZE];
    memcpy(data, h->data, sizeof(data));
    copy_va(q, mode, DIFF_CODE, (void *)code, h->code_len, true);
    copy_va(q, mode, DIFF_DATA, data, DIFF_DATA_SIZE, true);

    /* a fresh hart per program: no decoded-code or TLB state carries over */
    if (q->cpu_live)
        riscv_cpu_destroy(cpu);
    riscv_cpu_init(cpu, &q->bus, 0);
    q->cpu_live = true;
    riscv_cpu_reset(cpu, DIFF_CODE);
    cpu->priv = PRV_M;
    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | ((uint64_t)FS_DIRTY << 13);
    cpu->mtvec = DIFF_TRAP;

    memset(rec, 0, sizeof(*rec));
    if (mode != QR_M_BARE) {
        setup_paging(q, mode);
        cpu->pc = QR_BOOT;
        rec->status = run_until(cpu, DIFF_CODE, 64, &rec->aux);
        if (rec->status != DIFF_OK)
            goto done;
    }
    memcpy(cpu->x, h->x, sizeof(cpu->x));
    cpu->x[0] = 0;
    memcpy(cpu->f, h->f, sizeof(cpu->f));
    cpu->fflags = (uint32_t)(h->fcsr & 0x1f);
    cpu->frm = (uint32_t)((h->fcsr >> 5) & 7);
    cpu->pc = DIFF_CODE;
    rec->status = run_until(cpu, DIFF_STUB, max_insns, &rec->aux);
    unsigned want = mode == QR_M_BARE ? PRV_M : mode == QR_S_SV39_2M ? PRV_S : PRV_U;
    if (rec->status == DIFF_OK && cpu->priv != want) {
        rec->status = DIFF_WRONG_PRIV;
        rec->aux = cpu->priv;
    }
done:
    memcpy(rec->x, cpu->x, sizeof(rec->x));
    memcpy(rec->f, cpu->f, sizeof(rec->f));
    rec->fcsr = (cpu->fflags & 0x1f) | (uint64_t)(cpu->frm & 7) << 5;
    copy_va(q, mode, DIFF_DATA, rec->data, DIFF_DATA_SIZE, false);
    rec->csum = diff_fnv1a(rec->data, DIFF_DATA_SIZE);
}
