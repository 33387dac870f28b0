/* Address translation: Sv39/Sv48 walks, permission and page faults, A/D
 * updates, access faults, misaligned accesses across pages, MPRV, sfence.vma
 * and PMP. */
#include "cpu_test.h"

#include "cpu/cpu_internal.h"

#define PT_BASE (RAM_BASE + 0x400000)
#define VCODE 0x400000ULL          /* CODE mapped here */
#define V_R  (PTE_V | PTE_R | PTE_A | PTE_D)
#define V_RW (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define V_RX (PTE_V | PTE_R | PTE_X | PTE_A)

typedef struct { T *t; uint64_t next; uint64_t root; int levels; } Mmu;

static uint64_t alloc_table(Mmu *m)
{
    uint64_t a = m->next;
    m->next += 4096;
    for (int i = 0; i < 512; i++)
        t_w64(m->t, a + 8 * i, 0);
    return a;
}

/* Maps va to pa with a leaf at level (0: 4 KiB, 1: 2 MiB, 2: 1 GiB). */
static uint64_t map(Mmu *m, uint64_t va, uint64_t pa, uint64_t flags, int level)
{
    uint64_t table = m->root;
    for (int i = m->levels - 1; i > level; i--) {
        uint64_t pte_addr = table + ((va >> (12 + 9 * i)) & 511) * 8;
        uint64_t pte = t_r64(m->t, pte_addr);
        if (!(pte & PTE_V)) {
            uint64_t nt = alloc_table(m);
            t_w64(m->t, pte_addr, (nt >> 12) << 10 | PTE_V);
            table = nt;
        } else {
            table = (pte >> 10) << 12;
        }
    }
    uint64_t leaf = table + ((va >> (12 + 9 * level)) & 511) * 8;
    t_w64(m->t, leaf, (pa >> 12) << 10 | flags);
    return leaf;
}

static Mmu mmu_setup(T *t, int levels)
{
    Mmu m = { t, PT_BASE, 0, levels };
    m.root = alloc_table(&m);
    map(&m, VCODE, CODE, V_RX, 0);
    t->cpu.satp = ((uint64_t)(levels == 3 ? SATP_MODE_SV39 : SATP_MODE_SV48) << 60) | (m.root >> 12);
    riscv_tlb_flush(&t->cpu);
    return m;
}

/* Runs one instruction at virtual VCODE in priv (S or U). */
static void exec_v(T *t, unsigned priv, uint32_t insn)
{
    t_w32(t, CODE, insn);
    riscv_set_priv(&t->cpu, PRV_M);
    t->cpu.mstatus = (t->cpu.mstatus & ~MSTATUS_MPP) | ((uint64_t)priv << 11);
    t->cpu.mepc = VCODE;
    t_w32(t, DATA - 4, MRET);
    t->cpu.pc = DATA - 4;
    assert_int_equal(riscv_cpu_step(&t->cpu, 2), 2);
}

static void sv39_basic_and_ad_bits(void **state)
{
    T *t = t_new();
    Mmu m = mmu_setup(t, 3);
    uint64_t leaf = map(&m, 0x10000, DATA, PTE_V | PTE_R | PTE_W, 0);   /* A and D clear */
    t_w64(t, DATA + 8, 0x1122334455667788ULL);
    t->cpu.x[1] = 0x10000;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 8));
    assert_int_equal(t->cpu.pc, VCODE + 4);
    assert_int_equal(t->cpu.x[2], 0x1122334455667788ULL);
    assert_int_equal(t_r64(t, leaf) & (PTE_A | PTE_D), PTE_A);
    t->cpu.x[2] = 42;
    exec_v(t, PRV_S, STORE(3, 2, 1, 16));
    assert_int_equal(t->cpu.pc, VCODE + 4);
    assert_int_equal(t_r64(t, DATA + 16), 42);
    assert_int_equal(t_r64(t, leaf) & (PTE_A | PTE_D), PTE_A | PTE_D);
    /* 2 MiB and 1 GiB superpages */
    map(&m, 0x40000000ULL, RAM_BASE, V_RW, 2);
    map(&m, 0x200000ULL, DATA, V_RW, 1);
    t->cpu.x[1] = 0x40000000ULL + (DATA - RAM_BASE);
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 16));
    assert_int_equal(t->cpu.x[2], 42);
    t->cpu.x[1] = 0x200000ULL;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 8));
    assert_int_equal(t->cpu.x[2], 0x1122334455667788ULL);
    t_free(t);
}

static void page_faults(void **state)
{
    T *t = t_new();
    Mmu m = mmu_setup(t, 3);
    map(&m, 0x10000, DATA, V_R, 0);
    map(&m, 0x11000, DATA, V_RW | PTE_U, 0);
    map(&m, 0x12000, DATA, PTE_V | PTE_X | PTE_A, 0);     /* execute-only */
    map(&m, 0x13000, DATA, PTE_V | PTE_W | PTE_A | PTE_D, 0);    /* reserved W without R */
    map(&m, 0x600000, DATA + 0x1000, V_RW, 1);          /* misaligned 2 MiB superpage */
    map(&m, 0x14000, CODE, V_R, 0);                     /* readable, not executable */

    struct { uint64_t va; uint32_t insn; uint64_t cause; } c[] = {
        { 0x20000, LOAD(LD, 2, 1, 0), EXC_LOAD_PAGE_FAULT },      /* unmapped */
        { 0x20000, STORE(3, 2, 1, 0), EXC_STORE_PAGE_FAULT },
        { 0x10000, STORE(3, 2, 1, 0), EXC_STORE_PAGE_FAULT },     /* read-only */
        { 0x11000, LOAD(LD, 2, 1, 0), EXC_LOAD_PAGE_FAULT },      /* U page, SUM=0 */
        { 0x12000, LOAD(LD, 2, 1, 0), EXC_LOAD_PAGE_FAULT },      /* X only, MXR=0 */
        { 0x13000, LOAD(LD, 2, 1, 0), EXC_LOAD_PAGE_FAULT },
        { 0x600000, LOAD(LD, 2, 1, 0), EXC_LOAD_PAGE_FAULT },
        { 0x0000004000000000ULL, LOAD(LD, 2, 1, 0), EXC_LOAD_PAGE_FAULT },    /* not canonical */
        { 0xffffffc000000000ULL, AMO(1, 3, 2, 1, 2), EXC_STORE_PAGE_FAULT },  /* AMO: store fault */
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        t->cpu.x[1] = c[i].va;
        exec_v(t, PRV_S, c[i].insn);
        assert_trap(t, c[i].cause, c[i].va);
        assert_int_equal(t->cpu.mepc, VCODE);
    }
    /* SUM and MXR lift those restrictions */
    t->cpu.mstatus |= MSTATUS_SUM | MSTATUS_MXR;
    t->cpu.x[1] = 0x11000;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.pc, VCODE + 4);
    t->cpu.x[1] = 0x12000;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.pc, VCODE + 4);
    /* U cannot touch S pages */
    t->cpu.x[1] = 0x10000;
    map(&m, VCODE, CODE, V_RX | PTE_U, 0);
    riscv_tlb_flush(&t->cpu);
    exec_v(t, PRV_U, LOAD(LD, 2, 1, 0));
    assert_trap(t, EXC_LOAD_PAGE_FAULT, 0x10000);
    t->cpu.x[1] = 0x11000;
    exec_v(t, PRV_U, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.pc, VCODE + 4);
    /* S never executes U pages, even with SUM */
    exec_v(t, PRV_S, ADDI(0, 0, 0));
    assert_trap(t, EXC_INSN_PAGE_FAULT, VCODE);
    /* fetch from a non-executable page */
    map(&m, VCODE, CODE, V_RX, 0);
    riscv_tlb_flush(&t->cpu);
    t->cpu.x[1] = 0x14000;
    exec_v(t, PRV_S, JALR(0, 1, 0));
    riscv_cpu_step(&t->cpu, 1);
    assert_trap(t, EXC_INSN_PAGE_FAULT, 0x14000);
    /* delegated page faults report through stval */
    t->cpu.medeleg = 1ULL << EXC_LOAD_PAGE_FAULT;
    t->cpu.x[1] = 0x20008;
    exec_v(t, PRV_S, LOAD(LW, 2, 1, 0));
    assert_int_equal(t->cpu.pc, STRAP);
    assert_int_equal(t->cpu.scause, EXC_LOAD_PAGE_FAULT);
    assert_int_equal(t->cpu.stval, 0x20008);
    t_free(t);
}

static void access_faults(void **state)
{
    T *t = t_new();
    /* bare M-mode: nothing at 0x1000 */
    t->cpu.x[1] = 0x1000;
    exec1(t, LOAD(LW, 2, 1, 4));
    assert_trap(t, EXC_LOAD_ACCESS, 0x1004);
    exec1(t, STORE(2, 2, 1, 8));
    assert_trap(t, EXC_STORE_ACCESS, 0x1008);
    exec1(t, JALR(0, 1, 0));
    t->cpu.mtval = 0;
    riscv_cpu_step(&t->cpu, 1);
    assert_trap(t, EXC_INSN_ACCESS, 0x1000);
    /* above the 56-bit physical address space */
    t->cpu.x[1] = 1ULL << 60;
    exec1(t, LOAD(LB, 2, 1, 0));
    assert_trap(t, EXC_LOAD_ACCESS, 1ULL << 60);
    /* AMOs and LR to non-RAM */
    t->cpu.x[1] = 0x2000;
    exec1(t, AMO(0, 2, 2, 1, 2));
    assert_trap(t, EXC_STORE_ACCESS, 0x2000);
    exec1(t, AMO(2, 3, 2, 1, 0));
    assert_trap(t, EXC_LOAD_ACCESS, 0x2000);
    /* translated: the leaf points at nothing, tval is the virtual address */
    Mmu m = mmu_setup(t, 3);
    map(&m, 0x10000, 0x3000, V_RW, 0);
    t->cpu.x[1] = 0x10010;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_trap(t, EXC_LOAD_ACCESS, 0x10010);
    /* a page-table pointer to nothing is an access fault too */
    t_w64(t, m.root + 8 * 3, (0x5000ULL >> 12) << 10 | PTE_V);
    t->cpu.x[1] = 3ULL << 30;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_trap(t, EXC_LOAD_ACCESS, 3ULL << 30);
    t_free(t);
}

static void misaligned_across_pages(void **state)
{
    T *t = t_new();
    Mmu m = mmu_setup(t, 3);
    /* two virtually adjacent pages that are physically apart */
    map(&m, 0x10000, DATA + 0x5000, V_RW, 0);
    map(&m, 0x11000, DATA + 0x2000, V_RW, 0);
    map(&m, 0x12000, DATA + 0x3000, V_R, 0);
    t_w64(t, DATA + 0x5ff8, 0x8877665544332211ULL);
    t_w64(t, DATA + 0x2000, 0x00000000ccbbaa99ULL);
    t->cpu.x[1] = 0x10ffc;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.pc, VCODE + 4);
    assert_int_equal(t->cpu.x[2], 0xccbbaa9988776655ULL);
    exec_v(t, PRV_S, LOAD(LW, 2, 1, 2));
    assert_int_equal(t->cpu.x[2], 0xffffffffaa998877ULL);
    t->cpu.x[2] = 0x0102030405060708ULL;
    t->cpu.x[1] = 0x10ffd;
    exec_v(t, PRV_S, STORE(3, 2, 1, 0));
    assert_int_equal(t_r64(t, DATA + 0x5ff8) >> 40, 0x060708);
    assert_int_equal(t_r64(t, DATA + 0x2000) & 0xffffffffff, 0x0102030405ULL);
    /* second page read-only: fault, nothing written in the first page */
    t->cpu.x[1] = 0x11ffe;
    t->cpu.x[2] = 0;
    uint64_t before = t_r64(t, DATA + 0x2ff8);
    exec_v(t, PRV_S, STORE(2, 2, 1, 0));
    assert_trap(t, EXC_STORE_PAGE_FAULT, 0x12000);
    assert_int_equal(t_r64(t, DATA + 0x2ff8), before);
    /* second page unmapped for a load */
    t->cpu.x[1] = 0x12ffc;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_trap(t, EXC_LOAD_PAGE_FAULT, 0x13000);
    /* misaligned atomics trap instead */
    t->cpu.x[1] = 0x10002;
    exec_v(t, PRV_S, AMO(0, 2, 2, 1, 2));
    assert_trap(t, EXC_STORE_MISALIGNED, 0x10002);
    exec_v(t, PRV_S, AMO(2, 2, 2, 1, 0));
    assert_trap(t, EXC_LOAD_MISALIGNED, 0x10002);
    exec_v(t, PRV_S, AMO(3, 3, 2, 1, 2));
    assert_trap(t, EXC_STORE_MISALIGNED, 0x10002);
    t_free(t);
}

/* A 32-bit instruction whose second half lies on an unmapped page: the fault
 * names the second page, epc the instruction. */
static void fetch_straddling_fault(void **state)
{
    T *t = t_new();
    Mmu m = mmu_setup(t, 3);
    map(&m, 0x30000, DATA, V_RX, 0);
    assert_int_equal(bus_write(&t->bus, DATA + 0xffc, 2, 0x0001), 0);   /* c.nop */
    assert_int_equal(bus_write(&t->bus, DATA + 0xffe, 2, 0x0013), 0);   /* addi: low half */
    t->cpu.x[1] = 0x30ffc;
    exec_v(t, PRV_S, JALR(0, 1, 0));
    riscv_cpu_step(&t->cpu, 2);                  /* c.nop, then the straddling fetch */
    assert_trap(t, EXC_INSN_PAGE_FAULT, 0x31000);
    assert_int_equal(t->cpu.mepc, 0x30ffe);
    t_free(t);
}

static void sv48_mprv_sfence(void **state)
{
    T *t = t_new();
    Mmu m = mmu_setup(t, 4);
    uint64_t va = 0x0000100000000000ULL;   /* needs the 4th level */
    uint64_t leaf = map(&m, va, DATA, V_RW, 0);
    t_w64(t, DATA, 7);
    t_w64(t, DATA + 0x1000, 9);
    t->cpu.x[1] = va;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.x[2], 7);
    /* the same VA is not canonical under Sv39 */
    t->cpu.satp = (8ULL << 60) | (m.root >> 12);
    riscv_tlb_flush(&t->cpu);
    m.levels = 3;
    map(&m, VCODE, CODE, V_RX, 0);
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_trap(t, EXC_LOAD_PAGE_FAULT, va);

    /* back to Sv48; MPRV makes M-mode loads translate with MPP's privilege */
    t->cpu.satp = (9ULL << 60) | (m.root >> 12);
    m.levels = 4;
    riscv_tlb_flush(&t->cpu);
    t->cpu.mstatus = MSTATUS_MPRV | (1ULL << 11);
    riscv_set_priv(&t->cpu, PRV_M);
    riscv_update_ctx(&t->cpu);
    exec1(t, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.pc, CODE + 4);
    assert_int_equal(t->cpu.x[2], 7);
    /* remap and sfence.vma: the new mapping is used */
    t_w64(t, leaf, ((DATA + 0x1000) >> 12) << 10 | V_RW);
    t->cpu.mstatus = 0;
    riscv_update_ctx(&t->cpu);
    exec_v(t, PRV_S, SFENCE_VMA);
    assert_int_equal(t->cpu.pc, VCODE + 4);
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.x[2], 9);
    t_free(t);
}

/* sfence.vma with an address must drop every cached piece of a superpage
 * that covers the address, not only the 4 KiB piece it names. */
static void sfence_superpage(void **state)
{
    T *t = t_new();
    Mmu m = mmu_setup(t, 3);
    uint64_t leaf = map(&m, 0x40000000ULL, RAM_BASE, V_RW, 2);     /* 1 GiB */
    uint64_t va = 0x40000000ULL + (DATA - RAM_BASE);
    t_w64(t, DATA, 1);
    t_w64(t, DATA + 0x1000, 2);
    t->cpu.x[1] = va;
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.x[2], 1);
    /* Replace the 1 GiB leaf by a table whose 4 KiB page at va maps DATA + 0x1000. */
    uint64_t l1 = alloc_table(&m), l0 = alloc_table(&m);
    t_w64(t, leaf, (l1 >> 12) << 10 | PTE_V);
    t_w64(t, l1 + 8 * ((va >> 21) & 511), (l0 >> 12) << 10 | PTE_V);
    t_w64(t, l0 + 8 * ((va >> 12) & 511), ((DATA + 0x1000) >> 12) << 10 | V_RW);
    /* Flush another 4 KiB page of the old superpage: the whole superpage goes. */
    t->cpu.x[5] = 0x40123000ULL;
    exec_v(t, PRV_S, SFENCE_VMA | 5 << 15);
    assert_int_equal(t->cpu.pc, VCODE + 4);
    exec_v(t, PRV_S, LOAD(LD, 2, 1, 0));
    assert_int_equal(t->cpu.x[2], 2);
    t_free(t);
}

static void pmp_checks(void **state)
{
    T *t = t_new();
    /* entry 0: DATA page read-only (NAPOT 4 KiB); entry 1: the 2 MiB code
     * area RX (NAPOT); entry 2: everything else RW via NAPOT all-ones */
    t->cpu.pmpaddr[0] = (DATA >> 2) | 0x1ff;
    t->cpu.pmpaddr[1] = (RAM_BASE >> 2) | 0x3ffff;
    t->cpu.pmpaddr[2] = (1ULL << 54) - 1;
    riscv_pmpcfg_write(&t->cpu, 0, 0x1b1d19ULL);
    t->cpu.x[1] = DATA;
    t->cpu.x[2] = 5;
    t_w32(t, CODE + 4, LOAD(LD, 3, 1, 0));
    t_w32(t, CODE + 8, STORE(3, 2, 1, 0));
    t_w32(t, CODE + 12, STORE(3, 2, 4, 0));
    t->cpu.x[4] = DATA + 0x1000;
    t->cpu.mstatus = 1ULL << 11;
    t->cpu.mepc = CODE + 4;
    t_w32(t, CODE, MRET);
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 3);
    assert_int_equal(t->cpu.priv, PRV_M);
    assert_trap(t, EXC_STORE_ACCESS, DATA);
    assert_int_equal(t->cpu.mepc, CODE + 8);
    /* the page after DATA is RW through entry 2 (not executable) */
    t->cpu.mstatus = 1ULL << 11;
    t->cpu.mepc = CODE + 12;
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 2);
    assert_int_equal(t->cpu.mcause, EXC_STORE_ACCESS);  /* from the first run */
    assert_int_equal(t->cpu.pc, CODE + 16);
    assert_int_equal(t_r64(t, DATA + 0x1000), 5);
    t->cpu.mstatus = 1ULL << 11;
    t->cpu.mepc = DATA + 0x1000;
    riscv_set_priv(&t->cpu, PRV_M);
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 2);
    assert_trap(t, EXC_INSN_ACCESS, DATA + 0x1000);
    /* M-mode is not checked unless the entry is locked */
    t->cpu.pc = CODE + 8;
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.pc, CODE + 12);
    riscv_pmpcfg_write(&t->cpu, 0, 0x1b1d99ULL);
    t->cpu.pc = CODE + 8;
    riscv_cpu_step(&t->cpu, 1);
    assert_trap(t, EXC_STORE_ACCESS, DATA);
    /* S-mode access matching no entry fails once any entry is active */
    t_free(t);

    t = t_new();
    t->cpu.pmpaddr[0] = (RAM_BASE + 0x200000) >> 2;
    riscv_pmpcfg_write(&t->cpu, 0, 0x0f);   /* TOR [0, CODE+2M) RWX */
    t_w32(t, CODE + 4, LOAD(LD, 3, 1, 0));
    t->cpu.x[1] = DATA;
    t->cpu.mstatus = 1ULL << 11;
    t->cpu.mepc = CODE + 4;
    t_w32(t, CODE, MRET);
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 2);
    assert_trap(t, EXC_LOAD_ACCESS, DATA);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sv39_basic_and_ad_bits),
        cmocka_unit_test(page_faults),
        cmocka_unit_test(access_faults),
        cmocka_unit_test(misaligned_across_pages),
        cmocka_unit_test(fetch_straddling_fault),
        cmocka_unit_test(sv48_mprv_sfence),
        cmocka_unit_test(sfence_superpage),
        cmocka_unit_test(pmp_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
