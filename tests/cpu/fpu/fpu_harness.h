/* Shared harness of the F/D unit tests: one hart on a small RAM bus, an
 * encoder for every F/D instruction with fixed registers, and a table runner.
 * Operands go in f1, f2, f4 (x5 for integer sources); results in f3 or x3. */
#ifndef QUAIL_TESTS_FPU_HARNESS_H
#define QUAIL_TESTS_FPU_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/riscv.h"
#include "hw/bus.h"

#define RAM_BASE 0x80000000ULL

extern RiscvCpu *cpu;
extern Bus bus;

enum { S = 0, D = 1 };
enum { RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4, DYN = 7 };
enum { NV = FFLAG_NV, DZ = FFLAG_DZ, OF = FFLAG_OF, UF = FFLAG_UF, NX = FFLAG_NX };

typedef enum {
    ADD, SUB, MUL, DIV, SQRT, MADD, MSUB, NMSUB, NMADD, SGNJ, SGNJN, SGNJX, MIN, MAX,
    EQ, LT, LE, CLASS, CVT_W, CVT_WU, CVT_L, CVT_LU, CVT_FW, CVT_FWU, CVT_FL, CVT_FLU,
    CVT_FF, MVX, MVF,
} Op;

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

#define BOXS(v) (0xffffffff00000000ULL | (v))
#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

uint32_t encode(Op op, int fmt, unsigned rm);
uint64_t box(int fmt, uint64_t v);
/* Runs every case; prints each mismatch and fails if there was one. */
void run_cases(const Case *cases, size_t n);
/* Run insn expecting success, or an illegal-instruction exception with no
 * architectural state changed. */
void expect_ok(uint32_t insn);
void expect_illegal(uint32_t insn);
/* cmocka group setup/teardown and per-test reset (FS=Initial, frm=RNE). */
int fpu_setup(void **state);
int fpu_teardown(void **state);
int fpu_reset(void **state);

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

#define I32MAX 0x7fffffffULL
#define I32MIN 0xffffffff80000000ULL
#define U32MAX 0xffffffffffffffffULL      /* sign-extended on RV64 */
#define I64MAX 0x7fffffffffffffffULL
#define I64MIN 0x8000000000000000ULL

#endif
