/* Goldfish RTC ("google,goldfish-rtc", QEMU's virt RTC at 0x101000, PLIC line
 * 11): nanoseconds since the epoch from the host's real-time clock plus a
 * guest-set offset, and one alarm.  Registers are 32-bit; reading TIME_LOW
 * latches the high half for the following TIME_HIGH read. */
#ifndef QUAIL_HW_GOLDFISH_RTC_H
#define QUAIL_HW_GOLDFISH_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

#define GOLDFISH_RTC_MMIO_SIZE 0x1000

enum {
    RTC_TIME_LOW = 0x00, RTC_TIME_HIGH = 0x04, RTC_ALARM_LOW = 0x08,
    RTC_ALARM_HIGH = 0x0c, RTC_IRQ_ENABLED = 0x10, RTC_CLEAR_ALARM = 0x14,
    RTC_ALARM_STATUS = 0x18, RTC_CLEAR_INTERRUPT = 0x1c,
};

typedef struct GoldfishRtc {
    Bus *bus;                   /* its io_lock guards everything below */
    int64_t tick_offset;        /* guest time minus host CLOCK_REALTIME, ns */
    uint32_t time_high;         /* latched by a TIME_LOW read */
    uint64_t alarm_next;        /* guest ns */
    bool alarm_running, irq_pending, irq_enabled, irq_level;
    void (*set_irq)(void *opaque, bool level);  /* called with io_lock held */
    void *irq_opaque;

    /* Alarm thread, started by the first alarm set in the future; it waits on
     * cond with the bus io_lock as the mutex. */
    pthread_t thread;
    pthread_cond_t cond;
    bool thread_started, quit;
} GoldfishRtc;

extern const MmioOps goldfish_rtc_ops;

void goldfish_rtc_init(GoldfishRtc *r, Bus *bus);
/* Stops the alarm thread (takes io_lock). */
void goldfish_rtc_destroy(GoldfishRtc *r);
/* Alarm and interrupt state to power-on values; time keeps running. */
void goldfish_rtc_reset(GoldfishRtc *r);
/* Guest time in ns (for tests). */
uint64_t goldfish_rtc_now(const GoldfishRtc *r);

#endif
