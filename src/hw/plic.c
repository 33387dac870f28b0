/* PLIC gateway and core.  Sources are level-triggered (as QEMU models them):
 * a high line sets pending unless the source is already claimed; completion
 * re-samples the line so a still-asserted device interrupts again. */
#include "hw/plic.h"

#include <string.h>

#include "util/log.h"

static bool bit(const uint32_t *w, int i) { return w[i / 32] >> (i % 32) & 1; }
static void set_bit(uint32_t *w, int i, bool v)
{
    if (v)
        w[i / 32] |= 1u << (i % 32);
    else
        w[i / 32] &= ~(1u << (i % 32));
}

/* Highest-priority pending, enabled source above the context's threshold
 * (lowest id wins ties), or 0. */
static int plic_best(Plic *p, int ctx)
{
    int best = 0, best_prio = 0;
    for (int w = 0; w < PLIC_WORDS; w++) {
        uint32_t cand = p->pending[w] & p->enable[ctx][w] & ~p->claimed[w];
        while (cand) {
            int i = w * 32 + __builtin_ctz(cand);
            cand &= cand - 1;
            if (i == 0 || i >= PLIC_NUM_SOURCES)
                continue;
            int prio = p->priority[i];
            if (prio > best_prio && prio > p->threshold[ctx]) {
                best = i;
                best_prio = prio;
            }
        }
    }
    return best;
}

static void plic_update(Plic *p)
{
    for (int c = 0; c < p->ncontexts; c++) {
        bool level = plic_best(p, c) != 0;
        if (level != p->out[c]) {
            p->out[c] = level;
            if (p->output)
                p->output(p->opaque, c, level);
        }
    }
}

void plic_init(Plic *p, int nharts, PlicOutput output, void *opaque)
{
    memset(p, 0, sizeof(*p));
    p->ncontexts = nharts * 2;
    if (p->ncontexts > PLIC_MAX_CONTEXTS)
        p->ncontexts = PLIC_MAX_CONTEXTS;
    p->output = output;
    p->opaque = opaque;
}

void plic_reset(Plic *p)
{
    memset(p->priority, 0, sizeof(p->priority));
    memset(p->pending, 0, sizeof(p->pending));
    memset(p->claimed, 0, sizeof(p->claimed));
    memset(p->enable, 0, sizeof(p->enable));
    memset(p->threshold, 0, sizeof(p->threshold));
    /* Lines stay as the devices drive them; the outputs are forced low. */
    for (int i = 1; i < PLIC_NUM_SOURCES; i++)
        if (bit(p->level, i))
            set_bit(p->pending, i, true);
    for (int c = 0; c < p->ncontexts; c++) {
        if (p->out[c] && p->output)
            p->output(p->opaque, c, false);
        p->out[c] = false;
    }
    plic_update(p);
}

void plic_set_irq(Plic *p, int source, bool level)
{
    if (source <= 0 || source >= PLIC_NUM_SOURCES)
        return;
    set_bit(p->level, source, level);
    if (level && !bit(p->claimed, source))
        set_bit(p->pending, source, true);
    else if (!level)
        set_bit(p->pending, source, false);
    plic_update(p);
}

static int plic_claim(Plic *p, int ctx)
{
    int i = plic_best(p, ctx);
    if (i) {
        set_bit(p->pending, i, false);
        set_bit(p->claimed, i, true);
        plic_update(p);
    }
    return i;
}

static void plic_complete(Plic *p, int ctx, uint32_t i)
{
    /* The spec ignores completions for sources not enabled for this context. */
    if (i == 0 || i >= PLIC_NUM_SOURCES || !bit(p->enable[ctx], i))
        return;
    set_bit(p->claimed, i, false);
    if (bit(p->level, i))
        set_bit(p->pending, i, true);
    plic_update(p);
}

static int plic_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    Plic *p = opaque;
    *val = 0;
    if (size != 4 || (off & 3)) {
        log_guest_error("plic: bad read size %u at 0x%llx", size, (unsigned long long)off);
        return 0;
    }
    if (off < PLIC_PENDING_BASE) {
        uint64_t i = off / 4;
        if (i < PLIC_NUM_SOURCES)
            *val = p->priority[i];
    } else if (off < PLIC_ENABLE_BASE) {
        uint64_t w = (off - PLIC_PENDING_BASE) / 4;
        if (w < PLIC_WORDS)
            *val = p->pending[w];
    } else if (off < PLIC_CONTEXT_BASE) {
        uint64_t ctx = (off - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
        uint64_t w = (off - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE / 4;
        if (ctx < (uint64_t)p->ncontexts && w < PLIC_WORDS)
            *val = p->enable[ctx][w];
    } else {
        uint64_t ctx = (off - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
        uint64_t reg = (off - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
        if (ctx >= (uint64_t)p->ncontexts)
            return 0;
        if (reg == 0)
            *val = p->threshold[ctx];
        else if (reg == 4)
            *val = (uint64_t)plic_claim(p, (int)ctx);
    }
    return 0;
}

static int plic_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    Plic *p = opaque;
    if (size != 4 || (off & 3)) {
        log_guest_error("plic: bad write size %u at 0x%llx", size, (unsigned long long)off);
        return 0;
    }
    uint32_t v = (uint32_t)val;
    if (off < PLIC_PENDING_BASE) {
        uint64_t i = off / 4;
        if (i > 0 && i < PLIC_NUM_SOURCES) {
            p->priority[i] = v & PLIC_PRIO_MASK;
            plic_update(p);
        }
    } else if (off < PLIC_ENABLE_BASE) {
        /* pending bits are read-only */
    } else if (off < PLIC_CONTEXT_BASE) {
        uint64_t ctx = (off - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
        uint64_t w = (off - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE / 4;
        if (ctx < (uint64_t)p->ncontexts && w < PLIC_WORDS) {
            if (w == 0)
                v &= ~1u;       /* source 0 does not exist */
            if (w == PLIC_WORDS - 1 && PLIC_NUM_SOURCES % 32)
                v &= (1u << (PLIC_NUM_SOURCES % 32)) - 1;
            p->enable[ctx][w] = v;
            plic_update(p);
        }
    } else {
        uint64_t ctx = (off - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
        uint64_t reg = (off - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
        if (ctx >= (uint64_t)p->ncontexts)
            return 0;
        if (reg == 0) {
            p->threshold[ctx] = v & PLIC_PRIO_MASK;
            plic_update(p);
        } else if (reg == 4) {
            plic_complete(p, (int)ctx, v);
        }
    }
    return 0;
}

const MmioOps plic_ops = { plic_read, plic_write };
