/* A deterministic integer workload compiled twice: natively into the unit
 * test and for riscv64 (bare metal) into guest.c.  The hart must compute the
 * same results as the host CPU.  Only defined behaviour, fixed-width types
 * and no plain char (its signedness differs between the two ABIs). */
#ifndef QUAIL_TESTS_CPU_BARE_WORKLOAD_H
#define QUAIL_TESTS_CPU_BARE_WORKLOAD_H

#include <stdint.h>

#define WL_RESULTS 8

static uint64_t wl_fib(uint64_t n)
{
    return n < 2 ? n : wl_fib(n - 1) + wl_fib(n - 2);
}

static uint64_t wl_lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

static uint64_t wl_sort(uint64_t seed)
{
    static int64_t v[300];
    uint64_t s = seed;
    for (int i = 0; i < 300; i++)
        v[i] = (int64_t)wl_lcg(&s) - (int64_t)(1ULL << 45);
    for (int i = 1; i < 300; i++) {
        int64_t k = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > k) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = k;
    }
    uint64_t h = 0;
    for (int i = 0; i < 300; i++)
        h = h * 31 + (uint64_t)v[i];
    return h;
}

static uint64_t wl_arith(uint64_t seed)
{
    uint64_t s = seed, h = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t a = wl_lcg(&s) | 1, b = wl_lcg(&s) | 1;
        int64_t sa = (int64_t)(a << 3) , sb = (int64_t)(b >> (i & 31)) | 1;
        uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b | 1;
        int32_t s32 = (int32_t)(a32 ^ 0x80000000u), t32 = (int32_t)(b32 >> (i & 7)) | 1;
        h ^= a * b;
        h += (uint64_t)(((unsigned __int128)a * b) >> 64);
        h ^= (uint64_t)(((__int128)sa * sb) >> 64);
        h += a / b + a % b;
        h ^= (uint64_t)(sa / sb) + (uint64_t)(sa % sb);
        h += a32 / b32 + (a32 % b32);
        h ^= (uint64_t)(int64_t)(s32 / t32) + (uint64_t)(int64_t)(s32 % t32);
        h += (uint64_t)(int64_t)(int32_t)(a32 * b32);
        h ^= (uint64_t)(sa >> (i & 63)) + (a >> (i & 63)) + (a << (i & 63));
        h += (uint64_t)(int64_t)(s32 >> (i & 31)) + (a32 >> (i & 31)) + (uint32_t)(a32 << (i & 31));
        h = (h << 7) | (h >> 57);
        h += (sa < sb) + (a < b) * 2 + (s32 < t32) * 4;
    }
    return h;
}

static uint64_t wl_bytes(uint64_t seed)
{
    static uint8_t buf[4099];
    uint64_t s = seed;
    for (int i = 0; i < 4099; i++)
        buf[i] = (uint8_t)wl_lcg(&s);
    uint64_t h = 0;
    /* unaligned 16/32/64-bit reads and writes */
    for (int i = 0; i + 8 <= 4099; i += 3) {
        uint64_t v;
        uint8_t *p = &buf[i];
        v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
            (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
            (uint64_t)p[7] << 56;
        h = h * 1099511628211ULL ^ v;
        __builtin_memcpy(&v, p, 8);
        h += v;
        int16_t sh;
        __builtin_memcpy(&sh, p + 1, 2);
        h ^= (uint64_t)(int64_t)sh;
        int32_t sw;
        __builtin_memcpy(&sw, p + 3, 4);
        h += (uint64_t)(int64_t)sw;
        v ^= h;
        __builtin_memcpy(p, &v, 8);
    }
    return h;
}

static uint64_t wl_atomics(void)
{
    static uint64_t c64;
    static uint32_t c32;
    uint64_t h = 0;
    for (int i = 0; i < 100; i++) {
        h += __atomic_fetch_add(&c64, (uint64_t)i * 3, __ATOMIC_SEQ_CST);
        h ^= __atomic_fetch_xor(&c32, (uint32_t)i * 0x9e3779b9u, __ATOMIC_SEQ_CST);
        uint64_t expect = c64;
        __atomic_compare_exchange_n(&c64, &expect, expect * 5 + 1, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        h += c64;
    }
    return h;
}

static void wl_run(uint64_t out[WL_RESULTS])
{
    out[0] = wl_fib(22);
    out[1] = wl_sort(1);
    out[2] = wl_sort(12345);
    out[3] = wl_arith(7);
    out[4] = wl_arith(0xdeadbeef);
    out[5] = wl_bytes(99);
    out[6] = wl_atomics();
    out[7] = 0x600d;
}

#endif
