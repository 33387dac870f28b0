/* Unit tests of the F and D extensions through riscv_fp_exec: every
 * instruction, rounding modes where they differ, NaN handling, NaN-boxing,
 * subnormals and tininess, overflow, conversions with saturation, fclass,
 * illegal encodings, mstatus.FS and FP loads/stores.  Expected values are
 * worked out by hand from the RISC-V and IEEE 754 rules (the comment on each
 * row says how); test_fpu_qemu.c cross-checks the bulk against QEMU. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/riscv.h"
#include "hw/bus.h"

#define RAM_BASE 0x80000000ULL

static RiscvCpu *cpu;
static Bus bus;

enum { S = 0, D = 1 };
enum { RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4, DYN = 7 };
enum { NV = FFLAG_NV, DZ = FFLAG_DZ, OF = FFLAG_OF, UF = FFLAG_UF, NX = FFLAG_NX };

typedef enum {
    ADD, SUB, MUL, DIV, SQRT, MADD, MSUB, NMSUB, NMADD, SGNJ, SGNJN, SGNJX, MIN, MAX,
    EQ, LT, LE, CLASS, CVT_W, CVT_WU, CVT_L, CVT_LU, CVT_FW, CVT_FWU, CVT_FL, CVT_FLU,
    CVT_FF, MVX, MVF,
} Op;

/* Operands go in f1, f2, f4 (and x5 for integer sources); results in f3 or x3. */
static uint32_t encode(Op op, int fmt, unsigned rm)
{
    static const struct { unsigned f7, rs2, f3, opc; } t[] = {
        [ADD] = { 0x00, 2, 8, 0x53 }, [SUB] = { 0x04, 2, 8, 0x53 },
        [MUL] = { 0x08, 2, 8, 0x53 }, [DIV] = { 0x0c, 2, 8, 0x53 },
        [SQRT] = { 0x2c, 0, 8, 0x53 },
        [MADD] = { 0x20, 2, 8, 0x43 }, [MSUB] = { 0x20, 2, 8, 0x47 },
        [NMSUB] = { 0x20, 2, 8, 0x4b }, [NMADD] = { 0x20, 2, 8, 0x4f },
        [SGNJ] = { 0x10, 2, 0, 0x53 }, [SGNJN] = { 0x10, 2, 1, 0x53 },
        [SGNJX] = { 0x10, 2, 2, 0x53 }, [MIN] = { 0x14, 2, 0, 0x53 },
        [MAX] = { 0x14, 2, 1, 0x53 }, [LE] = { 0x50, 2, 0, 0x53 },
        [LT] = { 0x50, 2, 1, 0x53 }, [EQ] = { 0x50, 2, 2, 0x53 },
        [CLASS] = { 0x70, 0, 1, 0x53 }, [MVX] = { 0x70, 0, 0, 0x53 },
        [MVF] = { 0x78, 0, 0, 0x53 },
        [CVT_W] = { 0x60, 0, 8, 0x53 }, [CVT_WU] = { 0x60, 1, 8, 0x53 },
        [CVT_L] = { 0x60, 2, 8, 0x53 }, [CVT_LU] = { 0x60, 3, 8, 0x53 },
        [CVT_FW] = { 0x68, 0, 8, 0x53 }, [CVT_FWU] = { 0x68, 1, 8, 0x53 },
        [CVT_FL] = { 0x68, 2, 8, 0x53 }, [CVT_FLU] = { 0x68, 3, 8, 0x53 },
        [CVT_FF] = { 0x20, 0, 8, 0x53 },
    };
    unsigned rs1 = (op >= CVT_FW && op <= CVT_FLU) || op == MVF ? 5 : 1;
    unsigned rs2 = t[op].rs2, f3 = t[op].f3 == 8 ? rm : t[op].f3;
    uint32_t insn = t[op].opc | 3u << 7 | f3 << 12 | rs1 << 15;

    if (op == CVT_FF)           /* fmt is the destination, rs2 the source format */
        rs2 = fmt == S ? 1 : 0;
    insn |= rs2 << 20 | (uint32_t)fmt << 25;
    if (t[op].opc != 0x53)
        insn |= 4u << 27;       /* rs3 = f4 */
    else
        insn |= (t[op].f7 & ~1u) << 25;
    return insn;
}

static bool int_result(Op op)
{
    return (op >= EQ && op <= CVT_LU) || op == MVX;
}

#define BOXS(v) (0xffffffff00000000ULL | (v))

static uint64_t box(int fmt, uint64_t v)
{
    return fmt == S ? 0xffffffff00000000ULL | (uint32_t)v : v;
}

typedef struct Case {
    const char *what;
    Op op;
    int fmt;
    unsigned rm;        /* DYN: use frm below */
    unsigned frm;
    uint64_t a, b, c;   /* raw values; singles get NaN-boxed unless raw is set */
    uint64_t want;
    uint32_t flags;
    bool raw;
} Case;

static void run_cases(const Case *cases, size_t n)
{
    int failures = 0;

    for (size_t i = 0; i < n; i++) {
        const Case *k = &cases[i];
        int src_fmt = k->op == CVT_FF ? !k->fmt : k->fmt;
        uint32_t insn = encode(k->op, k->fmt, k->rm);
        uint64_t got;

        cpu->f[1] = k->raw ? k->a : box(src_fmt, k->a);
        cpu->f[2] = k->raw ? k->b : box(src_fmt, k->b);
        cpu->f[4] = k->raw ? k->c : box(src_fmt, k->c);
        cpu->f[3] = 0x5555555555555555ULL;
        cpu->x[5] = k->a;
        cpu->x[3] = 0x5555555555555555ULL;
        cpu->frm = k->frm;
        cpu->fflags = 0;
        cpu->exc_pending = false;
        if (riscv_fp_exec(cpu, insn) != 0 || cpu->exc_pending) {
            printf("FAIL %s: insn %08x raised exception %llu\n", k->what, insn,
                   (unsigned long long)cpu->exc_cause);
            failures++;
            continue;
        }
        if (int_result(k->op)) {
            got = cpu->x[3];
        } else if (k->fmt == S) {
            if (cpu->f[3] >> 32 != 0xffffffff) {
                printf("FAIL %s: single result not NaN-boxed: %016llx\n", k->what,
                       (unsigned long long)cpu->f[3]);
                failures++;
            }
            got = (uint32_t)cpu->f[3];
        } else {
            got = cpu->f[3];
        }
        if (got != k->want || cpu->fflags != k->flags) {
            printf("FAIL %s: got %016llx flags %02x, want %016llx flags %02x\n", k->what,
                   (unsigned long long)got, cpu->fflags, (unsigned long long)k->want,
                   k->flags);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* Single-precision constants. */
#define S_ONE     0x3f800000ULL
#define S_MONE    0xbf800000ULL
#define S_TWO     0x40000000ULL
#define S_HALF    0x3f000000ULL
#define S_MHALF   0xbf000000ULL
#define S_ULP1    0x3f800001ULL     /* 1 + 2^-23 */
#define S_MULP1   0xbf800001ULL
#define S_2M24    0x33800000ULL     /* 2^-24: half an ulp of 1 */
#define S_M2M24   0xb3800000ULL
#define S_THREE   0x40400000ULL
#define S_MAX     0x7f7fffffULL
#define S_MMAX    0xff7fffffULL
#define S_INF     0x7f800000ULL
#define S_MINF    0xff800000ULL
#define S_QNAN    0x7fc00000ULL
#define S_SNAN    0x7f800001ULL
#define S_MINNORM 0x00800000ULL
#define S_MINSUB  0x00000001ULL
#define S_MAXSUB  0x007fffffULL
#define S_ZERO    0x00000000ULL
#define S_MZERO   0x80000000ULL

#define D_ONE     0x3ff0000000000000ULL
#define D_MONE    0xbff0000000000000ULL
#define D_TWO     0x4000000000000000ULL
#define D_HALF    0x3fe0000000000000ULL
#define D_MHALF   0xbfe0000000000000ULL
#define D_ULP1    0x3ff0000000000001ULL
#define D_2M53    0x3ca0000000000000ULL
#define D_M2M53   0xbca0000000000000ULL
#define D_MAX     0x7fefffffffffffffULL
#define D_MMAX    0xffefffffffffffffULL
#define D_INF     0x7ff0000000000000ULL
#define D_MINF    0xfff0000000000000ULL
#define D_QNAN    0x7ff8000000000000ULL
#define D_SNAN    0x7ff0000000000001ULL
#define D_MINNORM 0x0010000000000000ULL
#define D_MINSUB  0x0000000000000001ULL
#define D_ZERO    0ULL
#define D_MZERO   0x8000000000000000ULL
#define D_THREE   0x4008000000000000ULL

static void rounding_modes(void **state)
{
    (void)state;
    static const Case cases[] = {
        /* 1 + 2^-24 is exactly halfway between 1 and 1+2^-23 (1 is even). */
        { "add.s tie rne", ADD, S, RNE, 0, S_ONE, S_2M24, 0, S_ONE, NX },
        { "add.s tie rtz", ADD, S, RTZ, 0, S_ONE, S_2M24, 0, S_ONE, NX },
        { "add.s tie rdn", ADD, S, RDN, 0, S_ONE, S_2M24, 0, S_ONE, NX },
        { "add.s tie rup", ADD, S, RUP, 0, S_ONE, S_2M24, 0, S_ULP1, NX },
        { "add.s tie rmm", ADD, S, RMM, 0, S_ONE, S_2M24, 0, S_ULP1, NX },
        { "add.s -tie rne", ADD, S, RNE, 0, S_MONE, S_M2M24, 0, S_MONE, NX },
        { "add.s -tie rtz", ADD, S, RTZ, 0, S_MONE, S_M2M24, 0, S_MONE, NX },
        { "add.s -tie rdn", ADD, S, RDN, 0, S_MONE, S_M2M24, 0, S_MULP1, NX },
        { "add.s -tie rup", ADD, S, RUP, 0, S_MONE, S_M2M24, 0, S_MONE, NX },
        { "add.s -tie rmm", ADD, S, RMM, 0, S_MONE, S_M2M24, 0, S_MULP1, NX },
        /* (1+2^-23) + 2^-24: tie with an odd lower neighbour: RNE rounds up. */
        { "add.s odd tie rne", ADD, S, RNE, 0, S_ULP1, S_2M24, 0, 0x3f800002, NX },
        { "add.s odd tie rtz", ADD, S, RTZ, 0, S_ULP1, S_2M24, 0, S_ULP1, NX },
        /* the same through the dynamic mode */
        { "add.s dyn rmm", ADD, S, DYN, RMM, S_ONE, S_2M24, 0, S_ULP1, NX },
        { "add.s dyn rdn", ADD, S, DYN, RDN, S_MONE, S_M2M24, 0, S_MULP1, NX },
        { "add.s dyn rne", ADD, S, DYN, RNE, S_ONE, S_2M24, 0, S_ONE, NX },
        { "add.d tie rne", ADD, D, RNE, 0, D_ONE, D_2M53, 0, D_ONE, NX },
        { "add.d tie rmm", ADD, D, RMM, 0, D_ONE, D_2M53, 0, D_ULP1, NX },
        { "add.d tie rup", ADD, D, RUP, 0, D_ONE, D_2M53, 0, D_ULP1, NX },
        { "add.d -tie rmm", ADD, D, RMM, 0, D_MONE, D_M2M53, 0, 0xbff0000000000001, NX },
        { "add.d -tie rup", ADD, D, RUP, 0, D_MONE, D_M2M53, 0, D_MONE, NX },
        { "sub.s exact", SUB, S, RNE, 0, S_THREE, S_ONE, 0, S_TWO, 0 },
        /* x - x is +0, except -0 when rounding down */
        { "sub.s x-x rne", SUB, S, RNE, 0, S_THREE, S_THREE, 0, S_ZERO, 0 },
        { "sub.s x-x rdn", SUB, S, RDN, 0, S_THREE, S_THREE, 0, S_MZERO, 0 },
        { "add.d -0+-0", ADD, D, RNE, 0, D_MZERO, D_MZERO, 0, D_MZERO, 0 },
        { "add.d -0++0 rne", ADD, D, RNE, 0, D_MZERO, D_ZERO, 0, D_ZERO, 0 },
        { "add.d -0++0 rdn", ADD, D, RDN, 0, D_MZERO, D_ZERO, 0, D_MZERO, 0 },
        /* 1/3 = 0x3eaaaaaa + 0.66 ulp */
        { "div.s 1/3 rne", DIV, S, RNE, 0, S_ONE, S_THREE, 0, 0x3eaaaaab, NX },
        { "div.s 1/3 rtz", DIV, S, RTZ, 0, S_ONE, S_THREE, 0, 0x3eaaaaaa, NX },
        { "div.s 1/3 rdn", DIV, S, RDN, 0, S_ONE, S_THREE, 0, 0x3eaaaaaa, NX },
        { "div.s 1/3 rup", DIV, S, RUP, 0, S_ONE, S_THREE, 0, 0x3eaaaaab, NX },
        { "div.s 1/3 rmm", DIV, S, RMM, 0, S_ONE, S_THREE, 0, 0x3eaaaaab, NX },
        { "div.s -1/3 rdn", DIV, S, RDN, 0, S_MONE, S_THREE, 0, 0xbeaaaaab, NX },
        { "div.s -1/3 rup", DIV, S, RUP, 0, S_MONE, S_THREE, 0, 0xbeaaaaaa, NX },
        { "div.d 1/3 rne", DIV, D, RNE, 0, D_ONE, D_THREE, 0, 0x3fd5555555555555, NX },
        { "div.d 1/3 rup", DIV, D, RUP, 0, D_ONE, D_THREE, 0, 0x3fd5555555555556, NX },
        { "div.d 6/3 exact", DIV, D, RNE, 0, 0x4018000000000000, D_THREE, 0, D_TWO, 0 },
        /* sqrt(2) = 0x3fb504f3 + 0.4 ulp */
        { "sqrt.s 2 rne", SQRT, S, RNE, 0, S_TWO, 0, 0, 0x3fb504f3, NX },
        { "sqrt.s 2 rmm", SQRT, S, RMM, 0, S_TWO, 0, 0, 0x3fb504f3, NX },
        { "sqrt.s 2 rup", SQRT, S, RUP, 0, S_TWO, 0, 0, 0x3fb504f4, NX },
        { "sqrt.s 2 rtz", SQRT, S, RTZ, 0, S_TWO, 0, 0, 0x3fb504f3, NX },
        { "sqrt.d 2 rne", SQRT, D, RNE, 0, D_TWO, 0, 0, 0x3ff6a09e667f3bcd, NX },
        { "sqrt.d 2 rdn", SQRT, D, RDN, 0, D_TWO, 0, 0, 0x3ff6a09e667f3bcc, NX },
        { "sqrt.d 9 exact", SQRT, D, RNE, 0, 0x4022000000000000, 0, 0, D_THREE, 0 },
        { "sqrt.s subnormal 2^-148", SQRT, S, RNE, 0, 0x00000002, 0, 0, 0x1a800000, 0 },
        /* (1+2^-23)^2 = 1 + 2^-22 + 2^-46 */
        { "mul.s rne", MUL, S, RNE, 0, S_ULP1, S_ULP1, 0, 0x3f800002, NX },
        { "mul.s rup", MUL, S, RUP, 0, S_ULP1, S_ULP1, 0, 0x3f800003, NX },
        { "mul.s -rdn", MUL, S, RDN, 0, S_MULP1, S_ULP1, 0, 0xbf800003, NX },
        { "mul.s -rup", MUL, S, RUP, 0, S_MULP1, S_ULP1, 0, 0xbf800002, NX },
        /* (1+2^-27)(1-2^-27) - 1 = -2^-54 exactly, only if fused */
        { "madd.d fused", MADD, D, RNE, 0, 0x3ff0000002000000, 0x3feffffffc000000, D_MONE,
          0xbc90000000000000, 0 },
        /* (1+2^-12)^2 - 1 = 2^-11 + 2^-24, exact in single only if fused
         * (the rounded square loses the 2^-24) */
        { "msub.s fused", MSUB, S, RNE, 0, 0x3f800800, 0x3f800800, S_ONE, 0x3a000400, 0 },
        { "nmsub.s", NMSUB, S, RNE, 0, 0x3f800800, 0x3f800800, S_ONE, 0xba000400, 0 },
        { "nmadd.s", NMADD, S, RNE, 0, 0x3f800800, 0x3f800800, S_MONE, 0xba000400, 0 },
        /* 1*1 + 2^-24: a tie decided by the mode */
        { "madd.s tie rne", MADD, S, RNE, 0, S_ONE, S_ONE, S_2M24, S_ONE, NX },
        { "madd.s tie rmm", MADD, S, RMM, 0, S_ONE, S_ONE, S_2M24, S_ULP1, NX },
        { "nmadd.s tie rmm", NMADD, S, RMM, 0, S_ONE, S_ONE, S_2M24, S_MULP1, NX },
        { "nmadd.s tie rdn", NMADD, S, RDN, 0, S_ONE, S_ONE, S_2M24, S_MULP1, NX },
        { "nmadd.s tie rup", NMADD, S, RUP, 0, S_ONE, S_ONE, S_2M24, S_MONE, NX },
        /* exact zero sums: -(1*1) + 1 is +0 (rne) or -0 (rdn) */
        { "nmsub.d zero rne", NMSUB, D, RNE, 0, D_ONE, D_ONE, D_ONE, D_ZERO, 0 },
        { "nmsub.d zero rdn", NMSUB, D, RDN, 0, D_ONE, D_ONE, D_ONE, D_MZERO, 0 },
        { "madd.d 0*x + -0", MADD, D, RNE, 0, D_MZERO, D_ONE, D_MZERO, D_MZERO, 0 },
        { "madd.d +0*-1 + +0", MADD, D, RNE, 0, D_ZERO, D_MONE, D_ZERO, D_ZERO, 0 },
        { "madd.d +0*-1 + +0 rdn", MADD, D, RDN, 0, D_ZERO, D_MONE, D_ZERO, D_MZERO, 0 },
    };
    RUN(cases);
}

static void nans(void **state)
{
    (void)state;
    static const Case cases[] = {
        { "add.s qnan", ADD, S, RNE, 0, S_QNAN, S_ONE, 0, S_QNAN, 0 },
        { "add.s payload qnan", ADD, S, RNE, 0, S_ONE, 0xffc12345, 0, S_QNAN, 0 },
        { "add.s snan", ADD, S, RNE, 0, S_SNAN, S_ONE, 0, S_QNAN, NV },
        { "add.s inf-inf", ADD, S, RNE, 0, S_INF, S_MINF, 0, S_QNAN, NV },
        { "sub.d inf-inf", SUB, D, RNE, 0, D_INF, D_INF, 0, D_QNAN, NV },
        { "add.d snan+qnan", ADD, D, RNE, 0, D_QNAN, 0xfff0000000000123, 0, D_QNAN, NV },
        { "mul.d 0*inf", MUL, D, RNE, 0, D_ZERO, D_MINF, 0, D_QNAN, NV },
        { "mul.s qnan*0", MUL, S, RNE, 0, 0x7fd00000, S_ZERO, 0, S_QNAN, 0 },
        { "div.s 0/0", DIV, S, RNE, 0, S_ZERO, S_MZERO, 0, S_QNAN, NV },
        { "div.d inf/inf", DIV, D, RNE, 0, D_INF, D_MINF, 0, D_QNAN, NV },
        { "sqrt.s -1", SQRT, S, RNE, 0, S_MONE, 0, 0, S_QNAN, NV },
        { "sqrt.d -inf", SQRT, D, RNE, 0, D_MINF, 0, 0, D_QNAN, NV },
        { "sqrt.d -minsub", SQRT, D, RNE, 0, 0x8000000000000001, 0, 0, D_QNAN, NV },
        { "sqrt.s -0", SQRT, S, RNE, 0, S_MZERO, 0, 0, S_MZERO, 0 },
        { "sqrt.d inf", SQRT, D, RNE, 0, D_INF, 0, 0, D_INF, 0 },
        { "sqrt.s snan", SQRT, S, RNE, 0, 0xff800001, 0, 0, S_QNAN, NV },
        /* RISC-V: inf*0 + qNaN raises NV */
        { "madd.s inf*0+qnan", MADD, S, RNE, 0, S_INF, S_ZERO, S_QNAN, S_QNAN, NV },
        { "madd.d 0*inf+qnan", MADD, D, RNE, 0, D_MZERO, D_INF, D_QNAN, D_QNAN, NV },
        { "madd.d 1*1+qnan", MADD, D, RNE, 0, D_ONE, D_ONE, D_QNAN, D_QNAN, 0 },
        { "madd.d 1*1+snan", MADD, D, RNE, 0, D_ONE, D_ONE, D_SNAN, D_QNAN, NV },
        { "madd.s inf*1-inf", MSUB, S, RNE, 0, S_INF, S_ONE, S_INF, S_QNAN, NV },
        { "madd.s inf*1+inf", MADD, S, RNE, 0, S_INF, S_ONE, S_INF, S_INF, 0 },
        { "nmadd.s inf*1+inf", NMADD, S, RNE, 0, S_INF, S_ONE, S_INF, S_MINF, 0 },
        { "cvt.s.d snan", CVT_FF, S, RNE, 0, D_SNAN, 0, 0, S_QNAN, NV },
        { "cvt.s.d qnan payload", CVT_FF, S, RNE, 0, 0xfff8000000000abc, 0, 0, S_QNAN, 0 },
        { "cvt.d.s snan", CVT_FF, D, RNE, 0, S_SNAN, 0, 0, D_QNAN, NV },
        { "cvt.d.s qnan", CVT_FF, D, RNE, 0, 0xffc00001, 0, 0, D_QNAN, 0 },
        /* sign injection works on bits and keeps NaN payloads */
        { "sgnjn.s snan", SGNJN, S, 0, 0, S_SNAN, S_ONE, 0, 0xff800001, 0 },
        { "sgnjx.d", SGNJX, D, 0, 0, D_MONE, D_MINF, 0, D_ONE, 0 },
        { "sgnj.d", SGNJ, D, 0, 0, D_ONE, D_MZERO, 0, D_MONE, 0 },
        { "sgnjn.d", SGNJN, D, 0, 0, D_ONE, D_ONE, 0, D_MONE, 0 },
        { "sgnjx.s", SGNJX, S, 0, 0, S_MONE, S_MONE, 0, S_ONE, 0 },
    };
    RUN(cases);
}

static void nan_boxing(void **state)
{
    (void)state;
    static const Case cases[] = {
        /* 1.0 in the low half but the upper half not all ones: reads as the
         * canonical NaN, which is quiet, so no NV */
        { "add.s unboxed", ADD, S, RNE, 0, 0x000000003f800000, BOXS(S_ONE), 0, S_QNAN, 0,
          true },
        { "add.s upper half almost ones", ADD, S, RNE, 0, 0xfffffffe3f800000,
          BOXS(S_ONE), 0, S_QNAN, 0, true },
        { "sgnjn.s unboxed", SGNJN, S, 0, 0, 0x000000003f800000, 0x000000003f800000, 0,
          0xffc00000, 0, true },
        { "sgnj.s unboxed sign src", SGNJ, S, 0, 0, BOXS(S_ONE), 0x1234567800000000, 0,
          S_ONE, 0, true },
        { "min.s unboxed", MIN, S, 0, 0, 0x00000000bf800000, BOXS(S_TWO), 0, S_TWO, 0,
          true },
        { "class.s unboxed", CLASS, S, 0, 0, 0x3ff0000000000000, 0, 0, 1u << 9, 0, true },
        { "eq.s unboxed", EQ, S, 0, 0, 0x3f800000, 0x3f800000, 0, 0, 0, true },
        { "cvt.d.s unboxed", CVT_FF, D, RNE, 0, 0x3f800000, 0, 0, D_QNAN, 0, true },
        { "cvt.w.s unboxed", CVT_W, S, RNE, 0, 0x3f800000, 0, 0, 0x7fffffff, NV, true },
        /* FMV.X.W moves the raw low bits, sign-extended, without unboxing */
        { "mv.x.w unboxed", MVX, S, 0, 0, 0x12345678bf800000, 0, 0, 0xffffffffbf800000, 0,
          true },
        { "mv.x.w positive", MVX, S, 0, 0, BOXS(S_ONE), 0, 0, S_ONE, 0, true },
        { "mv.x.d", MVX, D, 0, 0, 0x8123456789abcdef, 0, 0, 0x8123456789abcdef, 0, true },
        /* a double register holding a boxed single is just a NaN as a double */
        { "add.d of boxed single", ADD, D, RNE, 0, BOXS(S_ONE), D_ONE, 0, D_QNAN, 0 },
        /* FMV.W.X boxes the low 32 bits, FMV.D.X copies all 64 */
        { "mv.w.x", MVF, S, 0, 0, 0xdeadbeef7f800001, 0, 0, 0x7f800001, 0 },
        { "mv.d.x", MVF, D, 0, 0, 0xfff0000000000001, 0, 0, 0xfff0000000000001, 0 },
    };
    RUN(cases);

    /* results of single operations are always boxed: checked by run_cases;
     * here explicitly for an op whose result bits have bit 31 clear */
    cpu->f[1] = BOXS(S_ONE);
    cpu->f[2] = BOXS(S_ONE);
    assert_int_equal(riscv_fp_exec(cpu, encode(ADD, S, RNE)), 0);
    assert_int_equal(cpu->f[3], 0xffffffff40000000ULL);
}

static void subnormals(void **state)
{
    (void)state;
    static const Case cases[] = {
        /* exact subnormal results raise nothing */
        { "mul.s minnorm*0.5", MUL, S, RNE, 0, S_MINNORM, S_HALF, 0, 0x00400000, 0 },
        { "add.s minsub+minsub", ADD, S, RNE, 0, S_MINSUB, S_MINSUB, 0, 0x00000002, 0 },
        { "sub.s minnorm-maxsub", SUB, S, RNE, 0, S_MINNORM, S_MAXSUB, 0, S_MINSUB, 0 },
        { "add.d maxsub+minsub", ADD, D, RNE, 0, 0x000fffffffffffff, D_MINSUB, 0,
          D_MINNORM, 0 },
        /* inexact tiny results: UF and NX */
        { "mul.s minsub*0.5 rne", MUL, S, RNE, 0, S_MINSUB, S_HALF, 0, S_ZERO, UF | NX },
        { "mul.s minsub*0.5 rup", MUL, S, RUP, 0, S_MINSUB, S_HALF, 0, S_MINSUB, UF | NX },
        { "mul.s minsub*0.5 rmm", MUL, S, RMM, 0, S_MINSUB, S_HALF, 0, S_MINSUB, UF | NX },
        { "mul.s -minsub*0.5 rdn", MUL, S, RDN, 0, 0x80000001, S_HALF, 0, 0x80000001,
          UF | NX },
        { "mul.s -minsub*0.5 rup", MUL, S, RUP, 0, 0x80000001, S_HALF, 0, S_MZERO, UF | NX },
        /* 3*minsub * 0.5 = 1.5 minsub: tie rounds to even 2 minsub */
        { "mul.s 1.5minsub rne", MUL, S, RNE, 0, 0x00000003, S_HALF, 0, 0x00000002,
          UF | NX },
        { "mul.s 1.5minsub rtz", MUL, S, RTZ, 0, 0x00000003, S_HALF, 0, 0x00000001,
          UF | NX },
        { "div.d minnorm/3", DIV, D, RNE, 0, D_MINNORM, D_THREE, 0, 0x0005555555555555,
          UF | NX },
        { "div.d tiny/huge", DIV, D, RNE, 0, D_MINSUB, D_MAX, 0, D_ZERO, UF | NX },
        /* Tininess after rounding.  (1-2^-24)*2^-126 has 24 significant
         * bits, so even with an unbounded exponent it stays below 2^-126:
         * tiny, and rounding it to the subnormal grid (a tie, to even) gives
         * 2^-126, inexactly: UF. */
        { "cvt.s.d tiny after rounding", CVT_FF, S, RNE, 0, 0x380fffffe0000000, 0, 0,
          S_MINNORM, UF | NX },
        /* (1-2^-25)*2^-126 rounds (unbounded exponent) to 2^-126: not tiny
         * after rounding, so only NX (before-rounding detection would say UF) */
        { "cvt.s.d not tiny after rounding", CVT_FF, S, RNE, 0, 0x380ffffff0000000, 0, 0,
          S_MINNORM, NX },
        { "cvt.s.d same, rtz", CVT_FF, S, RTZ, 0, 0x380ffffff0000000, 0, 0, S_MAXSUB,
          UF | NX },
        { "cvt.s.d same, rup", CVT_FF, S, RUP, 0, 0x380ffffff0000000, 0, 0, S_MINNORM, NX },
        /* single subnormal -> double is exact and normal */
        { "cvt.d.s subnormal", CVT_FF, D, RNE, 0, S_MINSUB, 0, 0, 0x36a0000000000000, 0 },
        { "cvt.s.d to subnormal exact", CVT_FF, S, RNE, 0, 0x36a0000000000000, 0, 0,
          S_MINSUB, 0 },
        { "cvt.s.d below minsub rne", CVT_FF, S, RNE, 0, 0x3690000000000000, 0, 0, S_ZERO,
          UF | NX },
        { "cvt.s.d below minsub rup", CVT_FF, S, RUP, 0, 0x3690000000000000, 0, 0,
          S_MINSUB, UF | NX },
        /* fma: a subnormal result from normal operands */
        { "madd.d subnormal", MADD, D, RNE, 0, D_MINNORM, D_HALF, D_MINSUB,
          0x0008000000000001, 0 },
        { "madd.s 2^-149*0.5+0 rmm", MADD, S, RMM, 0, S_MINSUB, S_HALF, S_ZERO, S_MINSUB,
          UF | NX },
    };
    RUN(cases);
}

static void overflow(void **state)
{
    (void)state;
    static const Case cases[] = {
        { "mul.s max*2 rne", MUL, S, RNE, 0, S_MAX, S_TWO, 0, S_INF, OF | NX },
        { "mul.s max*2 rtz", MUL, S, RTZ, 0, S_MAX, S_TWO, 0, S_MAX, OF | NX },
        { "mul.s max*2 rdn", MUL, S, RDN, 0, S_MAX, S_TWO, 0, S_MAX, OF | NX },
        { "mul.s max*2 rup", MUL, S, RUP, 0, S_MAX, S_TWO, 0, S_INF, OF | NX },
        { "mul.s max*2 rmm", MUL, S, RMM, 0, S_MAX, S_TWO, 0, S_INF, OF | NX },
        { "mul.s -max*2 rne", MUL, S, RNE, 0, S_MMAX, S_TWO, 0, S_MINF, OF | NX },
        { "mul.s -max*2 rtz", MUL, S, RTZ, 0, S_MMAX, S_TWO, 0, S_MMAX, OF | NX },
        { "mul.s -max*2 rdn", MUL, S, RDN, 0, S_MMAX, S_TWO, 0, S_MINF, OF | NX },
        { "mul.s -max*2 rup", MUL, S, RUP, 0, S_MMAX, S_TWO, 0, S_MMAX, OF | NX },
        { "mul.s -max*2 rmm", MUL, S, RMM, 0, S_MMAX, S_TWO, 0, S_MINF, OF | NX },
        { "add.d max+max rne", ADD, D, RNE, 0, D_MAX, D_MAX, 0, D_INF, OF | NX },
        { "add.d max+max rtz", ADD, D, RTZ, 0, D_MAX, D_MAX, 0, D_MAX, OF | NX },
        { "add.d -max-max rup", ADD, D, RUP, 0, D_MMAX, D_MMAX, 0, D_MMAX, OF | NX },
        { "add.d -max-max rdn", ADD, D, RDN, 0, D_MMAX, D_MMAX, 0, D_MINF, OF | NX },
        /* max + half an ulp: ties round away (rne: max is odd) */
        { "add.d max+half ulp rne", ADD, D, RNE, 0, D_MAX, 0x7c90000000000000, 0, D_INF,
          OF | NX },
        { "add.d max+half ulp rtz", ADD, D, RTZ, 0, D_MAX, 0x7c90000000000000, 0, D_MAX,
          NX },
        /* max + a quarter ulp: rounds back to max, no overflow */
        { "add.d max+quarter ulp", ADD, D, RNE, 0, D_MAX, 0x7c80000000000000, 0, D_MAX, NX },
        { "cvt.s.d huge rne", CVT_FF, S, RNE, 0, 0x47f0000000000000, 0, 0, S_INF, OF | NX },
        { "cvt.s.d huge rtz", CVT_FF, S, RTZ, 0, 0xc7f0000000000000, 0, 0, S_MMAX, OF | NX },
        { "cvt.s.d inf is exact", CVT_FF, S, RNE, 0, D_MINF, 0, 0, S_MINF, 0 },
        { "div.s max/0.5 rup", DIV, S, RUP, 0, S_MAX, S_HALF, 0, S_INF, OF | NX },
        { "madd.d max*2-max", MADD, D, RNE, 0, D_MAX, D_TWO, D_MMAX, D_MAX, 0 },
        /* division by zero */
        { "div.s 1/0", DIV, S, RNE, 0, S_ONE, S_ZERO, 0, S_INF, DZ },
        { "div.s -1/0", DIV, S, RNE, 0, S_MONE, S_ZERO, 0, S_MINF, DZ },
        { "div.d 1/-0", DIV, D, RNE, 0, D_ONE, D_MZERO, 0, D_MINF, DZ },
        { "div.d minsub/0", DIV, D, RTZ, 0, D_MINSUB, D_ZERO, 0, D_INF, DZ },
        { "div.d inf/0", DIV, D, RNE, 0, D_INF, D_ZERO, 0, D_INF, 0 },
        { "div.d 1/inf", DIV, D, RNE, 0, D_MONE, D_INF, 0, D_MZERO, 0 },
    };
    RUN(cases);
}

static void min_max_compare(void **state)
{
    (void)state;
    static const Case cases[] = {
        { "min.s -0,+0", MIN, S, 0, 0, S_MZERO, S_ZERO, 0, S_MZERO, 0 },
        { "min.s +0,-0", MIN, S, 0, 0, S_ZERO, S_MZERO, 0, S_MZERO, 0 },
        { "max.s -0,+0", MAX, S, 0, 0, S_MZERO, S_ZERO, 0, S_ZERO, 0 },
        { "max.d +0,-0", MAX, D, 0, 0, D_ZERO, D_MZERO, 0, D_ZERO, 0 },
        { "min.d qnan,1", MIN, D, 0, 0, D_QNAN, D_ONE, 0, D_ONE, 0 },
        { "max.d 1,qnan", MAX, D, 0, 0, D_MONE, D_QNAN, 0, D_MONE, 0 },
        { "min.s snan,1", MIN, S, 0, 0, S_SNAN, S_ONE, 0, S_ONE, NV },
        { "max.s 1,snan", MAX, S, 0, 0, S_ONE, S_SNAN, 0, S_ONE, NV },
        { "min.s qnan,qnan", MIN, S, 0, 0, 0xffc00001, 0x7fc00002, 0, S_QNAN, 0 },
        { "max.d snan,qnan", MAX, D, 0, 0, D_SNAN, D_QNAN, 0, D_QNAN, NV },
        { "min.d -inf,max", MIN, D, 0, 0, D_MAX, D_MINF, 0, D_MINF, 0 },
        { "max.s -1,-2", MAX, S, 0, 0, S_MONE, 0xc0000000, 0, S_MONE, 0 },
        { "min.s -1,-2", MIN, S, 0, 0, S_MONE, 0xc0000000, 0, 0xc0000000, 0 },
        { "max.s minsub,0", MAX, S, 0, 0, S_MINSUB, S_ZERO, 0, S_MINSUB, 0 },
        { "eq.s 1,1", EQ, S, 0, 0, S_ONE, S_ONE, 0, 1, 0 },
        { "eq.s -0,+0", EQ, S, 0, 0, S_MZERO, S_ZERO, 0, 1, 0 },
        { "lt.s -0,+0", LT, S, 0, 0, S_MZERO, S_ZERO, 0, 0, 0 },
        { "le.s +0,-0", LE, S, 0, 0, S_ZERO, S_MZERO, 0, 1, 0 },
        { "eq.d qnan", EQ, D, 0, 0, D_QNAN, D_QNAN, 0, 0, 0 },
        { "eq.d snan", EQ, D, 0, 0, D_ONE, D_SNAN, 0, 0, NV },
        { "lt.d qnan", LT, D, 0, 0, D_QNAN, D_ONE, 0, 0, NV },
        { "le.d qnan", LE, D, 0, 0, D_ONE, D_QNAN, 0, 0, NV },
        { "le.s snan", LE, S, 0, 0, S_SNAN, S_SNAN, 0, 0, NV },
        { "lt.d -2,-1", LT, D, 0, 0, 0xc000000000000000, D_MONE, 0, 1, 0 },
        { "lt.d -1,-2", LT, D, 0, 0, D_MONE, 0xc000000000000000, 0, 0, 0 },
        { "le.d 1,1", LE, D, 0, 0, D_ONE, D_ONE, 0, 1, 0 },
        { "lt.d 1,1", LT, D, 0, 0, D_ONE, D_ONE, 0, 0, 0 },
        { "lt.s -inf,+inf", LT, S, 0, 0, S_MINF, S_INF, 0, 1, 0 },
        { "le.s max,inf", LE, S, 0, 0, S_MAX, S_INF, 0, 1, 0 },
        { "lt.d minsub,minnorm", LT, D, 0, 0, D_MINSUB, D_MINNORM, 0, 1, 0 },
        { "eq.d inf,inf", EQ, D, 0, 0, D_INF, D_INF, 0, 1, 0 },
    };
    RUN(cases);
}

static void fclass(void **state)
{
    (void)state;
    static const Case cases[] = {
        { "class.s -inf", CLASS, S, 0, 0, S_MINF, 0, 0, 1u << 0, 0 },
        { "class.s -norm", CLASS, S, 0, 0, S_MONE, 0, 0, 1u << 1, 0 },
        { "class.s -sub", CLASS, S, 0, 0, 0x80000001, 0, 0, 1u << 2, 0 },
        { "class.s -0", CLASS, S, 0, 0, S_MZERO, 0, 0, 1u << 3, 0 },
        { "class.s +0", CLASS, S, 0, 0, S_ZERO, 0, 0, 1u << 4, 0 },
        { "class.s +sub", CLASS, S, 0, 0, S_MAXSUB, 0, 0, 1u << 5, 0 },
        { "class.s +norm", CLASS, S, 0, 0, S_MINNORM, 0, 0, 1u << 6, 0 },
        { "class.s +inf", CLASS, S, 0, 0, S_INF, 0, 0, 1u << 7, 0 },
        { "class.s snan", CLASS, S, 0, 0, 0xffbfffff, 0, 0, 1u << 8, 0 },
        { "class.s qnan", CLASS, S, 0, 0, 0xffc00000, 0, 0, 1u << 9, 0 },
        { "class.d -inf", CLASS, D, 0, 0, D_MINF, 0, 0, 1u << 0, 0 },
        { "class.d -norm", CLASS, D, 0, 0, D_MMAX, 0, 0, 1u << 1, 0 },
        { "class.d -sub", CLASS, D, 0, 0, 0x800fffffffffffff, 0, 0, 1u << 2, 0 },
        { "class.d -0", CLASS, D, 0, 0, D_MZERO, 0, 0, 1u << 3, 0 },
        { "class.d +0", CLASS, D, 0, 0, D_ZERO, 0, 0, 1u << 4, 0 },
        { "class.d +sub", CLASS, D, 0, 0, D_MINSUB, 0, 0, 1u << 5, 0 },
        { "class.d +norm", CLASS, D, 0, 0, D_ONE, 0, 0, 1u << 6, 0 },
        { "class.d +inf", CLASS, D, 0, 0, D_INF, 0, 0, 1u << 7, 0 },
        { "class.d snan", CLASS, D, 0, 0, D_SNAN, 0, 0, 1u << 8, 0 },
        { "class.d qnan", CLASS, D, 0, 0, 0x7fffffffffffffff, 0, 0, 1u << 9, 0 },
    };
    RUN(cases);
}

#define I32MAX 0x7fffffffULL
#define I32MIN 0xffffffff80000000ULL
#define U32MAX 0xffffffffffffffffULL      /* sign-extended on RV64 */
#define I64MAX 0x7fffffffffffffffULL
#define I64MIN 0x8000000000000000ULL

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

/* Runs insn expecting an illegal-instruction exception and no state change. */
static void expect_illegal(uint32_t insn)
{
    uint64_t f3 = cpu->f[3], x3 = cpu->x[3], mstatus = cpu->mstatus;
    uint32_t fflags = cpu->fflags;

    cpu->exc_pending = false;
    assert_int_equal(riscv_fp_exec(cpu, insn), -1);
    assert_true(cpu->exc_pending);
    assert_int_equal(cpu->exc_cause, EXC_ILLEGAL_INSN);
    assert_int_equal(cpu->exc_tval, insn);
    assert_int_equal(cpu->f[3], f3);
    assert_int_equal(cpu->x[3], x3);
    assert_int_equal(cpu->mstatus, mstatus);
    assert_int_equal(cpu->fflags, fflags);
}

static void expect_ok(uint32_t insn)
{
    cpu->exc_pending = false;
    if (riscv_fp_exec(cpu, insn) != 0 || cpu->exc_pending)
        fail_msg("insn %08x raised exception %llu (tval %llx)", insn,
                 (unsigned long long)cpu->exc_cause, (unsigned long long)cpu->exc_tval);
}

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
    assert_true(cpu->mstatus & MSTATUS_SD);

    cpu->mstatus = (cpu->mstatus & ~(MSTATUS_FS | MSTATUS_SD)) | (uint64_t)FS_CLEAN << 13;
    cpu->f[1] = BOXS(S_SNAN);
    expect_ok(encode(EQ, S, 0));                  /* writes x3 but sets NV */
    assert_int_equal(cpu->fflags, NV);
    assert_int_equal((cpu->mstatus & MSTATUS_FS) >> 13, FS_DIRTY);

    cpu->mstatus = (cpu->mstatus & ~(MSTATUS_FS | MSTATUS_SD)) | (uint64_t)FS_CLEAN << 13;
    cpu->x[5] = RAM_BASE;
    assert_int_equal(bus_write(&bus, RAM_BASE, 8, 0x4000000000000000ULL), 0);
    expect_ok(0x07u | 3u << 12 | 5u << 15 | 3u << 7);           /* fld f3, 0(x5) */
    assert_int_equal(cpu->f[3], 0x4000000000000000ULL);
    assert_int_equal((cpu->mstatus & MSTATUS_FS) >> 13, FS_DIRTY);

    /* a store changes no FP state */
    cpu->mstatus = (cpu->mstatus & ~(MSTATUS_FS | MSTATUS_SD)) | (uint64_t)FS_CLEAN << 13;
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

static int setup(void **state)
{
    (void)state;
    cpu = calloc(1, sizeof(*cpu));
    if (!cpu || bus_init(&bus, RAM_BASE, 0x10000) < 0)
        return -1;
    if (riscv_cpu_init(cpu, &bus, 0) < 0)
        return -1;
    cpu->priv = PRV_M;
    cpu->mstatus = (uint64_t)FS_INITIAL << 13;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    riscv_cpu_destroy(cpu);
    free(cpu);
    bus_destroy(&bus);
    return 0;
}

/* Each test starts from FS=Initial, frm=RNE, no flags. */
static int reset_fp(void **state)
{
    (void)state;
    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | (uint64_t)FS_INITIAL << 13;
    cpu->frm = 0;
    cpu->fflags = 0;
    cpu->exc_pending = false;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(rounding_modes, reset_fp),
        cmocka_unit_test_setup(nans, reset_fp),
        cmocka_unit_test_setup(nan_boxing, reset_fp),
        cmocka_unit_test_setup(subnormals, reset_fp),
        cmocka_unit_test_setup(overflow, reset_fp),
        cmocka_unit_test_setup(min_max_compare, reset_fp),
        cmocka_unit_test_setup(fclass, reset_fp),
        cmocka_unit_test_setup(float_to_int, reset_fp),
        cmocka_unit_test_setup(int_to_float, reset_fp),
        cmocka_unit_test_setup(illegal_encodings, reset_fp),
        cmocka_unit_test_setup(fs_field, reset_fp),
        cmocka_unit_test_setup(loads_stores, reset_fp),
        cmocka_unit_test_setup(x0_destination, reset_fp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
