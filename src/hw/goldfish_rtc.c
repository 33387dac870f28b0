#include "hw/goldfish_rtc.h"

#include <string.h>
#include <time.h>

#include "util/log.h"

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t goldfish_rtc_now(const GoldfishRtc *r)
{
    return host_ns() + (uint64_t)r->tick_offset;
}

static void update_irq(GoldfishRtc *r)
{
    bool level = r->irq_pending && r->irq_enabled;
    if (level != r->irq_level) {
        r->irq_level = level;
        if (r->set_irq)
            r->set_irq(r->irq_opaque, level);
    }
}

static void fire(GoldfishRtc *r)
{
    r->alarm_running = false;
    r->irq_pending = true;
    update_irq(r);
}

static void *alarm_thread(void *opaque)
{
    GoldfishRtc *r = opaque;
    pthread_mutex_lock(&r->bus->io_lock);
    while (!r->quit) {
        if (!r->alarm_running) {
            pthread_cond_wait(&r->cond, &r->bus->io_lock);
            continue;
        }
        uint64_t now = goldfish_rtc_now(r);
        if (now >= r->alarm_next) {
            fire(r);
            continue;
        }
        /* Deadline on the host's real-time clock, which the cond uses. */
        uint64_t deadline = r->alarm_next - (uint64_t)r->tick_offset;
        struct timespec ts = { (time_t)(deadline / 1000000000ULL),
                               (long)(deadline % 1000000000ULL) };
        pthread_cond_timedwait(&r->cond, &r->bus->io_lock, &ts);
    }
    pthread_mutex_unlock(&r->bus->io_lock);
    return NULL;
}

void goldfish_rtc_init(GoldfishRtc *r, Bus *bus)
{
    memset(r, 0, sizeof(*r));
    r->bus = bus;
    pthread_cond_init(&r->cond, NULL);
}

void goldfish_rtc_destroy(GoldfishRtc *r)
{
    if (r->thread_started) {
        pthread_mutex_lock(&r->bus->io_lock);
        r->quit = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->bus->io_lock);
        pthread_join(r->thread, NULL);
        r->thread_started = false;
    }
    pthread_cond_destroy(&r->cond);
}

void goldfish_rtc_reset(GoldfishRtc *r)
{
    r->alarm_next = 0;
    r->alarm_running = false;
    r->irq_pending = false;
    r->irq_enabled = false;
    update_irq(r);
    pthread_cond_broadcast(&r->cond);
}

static void set_alarm(GoldfishRtc *r)
{
    if (goldfish_rtc_now(r) >= r->alarm_next) {
        fire(r);
        return;
    }
    r->alarm_running = true;
    if (!r->thread_started) {
        if (pthread_create(&r->thread, NULL, alarm_thread, r) != 0) {
            log_msg("goldfish_rtc: cannot start the alarm thread; alarm dropped");
            r->alarm_running = false;
            return;
        }
        r->thread_started = true;
    }
    pthread_cond_broadcast(&r->cond);
}

static int rtc_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    GoldfishRtc *r = opaque;
    *val = 0;
    if (size != 4) {
        log_guest_error("goldfish_rtc: bad read size %u at 0x%llx", size, (unsigned long long)off);
        return 0;
    }
    uint64_t now;
    switch (off) {
    case RTC_TIME_LOW:
        now = goldfish_rtc_now(r);
        r->time_high = (uint32_t)(now >> 32);
        *val = (uint32_t)now;
        break;
    case RTC_TIME_HIGH: *val = r->time_high; break;
    case RTC_ALARM_LOW: *val = (uint32_t)r->alarm_next; break;
    case RTC_ALARM_HIGH: *val = (uint32_t)(r->alarm_next >> 32); break;
    case RTC_IRQ_ENABLED: *val = r->irq_enabled; break;
    case RTC_ALARM_STATUS: *val = r->alarm_running; break;
    default:
        log_guest_error("goldfish_rtc: read at bad offset 0x%llx", (unsigned long long)off);
        break;
    }
    return 0;
}

static int rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    GoldfishRtc *r = opaque;
    if (size != 4) {
        log_guest_error("goldfish_rtc: bad write size %u at 0x%llx", size, (unsigned long long)off);
        return 0;
    }
    uint32_t v = (uint32_t)val;
    uint64_t now;
    switch (off) {
    case RTC_TIME_LOW:
        now = goldfish_rtc_now(r);
        r->tick_offset += (int64_t)(((now & ~0xffffffffULL) | v) - now);
        break;
    case RTC_TIME_HIGH:
        now = goldfish_rtc_now(r);
        r->tick_offset += (int64_t)((((uint64_t)v << 32) | (now & 0xffffffffULL)) - now);
        break;
    case RTC_ALARM_LOW:     /* writing the low half arms the alarm */
        r->alarm_next = (r->alarm_next & ~0xffffffffULL) | v;
        set_alarm(r);
        break;
    case RTC_ALARM_HIGH:
        r->alarm_next = (r->alarm_next & 0xffffffffULL) | (uint64_t)v << 32;
        break;
    case RTC_IRQ_ENABLED:
        r->irq_enabled = v & 1;
        update_irq(r);
        break;
    case RTC_CLEAR_ALARM:
        r->alarm_running = false;
        pthread_cond_broadcast(&r->cond);
        break;
    case RTC_CLEAR_INTERRUPT:
        r->irq_pending = false;
        update_irq(r);
        break;
    default:
        log_guest_error("goldfish_rtc: write at bad offset 0x%llx", (unsigned long long)off);
        break;
    }
    return 0;
}

const MmioOps goldfish_rtc_ops = { rtc_read, rtc_write };
