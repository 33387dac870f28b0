/* RV64I, M and C: every instruction with its edge cases. */
#include "cpu_test.h"

#include "cpu/cpu_internal.h"

#define MIN64 0x8000000000000000ULL
#define MAX64 0x7fffffffffffffffULL
#define ALL1  0xffffffffffffffffULL

typedef struct { uint32_t f7, f3, op; uint64_t a, b, want; } RCase;

static const RCase rcases[] = {
    /* OP */
    { 0x00, 0, 0x33, 1, 2, 3 }, { 0x00, 0, 0x33, MAX64, 1, MIN64 },
    { 0x20, 0, 0x33, 0, 1, ALL1 }, { 0x20, 0, 0x33, MIN64, 1, MAX64 },
    { 0x00, 1, 0x33, 1, 63, MIN64 }, { 0x00, 1, 0x33, 1, 65, 2 },
    { 0x00, 2, 0x33, MIN64, 0, 1 }, { 0x00, 2, 0x33, 0, MIN64, 0 }, { 0x00, 2, 0x33, ALL1, 1, 1 },
    { 0x00, 2, 0x33, MAX64, MIN64, 0 },
    { 0x00, 3, 0x33, 1, ALL1, 1 }, { 0x00, 3, 0x33, ALL1, 1, 0 }, { 0x00, 3, 0x33, 0, 0, 0 },
    { 0x00, 4, 0x33, 0xff00, 0x0ff0, 0xf0f0 },
    { 0x00, 5, 0x33, MIN64, 63, 1 }, { 0x00, 5, 0x33, MIN64, 64, MIN64 },
    { 0x20, 5, 0x33, MIN64, 63, ALL1 }, { 0x20, 5, 0x33, MAX64, 62, 1 },
    { 0x00, 6, 0x33, 0xf0, 0x0f, 0xff }, { 0x00, 7, 0x33, 0xf0, 0x3c, 0x30 },
    /* M */
    { 0x01, 0, 0x33, ALL1, 2, 0xfffffffffffffffeULL },
    { 0x01, 1, 0x33, MIN64, MIN64, 0x4000000000000000ULL }, { 0x01, 1, 0x33, ALL1, 1, ALL1 },
    { 0x01, 2, 0x33, ALL1, ALL1, ALL1 }, { 0x01, 2, 0x33, 2, ALL1, 1 },
    { 0x01, 3, 0x33, ALL1, ALL1, 0xfffffffffffffffeULL },
    { 0x01, 4, 0x33, MIN64, ALL1, MIN64 }, { 0x01, 4, 0x33, 7, 0, ALL1 },
    { 0x01, 4, 0x33, (uint64_t)-7, 2, (uint64_t)-3 },
    { 0x01, 5, 0x33, 7, 0, ALL1 }, { 0x01, 5, 0x33, ALL1, 2, MAX64 },
    { 0x01, 6, 0x33, MIN64, ALL1, 0 }, { 0x01, 6, 0x33, 7, 0, 7 },
    { 0x01, 6, 0x33, (uint64_t)-7, 2, ALL1 },
    { 0x01, 7, 0x33, 7, 0, 7 }, { 0x01, 7, 0x33, ALL1, 10, 5 },
    /* OP-32 */
    { 0x00, 0, 0x3b, 0x7fffffff, 1, 0xffffffff80000000ULL }, { 0x00, 0, 0x3b, 0x100000001ULL, 0, 1 },
    { 0x20, 0, 0x3b, 0, 1, ALL1 }, { 0x20, 0, 0x3b, 0xffffffff80000000ULL, 1, 0x7fffffff },
    { 0x00, 1, 0x3b, 1, 31, 0xffffffff80000000ULL }, { 0x00, 1, 0x3b, 1, 32, 1 },
    { 0x00, 5, 0x3b, 0xffffffff80000000ULL, 31, 1 }, { 0x00, 5, 0x3b, 0x80000000, 0, 0xffffffff80000000ULL },
    { 0x20, 5, 0x3b, 0x80000000, 31, ALL1 }, { 0x20, 5, 0x3b, 0x7fffffff00000000ULL, 1, 0 },
    { 0x01, 0, 0x3b, 0x10000, 0x10000, 0 }, { 0x01, 0, 0x3b, 0x8000, 0x10000, 0xffffffff80000000ULL },
    { 0x01, 4, 0x3b, 0x80000000, 0xffffffff, 0xffffffff80000000ULL }, { 0x01, 4, 0x3b, 9, 0, ALL1 },
    { 0x01, 4, 0x3b, (uint64_t)-9, 2, (uint64_t)-4 },
    { 0x01, 5, 0x3b, 0xffffffff, 0, ALL1 }, { 0x01, 5, 0x3b, 0xfffffffe, 2, 0x7fffffff },
    { 0x01, 6, 0x3b, 0x80000000, 0xffffffff, 0 }, { 0x01, 6, 0x3b, 5, 0, 5 },
    { 0x01, 6, 0x3b, 0xffffffff80000000ULL, 0, 0xffffffff80000000ULL },
    { 0x01, 6, 0x3b, (uint64_t)-9, 2, ALL1 },
    { 0x01, 7, 0x3b, 0x80000000, 0, 0xffffffff80000000ULL }, { 0x01, 7, 0x3b, 0xffffffff, 10, 5 },
};

static void rtype_ops(void **state)
{
    T *t = t_new();
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
        const RCase *c = &rcases[i];
        t->cpu.x[1] = c->a;
        t->cpu.x[2] = c->b;
        exec1(t, enc_r(c->f7, 2, 1, c->f3, 3, c->op));
        if (t->cpu.x[3] != c->want)
            fail_msg("case %zu (f7 %x f3 %u op %x): got %llx want %llx", i, c->f7, c->f3, c->op,
                     (unsigned long long)t->cpu.x[3], (unsigned long long)c->want);
        assert_int_equal(t->cpu.pc, CODE + 4);
    }
    t_free(t);
}

typedef struct { uint32_t insn; uint64_t a, want; } ICase;

static void itype_ops(void **state)
{
    const ICase cases[] = {
        { ADDI(3, 1, -1), 0, ALL1 }, { ADDI(3, 1, 2047), 1, 2048 }, { ADDI(3, 1, -2048), 0, (uint64_t)-2048 },
        { enc_i(-1, 1, 2, 3, 0x13), 0, 0 }, { enc_i(0, 1, 2, 3, 0x13), MIN64, 1 },       /* SLTI */
        { enc_i(-1, 1, 3, 3, 0x13), 5, 1 }, { enc_i(1, 1, 3, 3, 0x13), 0, 1 },           /* SLTIU */
        { enc_i(-1, 1, 4, 3, 0x13), 0x1234, ~0x1234ULL },                                /* XORI */
        { enc_i(0x800, 1, 6, 3, 0x13), 0xff, 0xfffffffffffff8ffULL },                       /* ORI sext */
        { enc_i(0x0f0, 1, 7, 3, 0x13), 0x3c, 0x30 },                                     /* ANDI */
        { enc_i(63, 1, 1, 3, 0x13), 1, MIN64 },                                          /* SLLI 63 */
        { enc_i(63, 1, 5, 3, 0x13), MIN64, 1 },                                          /* SRLI 63 */
        { enc_i(0x400 | 63, 1, 5, 3, 0x13), MIN64, ALL1 },                               /* SRAI 63 */
        { ADDIW(3, 1, 1), 0x7fffffff, 0xffffffff80000000ULL },
        { ADDIW(3, 1, 0), 0x1ffffffffULL, ALL1 },
        { enc_i(31, 1, 1, 3, 0x1b), 1, 0xffffffff80000000ULL },                          /* SLLIW 31 */
        { enc_i(31, 1, 5, 3, 0x1b), 0xffffffff80000000ULL, 1 },                          /* SRLIW 31 */
        { enc_i(0, 1, 5, 3, 0x1b), 0x80000000, 0xffffffff80000000ULL },                  /* SRLIW 0 */
        { enc_i(0x400 | 31, 1, 5, 3, 0x1b), 0x80000000, ALL1 },                          /* SRAIW 31 */
        { LUI(3, 0x80000), 0, 0xffffffff80000000ULL }, { LUI(3, 0x12345), 0, 0x12345000 },
        { AUIPC(3, 0xfffff), 0, CODE - 0x1000 },
    };
    T *t = t_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t->cpu.x[1] = cases[i].a;
        exec1(t, cases[i].insn);
        if (t->cpu.x[3] != cases[i].want)
            fail_msg("case %zu (%08x): got %llx want %llx", i, cases[i].insn,
                     (unsigned long long)t->cpu.x[3], (unsigned long long)cases[i].want);
    }
    /* x0 stays zero */
    exec1(t, ADDI(0, 0, 5));
    assert_int_equal(t->cpu.x[0], 0);
    t_free(t);
}

static void illegal_encodings(void **state)
{
    const uint32_t bad[] = {
        0xffffffff, enc_i(32, 1, 1, 3, 0x1b) /* SLLIW shamt 32 */, enc_i(0x800, 1, 1, 3, 0x13),
        enc_r(0x01, 2, 1, 1, 3, 0x3b) /* no MULHW */, LOAD(7, 3, 1, 0), STORE(4, 2, 1, 0),
        enc_b(8, 2, 1, 2), JALR(1, 1, 0) | (1 << 12), enc_i(0, 0, 4, 0, 0x73),
        enc_r(0x02, 2, 1, 0, 3, 0x33), 0x0000007f,
    };
    T *t = t_new();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        exec1(t, bad[i]);
        assert_trap(t, EXC_ILLEGAL_INSN, bad[i]);
        assert_int_equal(t->cpu.mepc, CODE);
    }
    t_free(t);
}

static void loads_and_stores(void **state)
{
    T *t = t_new();
    t_w64(t, DATA, 0x8000000080ff8080ULL);
    t->cpu.x[1] = DATA;
    struct { uint32_t f3; int off; uint64_t want; } l[] = {
        { LB, 0, (uint64_t)-128 }, { LBU, 0, 0x80 }, { LH, 0, 0xffffffffffff8080ULL },
        { LHU, 0, 0x8080 }, { LW, 0, 0xffffffff80ff8080ULL }, { LWU, 0, 0x80ff8080 },
        { LW, 4, 0xffffffff80000000ULL }, { LD, 0, 0x8000000080ff8080ULL },
        { LB, 2, (uint64_t)(int8_t)0xff }, { LH, 1, 0xffffffffffffff80ULL },   /* misaligned */
    };
    for (size_t i = 0; i < sizeof(l) / sizeof(l[0]); i++) {
        exec1(t, LOAD(l[i].f3, 3, 1, l[i].off));
        assert_int_equal(t->cpu.pc, CODE + 4);
        assert_int_equal(t->cpu.x[3], l[i].want);
    }
    t->cpu.x[2] = 0x1122334455667788ULL;
    exec1(t, STORE(0, 2, 1, 16));
    exec1(t, STORE(1, 2, 1, 18));
    exec1(t, STORE(2, 2, 1, 20));
    assert_int_equal(t_r64(t, DATA + 16), 0x5566778877880088ULL);
    exec1(t, STORE(3, 2, 1, 27));   /* misaligned doubleword */
    assert_int_equal(t_r64(t, DATA + 24) >> 24, 0x4455667788ULL);
    assert_int_equal(t_r64(t, DATA + 32) & 0xffffff, 0x112233);
    /* negative offset */
    exec1(t, LOAD(LD, 3, 1, -8 + 32));
    assert_int_equal(t->cpu.x[3], t_r64(t, DATA + 24));
    t_free(t);
}

static void branches_and_jumps(void **state)
{
    struct { uint32_t f3; uint64_t a, b; bool taken; } c[] = {
        { 0, 5, 5, true }, { 0, 5, 6, false }, { 1, 5, 6, true }, { 1, 5, 5, false },
        { 4, MIN64, 0, true }, { 4, 0, MIN64, false }, { 5, 0, MIN64, true }, { 5, ALL1, 0, false },
        { 5, 3, 3, true }, { 6, 0, ALL1, true }, { 6, ALL1, 0, false }, { 7, ALL1, 0, true },
        { 7, 0, ALL1, false }, { 7, 7, 7, true },
    };
    T *t = t_new();
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        t->cpu.x[1] = c[i].a;
        t->cpu.x[2] = c[i].b;
        exec1(t, enc_b(-64, 2, 1, c[i].f3) );
        assert_int_equal(t->cpu.pc, c[i].taken ? CODE - 64 : CODE + 4);
        exec1(t, enc_b(0x800, 2, 1, c[i].f3));
        assert_int_equal(t->cpu.pc, c[i].taken ? CODE + 0x800 : CODE + 4);
    }
    exec1(t, JAL(1, 0x1000));
    assert_int_equal(t->cpu.pc, CODE + 0x1000);
    assert_int_equal(t->cpu.x[1], CODE + 4);
    exec1(t, JAL(1, -0x100000));
    assert_int_equal(t->cpu.pc, CODE - 0x100000);
    t->cpu.x[5] = DATA + 1;
    exec1(t, JALR(5, 5, 2));        /* rd == rs1: target uses the old value, bit 0 cleared */
    assert_int_equal(t->cpu.pc, DATA + 2);
    assert_int_equal(t->cpu.x[5], CODE + 4);
    t_free(t);
}

static const uint32_t rvc_table[][2] = {
    /* compressed encoding, and the 32-bit instruction the GNU assembler emits for it */
    { 0x0800, 0x01010413 },{ 0x1ffc, 0x3fc10793 },{ 0x2508, 0x00853507 },{ 0x414c, 0x00452583 },
    { 0x5d6c, 0x07c52583 },{ 0x650c, 0x00853583 },{ 0x7d6c, 0x0f853583 },{ 0xa908, 0x00a53827 },
    { 0xc14c, 0x00b52223 },{ 0xfd6c, 0x0eb53c23 },{ 0x0001, 0x00000013 },{ 0x1501, 0xfe050513 },
    { 0x057d, 0x01f50513 },{ 0x2505, 0x0015051b },{ 0x357d, 0xfff5051b },{ 0x557d, 0xfff00513 },
    { 0x457d, 0x01f00513 },{ 0x7101, 0xe0010113 },{ 0x617d, 0x1f010113 },{ 0x757d, 0xfffff537 },
    { 0x6505, 0x00001537 },{ 0x657d, 0x0001f537 },{ 0x917d, 0x03f55513 },{ 0x957d, 0x43f55513 },
    { 0x8505, 0x40155513 },{ 0x9979, 0xffe57513 },{ 0x8d0d, 0x40b50533 },{ 0x8d2d, 0x00b54533 },
    { 0x8d4d, 0x00b56533 },{ 0x8d6d, 0x00b57533 },{ 0x9d0d, 0x40b5053b },{ 0x9d2d, 0x00b5053b },
    { 0xa095, 0x0640006f },{ 0xb001, 0x801ff06f },{ 0xcd7d, 0x0e050f63 },{ 0xf101, 0xf00510e3 },
    { 0x157e, 0x03f51513 },{ 0x357e, 0x1f813507 },{ 0x557e, 0x0fc12503 },{ 0x757e, 0x1f813503 },
    { 0x8082, 0x00008067 },{ 0x852e, 0x00b00533 },{ 0x9002, 0x00100073 },{ 0x9502, 0x000500e7 },
    { 0x952e, 0x00b50533 },{ 0xbfaa, 0x1ea13c27 },{ 0xdfaa, 0x0ea12e23 },{ 0xffaa, 0x1ea13c23 },
};

static void rvc_expansion(void **state)
{
    for (size_t i = 0; i < sizeof(rvc_table) / sizeof(rvc_table[0]); i++) {
        uint32_t got = riscv_expand_compressed((uint16_t)rvc_table[i][0]);
        if (got != rvc_table[i][1])
            fail_msg("c %04x: got %08x want %08x", rvc_table[i][0], got, rvc_table[i][1]);
    }
    const uint16_t reserved[] = { 0x0000, 0x0004, 0x2001, 0x6101, 0x6501, 0x4002, 0x6002,
                                  0x8002, 0x8000, 0x9c41, 0x9c61 };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        assert_int_equal(riscv_expand_compressed(reserved[i]), 0);
}

static void rvc_execution(void **state)
{
    T *t = t_new();
    /* illegal compressed: tval holds the 16 bits */
    const uint16_t reserved[] = { 0x0000, 0x0004, 0x6101, 0x6501, 0x8002 };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        exec16(t, reserved[i]);
        assert_trap(t, EXC_ILLEGAL_INSN, reserved[i]);
    }
    t->cpu.x[10] = DATA;
    exec16(t, 0x9502);      /* c.jalr a0: link is pc + 2 */
    assert_int_equal(t->cpu.pc, DATA);
    assert_int_equal(t->cpu.x[1], CODE + 2);
    t->cpu.x[2] = 0x10000;
    exec16(t, 0x7101);      /* c.addi16sp sp, -512 */
    assert_int_equal(t->cpu.x[2], 0x10000 - 512);
    assert_int_equal(t->cpu.pc, CODE + 2);
    exec16(t, 0x757d);      /* c.lui a0, 0xfffff */
    assert_int_equal(t->cpu.x[10], 0xfffffffffffff000ULL);
    t->cpu.x[10] = MIN64;
    exec16(t, 0x957d);      /* c.srai a0, 63 */
    assert_int_equal(t->cpu.x[10], ALL1);
    t->cpu.x[10] = 0x7fffffff;
    exec16(t, 0x2505);      /* c.addiw a0, 1 */
    assert_int_equal(t->cpu.x[10], 0xffffffff80000000ULL);
    t->cpu.x[10] = 0x80000000;
    t->cpu.x[11] = 1;
    exec16(t, 0x9d0d);      /* c.subw a0, a1 */
    assert_int_equal(t->cpu.x[10], 0x7fffffff);
    t->cpu.x[2] = DATA;
    t->cpu.x[10] = 0xabcdef0123456789ULL;
    exec16(t, 0xffaa);      /* c.sdsp a0, 504(sp) */
    t->cpu.x[10] = 0;
    exec16(t, 0x757e);      /* c.ldsp a0, 504(sp) */
    assert_int_equal(t->cpu.x[10], 0xabcdef0123456789ULL);
    exec16(t, 0x557e);      /* c.lwsp a0, 252(sp): sign extension */
    t_w64(t, DATA + 248, 0x80000000ULL << 32);
    exec16(t, 0x557e);
    assert_int_equal(t->cpu.x[10], 0xffffffff80000000ULL);
    exec16(t, 0xb001);      /* c.j .-2048 */
    assert_int_equal(t->cpu.pc, CODE - 2048);
    exec16(t, 0x9002);      /* c.ebreak */
    assert_trap(t, EXC_BREAKPOINT, CODE);
    t_free(t);
}

/* Mixed 16/32-bit code in a loop, including a 32-bit instruction straddling a page. */
static void program_loop(void **state)
{
    T *t = t_new();
    t->at = CODE + 0xff6;
    t->cpu.pc = t->at;
    emit(t, ADDI(5, 0, 100));           /* t0 = 100 */
    emit16(t, 0x4301);                  /* c.li t1, 0 */
    uint64_t loop = t->at;              /* 0xffc: 4 bytes, then a straddling one */
    emit16(t, 0x0305);                  /* c.addi t1, 1 */
    emit(t, ADDI(5, 5, -1));            /* at 0xffe: crosses into the next page */
    emit(t, enc_b((int32_t)(loop - t->at), 0, 5, 1));    /* bnez t0, loop */
    emit(t, EBREAK);
    riscv_cpu_step(&t->cpu, 2 + 3 * 100 + 1);
    assert_int_equal(t->cpu.x[6], 100);
    assert_int_equal(t->cpu.x[5], 0);
    assert_trap(t, EXC_BREAKPOINT, t->at - 4);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rtype_ops),
        cmocka_unit_test(itype_ops),
        cmocka_unit_test(illegal_encodings),
        cmocka_unit_test(loads_and_stores),
        cmocka_unit_test(branches_and_jumps),
        cmocka_unit_test(rvc_expansion),
        cmocka_unit_test(rvc_execution),
        cmocka_unit_test(program_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
