/* Test harness for the hart: a bus with RAM at 0x80000000, a hart in M-mode,
 * and instruction encoders so tests can build tiny programs in guest RAM. */
#ifndef QUAIL_TESTS_CPU_TEST_H
#define QUAIL_TESTS_CPU_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/riscv.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16ULL << 20)
#define CODE     RAM_BASE
#define TRAP     (RAM_BASE + 0x100000)   /* mtvec: "j ." */
#define STRAP    (RAM_BASE + 0x100100)   /* stvec: "j ." */
#define DATA     (RAM_BASE + 0x200000)

typedef struct T {
    Bus bus;
    RiscvCpu cpu;
    uint64_t at;        /* where emit() writes next */
} T;

static inline void t_w32(T *t, uint64_t pa, uint32_t v) { assert_int_equal(bus_write(&t->bus, pa, 4, v), 0); }
static inline void t_w64(T *t, uint64_t pa, uint64_t v) { assert_int_equal(bus_write(&t->bus, pa, 8, v), 0); }
static inline uint64_t t_r64(T *t, uint64_t pa)
{
    uint64_t v = 0;
    assert_int_equal(bus_read(&t->bus, pa, 8, &v), 0);
    return v;
}

static inline T *t_new(void)
{
    T *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(bus_init(&t->bus, RAM_BASE, RAM_SIZE), 0);
    assert_int_equal(riscv_cpu_init(&t->cpu, &t->bus, 0), 0);
    riscv_cpu_reset(&t->cpu, CODE);
    t->at = CODE;
    t_w32(t, TRAP, 0x0000006f);
    t_w32(t, STRAP, 0x0000006f);
    t->cpu.mtvec = TRAP;
    t->cpu.stvec = STRAP;
    return t;
}

static inline void t_free(T *t)
{
    riscv_cpu_destroy(&t->cpu);
    bus_destroy(&t->bus);
    free(t);
}

static inline void emit(T *t, uint32_t insn) { t_w32(t, t->at, insn); t->at += 4; }
static inline void emit16(T *t, uint16_t insn)
{
    assert_int_equal(bus_write(&t->bus, t->at, 2, insn), 0);
    t->at += 2;
}

/* Executes one 32-bit instruction placed at CODE. */
static inline void exec1(T *t, uint32_t insn)
{
    t_w32(t, CODE, insn);
    t->cpu.pc = CODE;
    assert_int_equal(riscv_cpu_step(&t->cpu, 1), 1);
}

static inline void exec16(T *t, uint16_t insn)
{
    assert_int_equal(bus_write(&t->bus, CODE, 2, insn), 0);
    t->cpu.pc = CODE;
    assert_int_equal(riscv_cpu_step(&t->cpu, 1), 1);
}

/* The hart trapped to M with this cause. */
#define assert_trap(t, cause, tval) do { \
        assert_int_equal((t)->cpu.pc, TRAP); \
        assert_int_equal((t)->cpu.mcause, (cause)); \
        assert_int_equal((t)->cpu.mtval, (tval)); \
    } while (0)

/* --- encoders --- */
static inline uint32_t enc_r(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static inline uint32_t enc_i(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static inline uint32_t enc_s(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | op;
}
static inline uint32_t enc_b(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 |
           f3 << 12 | ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}
static inline uint32_t enc_j(int32_t imm, uint32_t rd)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}

#define ADDI(rd, rs1, imm)  enc_i(imm, rs1, 0, rd, 0x13)
#define ADDIW(rd, rs1, imm) enc_i(imm, rs1, 0, rd, 0x1b)
#define LUI(rd, imm20)      ((uint32_t)(imm20) << 12 | (rd) << 7 | 0x37)
#define AUIPC(rd, imm20)    ((uint32_t)(imm20) << 12 | (rd) << 7 | 0x17)
#define JAL(rd, off)        enc_j(off, rd)
#define JALR(rd, rs1, off)  enc_i(off, rs1, 0, rd, 0x67)
#define LOAD(f3, rd, rs1, off)  enc_i(off, rs1, f3, rd, 0x03)
#define STORE(f3, rs2, rs1, off) enc_s(off, rs2, rs1, f3, 0x23)
#define LB 0
#define LH 1
#define LW 2
#define LD 3
#define LBU 4
#define LHU 5
#define LWU 6
#define CSRRW(rd, csr, rs1) enc_i(csr, rs1, 1, rd, 0x73)
#define CSRRS(rd, csr, rs1) enc_i(csr, rs1, 2, rd, 0x73)
#define CSRRC(rd, csr, rs1) enc_i(csr, rs1, 3, rd, 0x73)
#define CSRRWI(rd, csr, u)  enc_i(csr, u, 5, rd, 0x73)
#define ECALL  0x00000073u
#define EBREAK 0x00100073u
#define MRET   0x30200073u
#define SRET   0x10200073u
#define WFI    0x10500073u
#define SFENCE_VMA 0x12000073u
#define AMO(f5, f3, rd, rs1, rs2) enc_r((f5) << 2, rs2, rs1, f3, rd, 0x2f)

#endif
