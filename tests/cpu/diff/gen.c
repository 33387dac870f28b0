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
#include "gen_internal.h"

static const uint64_t spec64[] = {
    0, 1, 2, 3, 0xffffffffffffffffULL, 0xfffffffffffffffeULL,
    0x8000000000000000ULL, 0x7fffffffffffffffULL, 0x8000000000000001ULL,
    0x80000000ULL, 0x7fffffffULL, 0xffffffffULL, 0xffffffff80000000ULL,
    0xffffffff7fffffffULL, 0x100000000ULL, 0x00000000fffffffeULL,
    0xfffffffffffff800ULL, 0x7ffULL, 0x800ULL, 0x8000ULL, 0xffffULL, 0xff,
    0x80, 31, 32, 63, 64, 0x123456789abcdef0ULL, 0xdeadbeefcafebabeULL,
    0x00000001ffffffffULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL,
};

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

static uint64_t randfp(Gen *g)
{
    int t;
    return dg_randfp_t(g, &t);
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
    case 11: {
        unsigned rd = wcreg(g);
        emit16(g, rvc_addi4spn(rd, 4u * (unsigned)rrange(g, 1, 255)));
        break;
    }
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
    else if (k < 82) dg_gen_fp(g);
    else if (k < 88) dg_gen_fp_mem(g);
    else if (k < 94) dg_gen_fcsr(g);
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
        h->f[i] = dg_randfp_t(g, &t);
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
