/* Address layout and record formats shared by the generator (host), the
 * riscv64 runner (under qemu-riscv64) and the quail side.  Both sides place
 * code and data at the same guest addresses so that link registers, AUIPC
 * results and base pointers compare equal. */
#ifndef DIFF_LAYOUT_H
#define DIFF_LAYOUT_H

#include <stdint.h>

#define DIFF_MEM_BASE  0x40000000ULL          /* quail RAM base / runner mmap */
#define DIFF_MEM_SIZE  0x20000ULL
#define DIFF_CODE      0x40000000ULL          /* program entry */
#define DIFF_CODE_MAX  0x8000u                /* program bytes at most */
#define DIFF_STUB      0x40008000ULL          /* programs end by jumping here */
#define DIFF_TRAMP     0x40009000ULL          /* runner: loads state, enters code */
#define DIFF_CTX       0x4000A000ULL          /* runner: initial state block */
#define DIFF_TRAP      0x4000B000ULL          /* quail: mtvec, a trap is a failure */
#define DIFF_SAVE      0x40010800ULL          /* runner: final registers */
/* The data buffer straddles a page boundary so that misaligned accesses
 * crossing pages are exercised too. */
#define DIFF_DATA      0x40010c00ULL          /* data buffer programs may touch */
#define DIFF_DATA_SIZE 0x800u
#define DIFF_DATA_MID  (DIFF_DATA + DIFF_DATA_SIZE / 2)   /* initial base reg */

/* Runner save area, relative to DIFF_SAVE (the stub reaches it from the base
 * register, which holds DIFF_DATA_MID: offsets stay within imm12). */
#define SAVE_X    0
#define SAVE_F    256
#define SAVE_FCSR 512

/* Runner context block, relative to DIFF_CTX. */
#define CTX_RET  0
#define CTX_X    8
#define CTX_F    (CTX_X + 256)
#define CTX_FCSR (CTX_F + 256)

/* One program in a batch file: header, then code bytes padded to 8. */
typedef struct DiffProgHdr {
    uint32_t magic;          /* DIFF_MAGIC */
    uint32_t code_len;
    uint32_t base_reg;       /* register holding DIFF_DATA_MID throughout */
    uint32_t pad;
    uint64_t x[32];
    uint64_t f[32];
    uint64_t fcsr;
    uint8_t data[DIFF_DATA_SIZE];
} DiffProgHdr;

#define DIFF_MAGIC 0x46464944u   /* "DIFF" */

enum { DIFF_OK = 0, DIFF_TRAPPED = 1, DIFF_TIMEOUT = 2, DIFF_WRONG_PRIV = 3 };

/* Final state of one program, written by both sides. */
typedef struct DiffRecord {
    uint64_t status;         /* DIFF_OK, DIFF_TRAPPED (aux = cause | epc << 8),
                              * DIFF_TIMEOUT (aux = pc), DIFF_WRONG_PRIV (aux = priv) */
    uint64_t aux;
    uint64_t x[32];
    uint64_t f[32];
    uint64_t fcsr;
    uint64_t csum;           /* FNV-1a over the data buffer */
    uint8_t data[DIFF_DATA_SIZE];
} DiffRecord;

static inline uint64_t diff_fnv1a(const uint8_t *p, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif
