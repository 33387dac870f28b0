#include "util/clock.h"

#include <time.h>

static uint64_t origin_ns;

static void __attribute__((constructor)) clock_origin(void)
{
    origin_ns = clock_ns();
}

uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mtime(void)
{
    return (clock_ns() - origin_ns) / (1000000000ULL / TIMEBASE_HZ);
}

uint64_t clock_mtime_to_ns(uint64_t ticks)
{
    if (ticks > UINT64_MAX / (1000000000ULL / TIMEBASE_HZ))
        return UINT64_MAX;
    return origin_ns + ticks * (1000000000ULL / TIMEBASE_HZ);
}
