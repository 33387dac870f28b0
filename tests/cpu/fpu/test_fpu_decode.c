/* Unit tests of F/D decoding and architectural side effects: reserved
 * encodings and rounding modes, mstatus.FS (Off traps, writes make it
 * Dirty), FP loads and stores, x0 destinations and flag accrual. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fpu_harness.h"

static void illegal_encodings(void **state)
{
    (void)state;
    cpu->f[1] = BOXS(S_ONE);
    cpu->f[2] = BOXS(S_TWO);
    cpu->frm = RNE;
    /* reserved static rounding modes */
    for (unsigned rm = 5; rm <= 6; rm++) {
        expect_illegal(encode(ADD, S, rm));
        expect_illegal(encode(SQRT, D, rm));
        expect_illegal(encode(MADD, D, rm));
        expect_illegal(encode(CVT_W, S, rm));
        expect_illegal(encode(CVT_FL, D, rm));
        /* exact conversions still decode their rm field */
        expect_illegal(encode(CVT_FF, D, rm));
        expect_illegal(encode(CVT_FW, D, rm));
    }
    /* dynamic rounding with a reserved frm */
    for (unsigned frm = 5; frm <= 7; frm++) {
        cpu->frm = frm;
        expect_illegal(encode(MUL, S, DYN));
        expect_illegal(encode(NMADD, S, DYN));
        expect_illegal(encode(CVT_LU, D, DYN));
        /* a static mode or an instruction without rounding is unaffected */
        expect_ok(encode(MUL, S, RTZ));
        expect_ok(encode(MIN, S, 0));
        expect_ok(encode(EQ, D, 0));
        expect_ok(encode(SGNJ, D, 0));
    }
    cpu->frm = RNE;
    /* fmt 2 (half) and 3 (quad) are not implemented */
    expect_illegal(encode(ADD, S, RNE) | 2u << 25);
    expect_illegal(encode(ADD, S, RNE) | 3u << 25);
    expect_illegal(encode(MADD, S, RNE) | 3u << 25);
    expect_illegal(encode(CLASS, S, 0) | 2u << 25);
    /* reserved fields */
    expect_illegal(encode(SQRT, S, RNE) | 1u << 20);
    expect_illegal(encode(CLASS, D, 0) | 1u << 20);
    expect_illegal(encode(MVX, S, 0) | 2u << 20);
    expect_illegal(encode(MVF, D, 0) | 1u << 20);
    expect_illegal(encode(MVF, D, 0) | 1u << 12);
    expect_illegal(encode(MVX, D, 0) | 2u << 12);
    expect_illegal(encode(SGNJ, S, 0) | 3u << 12);
    expect_illegal(encode(MIN, S, 0) | 2u << 12);
    expect_illegal(encode(EQ, S, 0) | 3u << 12);
    expect_illegal(encode(CVT_W, S, RNE) | 4u << 20);
    expect_illegal(encode(CVT_FW, D, RNE) | 5u << 20);
    expect_illegal(encode(CVT_FF, S, RNE) ^ 1u << 20);  /* fcvt.s.s */
    expect_illegal(encode(CVT_FF, D, RNE) | 1u << 20);  /* fcvt.d.d */
    expect_illegal(0x53u | 0x7fu << 25);                /* unused funct7 */
    expect_illegal(0x53u | 0x30u << 25);
    /* LOAD-FP/STORE-FP widths other than W and D (H, Q, vector) */
    expect_illegal(0x07u | 1u << 12 | 3u << 7);
    expect_illegal(0x07u | 4u << 12 | 3u << 7);
    expect_illegal(0x27u | 0u << 12);
    /* not an FP opcode at all */
    expect_illegal(0x00000013);
}

static void fs_field(void **state)
{
    (void)state;
    uint64_t v;

    cpu->f[1] = BOXS(S_ONE);
    cpu->f[2] = BOXS(S_ONE);
    cpu->x[5] = RAM_BASE;
    /* FS = Off: every FP instruction is illegal, loads do not touch memory */
    cpu->mstatus &= ~MSTATUS_FS;
    expect_illegal(encode(ADD, S, RNE));
    expect_illegal(encode(MVX, D, 0));
    expect_illegal(encode(MVF, S, 0));
    expect_illegal(encode(CLASS, S, 0));
    expect_illegal(encode(MADD, D, RNE));
    expect_illegal(0x07u | 2u << 12 | 5u << 15 | 3u << 7);      /* flw f3, 0(x5) */
    expect_illegal(0x27u | 3u << 12 | 5u << 15 | 1u << 20);     /* fsd f1, 0(x5) */

    /* writing an f register or accruing flags makes FS Dirty */
    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | (uint64_t)FS_INITIAL << 13;
    expect_ok(encode(ADD, S, RNE));
    assert_int_equal((cpu->mstatus & MSTATUS_FS) >> 13, FS_DIRTY);

    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | (uint64_t)FS_CLEAN << 13;
    cpu->f[1] = BOXS(S_SNAN);
    expect_ok(encode(EQ, S, 0));                  /* writes x3 but sets NV */
    assert_int_equal(cpu->fflags, NV);
    assert_int_equal((cpu->mstatus & MSTATUS_FS) >> 13, FS_DIRTY);

    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | (uint64_t)FS_CLEAN << 13;
    cpu->x[5] = RAM_BASE;
    assert_int_equal(bus_write(&bus, RAM_BASE, 8, 0x4000000000000000ULL), 0);
    expect_ok(0x07u | 3u << 12 | 5u << 15 | 3u << 7);           /* fld f3, 0(x5) */
    assert_int_equal(cpu->f[3], 0x4000000000000000ULL);
    assert_int_equal((cpu->mstatus & MSTATUS_FS) >> 13, FS_DIRTY);

    /* a store changes no FP state */
    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | (uint64_t)FS_CLEAN << 13;
    expect_ok(0x27u | 3u << 12 | 5u << 15 | 3u << 20 | 8u << 7); /* fsd f3, 8(x5) */
    assert_int_equal(bus_read(&bus, RAM_BASE + 8, 8, &v), 0);
    assert_int_equal(v, 0x4000000000000000ULL);
    assert_int_equal((cpu->mstatus & MSTATUS_FS) >> 13, FS_CLEAN);
}

static void loads_stores(void **state)
{
    (void)state;
    uint64_t v;

    assert_int_equal(bus_write(&bus, RAM_BASE + 0x100, 8, 0x1122334455667788ULL), 0);
    cpu->x[5] = RAM_BASE + 0x110;
    /* flw f3, -16(x5): boxes the loaded word */
    expect_ok(0x07u | 0xff0u << 20 | 5u << 15 | 2u << 12 | 3u << 7);
    assert_int_equal(cpu->f[3], 0xffffffff55667788ULL);
    /* fld f3, -12(x5) */
    expect_ok(0x07u | 0xff4u << 20 | 5u << 15 | 3u << 12 | 3u << 7);
    v = 0;
    assert_int_equal(bus_read(&bus, RAM_BASE + 0x104, 8, &v), 0);
    assert_int_equal(cpu->f[3], v);
    /* fsw stores the raw low word even of an improperly boxed register;
     * fsw f1, 0x20(x5): imm[11:5] = 1, imm[4:0] = 0 */
    cpu->f[1] = 0x00000000cafef00dULL;
    expect_ok(0x27u | 1u << 25 | 1u << 20 | 5u << 15 | 2u << 12 | 0u << 7);
    assert_int_equal(bus_read(&bus, RAM_BASE + 0x130, 4, &v), 0);
    assert_int_equal(v, 0xcafef00dULL);
    assert_int_equal(bus_read(&bus, RAM_BASE + 0x134, 4, &v), 0);
    assert_int_equal(v, 0);
    /* fsd f1, -8(x5): negative split immediate (imm[11:5] = 0x7f, imm[4:0] = 0x18) */
    cpu->f[1] = 0x0102030405060708ULL;
    expect_ok(0x27u | 0x7fu << 25 | 1u << 20 | 5u << 15 | 3u << 12 | 0x18u << 7);
    assert_int_equal(bus_read(&bus, RAM_BASE + 0x108, 8, &v), 0);
    assert_int_equal(v, 0x0102030405060708ULL);

    /* a faulting load leaves the register alone and reports the fault */
    cpu->f[3] = 0x1234;
    cpu->x[5] = 0x10;
    cpu->exc_pending = false;
    assert_int_equal(riscv_fp_exec(cpu, 0x07u | 5u << 15 | 3u << 12 | 3u << 7), -1);
    assert_true(cpu->exc_pending);
    assert_int_equal(cpu->exc_cause, EXC_LOAD_ACCESS);
    assert_int_equal(cpu->f[3], 0x1234);
    cpu->exc_pending = false;
    assert_int_equal(riscv_fp_exec(cpu, 0x27u | 3u << 20 | 5u << 15 | 2u << 12), -1);
    assert_int_equal(cpu->exc_cause, EXC_STORE_ACCESS);
}

static void x0_destination(void **state)
{
    (void)state;
    /* feq x0, f1, f1: the result is discarded, but the flag still accrues */
    cpu->f[1] = BOXS(S_SNAN);
    cpu->fflags = 0;
    expect_ok(0x53u | 0x50u << 25 | 1u << 20 | 1u << 15 | 2u << 12 | 0u << 7);
    assert_int_equal(cpu->x[0], 0);
    assert_int_equal(cpu->fflags, NV);
    /* fcvt.w.s x0, f1 and fmv.x.w x0, f1 */
    expect_ok(0x53u | 0x60u << 25 | 0u << 20 | 1u << 15 | 0u << 12);
    expect_ok(0x53u | 0x70u << 25 | 1u << 15);
    assert_int_equal(cpu->x[0], 0);
    /* fflags accrue (OR), never clear */
    cpu->fflags = DZ;
    cpu->f[1] = BOXS(S_ONE);
    cpu->f[2] = BOXS(S_THREE);
    expect_ok(encode(DIV, S, RNE));
    assert_int_equal(cpu->fflags, DZ | NX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(illegal_encodings, fpu_reset),
        cmocka_unit_test_setup(fs_field, fpu_reset),
        cmocka_unit_test_setup(loads_stores, fpu_reset),
        cmocka_unit_test_setup(x0_destination, fpu_reset),
    };
    return cmocka_run_group_tests(tests, fpu_setup, fpu_teardown);
}
