/* cpubench: a fixed amount of CoreMark-style work for comparing emulators.
 * Kernels: linked-list manipulation, integer matrix multiply, a token
 * state machine, CRC16, a memory-bound pointer chase, and a double-precision
 * n-body step.  Each kernel's result feeds a checksum, so the same binary
 * must print the same checksum under every correct emulator.  Prints the
 * guest-side time (clock_gettime) per kernel and in total, plus retired
 * instructions (rdinstret) when user mode may read the counter.
 * Arguments: iters=N (default 40; work scales linearly), expect=CHECKSUM. */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "guest.h"

static sigjmp_buf probe_env;
static void probe_handler(int sig) { (void)sig; siglongjmp(probe_env, 1); }

/* Returns 1 and the counter value if rdinstret does not trap. */
static int read_instret(uint64_t *v)
{
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = probe_handler;
    sigaction(SIGILL, &sa, &old);
    int ok = 0;
    if (sigsetjmp(probe_env, 1) == 0) {
        uint64_t x;
        __asm__ volatile("rdinstret %0" : "=r"(x));
        *v = x;
        ok = 1;
    }
    sigaction(SIGILL, &old, NULL);
    return ok;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint16_t crc16(uint16_t crc, uint32_t v)
{
    for (int i = 0; i < 32; i++) {
        unsigned bit = ((v >> i) ^ crc) & 1;
        crc >>= 1;
        if (bit)
            crc ^= 0xa001;
    }
    return crc;
}

/* --- linked list: build, reverse, search, insertion-sort by a scrambled key */
#define LIST_N 400
struct node { struct node *next; uint32_t key, val; };
static uint32_t k_list(uint32_t seed)
{
    static struct node pool[LIST_N];
    struct node *head = NULL;
    for (int i = 0; i < LIST_N; i++) {
        pool[i].key = (uint32_t)i * 2654435761u ^ seed;
        pool[i].val = (uint32_t)i;
        pool[i].next = head;
        head = &pool[i];
    }
    struct node *rev = NULL;
    while (head) {
        struct node *n = head->next;
        head->next = rev;
        rev = head;
        head = n;
    }
    uint32_t acc = 0;
    for (uint32_t want = 0; want < LIST_N; want += 7)
        for (struct node *n = rev; n; n = n->next)
            if (n->val == want) { acc += n->key; break; }
    struct node *sorted = NULL;
    while (rev) {
        struct node *n = rev;
        rev = rev->next;
        struct node **pp = &sorted;
        while (*pp && ((*pp)->key & 0xffff) < (n->key & 0xffff))
            pp = &(*pp)->next;
        n->next = *pp;
        *pp = n;
    }
    for (struct node *n = sorted; n; n = n->next)
        acc = acc * 31 + n->val;
    return acc;
}

/* --- integer matrix multiply */
#define MAT_N 40
static uint32_t k_matrix(uint32_t seed)
{
    static int32_t a[MAT_N][MAT_N], b[MAT_N][MAT_N], c[MAT_N][MAT_N];
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            a[i][j] = (int32_t)((i * 3 + j + seed) % 17) - 8;
            b[i][j] = (int32_t)((i + j * 5 + seed) % 13) - 6;
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t s = 0;
            for (int k = 0; k < MAT_N; k++)
                s += a[i][k] * b[k][j];
            c[i][j] = s;
        }
    uint32_t acc = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            acc = acc * 7 + (uint32_t)c[i][j];
    return acc;
}

/* --- state machine classifying comma-separated tokens, as CoreMark does */
enum { S_START, S_INT, S_FLOAT, S_EXP, S_EXPNUM, S_INVALID, S_COUNT };
static uint32_t k_state(uint32_t seed)
{
    static const char *tok[] = { "5012", "1.234", "-874", "+122", "6.5e-3", "1e", "abc", ".5",
                                 "35.54400", "-110.700", "+0.64400", "5.500e+3", "-.123e-2" };
    char buf[2048];
    size_t len = 0;
    uint32_t r = seed;
    while (len + 16 < sizeof buf) {
        r = r * 1103515245u + 12345u;
        const char *t = tok[(r >> 16) % (sizeof tok / sizeof tok[0])];
        size_t tl = strlen(t);
        memcpy(buf + len, t, tl);
        len += tl;
        buf[len++] = ',';
    }
    uint32_t count[S_COUNT] = { 0 };
    int s = S_START;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == ',') {
            count[s]++;
            s = S_START;
            continue;
        }
        int digit = ch >= '0' && ch <= '9';
        switch (s) {
        case S_START: s = digit || ch == '+' || ch == '-' ? S_INT : ch == '.' ? S_FLOAT : S_INVALID; break;
        case S_INT: s = digit ? S_INT : ch == '.' ? S_FLOAT : ch == 'e' ? S_EXP : S_INVALID; break;
        case S_FLOAT: s = digit ? S_FLOAT : ch == 'e' || ch == 'E' ? S_EXP : S_INVALID; break;
        case S_EXP: s = digit || ch == '+' || ch == '-' ? S_EXPNUM : S_INVALID; break;
        case S_EXPNUM: s = digit ? S_EXPNUM : S_INVALID; break;
        default: break;
        }
    }
    uint32_t acc = 0;
    for (int i = 0; i < S_COUNT; i++)
        acc = acc * 131 + count[i];
    return acc;
}

/* --- memory bound: chase a random cyclic permutation bigger than caches */
#define CHASE_N (4u << 20) /* 4M entries x 4 bytes = 16 MiB */
static uint32_t *chase;
static uint32_t k_memory(uint32_t seed)
{
    uint32_t p = seed % CHASE_N, acc = 0;
    for (int i = 0; i < 40000; i++) {
        p = chase[p];
        acc += p;
    }
    return acc;
}

/* --- double precision: a few steps of a 5-body gravity simulation */
static uint32_t k_fp(uint32_t seed)
{
    double x[5], y[5], z[5], vx[5] = { 0 }, vy[5] = { 0 }, vz[5] = { 0 }, m[5];
    for (int i = 0; i < 5; i++) {
        x[i] = (i + 1) * 1.5 + (seed % 7) * 0.01;
        y[i] = (i * 7 % 5) * 0.75 - 1.0;
        z[i] = (i * 3 % 4) * 0.5;
        m[i] = 1.0 + i * 0.25;
    }
    for (int step = 0; step < 400; step++) {
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
                double d2 = dx * dx + dy * dy + dz * dz + 0.01;
                double mag = 0.001 / (d2 * sqrt(d2));
                vx[i] -= dx * m[j] * mag; vy[i] -= dy * m[j] * mag; vz[i] -= dz * m[j] * mag;
                vx[j] += dx * m[i] * mag; vy[j] += dy * m[i] * mag; vz[j] += dz * m[i] * mag;
            }
        for (int i = 0; i < 5; i++) {
            x[i] += 0.01 * vx[i]; y[i] += 0.01 * vy[i]; z[i] += 0.01 * vz[i];
        }
    }
    double e = 0;
    for (int i = 0; i < 5; i++)
        e += m[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]) + x[i] * y[i] - z[i];
    /* Hash the exact bits: every operation above (including sqrt) is
     * correctly rounded IEEE, so a correct emulator reproduces them exactly. */
    uint64_t bits;
    memcpy(&bits, &e, sizeof bits);
    return (uint32_t)(bits ^ (bits >> 32));
}

struct kernel { const char *name; uint32_t (*fn)(uint32_t); int reps; double ms; };

int main(int argc, char **argv)
{
    long iters = arg_num(argc, argv, "iters", 40);
    if (iters < 1 || iters > 1000000)
        fail("iters out of range");
    /* Stay on one hart so the instret delta is that of this program's hart. */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);

    chase = malloc(CHASE_N * sizeof *chase);
    if (!chase)
        fail("out of memory");
    /* Sattolo's algorithm: one cycle through every entry. */
    for (uint32_t i = 0; i < CHASE_N; i++)
        chase[i] = i;
    uint32_t r = 12345;
    for (uint32_t i = CHASE_N - 1; i > 0; i--) {
        r = r * 1664525u + 1013904223u;
        uint32_t j = r % i, t = chase[i];
        chase[i] = chase[j];
        chase[j] = t;
    }

    struct kernel ks[] = {
        { "list", k_list, 30, 0 }, { "matrix", k_matrix, 12, 0 }, { "state", k_state, 30, 0 },
        { "memory", k_memory, 1, 0 }, { "fp", k_fp, 1, 0 },
    };
    uint64_t i0 = 0, i1 = 0;
    int have_instret = read_instret(&i0);
    double t0 = now_ms();
    uint16_t crc = 0;
    for (long it = 0; it < iters; it++) {
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
            double s = now_ms();
            for (int rep = 0; rep < ks[k].reps; rep++)
                crc = crc16(crc, ks[k].fn((uint32_t)(it * 100 + rep)));
            ks[k].ms += now_ms() - s;
        }
    }
    double total = now_ms() - t0;
    have_instret = have_instret && read_instret(&i1);

    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
        printf("cpubench: %-7s %9.1f ms\n", ks[k].name, ks[k].ms);
    printf("cpubench: iters=%ld time_ms=%.1f checksum=0x%04x", iters, total, crc);
    if (have_instret && total > 0)
        printf(" instret=%llu mips=%.1f", (unsigned long long)(i1 - i0),
               (double)(i1 - i0) / (total * 1e3));
    printf("\n");
    const char *expect = arg_str(argc, argv, "expect", NULL);
    if (expect && strtoul(expect, NULL, 0) != crc)
        fail("checksum 0x%04x, expected %s", crc, expect);
    return 0;
}
