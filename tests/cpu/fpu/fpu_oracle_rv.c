/* riscv64 program run under Debian's qemu-riscv64 as the reference for the F
 * and D extensions.  For every operation, rounding mode and operand tuple of
 * a table (edge cases crossed with each other, plus reproducible pseudo-random
 * operands) it executes the real instruction and prints
 *   insn frm a b c result fflags kind
 * in hex; test_fpu_qemu.c replays each line through riscv_fp_exec and compares.
 *
 * Each operation is a small assembly stub: inputs arrive as raw 64-bit
 * register images in a0..a2 (moved with fmv.d.x, so improperly NaN-boxed
 * singles can be passed), a3 is the dynamic rounding mode, the instruction
 * under test is the sixth word (its encoding is read from there), and the
 * accrued flags are stored through a4.  Register use is fixed so the replay
 * knows it: ft0..ft2 = f0..f2 hold the operands, ft3 = f3 or a0 = x10 the
 * result, a0 also the integer operand.
 *
 * A second table probes the decoder: every OP-FP and fused multiply-add
 * encoding (all funct7/rs2/funct3 and fmt/rm combinations, rd = 5,
 * rs1 = 6) under frm 0 and frm 5, printed as "L insn frm legal" where legal
 * is 0 if QEMU raised SIGILL. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef uint64_t (*OpFn)(uint64_t a, uint64_t b, uint64_t c, uint64_t rm, uint32_t *fl);

#define STUB(name, insn, tail)                                                    \
    uint64_t name(uint64_t, uint64_t, uint64_t, uint64_t, uint32_t *);            \
    __asm__(".text\n.balign 4\n.option push\n.option norvc\n"                     \
            ".globl " #name "\n" #name ":\n"                                      \
            "fmv.d.x ft0, a0\nfmv.d.x ft1, a1\nfmv.d.x ft2, a2\n"               \
            "fsrm a3\nfsflags zero\n" insn "\n" tail                             \
            "frflags t0\nsw t0, 0(a4)\nret\n.option pop\n");
/* result in an f register (ft3) or in a0 */
#define OPF(name, insn) STUB(name, insn, "fmv.x.d a0, ft3\n")
#define OPX(name, insn) STUB(name, insn, "")

enum { K_F, K_X };                 /* result kind */
enum { A_S1, A_S2, A_S3, A_D1, A_D2, A_D3, A_I };   /* operand kinds */

typedef struct Op {
    const char *name;
    OpFn fn;
    int args, kind;
    int static_rm;                 /* 1: instruction carries a fixed rm */
} Op;

#define FOR_FMT(wrm, s, S)                                                          \
    OPF(fadd_##s, "fadd." #s " ft3, ft0, ft1, dyn")                               \
    OPF(fsub_##s, "fsub." #s " ft3, ft0, ft1, dyn")                               \
    OPF(fmul_##s, "fmul." #s " ft3, ft0, ft1, dyn")                               \
    OPF(fdiv_##s, "fdiv." #s " ft3, ft0, ft1, dyn")                               \
    OPF(fsqrt_##s, "fsqrt." #s " ft3, ft0, dyn")                                  \
    OPF(fmadd_##s, "fmadd." #s " ft3, ft0, ft1, ft2, dyn")                        \
    OPF(fmsub_##s, "fmsub." #s " ft3, ft0, ft1, ft2, dyn")                        \
    OPF(fnmsub_##s, "fnmsub." #s " ft3, ft0, ft1, ft2, dyn")                      \
    OPF(fnmadd_##s, "fnmadd." #s " ft3, ft0, ft1, ft2, dyn")                      \
    OPF(fsgnj_##s, "fsgnj." #s " ft3, ft0, ft1")                                  \
    OPF(fsgnjn_##s, "fsgnjn." #s " ft3, ft0, ft1")                                \
    OPF(fsgnjx_##s, "fsgnjx." #s " ft3, ft0, ft1")                                \
    OPF(fmin_##s, "fmin." #s " ft3, ft0, ft1")                                    \
    OPF(fmax_##s, "fmax." #s " ft3, ft0, ft1")                                    \
    OPX(feq_##s, "feq." #s " a0, ft0, ft1")                                       \
    OPX(flt_##s, "flt." #s " a0, ft0, ft1")                                       \
    OPX(fle_##s, "fle." #s " a0, ft0, ft1")                                       \
    OPX(fclass_##s, "fclass." #s " a0, ft0")                                      \
    OPX(fcvt_w_##s, "fcvt.w." #s " a0, ft0, dyn")                                 \
    OPX(fcvt_wu_##s, "fcvt.wu." #s " a0, ft0, dyn")                               \
    OPX(fcvt_l_##s, "fcvt.l." #s " a0, ft0, dyn")                                 \
    OPX(fcvt_lu_##s, "fcvt.lu." #s " a0, ft0, dyn")                               \
    OPF(fcvt_##s##_w, "fcvt." #s ".w ft3, a0" wrm)                               \
    OPF(fcvt_##s##_wu, "fcvt." #s ".wu ft3, a0" wrm)                             \
    OPF(fcvt_##s##_l, "fcvt." #s ".l ft3, a0, dyn")                               \
    OPF(fcvt_##s##_lu, "fcvt." #s ".lu ft3, a0, dyn")                             \
    OPF(fadd_rne_##s, "fadd." #s " ft3, ft0, ft1, rne")                           \
    OPF(fmul_rtz_##s, "fmul." #s " ft3, ft0, ft1, rtz")                           \
    OPF(fdiv_rdn_##s, "fdiv." #s " ft3, ft0, ft1, rdn")                           \
    OPF(fsqrt_rup_##s, "fsqrt." #s " ft3, ft0, rup")                              \
    OPF(fmadd_rmm_##s, "fmadd." #s " ft3, ft0, ft1, ft2, rmm")                    \
    OPX(fcvt_w_rmm_##s, "fcvt.w." #s " a0, ft0, rmm")

/* the assembler rejects an rm on exact conversions (the encoding gets rne) */
FOR_FMT(", dyn", s, S)
FOR_FMT("", d, D)
OPX(fmv_x_w, "fmv.x.w a0, ft0")
OPX(fmv_x_d, "fmv.x.d a0, ft0")
OPF(fmv_w_x, "fmv.w.x ft3, a0")
OPF(fmv_d_x, "fmv.d.x ft3, a0")
OPF(fcvt_s_d, "fcvt.s.d ft3, ft0, dyn")
OPF(fcvt_d_s, "fcvt.d.s ft3, ft0")

#define OPS_FMT(s, S)                                                             \
    { "fadd." #s, fadd_##s, A_##S##2, K_F, 0 },                                   \
    { "fsub." #s, fsub_##s, A_##S##2, K_F, 0 },                                   \
    { "fmul." #s, fmul_##s, A_##S##2, K_F, 0 },                                   \
    { "fdiv." #s, fdiv_##s, A_##S##2, K_F, 0 },                                   \
    { "fsqrt." #s, fsqrt_##s, A_##S##1, K_F, 0 },                                 \
    { "fmadd." #s, fmadd_##s, A_##S##3, K_F, 0 },                                 \
    { "fmsub." #s, fmsub_##s, A_##S##3, K_F, 0 },                                 \
    { "fnmsub." #s, fnmsub_##s, A_##S##3, K_F, 0 },                               \
    { "fnmadd." #s, fnmadd_##s, A_##S##3, K_F, 0 },                               \
    { "fsgnj." #s, fsgnj_##s, A_##S##2, K_F, 1 },                                 \
    { "fsgnjn." #s, fsgnjn_##s, A_##S##2, K_F, 1 },                               \
    { "fsgnjx." #s, fsgnjx_##s, A_##S##2, K_F, 1 },                               \
    { "fmin." #s, fmin_##s, A_##S##2, K_F, 1 },                                   \
    { "fmax." #s, fmax_##s, A_##S##2, K_F, 1 },                                   \
    { "feq." #s, feq_##s, A_##S##2, K_X, 1 },                                     \
    { "flt." #s, flt_##s, A_##S##2, K_X, 1 },                                     \
    { "fle." #s, fle_##s, A_##S##2, K_X, 1 },                                     \
    { "fclass." #s, fclass_##s, A_##S##1, K_X, 1 },                               \
    { "fcvt.w." #s, fcvt_w_##s, A_##S##1, K_X, 0 },                               \
    { "fcvt.wu." #s, fcvt_wu_##s, A_##S##1, K_X, 0 },                             \
    { "fcvt.l." #s, fcvt_l_##s, A_##S##1, K_X, 0 },                               \
    { "fcvt.lu." #s, fcvt_lu_##s, A_##S##1, K_X, 0 },                             \
    { "fcvt." #s ".w", fcvt_##s##_w, A_I, K_F, 0 },                               \
    { "fcvt." #s ".wu", fcvt_##s##_wu, A_I, K_F, 0 },                             \
    { "fcvt." #s ".l", fcvt_##s##_l, A_I, K_F, 0 },                               \
    { "fcvt." #s ".lu", fcvt_##s##_lu, A_I, K_F, 0 },                             \
    { "fadd.rne." #s, fadd_rne_##s, A_##S##2, K_F, 1 },                           \
    { "fmul.rtz." #s, fmul_rtz_##s, A_##S##2, K_F, 1 },                           \
    { "fdiv.rdn." #s, fdiv_rdn_##s, A_##S##2, K_F, 1 },                           \
    { "fsqrt.rup." #s, fsqrt_rup_##s, A_##S##1, K_F, 1 },                         \
    { "fmadd.rmm." #s, fmadd_rmm_##s, A_##S##3, K_F, 1 },                         \
    { "fcvt.w.rmm." #s, fcvt_w_rmm_##s, A_##S##1, K_X, 1 }

static const Op ops[] = {
    OPS_FMT(s, S),
    OPS_FMT(d, D),
    { "fmv.x.w", fmv_x_w, A_S1, K_X, 1 },
    { "fmv.x.d", fmv_x_d, A_D1, K_X, 1 },
    { "fmv.w.x", fmv_w_x, A_I, K_F, 1 },
    { "fmv.d.x", fmv_d_x, A_I, K_F, 1 },
    { "fcvt.s.d", fcvt_s_d, A_D1, K_F, 0 },
    { "fcvt.d.s", fcvt_d_s, A_S1, K_F, 0 },
};

#define BOX 0xffffffff00000000ULL

/* Edge cases; the first entries are the short list used for 3-operand ops. */
static const uint64_t edge_s[] = {
    BOX | 0x00000000, BOX | 0x80000000, BOX | 0x3f800000, BOX | 0xbf800000,
    BOX | 0x7f800000, BOX | 0xff800000, BOX | 0x7fc00000, BOX | 0x7f800001,
    BOX | 0x00000001, BOX | 0x80800000, BOX | 0x7f7fffff, BOX | 0x3f800001,
    /* end of short list (12) */
    BOX | 0xff7fffff, BOX | 0x007fffff, BOX | 0x00800000, BOX | 0x80000001,
    BOX | 0x3fc00000, BOX | 0x40200000, BOX | 0xc0200000, BOX | 0x3f000000,
    BOX | 0xbf000000, BOX | 0xbfc00000, BOX | 0x4f000000, BOX | 0xcf000000,
    BOX | 0x4f800000, BOX | 0x5f000000, BOX | 0xdf000000, BOX | 0x5f800000,
    BOX | 0x3eaaaaab, BOX | 0xffc00000, BOX | 0xff800001, BOX | 0x4effffff,
    BOX | 0xcf000001, BOX | 0x33800000, BOX | 0x00400000, BOX | 0x7effffff,
    BOX | 0x3f7fffff,                                       /* x * minnorm = minnorm, tiny */
    0x000000003f800000ULL, 0x7fffffff40000000ULL,          /* not NaN-boxed */
};
static const uint64_t edge_d[] = {
    0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
    0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0x7ff0000000000001,
    0x0000000000000001, 0x8010000000000000, 0x7fefffffffffffff, 0x3ff0000000000001,
    /* end of short list (12) */
    0xffefffffffffffff, 0x000fffffffffffff, 0x0010000000000000, 0x8000000000000001,
    0x3ff8000000000000, 0x4004000000000000, 0xc004000000000000, 0x3fe0000000000000,
    0xbfe0000000000000, 0xbff8000000000000, 0x41e0000000000000, 0xc1e0000000000000,
    0x41f0000000000000, 0x43e0000000000000, 0xc3e0000000000000, 0x43f0000000000000,
    0x3fd5555555555555, 0xfff8000000000000, 0xfff0000000000001, 0x41dfffffffc00000,
    0xc1e0000000200000, 0x41efffffffe00000, 0x41dfffffffffffff, 0x36a0000000000000,
    0x0008000000000000, 0x7fe0000000000000, 0x43dfffffffffffff, 0xc3e0000000000001,
    0x47efffffe0000000, 0x47efffffefffffff, 0x47effffff0000000, 0x3690000000000000,
    0x380fffffffffffff, 0x3810000000000000, 0x36a8000000000000, 0xb6a0000000000001,
    0x3fefffffffffffff,
};
static const uint64_t edge_i[] = {
    0, 1, 2, 3, UINT64_MAX, UINT64_MAX - 1, 0x7fffffff, 0x80000000, 0xffffffff,
    0xffffffff80000000ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
    0x1000001, 0x1000003, 0x20000000000001ULL, 0x20000000000003ULL, 0xfedcba9876543210ULL,
    0x123456789abcdefULL, 0xffffffff01000001ULL, 0x00000001fffffffdULL,
    0xfffffffffefffffdULL, 0x8000000000000401ULL, 0xfffffffffffffc01ULL,
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random value biased toward interesting exponents, near `near` when given
 * so additions cancel and products land near the subnormal/overflow edges. */
static uint64_t rnd_float(int dbl, int near_exp)
{
    int mbits = dbl ? 52 : 23, ebits = dbl ? 11 : 8, emaxf = (1 << ebits) - 1;
    uint64_t r = rnd(), m = rnd() & ((1ULL << mbits) - 1);
    long e;

    static const int int_edges[] = { 30, 31, 32, 52, 53, 62, 63, 64 };

    switch (r % 9) {
    case 0: e = (long)(rnd() % (uint64_t)emaxf); break;               /* anything finite */
    case 1: e = 0; break;                                          /* subnormal */
    case 2: e = (long)(rnd() % 4); break;                          /* near underflow */
    case 3: e = emaxf - 1 - (long)(rnd() % 3); break;              /* near overflow */
    case 4: e = emaxf / 2 + (long)(rnd() % 40) - 20; break;        /* near 1 */
    case 5: e = emaxf / 4 + (long)(rnd() % 8); break;              /* product underflows */
    case 6: e = 3 * emaxf / 4 + (long)(rnd() % 8) - 4; break;       /* product overflows */
    case 7: e = near_exp + (long)(rnd() % 5) - 2; break;           /* cancellation */
    default: e = emaxf / 2 + int_edges[rnd() % 8]; break;          /* integer range edges */
    }
    if (e < 0)
        e = 0;
    if (e >= emaxf)
        e = emaxf - 1;
    if ((r >> 8) % 4 == 0)        /* short mantissas make exact ties likely */
        m &= ~((1ULL << (mbits - (int)(rnd() % 6))) - 1) | (rnd() % 2);
    uint64_t v = ((r >> 16) & 1) << (mbits + ebits) | (uint64_t)e << mbits | m;
    return dbl ? v : BOX | v;
}

static uint64_t rnd_int(void)
{
    uint64_t r = rnd(), v = rnd();
    switch (r % 5) {
    case 0: return v;
    case 1: return v >> (r >> 8) % 64;
    case 2: return -(v >> (r >> 8) % 64);
    case 3: return (int64_t)(int32_t)v;
    default: return v & ~((1ULL << (r >> 8) % 40) - 1);
    }
}

static int exp_of(uint64_t v, int dbl)
{
    return dbl ? (int)((v >> 52) & 0x7ff) : (int)((v >> 23) & 0xff);
}

static void run(const Op *op, uint64_t a, uint64_t b, uint64_t c, uint64_t rm)
{
    uint32_t fl = 0;
    uint64_t res = op->fn(a, b, c, rm, &fl);
    uint32_t insn = ((const uint32_t *)(const void *)op->fn)[5];
    printf("%08x %lx %016lx %016lx %016lx %016lx %02x %c\n", insn, (unsigned long)rm,
           (unsigned long)a, (unsigned long)b, (unsigned long)c, (unsigned long)res,
           fl & 0x1f, op->kind == K_F ? 'f' : 'x');
}

/* Optional arguments: random operand tuples per operation and rounding mode
 * for binary/ternary ops (default 1500; unary ops get 2/5 of that), seed. */
static sigjmp_buf ill_jmp;

static void on_sigill(int sig)
{
    (void)sig;
    siglongjmp(ill_jmp, 1);
}

/* Runs one instruction word from an executable buffer; 0 if it is illegal.
 * The instruction writes only x5/f5 (caller-saved across the call). */
static int probe(uint32_t *buf, uint32_t insn, uint64_t frm)
{
    volatile int legal = 0;

    buf[0] = insn;
    buf[1] = 0x00008067;                    /* ret */
    __builtin___clear_cache((char *)buf, (char *)(buf + 2));
    __asm__ volatile("fence.i" ::: "memory");
    __asm__ volatile("fsrm %0" :: "r"(frm));
    if (!sigsetjmp(ill_jmp, 1)) {
        ((void (*)(void))(void *)buf)();
        legal = 1;
    }
    return legal;
}

static void probe_decoder(void)
{
    uint32_t *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;

    if (buf == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigill;
    sigaction(SIGILL, &sa, NULL);
    for (uint64_t frm = 0; frm <= 5; frm += 5) {
        for (uint32_t f7 = 0; f7 < 128; f7++)
            for (uint32_t rs2 = 0; rs2 < 32; rs2++)
                for (uint32_t f3 = 0; f3 < 8; f3++) {
                    uint32_t insn = f7 << 25 | rs2 << 20 | 6u << 15 | f3 << 12 | 5u << 7 | 0x53;
                    printf("L %08x %lx %d\n", insn, (unsigned long)frm, probe(buf, insn, frm));
                }
        for (uint32_t opc = 0x43; opc <= 0x4f; opc += 4)
            for (uint32_t fmt = 0; fmt < 4; fmt++)
                for (uint32_t f3 = 0; f3 < 8; f3++) {
                    uint32_t insn = 7u << 27 | fmt << 25 | 8u << 20 | 6u << 15 | f3 << 12 |
                                    5u << 7 | opc;
                    printf("L %08x %lx %d\n", insn, (unsigned long)frm, probe(buf, insn, frm));
                }
    }
    __asm__ volatile("fsrm %0" :: "r"(0));
}

int main(int argc, char **argv)
{
    long nrand2 = argc > 1 ? atol(argv[1]) : 1500;
    if (argc > 2)
        rng = strtoull(argv[2], NULL, 0) | 1;

    for (size_t i = 0; i < N(ops); i++) {
        const Op *op = &ops[i];
        int args = op->args, dbl = args >= A_D1 && args <= A_D3;
        int n = args == A_I ? 1 : (args - (dbl ? A_D1 : A_S1)) + 1;
        const uint64_t *edge = args == A_I ? edge_i : dbl ? edge_d : edge_s;
        size_t ne = args == A_I ? N(edge_i) : dbl ? N(edge_d) : N(edge_s);
        int nrm = op->static_rm ? 1 : 5;
        long nrand = n == 1 ? nrand2 * 2 / 5 : nrand2;

        if (n == 3)
            ne = 12;
        for (int rm = 0; rm < nrm; rm++) {
            /* static-rm ops run with a dynamic mode that differs from theirs */
            uint64_t frm = op->static_rm ? 4 - (i % 5) : (uint64_t)rm;
            for (size_t x = 0; x < ne; x++)
                for (size_t y = 0; y < (n > 1 ? ne : 1); y++)
                    for (size_t z = 0; z < (n > 2 ? ne : 1); z++)
                        run(op, edge[x], edge[y], edge[z], frm);
            for (long k = 0; k < nrand; k++) {
                if (args == A_I) {
                    uint64_t v = rnd_int();
                    run(op, v, v, v, frm);
                    continue;
                }
                uint64_t a = rnd_float(dbl, 0);
                uint64_t b = rnd_float(dbl, exp_of(a, dbl));
                uint64_t c = rnd_float(dbl, exp_of(a, dbl) + exp_of(b, dbl) -
                                       (dbl ? 1023 : 127));
                run(op, a, b, c, frm);
            }
        }
    }
    probe_decoder();
    return 0;
}
