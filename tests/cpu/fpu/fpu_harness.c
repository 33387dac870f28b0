/* Shared harness of the F/D unit tests (see fpu_harness.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fpu_harness.h"

RiscvCpu *cpu;
Bus bus;

uint32_t encode(Op op, int fmt, unsigned rm)
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

uint64_t box(int fmt, uint64_t v)
{
    return fmt == S ? 0xffffffff00000000ULL | (uint32_t)v : v;
}

void run_cases(const Case *cases, size_t n)
{
    int failures = 0;

    /* Each case runs twice: with fflags clear, and with NX already accrued
     * (which enables the host fast path for RNE arithmetic in fpu.c). */
    for (size_t i = 0; i < 2 * n; i++) {
        const Case *k = &cases[i / 2];
        uint32_t pre = (i & 1) ? FFLAG_NX : 0;
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
        cpu->fflags = pre;
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
        if (got != k->want || cpu->fflags != (k->flags | pre)) {
            printf("FAIL %s%s: got %016llx flags %02x, want %016llx flags %02x\n", k->what,
                   pre ? " (NX preset)" : "", (unsigned long long)got, cpu->fflags,
                   (unsigned long long)k->want, k->flags | pre);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

void expect_illegal(uint32_t insn)
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

void expect_ok(uint32_t insn)
{
    cpu->exc_pending = false;
    if (riscv_fp_exec(cpu, insn) != 0 || cpu->exc_pending)
        fail_msg("insn %08x raised exception %llu (tval %llx)", insn,
                 (unsigned long long)cpu->exc_cause, (unsigned long long)cpu->exc_tval);
}

int fpu_setup(void **state)
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

int fpu_teardown(void **state)
{
    (void)state;
    riscv_cpu_destroy(cpu);
    free(cpu);
    bus_destroy(&bus);
    return 0;
}

/* Each test starts from FS=Initial, frm=RNE, no flags. */
int fpu_reset(void **state)
{
    (void)state;
    cpu->mstatus = (cpu->mstatus & ~MSTATUS_FS) | (uint64_t)FS_INITIAL << 13;
    cpu->frm = 0;
    cpu->fflags = 0;
    cpu->exc_pending = false;
    return 0;
}
