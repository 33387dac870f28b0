/* Random RV64GC programs for differential testing against qemu-riscv64.
 *
 * Programs are emitted as machine code, so thousands cost no assembler runs.
 * Everything a program does must be defined identically for a user-mode QEMU
 * process and a bare M-mode hart: no traps, no counters, memory only inside
 * the data buffer (addressed from a base register that is never written),
 * bounded loops (a dedicated counter register), LR/SC pairs with no memory
 * access in between (same-hart stores may or may not break a reservation),
 * and only valid rounding modes in frm whenever a dynamic-rm op may run.
 */
#include "gen.h"

#include <stdbool.h>
#include <string.h>

#include "rvenc.h"

typedef struct Gen {
    uint64_t s;
    uint8_t *code;
    uint32_t len;
    uint32_t reserved;      /* integer registers that must not be written */
    unsigned xb;            /* data base register (x8..x15) */
    unsigned xc;            /* loop counter register */
    bool sp_base;           /* x2 is a second base register */
    uint64_t sp_cur;        /* value of x2 when sp_base */
    bool in_loop;
    int last_x, last_f;     /* most recently chosen destinations, -1 if none */
    uint8_t ftype[32];      /* FT_* last put in each FP register (a guess
                             * across branches), so operands mostly fit
                             * the operation's format instead of being NaN */
} Gen;

static uint64_t rnd(Gen *g)
{
    /* splitmix64: fine statistical quality, trivially reproducible */
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rn(Gen *g, unsigned n) { return (unsigned)(rnd(g) % n); }
static bool chance(Gen *g, unsigned pct) { return rn(g, 100) < pct; }
static int rrange(Gen *g, int lo, int hi) { return lo + (int)rn(g, (unsigned)(hi - lo + 1)); }

static void emit32(Gen *g, uint32_t v)
{
    if (g->len + 4 > DIFF_CODE_MAX)
        return;     /* callers keep well below the limit; never overflow */
    memcpy(g->code + g->len, &v, 4);
    g->len += 4;
}

static void emit16(Gen *g, uint16_t v)
{
    if (g->len + 2 > DIFF_CODE_MAX)
        return;
    memcpy(g->code + g->len, &v, 2);
    g->len += 2;
}

static void patch32(Gen *g, uint32_t at, uint32_t v) { memcpy(g->code + at, &v, 4); }
static void patch16(Gen *g, uint32_t at, uint16_t v) { memcpy(g->code + at, &v, 2); }

static const uint64_t spec64[] = {
    0, 1, 2, 3, 0xffffffffffffffffULL, 0xfffffffffffffffeULL,
    0x8000000000000000ULL, 0x7fffffffffffffffULL, 0x8000000000000001ULL,
    0x80000000ULL, 0x7fffffffULL, 0xffffffffULL, 0xffffffff80000000ULL,
    0xffffffff7fffffffULL, 0x100000000ULL, 0x00000000fffffffeULL,
    0xfffffffffffff800ULL, 0x7ffULL, 0x800ULL, 0x8000ULL, 0xffffULL, 0xff,
    0x80, 31, 32, 63, 64, 0x123456789abcdef0ULL, 0xdeadbeefcafebabeULL,
    0x00000001ffffffffULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL,
};

static const uint64_t specd[] = {
    0x0000000000000000ULL, 0x8000000000000000ULL, 0x7ff0000000000000ULL,
    0xfff0000000000000ULL, 0x7ff8000000000000ULL, 0xfff8000000000000ULL,
    0x7ff0000000000001ULL, 0x7ff4000000000000ULL, 0x7ff8000000000123ULL,
    0x0000000000000001ULL, 0x800fffffffffffffULL, 0x000fffffffffffffULL,
    0x0010000000000000ULL, 0x7fefffffffffffffULL, 0xffefffffffffffffULL,
    0x3ff0000000000000ULL, 0xbff0000000000000ULL, 0x3fe0000000000000ULL,
    0x4008000000000000ULL, 0x3fd5555555555555ULL, 0x43e0000000000000ULL,
    0xc3e0000000000000ULL, 0x43f0000000000000ULL, 0x41e0000000000000ULL,
    0x41f0000000000000ULL, 0xc1e0000000000000ULL, 0x3ff8000000000000ULL,
    0x4004000000000000ULL, 0xbfe0000000000000ULL, 0x41efffffffe00000ULL,
    0x43dfffffffffffffULL, 0x3810000000000000ULL, 0x36a0000000000000ULL,
    0x47efffffe0000000ULL, 0x3ff0000000000001ULL, 0xc1e0000000200000ULL,
};

static const uint32_t specs[] = {
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
    0x7f800001, 0x7fa00000, 0x7fc00123, 0x00000001, 0x807fffff, 0x007fffff,
    0x00800000, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000, 0x3f000000,
    0x40400000, 0x3eaaaaab, 0x5f000000, 0xdf000000, 0x5f800000, 0x4f000000,
    0x4f800000, 0xcf000000, 0x3fc00000, 0x40200000, 0xbf000000, 0x4effffff,
    0x3f800001, 0x0c000000, 0x33800000,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rand64(Gen *g)
{
    unsigned k = rn(g, 10);
    if (k < 4)
        return spec64[rn(g, NELEM(spec64))];
    if (k < 6)
        return (uint64_t)(int64_t)rrange(g, -100, 100);
    if (k < 7)
        return (uint64_t)(int64_t)(int32_t)rnd(g);
    return rnd(g);
}

/* An FP register value; *type gets FT_S (NaN-boxed single), FT_D or FT_X
 * (neither: a single-precision read sees the canonical NaN). */
enum { FT_S = 0, FT_D = 1, FT_X = 2 };

static uint64_t randfp_t(Gen *g, int *type)
{
    unsigned k = rn(g, 24);
    *type = FT_D;
    if (k < 6)
        return specd[rn(g, NELEM(specd))];
    if (k < 8)
        return rnd(g);
    if (k < 11) {
        /* an ordinary number near 1: rounding of the results matters */
        uint64_t e = (uint64_t)(1023 - 30 + (int)rn(g, 61));
        return (rnd(g) & 0x800fffffffffffffULL) | e << 52;
    }
    *type = FT_S;
    if (k < 16)
        return 0xffffffff00000000ULL | specs[rn(g, NELEM(specs))];
    if (k < 17)
        return 0xffffffff00000000ULL | (uint32_t)rnd(g);
    if (k < 21) {
        uint32_t e = (uint32_t)(127 - 20 + (int)rn(g, 41));
        return 0xffffffff00000000ULL | ((uint32_t)rnd(g) & 0x807fffffu) | e << 23;
    }
    /* not NaN-boxed: single-precision reads must see the canonical NaN */
    *type = FT_X;
    uint64_t hi = rnd(g) & 0xffffffff00000000ULL;
    if (hi == 0xffffffff00000000ULL)
        hi = 0;
    return hi | specs[rn(g, NELEM(specs))];
}

static uint64_t randfp(Gen *g)
{
    int t;
    return randfp_t(g, &t);
}

/* --- register choice --- */

static unsigned wreg(Gen *g)
{
    for (;;) {
        unsigned r = rn(g, 32);
        if (r == 0 && !chance(g, 5))
            continue;
        if (g->reserved & (1u << r))
            continue;
        g->last_x = (int)r;
        return r;
    }
}

static unsigned wreg_nz(Gen *g)
{
    for (;;) {
        unsigned r = wreg(g);
        if (r)
            return r;
    }
}

static unsigned rreg(Gen *g) { return rn(g, 32); }

static unsigned wcreg(Gen *g)
{
    for (;;) {
        unsigned r = 8 + rn(g, 8);
        if (!(g->reserved & (1u << r))) {
            g->last_x = (int)r;
            return r;
        }
    }
}

static unsigned rcreg(Gen *g) { return 8 + rn(g, 8); }

/* An FP source for format fmt: usually one holding a value of that format. */
static unsigned fsrc(Gen *g, unsigned fmt)
{
    if (chance(g, 85)) {
        unsigned start = rn(g, 32);
        for (unsigned i = 0; i < 32; i++) {
            unsigned r = (start + i) & 31;
            if (g->ftype[r] == fmt)
                return r;
        }
    }
    return rn(g, 32);
}

static int rand_imm12(Gen *g)
{
    static const int spec[] = { 0, 1, -1, 2047, -2048, 0x7f0, 31, 32, 63, 64, -2 };
    unsigned k = rn(g, 10);
    if (k < 3)
        return rrange(g, -16, 16);
    if (k < 5)
        return spec[rn(g, NELEM(spec))];
    return rrange(g, -2048, 2047);
}

/* A data-buffer address for an access of size bytes, aligned or not. */
static uint64_t data_addr(Gen *g, unsigned size, bool aligned)
{
    if (!aligned && size > 1 && chance(g, 25))
        return DIFF_DATA_MID - size + 1 + rn(g, size - 1);   /* crosses the page */
    uint64_t a = DIFF_DATA + rn(g, DIFF_DATA_SIZE - size + 1);
    if (aligned)
        a &= ~(uint64_t)(size - 1);
    return a;
}

static int base_off(uint64_t addr) { return (int)((int64_t)addr - (int64_t)DIFF_DATA_MID); }

/* --- integer ops --- */

static void gen_alu_r(Gen *g)
{
    static const uint8_t op_f3[] = { 0, 0, 1, 2, 3, 4, 5, 5, 6, 7 };
    static const uint8_t op_f7[] = { 0, 0x20, 0, 0, 0, 0, 0, 0x20, 0, 0 };
    static const uint8_t w_f3[] = { 0, 0, 1, 5, 5 };
    static const uint8_t w_f7[] = { 0, 0x20, 0, 0, 0x20 };
    unsigned rd = wreg(g), rs1 = rreg(g), rs2 = rreg(g);
    switch (rn(g, 4)) {
    case 0: {
        unsigned k = rn(g, NELEM(op_f3));
        emit32(g, rv_r(OPC_OP, op_f3[k], op_f7[k], rd, rs1, rs2));
        break;
    }
    case 1: {
        unsigned k = rn(g, NELEM(w_f3));
        emit32(g, rv_r(OPC_OP32, w_f3[k], w_f7[k], rd, rs1, rs2));
        break;
    }
    case 2:
        emit32(g, rv_r(OPC_OP, rn(g, 8), 1, rd, rs1, rs2));
        break;
    default: {
        static const uint8_t mw[] = { 0, 4, 5, 6, 7 };
        emit32(g, rv_r(OPC_OP32, mw[rn(g, NELEM(mw))], 1, rd, rs1, rs2));
        break;
    }
    }
}

static void gen_alu_i(Gen *g)
{
    unsigned rd = wreg(g), rs1 = rreg(g);
    switch (rn(g, 12)) {
    case 0: case 1: case 2:
        emit32(g, rv_i(OPC_OP_IMM, 0, rd, rs1, rand_imm12(g)));
        break;
    case 3: {
        static const uint8_t f3[] = { 2, 3, 4, 6, 7 };
        unsigned k = rn(g, NELEM(f3));
        emit32(g, rv_i(OPC_OP_IMM, f3[k], rd, rs1, rand_imm12(g)));
        break;
    }
    case 4:
        emit32(g, rv_i(OPC_OP_IMM, 1, rd, rs1, (int)rn(g, 64)));
        break;
    case 5:
        emit32(g, rv_i(OPC_OP_IMM, 5, rd, rs1, (int)rn(g, 64)));
        break;
    case 6:
        emit32(g, rv_i(OPC_OP_IMM, 5, rd, rs1, 0x400 | (int)rn(g, 64)));
        break;
    case 7: case 8:
        emit32(g, rv_i(OPC_OP_IMM32, 0, rd, rs1, rand_imm12(g)));
        break;
    case 9:
        emit32(g, rv_i(OPC_OP_IMM32, 1, rd, rs1, (int)rn(g, 32)));
        break;
    case 10:
        emit32(g, rv_i(OPC_OP_IMM32, 5, rd, rs1, (int)rn(g, 32)));
        break;
    default:
        emit32(g, rv_i(OPC_OP_IMM32, 5, rd, rs1, 0x400 | (int)rn(g, 32)));
        break;
    }
}

static void gen_upper(Gen *g)
{
    unsigned rd = wreg(g);
    uint32_t imm = chance(g, 30) ? (chance(g, 50) ? 0x80000u : 0x7ffffu) : (uint32_t)rnd(g);
    emit32(g, rv_u(chance(g, 60) ? OPC_LUI : OPC_AUIPC, rd, imm));
}

/* Puts an interesting value in a register with a short sequence. */
static void gen_special(Gen *g)
{
    unsigned rd = wreg_nz(g);
    switch (rn(g, 6)) {
    case 0:
        emit32(g, rv_i(OPC_OP_IMM, 0, rd, 0, rand_imm12(g)));
        break;
    case 1:
        emit32(g, rv_i(OPC_OP_IMM, 0, rd, 0, -1));
        emit32(g, rv_i(OPC_OP_IMM, 1, rd, rd, (int)rn(g, 64)));
        break;
    case 2:
        emit32(g, rv_i(OPC_OP_IMM, 0, rd, 0, -1));
        emit32(g, rv_i(OPC_OP_IMM, 5, rd, rd, (int)rn(g, 64)));
        break;
    case 3: {
        uint32_t imm = chance(g, 50) ? 0x80000u : (uint32_t)rnd(g);
        emit32(g, rv_u(OPC_LUI, rd, imm));
        emit32(g, rv_i(OPC_OP_IMM32, 0, rd, rd, rand_imm12(g)));
        break;
    }
    default: {
        /* a special value stored in the data buffer */
        uint64_t a = data_addr(g, 8, true);
        emit32(g, rv_i(OPC_LOAD, 3, rd, g->xb, base_off(a)));
        break;
    }
    }
}

static void gen_load_store(Gen *g)
{
    static const unsigned lsize[] = { 1, 2, 4, 8, 1, 2, 4 };
    bool load = chance(g, 50);
    unsigned f3 = load ? rn(g, 7) : rn(g, 4);
    unsigned size = lsize[f3];
    uint64_t a = data_addr(g, size, chance(g, 75));
    unsigned base = g->xb;
    int off = base_off(a);
    if (g->sp_base && chance(g, 25)) {
        base = 2;
        off = (int)((int64_t)a - (int64_t)g->sp_cur);
    }
    if (load)
        emit32(g, rv_i(OPC_LOAD, f3, wreg(g), base, off));
    else
        emit32(g, rv_s(OPC_STORE, f3, base, rreg(g), off));
}

/* Address computed into a scratch register first: other base registers,
 * register-indexed addressing. */
static void gen_computed_mem(Gen *g)
{
    unsigned t = wreg_nz(g);
    bool load = chance(g, 50);
    unsigned f3 = load ? rn(g, 7) : rn(g, 4);
    static const unsigned lsize[] = { 1, 2, 4, 8, 1, 2, 4 };
    unsigned size = lsize[f3];
    int off2;
    if (chance(g, 50)) {
        uint64_t a = data_addr(g, size, chance(g, 70));
        int off1 = rrange(g, -1024, 1023);
        emit32(g, rv_i(OPC_OP_IMM, 0, t, g->xb, off1));
        off2 = base_off(a) - off1;
    } else {
        /* t = (xR & 0x7f8) + base: any register value indexes the buffer */
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rreg(g), 0x7f8));
        emit32(g, rv_r(OPC_OP, 0, 0, t, t, g->xb));
        off2 = -1024;
    }
    if (load)
        emit32(g, rv_i(OPC_LOAD, f3, wreg(g), t, off2));
    else
        emit32(g, rv_s(OPC_STORE, f3, t, rreg(g), off2));
}

static void gen_compressed_alu(Gen *g)
{
    switch (rn(g, 14)) {
    case 0: {
        int imm;
        do imm = rrange(g, -32, 31); while (!imm);
        emit16(g, rvc_ci(0, 1, wreg_nz(g), imm));
        break;
    }
    case 1: {
        unsigned rd = wreg_nz(g);
        emit16(g, rvc_ci(1, 1, rd, rrange(g, -32, 31)));      /* c.addiw */
        break;
    }
    case 2: {
        unsigned rd = wreg_nz(g);
        emit16(g, rvc_ci(2, 1, rd, rrange(g, -32, 31)));      /* c.li */
        break;
    }
    case 3: {
        unsigned rd;
        do rd = wreg_nz(g); while (rd == 2);
        int imm;
        do imm = rrange(g, -32, 31); while (!imm);
        emit16(g, rvc_lui(rd, imm));
        break;
    }
    case 4: {
        unsigned kind = rn(g, 2), rd = wcreg(g);
        emit16(g, rvc_shift_andi(kind, rd, rrange(g, 1, 63)));
        break;
    }
    case 5: {
        unsigned rd = wcreg(g);
        emit16(g, rvc_shift_andi(2, rd, rrange(g, -32, 31)));
        break;
    }
    case 6: {
        unsigned f = rn(g, 4), rd = wcreg(g);
        emit16(g, rvc_ca(0, f, rd, rcreg(g)));
        break;
    }
    case 7: {
        unsigned f = rn(g, 2), rd = wcreg(g);
        emit16(g, rvc_ca(1, f, rd, rcreg(g)));
        break;
    }
    case 8: {
        unsigned rd = wreg_nz(g);
        emit16(g, rvc_slli(rd, rrange(g, 1, 63)));
        break;
    }
    case 9: {
        unsigned rs;
        do rs = rreg(g); while (!rs);
        emit16(g, rvc_cr(0, wreg_nz(g), rs));     /* c.mv */
        break;
    }
    case 10: {
        unsigned rs;
        do rs = rreg(g); while (!rs);
        emit16(g, rvc_cr(1, wreg_nz(g), rs));     /* c.add */
        break;
    }
    case 11:
        emit16(g, rvc_addi4spn(wcreg(g), 4u * (unsigned)rrange(g, 1, 255)));
        break;
    case 12:
        if (!(g->reserved & (1u << 2))) {
            int imm;
            do imm = 16 * rrange(g, -32, 31); while (!imm);
            emit16(g, rvc_addi16sp(imm));
            break;
        }
        /* fallthrough */
    default:
        emit16(g, 0x0001);        /* c.nop */
        break;
    }
}

static void gen_compressed_mem(Gen *g)
{
    bool d = chance(g, 50);
    unsigned uimm = d ? 8u * rn(g, 32) : 4u * rn(g, 32);
    unsigned k = rn(g, 6);
    switch (k) {
    case 0: emit16(g, d ? rvc_ls_d(3, g->xb, wcreg(g), uimm) : rvc_ls_w(2, g->xb, wcreg(g), uimm)); break;
    case 1: emit16(g, d ? rvc_ls_d(7, g->xb, rcreg(g), uimm) : rvc_ls_w(6, g->xb, rcreg(g), uimm)); break;
    case 2: case 3: {
        unsigned fr = 8 + rn(g, 8);
        if (k == 2)
            g->ftype[fr] = FT_D;
        emit16(g, rvc_ls_d(k == 2 ? 1 : 5, g->xb, fr, 8u * rn(g, 32)));   /* c.fld, c.fsd */
        break;
    }
    default:
        if (!g->sp_base) {
            emit16(g, d ? rvc_ls_d(3, g->xb, wcreg(g), uimm) : rvc_ls_w(2, g->xb, wcreg(g), uimm));
            break;
        }
        /* sp-relative forms, sometimes with sp moved and moved back */
        int adj = chance(g, 30) ? 16 * rrange(g, -8, 8) : 0;
        if (adj)
            emit16(g, rvc_addi16sp(adj));
        g->sp_cur += (uint64_t)(int64_t)adj;
        for (unsigned n = 1 + rn(g, 3); n; n--) {
            unsigned kind = rn(g, 6), slot = rn(g, 64);
            switch (kind) {
            case 0: emit16(g, rvc_lsp(2, wreg_nz(g), 4u * slot)); break;
            case 1: emit16(g, rvc_lsp(3, wreg_nz(g), 8u * slot)); break;
            case 2: {
                unsigned fd = rn(g, 32);
                g->ftype[fd] = FT_D;
                emit16(g, rvc_lsp(1, fd, 8u * slot));
                break;
            }
            case 3: emit16(g, rvc_ssp(6, rreg(g), 4u * slot)); break;
            case 4: emit16(g, rvc_ssp(7, rreg(g), 8u * slot)); break;
            default: emit16(g, rvc_ssp(5, rn(g, 32), 8u * slot)); break;
            }
        }
        if (adj)
            emit16(g, rvc_addi16sp(-adj));
        g->sp_cur -= (uint64_t)(int64_t)adj;
        break;
    }
}

/* LR, a few register ops, SC to the same address; sometimes a second SC that
 * must fail because the first one consumed the reservation. */
static void gen_lrsc(Gen *g)
{
    unsigned w64 = rn(g, 2);
    unsigned t = wreg_nz(g);
    uint64_t a = data_addr(g, w64 ? 8 : 4, true);
    emit32(g, rv_i(OPC_OP_IMM, 0, t, g->xb, base_off(a)));
    uint32_t saved = g->reserved;
    g->reserved |= 1u << t;
    unsigned aq = rn(g, 2), rl = rn(g, 2);
    emit32(g, rv_amo(2, aq, rl, w64, wreg(g), t, 0));
    for (unsigned n = rn(g, 3); n; n--) {
        if (chance(g, 50))
            gen_alu_r(g);
        else
            gen_alu_i(g);
    }
    bool again = chance(g, 30);
    if (!again)
        g->reserved = saved;
    unsigned rd = wreg(g), rs2 = rreg(g);
    aq = rn(g, 2);
    rl = rn(g, 2);
    emit32(g, rv_amo(3, aq, rl, w64, rd, t, rs2));
    if (again) {
        g->reserved = saved;
        rd = wreg(g);
        rs2 = rreg(g);
        emit32(g, rv_amo(3, 0, 0, w64, rd, t, rs2));
    }
    g->reserved = saved;
}

static void gen_amo(Gen *g)
{
    static const uint8_t f5[] = { 0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c };
    unsigned w64 = rn(g, 2);
    unsigned t = wreg_nz(g);
    uint64_t a = data_addr(g, w64 ? 8 : 4, true);
    emit32(g, rv_i(OPC_OP_IMM, 0, t, g->xb, base_off(a)));
    unsigned op = f5[rn(g, NELEM(f5))], aq = rn(g, 2), rl = rn(g, 2), rd = wreg(g);
    emit32(g, rv_amo(op, aq, rl, w64, rd, t, rreg(g)));
}

/* --- floating point --- */

static unsigned rand_rm(Gen *g)
{
    static const uint8_t rm[] = { 0, 1, 2, 3, 4, 7, 7, 7 };
    return rm[rn(g, NELEM(rm))];
}

static void gen_fp(Gen *g)
{
    unsigned fmt = rn(g, 2);
    unsigned fd = rn(g, 32), fs1 = fsrc(g, fmt), fs2 = fsrc(g, fmt), fs3 = fsrc(g, fmt);
    g->last_f = (int)fd;
    uint8_t old_type = g->ftype[fd];
    g->ftype[fd] = (uint8_t)fmt;
    switch (rn(g, 16)) {
    case 0: case 1: case 2: {
        static const uint8_t f7[] = { 0x00, 0x04, 0x08, 0x0c };
        unsigned rm = rand_rm(g);
        emit32(g, rv_r(OPC_OP_FP, rm, f7[rn(g, 4)] | fmt, fd, fs1, fs2));
        break;
    }
    case 3:
        emit32(g, rv_r(OPC_OP_FP, rand_rm(g), 0x2c | fmt, fd, fs1, 0));      /* fsqrt */
        break;
    case 4: case 5: {
        static const uint8_t op[] = { OPC_MADD, OPC_MSUB, OPC_NMSUB, OPC_NMADD };
        unsigned rm = rand_rm(g);
        emit32(g, rv_r4(op[rn(g, 4)], rm, fmt, fd, fs1, fs2, fs3));
        break;
    }
    case 6: {
        unsigned f3 = rn(g, 3);
        emit32(g, rv_r(OPC_OP_FP, f3, 0x10 | fmt, fd, fs1, chance(g, 20) ? fs1 : fs2));
        break;
    }
    case 7:
        emit32(g, rv_r(OPC_OP_FP, rn(g, 2), 0x14 | fmt, fd, fs1, fs2));       /* fmin/fmax */
        break;
    case 8: {
        unsigned src = fsrc(g, !fmt);
        if (fmt)
            emit32(g, rv_r(OPC_OP_FP, rand_rm(g), 0x21, fd, src, 0));        /* fcvt.d.s */
        else
            emit32(g, rv_r(OPC_OP_FP, rand_rm(g), 0x20, fd, src, 1));        /* fcvt.s.d */
        break;
    }
    case 9: {
        static const uint8_t f3[] = { 0, 1, 2 };                             /* fle flt feq */
        g->ftype[fd] = old_type;
        unsigned k = rn(g, 3);
        emit32(g, rv_r(OPC_OP_FP, f3[k], 0x50 | fmt, wreg(g), fs1, fs2));
        break;
    }
    case 10:
        g->ftype[fd] = old_type;
        emit32(g, rv_r(OPC_OP_FP, 1, 0x70 | fmt, wreg(g), fs1, 0));          /* fclass */
        break;
    case 11:
        g->ftype[fd] = old_type;
        emit32(g, rv_r(OPC_OP_FP, 0, 0x70 | fmt, wreg(g), fs1, 0));          /* fmv.x.[wd] */
        break;
    case 12:
        emit32(g, rv_r(OPC_OP_FP, 0, 0x78 | fmt, fd, rreg(g), 0));           /* fmv.[wd].x */
        break;
    case 13: case 14: {
        g->ftype[fd] = old_type;
        unsigned rm = rand_rm(g), rd = wreg(g);
        emit32(g, rv_r(OPC_OP_FP, rm, 0x60 | fmt, rd, fs1, rn(g, 4)));  /* fcvt.int */
        break;
    }
    default: {
        unsigned rm = rand_rm(g), rs = rreg(g);
        emit32(g, rv_r(OPC_OP_FP, rm, 0x68 | fmt, fd, rs, rn(g, 4)));   /* fcvt.fp */
        break;
    }
    }
}

static void gen_fp_mem(Gen *g)
{
    bool d = chance(g, 50), load = chance(g, 50);
    uint64_t a = data_addr(g, d ? 8 : 4, chance(g, 85));
    unsigned f3 = d ? 3 : 2;
    unsigned fr = rn(g, 32);
    if (load) {
        g->ftype[fr] = d ? FT_D : FT_S;
        emit32(g, rv_i(OPC_LOAD_FP, f3, fr, g->xb, base_off(a)));
    } else {
        emit32(g, rv_s(OPC_STORE_FP, f3, g->xb, fr, base_off(a)));
    }
}

/* fflags/frm/fcsr accesses.  frm only ever receives 0..4 so that later
 * dynamic-rounding ops stay legal. */
static void gen_fcsr(Gen *g)
{
    unsigned rd = wreg(g);
    switch (rn(g, 10)) {
    case 0:
        emit32(g, rv_csr(2, rd, 0, 1 + rn(g, 3)));                      /* read */
        break;
    case 1: {
        unsigned f3 = 1 + rn(g, 3);
        emit32(g, rv_csr(f3, rd, rreg(g), 1));                          /* fflags rw/rs/rc */
        break;
    }
    case 2: {
        unsigned f3 = 5 + rn(g, 3);
        emit32(g, rv_csr(f3, rd, rn(g, 32), 1));                        /* fflags imm */
        break;
    }
    case 3:
        emit32(g, rv_csr(5, rd, rn(g, 5), 2));                          /* csrrwi frm */
        break;
    case 4:
    {
        unsigned imm = rn(g, 32);
        emit32(g, rv_csr(7, rd, imm, chance(g, 50) ? 2 : 3));          /* csrrci frm/fcsr */
    }
        break;
    case 5: {
        unsigned t = wreg_nz(g);
        unsigned rs = rreg(g);
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rs, chance(g, 50) ? 3 : 4));
        emit32(g, rv_csr(1, rd, t, 2));                                 /* fsrm */
        break;
    }
    case 6: {
        unsigned t = wreg_nz(g);
        unsigned rs = rreg(g);
        static const int mask[] = { 0x7f, 0x9f, -97 };   /* -97: upper bits set, frm 0 or 4 */
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rs, mask[rn(g, 3)]));
        emit32(g, rv_csr(1, rd, t, 3));                                 /* fscsr */
        break;
    }
    case 7:
        if (chance(g, 70)) {
            emit32(g, rv_csr(6, rd, rn(g, 32), 3));                     /* csrrsi fcsr */
            break;
        }
        /* an invalid frm is legal as long as no dynamic-rm op runs: read
         * it back, then make it valid again */
        emit32(g, rv_csr(5, rd, 5 + rn(g, 3), 2));
        unsigned rd2 = wreg(g), csr = chance(g, 50) ? 2 : 3;
        emit32(g, rv_csr(2, rd2, 0, csr));
        rd2 = wreg(g);
        emit32(g, rv_csr(5, rd2, rn(g, 5), 2));
        break;
    case 8:
    {
        unsigned rs = rreg(g);
        emit32(g, rv_csr(3, rd, rs, chance(g, 50) ? 2 : 3));          /* csrrc frm/fcsr */
    }
        break;
    default: {
        unsigned t = wreg_nz(g);
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rreg(g), 0x1f));
        emit32(g, rv_csr(2, rd, t, 3));                                 /* csrrs fcsr */
        break;
    }
    }
}

static void gen_misc(Gen *g)
{
    switch (rn(g, 4)) {
    case 0: emit32(g, 0x0ff0000f); break;                  /* fence iorw,iorw */
    case 1: emit32(g, 0x8330000f); break;                  /* fence.tso */
    case 2: emit32(g, 0x0000100f); break;                  /* fence.i */
    default: emit32(g, 0x00000013); break;                 /* nop */
    }
}

/* Stores the register written last to the data buffer, so that results
 * survive even when the register is overwritten later. */
static void gen_keep_result(Gen *g)
{
    uint64_t a = data_addr(g, 8, true);
    if (g->last_f >= 0 && chance(g, 40))
        emit32(g, rv_s(OPC_STORE_FP, 3, g->xb, (unsigned)g->last_f, base_off(a)));
    else if (g->last_x > 0)
        emit32(g, rv_s(OPC_STORE, 3, g->xb, (unsigned)g->last_x, base_off(a)));
}

static void gen_simple_one(Gen *g);

static void gen_simple(Gen *g)
{
    g->last_x = g->last_f = -1;
    gen_simple_one(g);
    if (chance(g, 25))
        gen_keep_result(g);
}

static void gen_simple_one(Gen *g)
{
    unsigned k = rn(g, 100);
    if (k < 14) gen_alu_r(g);
    else if (k < 24) gen_alu_i(g);
    else if (k < 26) gen_upper(g);
    else if (k < 34) gen_compressed_alu(g);
    else if (k < 38) gen_special(g);
    else if (k < 48) gen_load_store(g);
    else if (k < 51) gen_computed_mem(g);
    else if (k < 56) gen_compressed_mem(g);
    else if (k < 58) gen_lrsc(g);
    else if (k < 61) gen_amo(g);
    else if (k < 82) gen_fp(g);
    else if (k < 88) gen_fp_mem(g);
    else if (k < 94) gen_fcsr(g);
    else if (k < 95) gen_misc(g);
    else gen_alu_r(g);
}

/* --- control flow --- */

static const uint8_t br_f3[] = { 0, 1, 4, 5, 6, 7 };

/* Conditional branch forward over a few instructions. */
static void gen_fwd_branch(Gen *g)
{
    uint32_t at = g->len;
    bool c = chance(g, 30);
    unsigned f3 = br_f3[rn(g, NELEM(br_f3))], rs1 = rreg(g), rs2 = chance(g, 15) ? rs1 : rreg(g);
    unsigned crs = rcreg(g), nz = rn(g, 2);
    if (c)
        emit16(g, 0);
    else
        emit32(g, 0);
    for (unsigned n = rn(g, 6); n; n--)
        gen_simple(g);
    int off = (int)(g->len - at);
    if (c)
        patch16(g, at, rvc_bz(nz, crs, off));
    else
        patch32(g, at, rv_b(f3, rs1, rs2, off));
}

/* Unconditional jump forward (JAL with a link or C.J) over dead code. */
static void gen_jump_skip(Gen *g)
{
    uint32_t at = g->len;
    bool c = chance(g, 30);
    unsigned rd = wreg(g);
    if (c)
        emit16(g, 0);
    else
        emit32(g, 0);
    for (unsigned n = rn(g, 4); n; n--)
        gen_simple(g);
    int off = (int)(g->len - at);
    if (c)
        patch16(g, at, rvc_j(off));
    else
        patch32(g, at, rv_j(rd, off));
}

static void gen_body_item(Gen *g)
{
    if (chance(g, 85))
        gen_simple(g);
    else
        gen_fwd_branch(g);
}

/* A call to a subroutine placed further on (JAL, AUIPC+JALR or C.JALR), which
 * returns through the link register; the caller then jumps over it. */
static void gen_call(Gen *g)
{
    uint32_t saved = g->reserved;
    unsigned kind = rn(g, 4), link, t = 0;
    int bias = 0;
    uint32_t call_at, base_at = 0;
    if (kind == 3 && (g->reserved & 2u))
        kind = 0;
    link = kind == 3 ? 1 : wreg_nz(g);
    call_at = g->len;
    switch (kind) {
    case 0:
        emit32(g, 0);
        break;
    case 1: case 2:
        t = kind == 1 ? link : wreg_nz(g);
        base_at = g->len;
        emit32(g, rv_u(OPC_AUIPC, t, 0));
        if (kind == 2 && chance(g, 50)) {
            /* t points past the target: JALR with a negative offset */
            bias = 16 * (int)rrange(g, 1, 100);
            emit32(g, rv_i(OPC_OP_IMM, 0, t, t, bias));
        }
        call_at = g->len;
        emit32(g, 0);
        break;
    default:
        t = wreg_nz(g);
        base_at = g->len;
        emit32(g, rv_u(OPC_AUIPC, t, 0));
        call_at = g->len;
        emit32(g, 0);      /* addi t, t, off */
        emit16(g, rvc_cr(1, t, 0));
        break;
    }
    for (unsigned n = rn(g, 3); n; n--)
        gen_simple(g);
    uint32_t skip_at = g->len;
    bool cj = chance(g, 40);
    if (cj)
        emit16(g, 0);
    else
        emit32(g, 0);
    uint32_t sub = g->len;
    switch (kind) {
    case 0: patch32(g, call_at, rv_j(link, (int)(sub - call_at))); break;
    case 1: case 2:
        patch32(g, call_at, rv_i(OPC_JALR, 0, link, t, (int)(sub - base_at) - bias));
        break;
    default: patch32(g, call_at, rv_i(OPC_OP_IMM, 0, t, t, (int)(sub - base_at))); break;
    }
    g->reserved |= 1u << link;
    for (unsigned n = 1 + rn(g, 6); n; n--)
        gen_body_item(g);
    g->reserved = saved;
    switch (rn(g, 4)) {
    case 0: emit32(g, rv_i(OPC_JALR, 0, 0, link, 0)); break;
    case 1: emit16(g, rvc_cr(0, link, 0)); break;                      /* c.jr */
    case 2: emit32(g, rv_i(OPC_JALR, 0, 0, link, 1)); break;           /* bit 0 cleared */
    default: emit32(g, rv_i(OPC_JALR, 0, wreg(g), link, 0)); break;
    }
    int off = (int)(g->len - skip_at);
    if (cj)
        patch16(g, skip_at, rvc_j(off));
    else
        patch32(g, skip_at, rv_j(0, off));
}

/* A loop with a bounded trip count in the dedicated counter register. */
static void gen_loop(Gen *g)
{
    unsigned trips = 1 + rn(g, 5);
    emit32(g, rv_i(OPC_OP_IMM, 0, g->xc, 0, (int)trips));
    uint32_t top = g->len;
    for (unsigned n = 1 + rn(g, 10); n && g->len - top < 1500; n--) {
        if (chance(g, 10))
            gen_call(g);
        else
            gen_body_item(g);
    }
    if (chance(g, 50))
        emit16(g, rvc_ci(0, 1, g->xc, -1));
    else
        emit32(g, rv_i(OPC_OP_IMM, 0, g->xc, g->xc, -1));
    int off = -(int)(g->len - top);
    unsigned k = rn(g, 4);
    if (k == 3) {
        /* exit test forward, then an unconditional backward jump */
        bool cj = chance(g, 50) && off - 4 >= -2048;
        emit32(g, rv_b(0, g->xc, 0, cj ? 6 : 8));            /* beq xc, x0, exit */
        off = -(int)(g->len - top);
        if (cj)
            emit16(g, rvc_j(off));
        else
            emit32(g, rv_j(0, off));
    } else if (k == 0 && g->xc >= 8 && g->xc < 16 && off >= -256)
        emit16(g, rvc_bz(1, g->xc, off));
    else if (k == 1)
        emit32(g, rv_b(4, 0, g->xc, off));       /* blt x0, xc */
    else
        emit32(g, rv_b(1, g->xc, 0, off));       /* bne xc, x0 */
}

void diff_gen(uint64_t seed, uint64_t index, DiffProg *p)
{
    diff_gen_ex(seed, index, p, NULL, 0);
}

unsigned diff_gen_ex(uint64_t seed, uint64_t index, DiffProg *p, const uint8_t *drop,
                     unsigned ndrop)
{
    Gen gs = { .s = seed * 0x2545f4914f6cdd1dULL ^ (index + 1) * 0x9e3779b97f4a7c15ULL };
    Gen *g = &gs;
    memset(p, 0, sizeof(*p));
    rnd(g);
    g->code = p->code;

    g->xb = 8 + rn(g, 8);
    g->sp_base = chance(g, 50);
    g->reserved = 1u << g->xb;
    if (g->sp_base)
        g->reserved |= 1u << 2;
    do g->xc = 1 + rn(g, 31); while (g->reserved & (1u << g->xc));
    g->reserved |= 1u << g->xc;

    DiffProgHdr *h = &p->hdr;
    h->magic = DIFF_MAGIC;
    h->base_reg = g->xb;
    for (unsigned i = 1; i < 32; i++)
        h->x[i] = rand64(g);
    h->x[g->xb] = DIFF_DATA_MID;
    if (g->sp_base) {
        /* room for c.*sp offsets (up to 512) and a +-128 temporary move */
        g->sp_cur = DIFF_DATA + 128 + 16 * rn(g, (DIFF_DATA_SIZE - 512 - 256) / 16);
        if (chance(g, 10))
            g->sp_cur += 4;       /* misaligned stack pointer */
        h->x[2] = g->sp_cur;
    }
    for (unsigned i = 0; i < 32; i++) {
        int t;
        h->f[i] = randfp_t(g, &t);
        g->ftype[i] = (uint8_t)t;
    }
    h->fcsr = rn(g, 32);
    h->fcsr |= rn(g, 5) << 5;
    for (unsigned i = 0; i < DIFF_DATA_SIZE; i += 8) {
        uint64_t v = chance(g, 50) ? rand64(g) : randfp(g);
        memcpy(h->data + i, &v, 8);
    }

    if (chance(g, 25)) {
        /* start just below a page boundary so that fetches (and 32-bit
         * instructions) straddle it */
        uint32_t to = 0xf00 + 2 * rn(g, 0x80);
        emit32(g, rv_j(0, (int)to));
        g->len = to;
    }
    unsigned items = 10 + rn(g, 200);
    unsigned i;
    for (i = 0; i < items && g->len < DIFF_CODE_MAX - 4096; i++) {
        uint32_t before = g->len;
        unsigned k = rn(g, 100);
        if (k < 80)
            gen_simple(g);
        else if (k < 88)
            gen_fwd_branch(g);
        else if (k < 92)
            gen_loop(g);
        else if (k < 97)
            gen_call(g);
        else
            gen_jump_skip(g);
        /* a dropped item still consumes its random numbers, so the others
         * stay the same (used to minimise failing programs) */
        if (i < ndrop && drop[i])
            g->len = before;
    }
    emit32(g, rv_j(0, (int)(DIFF_STUB - DIFF_CODE - g->len)));
    h->code_len = g->len;
    return i;
}
