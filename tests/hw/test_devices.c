/* PLIC, ns16550a, CLINT and sifive_test register behaviour. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cpu/riscv.h"
#include "hw/clint.h"
#include "hw/goldfish_rtc.h"
#include "hw/plic.h"
#include "hw/serial_host.h"
#include "hw/sifive_test.h"
#include "hw/uart.h"
#include "util/clock.h"

/* ---------- PLIC ---------- */
static bool plic_out[PLIC_MAX_CONTEXTS];
static int plic_edges;
static void plic_rec(void *opaque, int ctx, bool level)
{
    plic_out[ctx] = level;
    plic_edges++;
}

static uint32_t pr(Plic *p, uint64_t off)
{
    uint64_t v = 0xdead;
    assert_int_equal(plic_ops.read(p, off, 4, &v), 0);
    return (uint32_t)v;
}
static void pw(Plic *p, uint64_t off, uint32_t v) { assert_int_equal(plic_ops.write(p, off, 4, v), 0); }
#define CTX(c) (PLIC_CONTEXT_BASE + (c) * PLIC_CONTEXT_STRIDE)
#define EN(c) (PLIC_ENABLE_BASE + (c) * PLIC_ENABLE_STRIDE)

static void plic_setup(Plic *p)
{
    memset(plic_out, 0, sizeof(plic_out));
    plic_edges = 0;
    plic_init(p, 2, plic_rec, NULL);
    plic_reset(p);
}

static void plic_claim_complete(void **state)
{
    Plic p;
    plic_setup(&p);
    plic_set_irq(&p, 10, true);
    assert_int_equal(pr(&p, PLIC_PENDING_BASE) & (1u << 10), 1u << 10);
    assert_false(plic_out[0]);              /* priority 0 = never interrupts */
    pw(&p, 4 * 10, 1);
    assert_false(plic_out[0]);              /* not enabled yet */
    pw(&p, EN(0), 1u << 10);
    assert_true(plic_out[0]);
    assert_false(plic_out[1]);              /* S context of hart 0 not enabled */
    assert_int_equal(pr(&p, CTX(0) + 4), 10);
    assert_false(plic_out[0]);              /* claimed: no longer pending */
    assert_int_equal(pr(&p, PLIC_PENDING_BASE) & (1u << 10), 0);
    assert_int_equal(pr(&p, CTX(0) + 4), 0); /* nothing else to claim */
    /* line still high at completion: pending again */
    pw(&p, CTX(0) + 4, 10);
    assert_true(plic_out[0]);
    assert_int_equal(pr(&p, CTX(0) + 4), 10);
    plic_set_irq(&p, 10, false);
    pw(&p, CTX(0) + 4, 10);
    assert_false(plic_out[0]);
    assert_int_equal(pr(&p, CTX(0) + 4), 0);
}

static void plic_priority_threshold(void **state)
{
    Plic p;
    plic_setup(&p);
    pw(&p, 4 * 3, 2);
    pw(&p, 4 * 40, 5);
    assert_int_equal(pr(&p, 4 * 40), 5);
    pw(&p, 4 * 41, 0xff);
    assert_int_equal(pr(&p, 4 * 41), 7);     /* 3 priority bits */
    pw(&p, EN(3), (1u << 3));
    pw(&p, EN(3) + 4, (1u << (40 - 32)));
    assert_int_equal(pr(&p, EN(3) + 4), 1u << 8);
    plic_set_irq(&p, 3, true);
    plic_set_irq(&p, 40, true);
    assert_true(plic_out[3]);               /* hart 1, S-mode */
    assert_false(plic_out[2]);
    pw(&p, CTX(3), 5);                      /* threshold masks priority <= 5 */
    assert_int_equal(pr(&p, CTX(3)), 5);
    assert_false(plic_out[3]);
    assert_int_equal(pr(&p, CTX(3) + 4), 0);
    pw(&p, CTX(3), 1);
    assert_true(plic_out[3]);
    assert_int_equal(pr(&p, CTX(3) + 4), 40); /* higher priority first */
    assert_int_equal(pr(&p, CTX(3) + 4), 3);
    assert_false(plic_out[3]);
    /* completing for a source the context has not enabled is ignored */
    pw(&p, EN(3), 0);
    pw(&p, CTX(3) + 4, 3);
    plic_set_irq(&p, 3, false);
    plic_set_irq(&p, 3, true);
    assert_int_equal(pr(&p, PLIC_PENDING_BASE) & (1u << 3), 0); /* still claimed */
    /* equal priorities: lowest id wins */
    Plic q;
    plic_setup(&q);
    pw(&q, 4 * 7, 3);
    pw(&q, 4 * 5, 3);
    pw(&q, EN(0), (1u << 5) | (1u << 7));
    plic_set_irq(&q, 7, true);
    plic_set_irq(&q, 5, true);
    assert_int_equal(pr(&q, CTX(0) + 4), 5);
}

static void plic_bad_accesses(void **state)
{
    Plic p;
    plic_setup(&p);
    uint64_t v = 1;
    /* source 0 cannot be enabled, wrong sizes and far offsets are ignored */
    pw(&p, EN(0), 0xffffffff);
    assert_int_equal(pr(&p, EN(0)), 0xfffffffe);
    pw(&p, EN(0) + 8, 0xffffffff);
    assert_int_equal(pr(&p, EN(0) + 8), 0xffffffff);   /* sources 64..95 */
    assert_int_equal(plic_ops.write(&p, 4 * 3, 1, 7), 0);
    assert_int_equal(pr(&p, 4 * 3), 0);
    assert_int_equal(plic_ops.read(&p, CTX(15) + 4, 4, &v), 0);  /* no such context */
    assert_int_equal(v, 0);
    pw(&p, CTX(100) + 4, 5);
    plic_set_irq(&p, 0, true);
    plic_set_irq(&p, 96, true);
    plic_set_irq(&p, -1, true);
    assert_int_equal(pr(&p, PLIC_PENDING_BASE), 0);
    assert_int_equal(pr(&p, PLIC_PENDING_BASE + 12), 0);
}

/* ---------- UART ---------- */
static bool uart_irq_level;
static char uart_outbuf[256];
static size_t uart_outlen;
static void uart_irq(void *o, bool level) { uart_irq_level = level; }
static void uart_tx(void *o, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n && uart_outlen < sizeof(uart_outbuf); i++)
        uart_outbuf[uart_outlen++] = (char)b[i];
}
static uint8_t ur(Uart *u, int reg)
{
    uint64_t v = 0xffff;
    assert_int_equal(uart_ops.read(u, (uint64_t)reg, 1, &v), 0);
    assert_true(v <= 0xff);
    return (uint8_t)v;
}
static void uw(Uart *u, int reg, uint8_t v) { assert_int_equal(uart_ops.write(u, (uint64_t)reg, 1, v), 0); }

static void uart_setup(Uart *u)
{
    uart_init(u);
    u->set_irq = uart_irq;
    u->tx = uart_tx;
    uart_irq_level = false;
    uart_outlen = 0;
    uart_reset(u);
}

static void uart_registers(void **state)
{
    Uart u;
    uart_setup(&u);
    assert_int_equal(ur(&u, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_NO_INT);
    uw(&u, UART_SCR, 0x5a);
    assert_int_equal(ur(&u, UART_SCR), 0x5a);
    /* divisor latch */
    uw(&u, UART_LCR, 0x83);
    uw(&u, UART_RBR, 0x01);
    uw(&u, UART_IER, 0x02);
    assert_int_equal(ur(&u, UART_RBR), 0x01);
    assert_int_equal(ur(&u, UART_IER), 0x02);
    uw(&u, UART_LCR, 0x03);
    assert_int_equal(ur(&u, UART_IER), 0);
    assert_int_equal(ur(&u, UART_LCR), 0x03);
    assert_int_equal(uart_outlen, 0);       /* DLL writes are not output */
    uw(&u, UART_RBR, 'h');
    uw(&u, UART_RBR, 'i');
    assert_int_equal(uart_outlen, 2);
    assert_memory_equal(uart_outbuf, "hi", 2);
    /* FIFO enable shows in IIR */
    uw(&u, UART_IIR, UART_FCR_ENABLE);
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    /* bad offsets are ignored */
    uint64_t v = 7;
    assert_int_equal(uart_ops.read(&u, 0x50, 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(uart_ops.write(&u, 0x50, 1, 1), 0);
}

static void uart_rx_fifo_and_irq(void **state)
{
    Uart u;
    uart_setup(&u);
    /* FIFO disabled: one byte of room */
    assert_int_equal(uart_rx_room(&u), 1);
    assert_int_equal(uart_receive(&u, (const uint8_t *)"ab", 2), 1);
    assert_false(uart_irq_level);           /* RDI not enabled */
    uw(&u, UART_IER, UART_IER_RDI);
    assert_true(uart_irq_level);
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_RDI);
    assert_int_equal(ur(&u, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
    assert_int_equal(ur(&u, UART_RBR), 'a');
    assert_false(uart_irq_level);
    assert_int_equal(ur(&u, UART_LSR) & UART_LSR_DR, 0);
    /* FIFO enabled: 16 bytes */
    uw(&u, UART_IIR, UART_FCR_ENABLE);
    uint8_t buf[20];
    for (int i = 0; i < 20; i++)
        buf[i] = (uint8_t)('A' + i);
    assert_int_equal(uart_receive(&u, buf, 20), UART_FIFO_SIZE);
    assert_int_equal(uart_rx_room(&u), 0);
    assert_true(uart_irq_level);
    for (int i = 0; i < UART_FIFO_SIZE; i++)
        assert_int_equal(ur(&u, UART_RBR), 'A' + i);
    assert_false(uart_irq_level);
    /* FCR clear-RX empties the FIFO */
    uart_receive(&u, buf, 3);
    uw(&u, UART_IIR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
    assert_int_equal(ur(&u, UART_LSR) & UART_LSR_DR, 0);
    assert_false(uart_irq_level);
}

static void uart_thre_irq(void **state)
{
    Uart u;
    uart_setup(&u);
    uw(&u, UART_IER, UART_IER_THRI);        /* THR empty: interrupt at once */
    assert_true(uart_irq_level);
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_THRI);   /* reading IIR acks it */
    assert_false(uart_irq_level);
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_NO_INT);
    uw(&u, UART_RBR, 'x');                  /* sent: empty again, interrupt */
    assert_true(uart_irq_level);
    uw(&u, UART_IER, 0);
    assert_false(uart_irq_level);
    /* RX has priority over THRE in IIR */
    uw(&u, UART_IER, UART_IER_THRI | UART_IER_RDI);
    uart_receive(&u, (const uint8_t *)"z", 1);
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_RDI);
    assert_int_equal(ur(&u, UART_RBR), 'z');
    assert_int_equal(ur(&u, UART_IIR), UART_IIR_THRI);
}

static void uart_loopback(void **state)
{
    Uart u;
    uart_setup(&u);
    uw(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_DTR);
    uint8_t msr = ur(&u, UART_MSR);
    assert_int_equal(msr & 0xf0, UART_MSR_CTS | UART_MSR_DSR);
    uw(&u, UART_RBR, 'L');
    assert_int_equal(uart_outlen, 0);       /* looped back, not sent */
    assert_int_equal(ur(&u, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
    assert_int_equal(ur(&u, UART_RBR), 'L');
    /* the outside line is disconnected in loopback */
    assert_int_equal(uart_receive(&u, (const uint8_t *)"q", 1), 0);
    uw(&u, UART_MCR, UART_MCR_OUT2);
    assert_int_equal(ur(&u, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
}

/* ---------- CLINT ---------- */
static void clint_msip_mtimecmp(void **state)
{
    static RiscvCpu cpus[2];
    RiscvCpu *pc[2] = { &cpus[0], &cpus[1] };
    static Bus bus;
    assert_int_equal(riscv_cpu_init(&cpus[0], &bus, 0), 0);
    assert_int_equal(riscv_cpu_init(&cpus[1], &bus, 1), 0);
    Clint c;
    clint_init(&c, pc, 2);
    clint_reset(&c);
    assert_int_equal(atomic_load(&cpus[1].mtimecmp), UINT64_MAX);
    assert_int_equal(clint_ops.write(&c, 4, 4, 1), 0);
    assert_true(atomic_load(&cpus[1].mip) & MIP_MSIP);
    assert_false(atomic_load(&cpus[0].mip) & MIP_MSIP);
    uint64_t v;
    clint_ops.read(&c, 4, 4, &v);
    assert_int_equal(v, 1);
    clint_ops.write(&c, 4, 4, 0);
    assert_false(atomic_load(&cpus[1].mip) & MIP_MSIP);
    /* 8-byte and 4-byte halves of mtimecmp */
    clint_ops.write(&c, CLINT_MTIMECMP_BASE + 8, 8, 0x1122334455667788ULL);
    assert_int_equal(atomic_load(&cpus[1].mtimecmp), 0x1122334455667788ULL);
    clint_ops.write(&c, CLINT_MTIMECMP_BASE + 8 + 4, 4, 0xaabbccdd);
    assert_int_equal(atomic_load(&cpus[1].mtimecmp), 0xaabbccdd55667788ULL);
    clint_ops.read(&c, CLINT_MTIMECMP_BASE + 8, 4, &v);
    assert_int_equal(v, 0x55667788);
    clint_ops.read(&c, CLINT_MTIMECMP_BASE, 8, &v);
    assert_int_equal(v, UINT64_MAX);
    /* mtime follows the shared clock and writes do not move it */
    uint64_t t0 = clock_mtime(), t1, lo, hi;
    clint_ops.read(&c, CLINT_MTIME, 8, &t1);
    assert_true(t1 >= t0);
    clint_ops.write(&c, CLINT_MTIME, 8, 0);
    clint_ops.read(&c, CLINT_MTIME + 4, 4, &hi);
    clint_ops.read(&c, CLINT_MTIME, 4, &lo);
    assert_true(hi >= (t1 >> 32));
    (void)lo;
    /* out-of-range hart and bad sizes are ignored */
    assert_int_equal(clint_ops.write(&c, 4 * 5, 4, 1), 0);
    assert_int_equal(clint_ops.write(&c, CLINT_MTIMECMP_BASE + 8 * 7, 8, 1), 0);
    assert_int_equal(clint_ops.write(&c, 0, 1, 1), 0);
    assert_false(atomic_load(&cpus[0].mip) & MIP_MSIP);
    riscv_cpu_destroy(&cpus[0]);
    riscv_cpu_destroy(&cpus[1]);
}

/* ---------- sifive_test ---------- */
static int fin_kind = -1, fin_code = -1;
static void fin(void *o, FinishKind k, int code) { fin_kind = (int)k; fin_code = code; }

static void finisher(void **state)
{
    SifiveTest t = { fin, NULL };
    sifive_test_ops.write(&t, 0, 4, FINISHER_PASS);
    assert_int_equal(fin_kind, FINISH_POWEROFF);
    sifive_test_ops.write(&t, 0, 4, FINISHER_RESET);
    assert_int_equal(fin_kind, FINISH_RESET);
    sifive_test_ops.write(&t, 0, 4, (42u << 16) | FINISHER_FAIL);
    assert_int_equal(fin_kind, FINISH_FAIL);
    assert_int_equal(fin_code, 42);
    fin_kind = -1;
    sifive_test_ops.write(&t, 0, 4, 0x1234);
    sifive_test_ops.write(&t, 4, 4, FINISHER_PASS);
    sifive_test_ops.write(&t, 0, 1, FINISHER_PASS);
    sifive_test_ops.write(&t, 0, 8, FINISHER_PASS);
    assert_int_equal(fin_kind, -1);
    sifive_test_ops.write(&t, 0, 2, FINISHER_PASS);     /* OpenSBI's writew */
    assert_int_equal(fin_kind, FINISH_POWEROFF);
}

/* ---------- goldfish RTC ---------- */
static bool rtc_level;
static void rtc_irq(void *o, bool level) { rtc_level = level; }
static uint32_t rr(GoldfishRtc *r, uint64_t off)
{
    uint64_t v = 0xdeadbeef;
    pthread_mutex_lock(&r->bus->io_lock);
    assert_int_equal(goldfish_rtc_ops.read(r, off, 4, &v), 0);
    pthread_mutex_unlock(&r->bus->io_lock);
    return (uint32_t)v;
}
static void rw(GoldfishRtc *r, uint64_t off, uint32_t v)
{
    pthread_mutex_lock(&r->bus->io_lock);
    assert_int_equal(goldfish_rtc_ops.write(r, off, 4, v), 0);
    pthread_mutex_unlock(&r->bus->io_lock);
}
static bool rtc_level_locked(GoldfishRtc *r)
{
    pthread_mutex_lock(&r->bus->io_lock);
    bool l = rtc_level;
    pthread_mutex_unlock(&r->bus->io_lock);
    return l;
}

static void goldfish_rtc(void **state)
{
    static Bus bus;
    assert_int_equal(bus_init(&bus, 0x80000000, 1 << 20), 0);
    GoldfishRtc r;
    goldfish_rtc_init(&r, &bus);
    r.set_irq = rtc_irq;
    rtc_level = false;
    goldfish_rtc_reset(&r);

    /* time: host real time in ns, high half latched by the low read */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t host = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    uint32_t lo = rr(&r, RTC_TIME_LOW), hi = rr(&r, RTC_TIME_HIGH);
    uint64_t t = (uint64_t)hi << 32 | lo;
    assert_true(t >= host);
    assert_true(t - host < 3600ULL * 1000000000ULL);
    /* setting the time moves it (by the guest's write, high then low) */
    rw(&r, RTC_TIME_HIGH, 0x10);
    rw(&r, RTC_TIME_LOW, 0);
    lo = rr(&r, RTC_TIME_LOW);
    assert_int_equal(rr(&r, RTC_TIME_HIGH), 0x10);

    /* an alarm in the past fires at once; the line follows IRQ_ENABLED */
    rw(&r, RTC_ALARM_HIGH, 0);
    rw(&r, RTC_ALARM_LOW, 5);
    assert_int_equal(rr(&r, RTC_ALARM_STATUS), 0);
    assert_false(rtc_level);
    rw(&r, RTC_IRQ_ENABLED, 1);
    assert_true(rtc_level);
    rw(&r, RTC_CLEAR_INTERRUPT, 1);
    assert_false(rtc_level);

    /* an alarm far ahead runs until cleared */
    uint64_t now = goldfish_rtc_now(&r), far = now + 3600ULL * 1000000000ULL;
    rw(&r, RTC_ALARM_HIGH, (uint32_t)(far >> 32));
    rw(&r, RTC_ALARM_LOW, (uint32_t)far);
    assert_int_equal(rr(&r, RTC_ALARM_STATUS), 1);
    assert_int_equal(rr(&r, RTC_ALARM_LOW), (uint32_t)far);
    rw(&r, RTC_CLEAR_ALARM, 1);
    assert_int_equal(rr(&r, RTC_ALARM_STATUS), 0);
    assert_false(rtc_level_locked(&r));

    /* a near alarm is delivered by the alarm thread */
    uint64_t soon = goldfish_rtc_now(&r) + 20 * 1000000ULL;
    rw(&r, RTC_ALARM_HIGH, (uint32_t)(soon >> 32));
    rw(&r, RTC_ALARM_LOW, (uint32_t)soon);
    for (int i = 0; i < 1000 && !rtc_level_locked(&r); i++)
        usleep(10000);
    assert_true(rtc_level_locked(&r));
    assert_int_equal(rr(&r, RTC_ALARM_STATUS), 0);
    assert_true(goldfish_rtc_now(&r) >= soon);

    /* reset drops alarm and interrupt state; bad accesses are ignored */
    pthread_mutex_lock(&bus.io_lock);
    goldfish_rtc_reset(&r);
    pthread_mutex_unlock(&bus.io_lock);
    assert_false(rtc_level);
    assert_int_equal(rr(&r, RTC_IRQ_ENABLED), 0);
    uint64_t v = 7;
    assert_int_equal(goldfish_rtc_ops.read(&r, 0x40, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(goldfish_rtc_ops.read(&r, 0, 8, &v), 0);
    assert_int_equal(v, 0);
    goldfish_rtc_destroy(&r);
    bus_destroy(&bus);
}

/* ---------- -nographic escape keys ---------- */
static void serial_mux(void **state)
{
    bool esc = false, quit = false, help = false;
    uint8_t out[16];
    size_t n = serial_mux_filter(&esc, (const uint8_t *)"ab\x01\x01" "c", 5, out, &quit, &help);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "ab\x01" "c", 4);       /* C-a C-a sends one C-a */
    assert_false(quit);
    /* the escape may arrive in one read and the key in the next */
    n = serial_mux_filter(&esc, (const uint8_t *)"z\x01", 2, out, &quit, &help);
    assert_int_equal(n, 1);
    assert_true(esc);
    n = serial_mux_filter(&esc, (const uint8_t *)"h", 1, out, &quit, &help);
    assert_int_equal(n, 0);
    assert_true(help);
    n = serial_mux_filter(&esc, (const uint8_t *)"\x01q\x01x", 4, out, &quit, &help);
    assert_int_equal(n, 0);                        /* unknown escapes are dropped */
    assert_true(quit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plic_claim_complete),
        cmocka_unit_test(plic_priority_threshold),
        cmocka_unit_test(plic_bad_accesses),
        cmocka_unit_test(uart_registers),
        cmocka_unit_test(uart_rx_fifo_and_irq),
        cmocka_unit_test(uart_thre_irq),
        cmocka_unit_test(uart_loopback),
        cmocka_unit_test(clint_msip_mtimecmp),
        cmocka_unit_test(finisher),
        cmocka_unit_test(serial_mux),
        cmocka_unit_test(goldfish_rtc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
