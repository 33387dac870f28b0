/* Software IEEE 754 arithmetic for the RISC-V F and D extensions.
 *
 * Why software rather than the host FPU through <fenv.h>: the host has no
 * round-to-nearest-ties-to-max-magnitude mode (RMM), host tininess detection
 * and NaN propagation differ between architectures (x86 SSE detects tininess
 * after rounding like RISC-V, Arm before), the compiler needs per-file
 * -frounding-math/-fsignaling-nans to keep it from folding or reordering
 * operations around fesetround(), and fma() is a slow libm fallback on hosts
 * without FMA.  Integer arithmetic gives one exact implementation everywhere.
 *
 * Method: every finite operand is unpacked into sign, unbiased exponent and a
 * 63-bit significand whose top bit is bit 62 (value = sig * 2^(exp - 62)).
 * Operations compute the exact result, or a wider one whose lowest bit is a
 * "sticky" bit recording that nonzero bits were discarded, in 64- or 128-bit
 * integers, and a single round_pack() rounds it to the destination format.
 * The sticky bit always lies well below the rounding position, so one
 * rounding step decides every mode correctly, including RMM and the exact
 * halfway cases.
 *
 * The exception is sf_host_rne(), a fast path for the common case (RNE, NX
 * already set, normal operands and result) where the host's IEEE result is
 * provably the same and no flag can change; it needs the host in its default
 * floating point environment (round to nearest, no flush-to-zero), which
 * quail never changes.
 */
#include "cpu/fpu_soft.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu/riscv.h"

__extension__ typedef unsigned __int128 u128;

typedef struct FmtInfo {
    int mbits;          /* stored mantissa bits */
    int bias;           /* also the largest unbiased exponent */
    int emin;           /* smallest normal unbiased exponent */
    uint64_t sign;      /* sign bit */
    uint64_t inf;       /* +infinity encoding */
    uint64_t canon_nan;
} FmtInfo;

static const FmtInfo fmt_info[2] = {
    [SF_F32] = { 23, 127, -126, 1ULL << 31, 0x7f800000ULL, SF_CANON_NAN32 },
    [SF_F64] = { 52, 1023, -1022, 1ULL << 63, 0x7ff0000000000000ULL, SF_CANON_NAN64 },
};

enum { C_ZERO, C_FINITE, C_INF, C_QNAN, C_SNAN };

typedef struct Unpacked {
    int cls;
    bool sign;
    int exp;            /* C_FINITE only */
    uint64_t sig;       /* C_FINITE only: bit 62 set, bit 63 clear */
} Unpacked;

static int clz64(uint64_t x)
{
    return __builtin_clzll(x);
}

static int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? clz64(hi) : 64 + clz64((uint64_t)x);
}

/* Right shift that ORs every bit shifted out into bit 0. */
static uint64_t shr_jam64(uint64_t x, int n)
{
    if (n <= 0)
        return x;
    if (n >= 64)
        return x != 0;
    return (x >> n) | ((x & ((1ULL << n) - 1)) != 0);
}

static u128 shr_jam128(u128 x, int n)
{
    if (n <= 0)
        return x;
    if (n >= 128)
        return x != 0;
    return (x >> n) | ((x & (((u128)1 << n) - 1)) != 0);
}

static Unpacked unpack(const FmtInfo *fi, uint64_t bits)
{
    Unpacked u = { 0 };
    int ebits = fi->mbits == 23 ? 8 : 11;
    uint64_t emax_field = (1ULL << ebits) - 1;
    uint64_t e = (bits >> fi->mbits) & emax_field;
    uint64_t m = bits & ((1ULL << fi->mbits) - 1);

    u.sign = (bits & fi->sign) != 0;
    if (e == emax_field) {
        if (m == 0)
            u.cls = C_INF;
        else
            u.cls = (m >> (fi->mbits - 1)) ? C_QNAN : C_SNAN;
    } else if (e == 0) {
        if (m == 0) {
            u.cls = C_ZERO;
        } else {
            int s = clz64(m) - 1;
            u.cls = C_FINITE;
            u.sig = m << s;
            u.exp = fi->emin - fi->mbits - s + 62;
        }
    } else {
        u.cls = C_FINITE;
        u.sig = (m | (1ULL << fi->mbits)) << (62 - fi->mbits);
        u.exp = (int)e - fi->bias;
    }
    return u;
}

static bool is_nan(const Unpacked *u)
{
    return u->cls == C_QNAN || u->cls == C_SNAN;
}

static uint64_t make_zero(const FmtInfo *fi, bool sign)
{
    return sign ? fi->sign : 0;
}

static uint64_t make_inf(const FmtInfo *fi, bool sign)
{
    return fi->inf | (sign ? fi->sign : 0);
}

/* Whether rounding away the bits r (of which `half` is the halfway value)
 * increments the magnitude q. */
static bool round_up(int rm, bool sign, uint64_t q, uint64_t r, uint64_t half)
{
    switch (rm) {
    case SF_RNE: return r > half || (r == half && (q & 1));
    case SF_RTZ: return false;
    case SF_RDN: return r != 0 && sign;
    case SF_RUP: return r != 0 && !sign;
    default:     return r >= half;      /* SF_RMM */
    }
}

/* Rounds sign * sig * 2^(exp - 62) (sig nonzero with bit 62 set, bit 0 possibly
 * sticky) to the format.  Tininess is detected after rounding, as RISC-V
 * specifies: the result is tiny if rounding to full precision with an
 * unbounded exponent stays below the smallest normal; UF needs tiny and
 * inexact. */
static uint64_t round_pack(const FmtInfo *fi, bool sign, int exp, uint64_t sig, int rm,
                           uint32_t *fl)
{
    int s = 62 - fi->mbits;                 /* bits below the rounding point */
    uint64_t rmask = (1ULL << s) - 1, half = 1ULL << (s - 1);
    uint64_t sbit = sign ? fi->sign : 0;
    uint64_t q, r;

    if (exp < fi->emin) {
        bool tiny = true;
        if (exp == fi->emin - 1) {
            q = sig >> s;
            tiny = !(round_up(rm, sign, q, sig & rmask, half) &&
                     q + 1 == (1ULL << (fi->mbits + 1)));
        }
        sig = shr_jam64(sig, fi->emin - exp);
        q = sig >> s;
        r = sig & rmask;
        if (round_up(rm, sign, q, r, half))
            q++;
        if (r) {
            *fl |= FFLAG_NX;
            if (tiny)
                *fl |= FFLAG_UF;
        }
        /* A carry into bit mbits lands in the exponent field as the
         * smallest normal number, which is exactly its value. */
        return sbit | q;
    }

    q = sig >> s;
    r = sig & rmask;
    if (round_up(rm, sign, q, r, half)) {
        q++;
        if (q == (1ULL << (fi->mbits + 1))) {
            q >>= 1;
            exp++;
        }
    }
    if (exp > fi->bias) {
        bool to_inf = rm == SF_RNE || rm == SF_RMM || (rm == SF_RUP && !sign) ||
                      (rm == SF_RDN && sign);
        *fl |= FFLAG_OF | FFLAG_NX;
        return to_inf ? make_inf(fi, sign) : sbit | (fi->inf - 1);
    }
    if (r)
        *fl |= FFLAG_NX;
    return sbit | ((uint64_t)(exp + fi->bias) << fi->mbits) |
           (q & ((1ULL << fi->mbits) - 1));
}

/* Rounds sign * x * 2^k, x nonzero. */
static uint64_t pack128(const FmtInfo *fi, bool sign, int k, u128 x, int rm, uint32_t *fl)
{
    int msb = 127 - clz128(x);
    uint64_t sig = msb > 62 ? (uint64_t)shr_jam128(x, msb - 62) : (uint64_t)x << (62 - msb);
    return round_pack(fi, sign, msb + k, sig, rm, fl);
}

/* Returns the canonical NaN and raises NV if an input is signalling. */
static uint64_t nan_result(const FmtInfo *fi, const Unpacked *a, const Unpacked *b,
                           const Unpacked *c, uint32_t *fl)
{
    if (a->cls == C_SNAN || (b && b->cls == C_SNAN) || (c && c->cls == C_SNAN))
        *fl |= FFLAG_NV;
    return fi->canon_nan;
}

static uint64_t invalid(const FmtInfo *fi, uint32_t *fl)
{
    *fl |= FFLAG_NV;
    return fi->canon_nan;
}

/* Exact zero sum of nonzero operands: +0, or -0 when rounding down. */
static uint64_t cancel_zero(const FmtInfo *fi, int rm)
{
    return make_zero(fi, rm == SF_RDN);
}

/* sa*ma*2^(ea-125) + sb*mb*2^(eb-125), where ma and mb are nonzero with their
 * top bit at bit 125 (bits 126 and 127 are headroom for the carry). */
static uint64_t add_mags(const FmtInfo *fi, bool sa, int ea, u128 ma, bool sb, int eb,
                         u128 mb, int rm, uint32_t *fl)
{
    u128 x;

    if (ea < eb || (ea == eb && ma < mb)) {
        bool ts = sa; int te = ea; u128 tm = ma;
        sa = sb; ea = eb; ma = mb;
        sb = ts; eb = te; mb = tm;
    }
    /* Jamming is safe for subtraction: when the shift is 2 or more at most
     * one bit cancels, leaving > 60 bits above the sticky bit; smaller
     * shifts lose nothing. */
    mb = shr_jam128(mb, ea - eb);
    x = sa == sb ? ma + mb : ma - mb;
    if (x == 0)
        return cancel_zero(fi, rm);
    return pack128(fi, sa, ea - 125, x, rm, fl);
}

static uint64_t addsub(SfFmt f, uint64_t a, uint64_t b, bool negate_b, int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);

    if (negate_b) {
        y.sign = !y.sign;
        b ^= fi->sign;
    }
    if (is_nan(&x) || is_nan(&y))
        return nan_result(fi, &x, &y, NULL, fl);
    if (x.cls == C_INF) {
        if (y.cls == C_INF && x.sign != y.sign)
            return invalid(fi, fl);
        return a;
    }
    if (y.cls == C_INF)
        return b;
    if (x.cls == C_ZERO && y.cls == C_ZERO)
        return x.sign == y.sign ? a : cancel_zero(fi, rm);
    if (x.cls == C_ZERO)
        return b;
    if (y.cls == C_ZERO)
        return a;
    return add_mags(fi, x.sign, x.exp, (u128)x.sig << 63, y.sign, y.exp,
                    (u128)y.sig << 63, rm, fl);
}

uint64_t sf_add(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl)
{
    return addsub(f, a, b, false, rm, fl);
}

uint64_t sf_sub(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl)
{
    return addsub(f, a, b, true, rm, fl);
}

uint64_t sf_mul(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);
    bool sign = x.sign != y.sign;

    if (is_nan(&x) || is_nan(&y))
        return nan_result(fi, &x, &y, NULL, fl);
    if ((x.cls == C_INF && y.cls == C_ZERO) || (x.cls == C_ZERO && y.cls == C_INF))
        return invalid(fi, fl);
    if (x.cls == C_INF || y.cls == C_INF)
        return make_inf(fi, sign);
    if (x.cls == C_ZERO || y.cls == C_ZERO)
        return make_zero(fi, sign);
    return pack128(fi, sign, x.exp + y.exp - 124, (u128)x.sig * y.sig, rm, fl);
}

uint64_t sf_div(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);
    bool sign = x.sign != y.sign;
    u128 n, q;

    if (is_nan(&x) || is_nan(&y))
        return nan_result(fi, &x, &y, NULL, fl);
    if ((x.cls == C_INF && y.cls == C_INF) || (x.cls == C_ZERO && y.cls == C_ZERO))
        return invalid(fi, fl);
    if (x.cls == C_INF || y.cls == C_ZERO) {
        if (x.cls != C_INF)
            *fl |= FFLAG_DZ;
        return make_inf(fi, sign);
    }
    if (x.cls == C_ZERO || y.cls == C_INF)
        return make_zero(fi, sign);
    /* The quotient has 64 or 65 significant bits, so the remainder's sticky
     * bit sits far below the rounding point. */
    n = (u128)x.sig << 64;
    q = n / y.sig;
    q |= (n % y.sig) != 0;
    return pack128(fi, sign, x.exp - y.exp - 64, q, rm, fl);
}

static uint64_t isqrt128(u128 x)
{
    /* Double-precision estimate, one Newton step (which lands on or just
     * above the floor of the root), then exact integer correction. */
    uint64_t r = (uint64_t)sqrt((double)x);
    if (r == 0)
        r = 1;
    r = (uint64_t)(((u128)r + x / r) >> 1);
    while ((u128)r * r > x)
        r--;
    while ((u128)(r + 1) * (r + 1) <= x)
        r++;
    return r;
}

uint64_t sf_sqrt(SfFmt f, uint64_t a, int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a);
    int k, s;
    u128 n;
    uint64_t r;

    if (is_nan(&x))
        return nan_result(fi, &x, NULL, NULL, fl);
    if (x.cls == C_ZERO)
        return a;
    if (x.sign)
        return invalid(fi, fl);
    if (x.cls == C_INF)
        return a;
    /* value = sig * 2^k; scale sig up by 63 or 64 bits so the exponent is
     * even and the integer root has 63 significant bits. */
    k = x.exp - 62;
    s = ((unsigned)(k - 63) & 1) ? 64 : 63;
    n = (u128)x.sig << s;
    r = isqrt128(n);
    r |= (u128)r * r != n;
    return pack128(fi, false, (k - s) / 2, r, rm, fl);
}

uint64_t sf_fma(SfFmt f, uint64_t a, uint64_t b, uint64_t c, bool neg_prod, bool neg_c,
                int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b), z = unpack(fi, c);
    bool inf_times_zero = (x.cls == C_INF && y.cls == C_ZERO) ||
                          (x.cls == C_ZERO && y.cls == C_INF);
    bool ps = (x.sign != y.sign) != neg_prod;
    u128 p;
    int pe;

    if (neg_c) {
        z.sign = !z.sign;
        c ^= fi->sign;
    }
    /* RISC-V: infinity times zero is invalid even when the addend is a quiet NaN. */
    if (is_nan(&x) || is_nan(&y) || is_nan(&z)) {
        if (inf_times_zero)
            *fl |= FFLAG_NV;
        return nan_result(fi, &x, &y, &z, fl);
    }
    if (inf_times_zero)
        return invalid(fi, fl);
    if (x.cls == C_INF || y.cls == C_INF) {
        if (z.cls == C_INF && z.sign != ps)
            return invalid(fi, fl);
        return make_inf(fi, ps);
    }
    if (z.cls == C_INF)
        return c;
    if (x.cls == C_ZERO || y.cls == C_ZERO) {
        if (z.cls != C_ZERO)
            return c;
        return ps == z.sign ? make_zero(fi, ps) : cancel_zero(fi, rm);
    }
    p = (u128)x.sig * y.sig;        /* top bit at 124 or 125, exact */
    pe = x.exp + y.exp;
    if (p >> 125)
        pe++;
    else
        p <<= 1;
    if (z.cls == C_ZERO)
        return pack128(fi, ps, pe - 125, p, rm, fl);
    return add_mags(fi, ps, pe, p, z.sign, z.exp, (u128)z.sig << 63, rm, fl);
}

/* a < b for non-NaN encodings; -0 < +0 unless zeros_equal. */
static bool less(const FmtInfo *fi, uint64_t a, uint64_t b, bool zeros_equal)
{
    bool sa = (a & fi->sign) != 0, sb = (b & fi->sign) != 0;
    uint64_t ma = a & ~fi->sign, mb = b & ~fi->sign;

    if (ma == 0 && mb == 0)
        return !zeros_equal && sa && !sb;
    if (sa != sb)
        return sa;
    return sa ? ma > mb : ma < mb;
}

static uint64_t minmax(SfFmt f, uint64_t a, uint64_t b, bool want_max, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);

    if (x.cls == C_SNAN || y.cls == C_SNAN)
        *fl |= FFLAG_NV;
    if (is_nan(&x) && is_nan(&y))
        return fi->canon_nan;
    if (is_nan(&x))
        return b;
    if (is_nan(&y))
        return a;
    return less(fi, a, b, false) != want_max ? a : b;
}

uint64_t sf_min(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl)
{
    return minmax(f, a, b, false, fl);
}

uint64_t sf_max(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl)
{
    return minmax(f, a, b, true, fl);
}

bool sf_eq(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);

    if (is_nan(&x) || is_nan(&y)) {
        if (x.cls == C_SNAN || y.cls == C_SNAN)
            *fl |= FFLAG_NV;
        return false;
    }
    return a == b || (x.cls == C_ZERO && y.cls == C_ZERO);
}

bool sf_lt(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);

    if (is_nan(&x) || is_nan(&y)) {
        *fl |= FFLAG_NV;
        return false;
    }
    return less(fi, a, b, true);
}

bool sf_le(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a), y = unpack(fi, b);

    if (is_nan(&x) || is_nan(&y)) {
        *fl |= FFLAG_NV;
        return false;
    }
    return !less(fi, b, a, true);
}

unsigned sf_class(SfFmt f, uint64_t a)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a);
    uint64_t expfield = (a & ~fi->sign) >> fi->mbits;

    switch (x.cls) {
    case C_SNAN: return 1u << 8;
    case C_QNAN: return 1u << 9;
    case C_INF:  return x.sign ? 1u << 0 : 1u << 7;
    case C_ZERO: return x.sign ? 1u << 3 : 1u << 4;
    default:
        if (expfield == 0)
            return x.sign ? 1u << 2 : 1u << 5;
        return x.sign ? 1u << 1 : 1u << 6;
    }
}

uint64_t sf_cvt(SfFmt to, SfFmt from, uint64_t a, int rm, uint32_t *fl)
{
    const FmtInfo *fo = &fmt_info[to];
    Unpacked x = unpack(&fmt_info[from], a);

    switch (x.cls) {
    case C_QNAN:
    case C_SNAN: return nan_result(fo, &x, NULL, NULL, fl);
    case C_INF:  return make_inf(fo, x.sign);
    case C_ZERO: return make_zero(fo, x.sign);
    default:     return round_pack(fo, x.sign, x.exp, x.sig, rm, fl);
    }
}

static uint64_t sext(uint64_t v, int width)
{
    return width == 32 ? (uint64_t)(int64_t)(int32_t)(uint32_t)v : v;
}

uint64_t sf_to_int(SfFmt f, uint64_t a, bool is_signed, int width, int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    Unpacked x = unpack(fi, a);
    uint64_t max = is_signed ? (1ULL << (width - 1)) - 1 : (width == 64 ? UINT64_MAX :
                                                              (1ULL << width) - 1);
    uint64_t min = is_signed ? 1ULL << (width - 1) : 0;   /* magnitude of the minimum */
    u128 q;
    uint64_t r, half;
    int fracbits;

    if (is_nan(&x) || (x.cls == C_INF && !x.sign)) {
        *fl |= FFLAG_NV;
        return sext(max, width);
    }
    if (x.cls == C_INF) {
        *fl |= FFLAG_NV;
        return sext(-min, width);
    }
    if (x.cls == C_ZERO)
        return 0;
    if (x.exp > 64)
        goto out_of_range;
    fracbits = 62 - x.exp;
    if (fracbits <= 0) {
        q = (u128)x.sig << -fracbits;
        r = 0;
        half = 1;
    } else if (fracbits >= 64) {
        /* |value| < 1/2: a nonzero remainder below the halfway point. */
        q = 0;
        r = 1;
        half = 2;
    } else {
        q = x.sig >> fracbits;
        r = x.sig & ((1ULL << fracbits) - 1);
        half = 1ULL << (fracbits - 1);
    }
    if (round_up(rm, x.sign, (uint64_t)q, r, half))
        q++;
    if (x.sign ? q > min : q > max)
        goto out_of_range;
    if (r)
        *fl |= FFLAG_NX;
    return sext(x.sign ? -(uint64_t)q : (uint64_t)q, width);

out_of_range:
    *fl |= FFLAG_NV;
    return sext(x.sign ? -min : max, width);
}

uint64_t sf_from_int(SfFmt f, uint64_t v, bool is_signed, int width, int rm, uint32_t *fl)
{
    const FmtInfo *fi = &fmt_info[f];
    bool neg;

    if (width == 32)
        v = is_signed ? (uint64_t)(int64_t)(int32_t)(uint32_t)v : (uint32_t)v;
    neg = is_signed && (int64_t)v < 0;
    if (neg)
        v = -v;
    if (v == 0)
        return 0;
    return pack128(fi, neg, 0, v, rm, fl);
}

static bool normal32(uint32_t v)
{
    uint32_t e = (v >> 23) & 0xff;
    return e != 0 && e != 0xff;
}

static bool normal64(uint64_t v)
{
    uint64_t e = (v >> 52) & 0x7ff;
    return e != 0 && e != 0x7ff;
}

bool sf_host_rne(SfFmt f, int op, uint64_t a, uint64_t b, uint64_t *res)
{
#if FLT_EVAL_METHOD != 0
    /* wider intermediates (x87) would round twice */
    (void)f; (void)op; (void)a; (void)b; (void)res;
    return false;
#else
    if (f == SF_F64) {
        double x, y, r;
        uint64_t rb;
        if (!normal64(a) || (op == SF_OP_SQRT ? (a >> 63) != 0 : !normal64(b)))
            return false;
        memcpy(&x, &a, sizeof(x));
        memcpy(&y, &b, sizeof(y));
        switch (op) {
        case SF_OP_ADD: r = x + y; break;
        case SF_OP_SUB: r = x - y; break;
        case SF_OP_MUL: r = x * y; break;
        case SF_OP_DIV: r = x / y; break;
        default:        r = __builtin_sqrt(x); break;
        }
        memcpy(&rb, &r, sizeof(rb));
        /* exactly 2^-1022 may be tiny after rounding: let the slow path decide */
        if (!normal64(rb) || (rb & ~(1ULL << 63)) == 0x0010000000000000ULL)
            return false;
        *res = rb;
        return true;
    } else {
        float x, y, r;
        uint32_t ab = (uint32_t)a, bb = (uint32_t)b, rb;
        if (!normal32(ab) || (op == SF_OP_SQRT ? (ab >> 31) != 0 : !normal32(bb)))
            return false;
        memcpy(&x, &ab, sizeof(x));
        memcpy(&y, &bb, sizeof(y));
        switch (op) {
        case SF_OP_ADD: r = x + y; break;
        case SF_OP_SUB: r = x - y; break;
        case SF_OP_MUL: r = x * y; break;
        case SF_OP_DIV: r = x / y; break;
        default:        r = __builtin_sqrtf(x); break;
        }
        memcpy(&rb, &r, sizeof(rb));
        if (!normal32(rb) || (rb & 0x7fffffffu) == 0x00800000u)
            return false;
        *res = rb;
        return true;
    }
#endif
}

bool sf_host_fma_rne(SfFmt f, uint64_t a, uint64_t b, uint64_t c, uint64_t *res)
{
#if FLT_EVAL_METHOD != 0
    (void)f; (void)a; (void)b; (void)c; (void)res;
    return false;
#else
    /* libm's fma() is correctly rounded (glibc uses the FMA instruction when
     * the host has one and an exact software method otherwise). */
    if (f == SF_F64) {
        double x, y, z, r;
        uint64_t rb;
        if (!normal64(a) || !normal64(b) || !normal64(c))
            return false;
        memcpy(&x, &a, sizeof(x));
        memcpy(&y, &b, sizeof(y));
        memcpy(&z, &c, sizeof(z));
        r = fma(x, y, z);
        memcpy(&rb, &r, sizeof(rb));
        if (!normal64(rb) || (rb & ~(1ULL << 63)) == 0x0010000000000000ULL)
            return false;
        *res = rb;
        return true;
    } else {
        float x, y, z, r;
        uint32_t ab = (uint32_t)a, bb = (uint32_t)b, cb = (uint32_t)c, rb;
        if (!normal32(ab) || !normal32(bb) || !normal32(cb))
            return false;
        memcpy(&x, &ab, sizeof(x));
        memcpy(&y, &bb, sizeof(y));
        memcpy(&z, &cb, sizeof(z));
        r = fmaf(x, y, z);
        memcpy(&rb, &r, sizeof(rb));
        if (!normal32(rb) || (rb & 0x7fffffffu) == 0x00800000u)
            return false;
        *res = rb;
        return true;
    }
#endif
}
