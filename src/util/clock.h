/* The machine's time base.  mtime counts at TIMEBASE_HZ (10 MHz, as QEMU's virt
 * machine advertises in the device tree) from host CLOCK_MONOTONIC, so guest
 * time advances with wall-clock time however fast or slow the CPU emulation is. */
#ifndef QUAIL_UTIL_CLOCK_H
#define QUAIL_UTIL_CLOCK_H

#include <stdint.h>

#define TIMEBASE_HZ 10000000ULL

uint64_t clock_ns(void);        /* host monotonic nanoseconds */
uint64_t clock_mtime(void);     /* ticks at TIMEBASE_HZ since the process started */
/* Host monotonic nanoseconds at which clock_mtime() reaches ticks. */
uint64_t clock_mtime_to_ns(uint64_t ticks);

#endif
