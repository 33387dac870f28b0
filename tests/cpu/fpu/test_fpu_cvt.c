/* Unit tests of the F/D conversions through riscv_fp_exec: float to integer
 * with RISC-V saturation and every rounding mode, integer to float, and
 * single <-> double.  Expected values are worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fpu_harness.h"

static void float_to_int(void **state)
{
    (void)state;
    static const Case cases[] = {
        { "cvt.w.s nan", CVT_W, S, RNE, 0, S_QNAN, 0, 0, I32MAX, NV },
        { "cvt.w.s -nan", CVT_W, S, RNE, 0, 0xffc00000, 0, 0, I32MAX, NV },
        { "cvt.w.s inf", CVT_W, S, RNE, 0, S_INF, 0, 0, I32MAX, NV },
        { "cvt.w.s -inf", CVT_W, S, RNE, 0, S_MINF, 0, 0, I32MIN, NV },
        { "cvt.w.s 2^31", CVT_W, S, RNE, 0, 0x4f000000, 0, 0, I32MAX, NV },
        { "cvt.w.s -2^31 exact", CVT_W, S, RNE, 0, 0xcf000000, 0, 0, I32MIN, 0 },
        { "cvt.w.s -2^31-256", CVT_W, S, RTZ, 0, 0xcf000001, 0, 0, I32MIN, NV },
        { "cvt.wu.s nan", CVT_WU, S, RNE, 0, S_QNAN, 0, 0, U32MAX, NV },
        { "cvt.wu.s -inf", CVT_WU, S, RNE, 0, S_MINF, 0, 0, 0, NV },
        { "cvt.wu.s -1", CVT_WU, S, RNE, 0, S_MONE, 0, 0, 0, NV },
        { "cvt.wu.s 2^32", CVT_WU, S, RNE, 0, 0x4f800000, 0, 0, U32MAX, NV },
        { "cvt.wu.s 2^31 sign-extends", CVT_WU, S, RNE, 0, 0x4f000000, 0, 0, I32MIN, 0 },
        { "cvt.wu.s -0", CVT_WU, S, RNE, 0, S_MZERO, 0, 0, 0, 0 },
        /* -0.5 to unsigned: rounds to 0 (only NX) or to -1 (invalid) */
        { "cvt.wu.s -0.5 rne", CVT_WU, S, RNE, 0, S_MHALF, 0, 0, 0, NX },
        { "cvt.wu.s -0.5 rtz", CVT_WU, S, RTZ, 0, S_MHALF, 0, 0, 0, NX },
        { "cvt.wu.s -0.5 rdn", CVT_WU, S, RDN, 0, S_MHALF, 0, 0, 0, NV },
        { "cvt.wu.s -0.5 rup", CVT_WU, S, RUP, 0, S_MHALF, 0, 0, 0, NX },
        { "cvt.wu.s -0.5 rmm", CVT_WU, S, RMM, 0, S_MHALF, 0, 0, 0, NV },
        { "cvt.lu.d -0.5 rdn", CVT_LU, D, RDN, 0, D_MHALF, 0, 0, 0, NV },
        { "cvt.lu.d -0.5 rne", CVT_LU, D, RNE, 0, D_MHALF, 0, 0, 0, NX },
        { "cvt.lu.d -minsub rtz", CVT_LU, D, RTZ, 0, 0x8000000000000001, 0, 0, 0, NX },
        { "cvt.lu.d -minsub rdn", CVT_LU, D, RDN, 0, 0x8000000000000001, 0, 0, 0, NV },
        /* 2.5 and -2.5 in every mode */
        { "cvt.w.d 2.5 rne", CVT_W, D, RNE, 0, 0x4004000000000000, 0, 0, 2, NX },
        { "cvt.w.d 2.5 rtz", CVT_W, D, RTZ, 0, 0x4004000000000000, 0, 0, 2, NX },
        { "cvt.w.d 2.5 rdn", CVT_W, D, RDN, 0, 0x4004000000000000, 0, 0, 2, NX },
        { "cvt.w.d 2.5 rup", CVT_W, D, RUP, 0, 0x4004000000000000, 0, 0, 3, NX },
        { "cvt.w.d 2.5 rmm", CVT_W, D, RMM, 0, 0x4004000000000000, 0, 0, 3, NX },
        { "cvt.w.d -2.5 rne", CVT_W, D, RNE, 0, 0xc004000000000000, 0, 0, -2ULL, NX },
        { "cvt.w.d -2.5 rtz", CVT_W, D, RTZ, 0, 0xc004000000000000, 0, 0, -2ULL, NX },
        { "cvt.w.d -2.5 rdn", CVT_W, D, RDN, 0, 0xc004000000000000, 0, 0, -3ULL, NX },
        { "cvt.w.d -2.5 rup", CVT_W, D, RUP, 0, 0xc004000000000000, 0, 0, -2ULL, NX },
        { "cvt.w.d -2.5 rmm", CVT_W, D, RMM, 0, 0xc004000000000000, 0, 0, -3ULL, NX },
        { "cvt.l.s 3.5 rne", CVT_L, S, RNE, 0, 0x40600000, 0, 0, 4, NX },
        { "cvt.l.s 0.5 rne", CVT_L, S, RNE, 0, S_HALF, 0, 0, 0, NX },
        { "cvt.l.s 0.5 rmm", CVT_L, S, RMM, 0, S_HALF, 0, 0, 1, NX },
        { "cvt.l.s minsub rup", CVT_L, S, RUP, 0, S_MINSUB, 0, 0, 1, NX },
        { "cvt.l.s -minsub rdn", CVT_L, S, RDN, 0, 0x80000001, 0, 0, -1ULL, NX },
        { "cvt.l.d 3 exact", CVT_L, D, RNE, 0, D_THREE, 0, 0, 3, 0 },
        /* range edges with rounding */
        { "cvt.w.d 2^31-0.5 rne", CVT_W, D, RNE, 0, 0x41dfffffffe00000, 0, 0, I32MAX, NV },
        { "cvt.w.d 2^31-0.5 rtz", CVT_W, D, RTZ, 0, 0x41dfffffffe00000, 0, 0, 0x7fffffff,
          NX },
        { "cvt.w.d -2^31-0.5 rne", CVT_W, D, RNE, 0, 0xc1e0000000100000, 0, 0, I32MIN, NX },
        { "cvt.w.d -2^31-0.5 rdn", CVT_W, D, RDN, 0, 0xc1e0000000100000, 0, 0, I32MIN, NV },
        { "cvt.wu.d 2^32-0.5 rne", CVT_WU, D, RNE, 0, 0x41effffffff00000, 0, 0, U32MAX, NV },
        { "cvt.wu.d 2^32-0.5 rdn", CVT_WU, D, RDN, 0, 0x41effffffff00000, 0, 0, U32MAX, NX },
        { "cvt.l.d 2^63", CVT_L, D, RNE, 0, 0x43e0000000000000, 0, 0, I64MAX, NV },
        { "cvt.l.d -2^63", CVT_L, D, RNE, 0, 0xc3e0000000000000, 0, 0, I64MIN, 0 },
        { "cvt.l.d below -2^63", CVT_L, D, RNE, 0, 0xc3e0000000000001, 0, 0, I64MIN, NV },
        { "cvt.l.d max", CVT_L, D, RNE, 0, D_MAX, 0, 0, I64MAX, NV },
        { "cvt.l.d -inf", CVT_L, D, RNE, 0, D_MINF, 0, 0, I64MIN, NV },
        { "cvt.l.d nan", CVT_L, D, RNE, 0, D_SNAN, 0, 0, I64MAX, NV },
        { "cvt.lu.d 2^64", CVT_LU, D, RNE, 0, 0x43f0000000000000, 0, 0, UINT64_MAX, NV },
        { "cvt.lu.d 2^64-2048", CVT_LU, D, RNE, 0, 0x43efffffffffffff, 0, 0,
          0xfffffffffffff800, 0 },
        { "cvt.lu.d nan", CVT_LU, D, RNE, 0, D_QNAN, 0, 0, UINT64_MAX, NV },
        { "cvt.lu.d -inf", CVT_LU, D, RNE, 0, D_MINF, 0, 0, 0, NV },
        { "cvt.lu.s 2^63", CVT_LU, S, RNE, 0, 0x5f000000, 0, 0, I64MIN, 0 },
        /* dynamic mode */
        { "cvt.w.d 2.5 dyn rmm", CVT_W, D, DYN, RMM, 0x4004000000000000, 0, 0, 3, NX },
    };
    RUN(cases);
}

static void int_to_float(void **state)
{
    (void)state;
    static const Case cases[] = {
        /* 2^24 + 1 is a tie between 2^24 and 2^24 + 2 */
        { "cvt.s.w 2^24+1 rne", CVT_FW, S, RNE, 0, 0x1000001, 0, 0, 0x4b800000, NX },
        { "cvt.s.w 2^24+1 rtz", CVT_FW, S, RTZ, 0, 0x1000001, 0, 0, 0x4b800000, NX },
        { "cvt.s.w 2^24+1 rup", CVT_FW, S, RUP, 0, 0x1000001, 0, 0, 0x4b800001, NX },
        { "cvt.s.w 2^24+1 rmm", CVT_FW, S, RMM, 0, 0x1000001, 0, 0, 0x4b800001, NX },
        { "cvt.s.w 2^24+3 rne", CVT_FW, S, RNE, 0, 0x1000003, 0, 0, 0x4b800002, NX },
        { "cvt.s.w -(2^24+1) rdn", CVT_FW, S, RDN, 0, -0x1000001ULL, 0, 0, 0xcb800001, NX },
        { "cvt.s.w -(2^24+1) rmm", CVT_FW, S, RMM, 0, -0x1000001ULL, 0, 0, 0xcb800001, NX },
        { "cvt.s.w -(2^24+1) rup", CVT_FW, S, RUP, 0, -0x1000001ULL, 0, 0, 0xcb800000, NX },
        /* only the low 32 bits count for W/WU */
        { "cvt.s.w ignores upper", CVT_FW, S, RNE, 0, 0xdeadbeef00000005, 0, 0, 0x40a00000,
          0 },
        { "cvt.s.w -1", CVT_FW, S, RNE, 0, 0x00000000ffffffff, 0, 0, S_MONE, 0 },
        { "cvt.s.wu 2^32-1", CVT_FWU, S, RNE, 0, 0xffffffffffffffff, 0, 0, 0x4f800000, NX },
        { "cvt.s.wu 2^32-1 rtz", CVT_FWU, S, RTZ, 0, 0xffffffff, 0, 0, 0x4f7fffff, NX },
        { "cvt.d.w int32 min", CVT_FW, D, RNE, 0, 0x80000000, 0, 0, 0xc1e0000000000000, 0 },
        { "cvt.d.wu 2^32-1", CVT_FWU, D, RNE, 0, 0xffffffff, 0, 0, 0x41efffffffe00000, 0 },
        { "cvt.d.w 0", CVT_FW, D, RNE, 0, 0xffffffff00000000, 0, 0, D_ZERO, 0 },
        { "cvt.d.l min", CVT_FL, D, RNE, 0, I64MIN, 0, 0, 0xc3e0000000000000, 0 },
        { "cvt.d.l 2^53+1 rne", CVT_FL, D, RNE, 0, 0x20000000000001, 0, 0,
          0x4340000000000000, NX },
        { "cvt.d.l 2^53+1 rmm", CVT_FL, D, RMM, 0, 0x20000000000001, 0, 0,
          0x4340000000000001, NX },
        { "cvt.d.l -(2^53+1) rdn", CVT_FL, D, RDN, 0, -0x20000000000001ULL, 0, 0,
          0xc340000000000001, NX },
        { "cvt.d.lu max rne", CVT_FLU, D, RNE, 0, UINT64_MAX, 0, 0, 0x43f0000000000000, NX },
        { "cvt.d.lu max rtz", CVT_FLU, D, RTZ, 0, UINT64_MAX, 0, 0, 0x43efffffffffffff, NX },
        { "cvt.s.lu max rup", CVT_FLU, S, RUP, 0, UINT64_MAX, 0, 0, 0x5f800000, NX },
        { "cvt.s.l -1", CVT_FL, S, RNE, 0, UINT64_MAX, 0, 0, S_MONE, 0 },
        { "cvt.s.l 0", CVT_FL, S, RDN, 0, 0, 0, 0, S_ZERO, 0 },
        /* float <-> float */
        { "cvt.s.d tie rne", CVT_FF, S, RNE, 0, 0x3ff0000010000000, 0, 0, S_ONE, NX },
        { "cvt.s.d tie rmm", CVT_FF, S, RMM, 0, 0x3ff0000010000000, 0, 0, S_ULP1, NX },
        { "cvt.s.d -tie rmm", CVT_FF, S, RMM, 0, 0xbff0000010000000, 0, 0, S_MULP1, NX },
        { "cvt.s.d -tie rup", CVT_FF, S, RUP, 0, 0xbff0000010000000, 0, 0, S_MONE, NX },
        { "cvt.s.d -0", CVT_FF, S, RNE, 0, D_MZERO, 0, 0, S_MZERO, 0 },
        { "cvt.d.s exact", CVT_FF, D, RNE, 0, 0xbeaaaaab, 0, 0, 0xbfd5555560000000, 0 },
        { "cvt.d.s inf", CVT_FF, D, RNE, 0, S_INF, 0, 0, D_INF, 0 },
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(float_to_int, fpu_reset),
        cmocka_unit_test_setup(int_to_float, fpu_reset),
    };
    return cmocka_run_group_tests(tests, fpu_setup, fpu_teardown);
}
