/* riscv64 runner for the differential test, run under qemu-riscv64:
 *   diffrunner BATCH OUT
 * For each program in BATCH: copy it to DIFF_CODE, load the initial
 * registers, fcsr and data buffer, run it until it jumps to DIFF_STUB, and
 * append a DiffRecord to OUT.  Records are flushed one by one so a crash
 * points at the program that caused it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "layout.h"
#include "rvenc.h"

void diff_enter(uint64_t tramp);
extern char diff_return[];

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
    return p + 4;
}

#define AT(addr) ((uint8_t *)(uintptr_t)(addr))

/* Loads the whole state from the context block (x1 last, it is the
 * pointer), then jumps to the program. */
static void write_trampoline(void)
{
    uint8_t *p = AT(DIFF_TRAMP);
    p = put32(p, rv_u(OPC_LUI, 1, (uint32_t)(DIFF_CTX >> 12)));
    for (unsigned i = 0; i < 32; i++)
        p = put32(p, rv_i(OPC_LOAD_FP, 3, i, 1, CTX_F + 8 * (int)i));
    p = put32(p, rv_i(OPC_LOAD, 3, 2, 1, CTX_FCSR));
    p = put32(p, rv_csr(1, 0, 2, 3));
    for (unsigned i = 2; i < 32; i++)
        p = put32(p, rv_i(OPC_LOAD, 3, i, 1, CTX_X + 8 * (int)i));
    p = put32(p, rv_i(OPC_LOAD, 3, 1, 1, CTX_X + 8));
    put32(p, rv_j(0, (int)((int64_t)DIFF_CODE - (int64_t)(uintptr_t)p)));
}

/* Saves every register through the program's base register, then returns
 * to diff_return through the context block. */
static void write_stub(unsigned b)
{
    uint8_t *p = AT(DIFF_STUB);
    int save = (int)((int64_t)DIFF_SAVE - (int64_t)DIFF_DATA_MID);
    for (unsigned i = 1; i < 32; i++)
        p = put32(p, rv_s(OPC_STORE, 3, b, i, save + SAVE_X + 8 * (int)i));
    for (unsigned i = 0; i < 32; i++)
        p = put32(p, rv_s(OPC_STORE_FP, 3, b, i, save + SAVE_F + 8 * (int)i));
    p = put32(p, rv_csr(2, 1, 0, 3));
    p = put32(p, rv_s(OPC_STORE, 3, b, 1, save + SAVE_FCSR));
    p = put32(p, rv_u(OPC_LUI, 1, (uint32_t)(DIFF_CTX >> 12)));
    p = put32(p, rv_i(OPC_LOAD, 3, 1, 1, CTX_RET));
    put32(p, rv_i(OPC_JALR, 0, 0, 1, 0));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: diffrunner BATCH OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!in || !out) {
        perror("diffrunner: open");
        return 1;
    }
    void *m = mmap(AT(DIFF_MEM_BASE), DIFF_MEM_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m != AT(DIFF_MEM_BASE)) {
        perror("diffrunner: mmap");
        return 1;
    }
    write_trampoline();
    uint64_t *ctx = (uint64_t *)AT(DIFF_CTX);
    ctx[CTX_RET / 8] = (uint64_t)(uintptr_t)diff_return;

    static DiffProgHdr h;
    static DiffRecord rec;
    for (;;) {
        if (fread(&h, sizeof(h), 1, in) != 1)
            break;
        if (h.magic != DIFF_MAGIC || h.code_len > DIFF_CODE_MAX || h.base_reg < 8 ||
            h.base_reg > 15) {
            fprintf(stderr, "diffrunner: bad program header\n");
            return 1;
        }
        uint32_t padded = (h.code_len + 7) & ~7u;
        memset(AT(DIFF_CODE), 0, DIFF_CODE_MAX);
        if (fread(AT(DIFF_CODE), 1, padded, in) != padded) {
            fprintf(stderr, "diffrunner: short program\n");
            return 1;
        }
        write_stub(h.base_reg);
        memcpy(AT(DIFF_DATA), h.data, DIFF_DATA_SIZE);
        memset(AT(DIFF_SAVE), 0, DIFF_DATA - DIFF_SAVE);
        memcpy(&ctx[CTX_X / 8], h.x, sizeof(h.x));
        memcpy(&ctx[CTX_F / 8], h.f, sizeof(h.f));
        ctx[CTX_FCSR / 8] = h.fcsr;
        __asm__ volatile("fence.i" ::: "memory");

        diff_enter(DIFF_TRAMP);

        const uint64_t *save = (const uint64_t *)AT(DIFF_SAVE);
        memset(&rec, 0, sizeof(rec));
        rec.status = DIFF_OK;
        memcpy(rec.x, save + SAVE_X / 8, sizeof(rec.x));
        rec.x[0] = 0;
        memcpy(rec.f, save + SAVE_F / 8, sizeof(rec.f));
        rec.fcsr = save[SAVE_FCSR / 8];
        memcpy(rec.data, AT(DIFF_DATA), DIFF_DATA_SIZE);
        rec.csum = diff_fnv1a(rec.data, DIFF_DATA_SIZE);
        if (fwrite(&rec, sizeof(rec), 1, out) != 1 || fflush(out)) {
            perror("diffrunner: write");
            return 1;
        }
    }
    return fclose(out) ? 1 : 0;
}
