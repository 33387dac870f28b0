/* Internals of the program generator shared by gen.c and gen_fp.c. */
#ifndef DIFF_GEN_INTERNAL_H
#define DIFF_GEN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gen.h"
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
    int last_x, last_f;     /* most recently chosen destinations, -1 if none */
    uint8_t ftype[32];      /* FT_* last put in each FP register (a guess
                             * across branches), so operands mostly fit
                             * the operation's format instead of being NaN */
} Gen;

static inline uint64_t rnd(Gen *g)
{
    /* splitmix64: fine statistical quality, trivially reproducible */
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline unsigned rn(Gen *g, unsigned n) { return (unsigned)(rnd(g) % n); }
static inline bool chance(Gen *g, unsigned pct) { return rn(g, 100) < pct; }
static inline int rrange(Gen *g, int lo, int hi) { return lo + (int)rn(g, (unsigned)(hi - lo + 1)); }

static inline void emit32(Gen *g, uint32_t v)
{
    if (g->len + 4 > DIFF_CODE_MAX)
        return;     /* callers keep well below the limit; never overflow */
    memcpy(g->code + g->len, &v, 4);
    g->len += 4;
}

static inline void emit16(Gen *g, uint16_t v)
{
    if (g->len + 2 > DIFF_CODE_MAX)
        return;
    memcpy(g->code + g->len, &v, 2);
    g->len += 2;
}

static inline void patch32(Gen *g, uint32_t at, uint32_t v) { memcpy(g->code + at, &v, 4); }
static inline void patch16(Gen *g, uint32_t at, uint16_t v) { memcpy(g->code + at, &v, 2); }

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* FP value kinds: NaN-boxed single, double, neither (reads as NaN as a single). */
enum { FT_S = 0, FT_D = 1, FT_X = 2 };

/* --- register choice --- */

static inline unsigned wreg(Gen *g)
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

static inline unsigned wreg_nz(Gen *g)
{
    for (;;) {
        unsigned r = wreg(g);
        if (r)
            return r;
    }
}

static inline unsigned rreg(Gen *g) { return rn(g, 32); }

static inline unsigned wcreg(Gen *g)
{
    for (;;) {
        unsigned r = 8 + rn(g, 8);
        if (!(g->reserved & (1u << r))) {
            g->last_x = (int)r;
            return r;
        }
    }
}

static inline unsigned rcreg(Gen *g) { return 8 + rn(g, 8); }

/* A data-buffer address for an access of size bytes, aligned or not. */
static inline uint64_t data_addr(Gen *g, unsigned size, bool aligned)
{
    if (!aligned && size > 1 && chance(g, 25))
        return DIFF_DATA_MID - size + 1 + rn(g, size - 1);   /* crosses the page */
    uint64_t a = DIFF_DATA + rn(g, DIFF_DATA_SIZE - size + 1);
    if (aligned)
        a &= ~(uint64_t)(size - 1);
    return a;
}

static inline int base_off(uint64_t addr) { return (int)((int64_t)addr - (int64_t)DIFF_DATA_MID); }

uint64_t dg_randfp_t(Gen *g, int *type);
void dg_gen_fp(Gen *g);
void dg_gen_fp_mem(Gen *g);
void dg_gen_fcsr(Gen *g);

#endif
