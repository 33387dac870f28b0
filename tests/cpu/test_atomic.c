/* The A extension: every AMO in both widths, LR/SC rules, and harts on four
 * host threads updating shared counters. */
#include "cpu_test.h"

#include <pthread.h>

#define MIN64 0x8000000000000000ULL
#define MAX64 0x7fffffffffffffffULL
#define ALL1  0xffffffffffffffffULL

enum { F_ADD = 0x00, F_SWAP = 0x01, F_LR = 0x02, F_SC = 0x03, F_XOR = 0x04, F_OR = 0x08,
       F_AND = 0x0c, F_MIN = 0x10, F_MAX = 0x14, F_MINU = 0x18, F_MAXU = 0x1c };

typedef struct { uint32_t f5; uint64_t mem, src, want_mem, want_rd; } AmoCase;

static void amo_doubleword(void **state)
{
    const AmoCase c[] = {
        { F_SWAP, 5, 7, 7, 5 }, { F_ADD, MAX64, 1, MIN64, MAX64 },
        { F_XOR, 0xff00, 0x0ff0, 0xf0f0, 0xff00 }, { F_AND, 0xff00, 0x0ff0, 0x0f00, 0xff00 },
        { F_OR, 0xff00, 0x0ff0, 0xfff0, 0xff00 },
        { F_MIN, ALL1, 1, ALL1, ALL1 }, { F_MAX, ALL1, 1, 1, ALL1 },
        { F_MINU, ALL1, 1, 1, ALL1 }, { F_MAXU, ALL1, 1, ALL1, ALL1 },
        { F_MIN, MIN64, MAX64, MIN64, MIN64 }, { F_MAX, MIN64, MAX64, MAX64, MIN64 },
    };
    T *t = t_new();
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        t_w64(t, DATA, c[i].mem);
        t->cpu.x[1] = DATA;
        t->cpu.x[2] = c[i].src;
        exec1(t, AMO(c[i].f5, 3, 3, 1, 2) | 3u << 25);    /* aq and rl set */
        assert_int_equal(t->cpu.pc, CODE + 4);
        assert_int_equal(t_r64(t, DATA), c[i].want_mem);
        assert_int_equal(t->cpu.x[3], c[i].want_rd);
    }
    /* rd = x0 still performs the operation */
    t_w64(t, DATA, 1);
    exec1(t, AMO(F_ADD, 3, 0, 1, 2));
    assert_int_equal(t_r64(t, DATA), 1 + t->cpu.x[2]);
    t_free(t);
}

static void amo_word(void **state)
{
    const AmoCase c[] = {
        { F_ADD, 0x7fffffff, 1, 0x80000000, 0x7fffffff },
        { F_SWAP, 0x80000000, 1, 1, 0xffffffff80000000ULL },
        { F_MIN, 0x80000000, 0xffffffff00000001ULL, 0x80000000, 0xffffffff80000000ULL },
        { F_MINU, 0x80000000, 1, 1, 0xffffffff80000000ULL },
        { F_MAX, 0x80000000, 1, 1, 0xffffffff80000000ULL },
        { F_MAXU, 0x80000000, 1, 0x80000000, 0xffffffff80000000ULL },
        { F_XOR, 0xffffffff, 0xffffffffffffffffULL, 0, ALL1 },
        { F_AND, 0xf0f0f0f0, 0x0ff00ff0, 0x00f000f0, 0xfffffffff0f0f0f0ULL },
        { F_OR, 0x0f, 0xf0, 0xff, 0x0f },
    };
    T *t = t_new();
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        t_w64(t, DATA, 0xa5a5a5a500000000ULL | c[i].mem);
        t->cpu.x[1] = DATA;
        t->cpu.x[2] = c[i].src;
        exec1(t, AMO(c[i].f5, 2, 3, 1, 2));
        assert_int_equal(t->cpu.pc, CODE + 4);
        assert_int_equal(t_r64(t, DATA), 0xa5a5a5a500000000ULL | c[i].want_mem);
        assert_int_equal(t->cpu.x[3], c[i].want_rd);
    }
    t_free(t);
}

static void lr_sc(void **state)
{
    T *t = t_new();
    t_w64(t, DATA, 0x80000000);
    t->cpu.x[1] = DATA;
    t->cpu.x[4] = 77;
    /* success */
    exec1(t, AMO(F_LR, 3, 2, 1, 0));
    assert_int_equal(t->cpu.x[2], 0x80000000);
    exec1(t, AMO(F_SC, 3, 3, 1, 4));
    assert_int_equal(t->cpu.x[3], 0);
    assert_int_equal(t_r64(t, DATA), 77);
    /* a second SC has no reservation */
    t->cpu.x[4] = 88;
    exec1(t, AMO(F_SC, 3, 3, 1, 4));
    assert_int_equal(t->cpu.x[3], 1);
    assert_int_equal(t_r64(t, DATA), 77);
    /* LR.W sign-extends; another agent's store breaks the reservation */
    t_w64(t, DATA, 0x80000000);
    exec1(t, AMO(F_LR, 2, 2, 1, 0));
    assert_int_equal(t->cpu.x[2], 0xffffffff80000000ULL);
    t_w64(t, DATA, 0x80000001);
    exec1(t, AMO(F_SC, 2, 3, 1, 4));
    assert_int_equal(t->cpu.x[3], 1);
    assert_int_equal(t_r64(t, DATA), 0x80000001);
    /* a trap in between clears it */
    exec1(t, AMO(F_LR, 3, 2, 1, 0));
    exec1(t, ECALL);
    exec1(t, AMO(F_SC, 3, 3, 1, 4));
    assert_int_equal(t->cpu.x[3], 1);
    /* SC to another address fails */
    exec1(t, AMO(F_LR, 3, 2, 1, 0));
    t->cpu.x[5] = DATA + 8;
    exec1(t, AMO(F_SC, 3, 3, 5, 4));
    assert_int_equal(t->cpu.x[3], 1);
    assert_int_equal(t_r64(t, DATA + 8), 0);
    /* LR with rs2 != 0 is reserved */
    exec1(t, AMO(F_LR, 3, 2, 1, 4));
    assert_trap(t, EXC_ILLEGAL_INSN, AMO(F_LR, 3, 2, 1, 4));
    /* funct3 other than .W/.D */
    exec1(t, AMO(F_ADD, 1, 2, 1, 4));
    assert_trap(t, EXC_ILLEGAL_INSN, AMO(F_ADD, 1, 2, 1, 4));
    t_free(t);
}

#define HARTS 4
#define ITER 200000

typedef struct { Bus *bus; RiscvCpu cpu; int ok; } Hart;

static void *hart_thread(void *arg)
{
    Hart *h = arg;
    /* run until the hart traps to TRAP (ebreak), bounded */
    for (int i = 0; i < 100000 && h->cpu.pc != TRAP; i++)
        riscv_cpu_step(&h->cpu, 1000);
    h->ok = h->cpu.pc == TRAP && h->cpu.mcause == EXC_BREAKPOINT;
    return NULL;
}

static void smp_counters(void **state)
{
    T *t = t_new();
    /* loop: amoadd.d x0, x7, (x10); retry: lr.w x28,(x11); addi x28,x28,1;
     * sc.w x29,x28,(x11); bnez x29,retry; addi x5,x5,-1; bnez x5,loop; ebreak */
    t->at = CODE;
    emit(t, AMO(F_ADD, 3, 0, 10, 7));
    emit(t, AMO(F_LR, 2, 28, 11, 0));
    emit(t, ADDI(28, 28, 1));
    emit(t, AMO(F_SC, 2, 29, 11, 28));
    emit(t, enc_b(-12, 0, 29, 1));
    emit(t, ADDI(5, 5, -1));
    emit(t, enc_b(-24, 0, 5, 1));
    emit(t, EBREAK);
    t_w64(t, DATA, 0);
    t_w64(t, DATA + 64, 0);

    static Hart harts[HARTS];
    pthread_t th[HARTS];
    for (int i = 0; i < HARTS; i++) {
        harts[i].bus = &t->bus;
        assert_int_equal(riscv_cpu_init(&harts[i].cpu, &t->bus, (uint64_t)i), 0);
        riscv_cpu_reset(&harts[i].cpu, CODE);
        harts[i].cpu.mtvec = TRAP;
        harts[i].cpu.x[5] = ITER;
        harts[i].cpu.x[7] = 1;
        harts[i].cpu.x[10] = DATA;
        harts[i].cpu.x[11] = DATA + 64;
    }
    for (int i = 0; i < HARTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hart_thread, &harts[i]), 0);
    for (int i = 0; i < HARTS; i++) {
        pthread_join(th[i], NULL);
        assert_true(harts[i].ok);
        riscv_cpu_destroy(&harts[i].cpu);
    }
    assert_int_equal(t_r64(t, DATA), (uint64_t)HARTS * ITER);
    assert_int_equal(t_r64(t, DATA + 64), (uint64_t)HARTS * ITER);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amo_doubleword),
        cmocka_unit_test(amo_word),
        cmocka_unit_test(lr_sc),
        cmocka_unit_test(smp_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
