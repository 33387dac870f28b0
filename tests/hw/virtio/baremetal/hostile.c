/* A hostile virtio-blk driver, bare metal on quail's virt machine.
 *
 * It finds one virtio-blk device (a virtio-mmio slot, or else a virtio-blk-pci
 * function whose BAR4 it assigns through ECAM), then feeds it malformed rings,
 * requests and register accesses.  Each case checks what the spec and quail
 * promise: malformed rings set NEEDS_RESET (and after a reset a well-formed
 * request works again), bad sectors complete with IOERR, unoffered features
 * are refused at FEATURES_OK, nonsense register accesses change nothing.
 * Quail surviving at all is the other half: the program ends by writing its
 * verdict to the sifive_test finisher (0x5555 pass, (fails << 16) | 0x3333). */
#include <stddef.h>
#include <stdint.h>

#define UART 0x10000000UL
#define FINISHER 0x100000UL
#define MTIME 0x200bff8UL
#define MTIME_HZ 10000000UL
#define MMIO_BASE 0x10001000UL
#define ECAM 0x30000000UL
#define BAR_ADDR 0x40000000UL
#define RAM_BASE 0x80000000UL

#define QS 16                  /* our queue size */
#define S_NEEDS_RESET 0x40
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define T_IN 0
#define T_OUT 1
#define F_VERSION_1 (1ULL << 32)
#define F_INDIRECT_DESC (1ULL << 28)

typedef struct { uint64_t addr; uint32_t len; uint16_t flags, next; } Desc;

static struct {
    Desc desc[QS];
    uint8_t pad0[4096 - sizeof(Desc) * QS];
    struct { uint16_t flags, idx, ring[QS], used_event; } avail;
    uint8_t pad1[4096 - 2 * (QS + 3)];
    struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QS]; uint16_t avail_event; } used;
} vring __attribute__((aligned(4096)));

static Desc itab[64] __attribute__((aligned(16)));
static Desc bigtab[1024] __attribute__((aligned(16)));
static Desc itab2[4] __attribute__((aligned(16)));
static struct { uint32_t type, reserved; uint64_t sector; } hdr;
static uint8_t data[1024], check[1024];
static volatile uint8_t status_byte;
static uint16_t avail_idx;

static int is_pci;
static uintptr_t pci_cfg;       /* the function's ECAM space */
static uintptr_t base;          /* MMIO slot, or the BAR */
static int failures, cases;

/* ---- console and exit ---- */
static void putc_(char c)
{
    volatile uint8_t *u = (volatile uint8_t *)UART;
    while (!(u[5] & 0x20))
        ;
    u[0] = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void puthex(uint64_t v)
{
    puts_("0x");
    for (int i = 60; i >= 0; i -= 4)
        putc_("0123456789abcdef"[(v >> i) & 15]);
}
static void finish(uint32_t v)
{
    *(volatile uint32_t *)FINISHER = v;
    for (;;)
        ;
}
void trap_report(uint64_t cause, uint64_t epc, uint64_t tval)
{
    puts_("unexpected trap mcause=");
    puthex(cause);
    puts_(" mepc=");
    puthex(epc);
    puts_(" mtval=");
    puthex(tval);
    puts_("\n");
    finish((99u << 16) | 0x3333);
}
static void *memset_(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}
/* gcc may emit calls to these for struct copies and loops. */
void *memset(void *d, int c, size_t n) { return memset_(d, c, n); }
void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *a = d;
    const uint8_t *b = s;
    while (n--)
        *a++ = *b++;
    return d;
}

static void expect(int ok, const char *what)
{
    cases++;
    if (!ok)
        failures++;
    puts_(ok ? "ok   " : "FAIL ");
    puts_(what);
    puts_("\n");
}

/* ---- raw accessors ---- */
static inline uint8_t rd8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t rd16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t rd32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline uint64_t rd64(uintptr_t a) { return *(volatile uint64_t *)a; }
static inline void wr8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void wr16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void wr32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void wr64(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static inline void fence(void) { __asm__ volatile("fence rw, rw" ::: "memory"); }
static uint64_t now(void) { return rd64(MTIME); }

/* ---- transport: virtio-mmio v2 or modern virtio-pci (BAR4 layout of quail) ---- */
enum {
    M_MAGIC = 0x000, M_VERSION = 0x004, M_DEVICE_ID = 0x008, M_DEV_FEATURES = 0x010,
    M_DEV_FEATURES_SEL = 0x014, M_DRV_FEATURES = 0x020, M_DRV_FEATURES_SEL = 0x024,
    M_QUEUE_SEL = 0x030, M_QUEUE_NUM_MAX = 0x034, M_QUEUE_NUM = 0x038, M_QUEUE_READY = 0x044,
    M_QUEUE_NOTIFY = 0x050, M_INT_STATUS = 0x060, M_INT_ACK = 0x064, M_STATUS = 0x070,
    M_DESC_LO = 0x080, M_DESC_HI = 0x084, M_DRIVER_LO = 0x090, M_DRIVER_HI = 0x094,
    M_DEVICE_LO = 0x0a0, M_DEVICE_HI = 0x0a4, M_CONFIG = 0x100,
};
enum {
    P_DFSEL = 0x00, P_DF = 0x04, P_GFSEL = 0x08, P_GF = 0x0c, P_NUMQ = 0x12, P_STATUS = 0x14,
    P_QSEL = 0x16, P_QSIZE = 0x18, P_QENABLE = 0x1c, P_QNOTIFY_OFF = 0x1e, P_QDESC = 0x20,
    P_QDRIVER = 0x28, P_QDEVICE = 0x30, P_ISR = 0x1000, P_DEVCFG = 0x2000, P_NOTIFY = 0x3000,
};

static uint8_t get_status(void) { return is_pci ? rd8(base + P_STATUS) : (uint8_t)rd32(base + M_STATUS); }
static void set_status(uint8_t s)
{
    if (is_pci)
        wr8(base + P_STATUS, s);
    else
        wr32(base + M_STATUS, s);
}
static uint64_t dev_features(void)
{
    uint64_t f = 0;
    for (uint32_t i = 0; i < 2; i++) {
        if (is_pci) {
            wr32(base + P_DFSEL, i);
            f |= (uint64_t)rd32(base + P_DF) << (32 * i);
        } else {
            wr32(base + M_DEV_FEATURES_SEL, i);
            f |= (uint64_t)rd32(base + M_DEV_FEATURES) << (32 * i);
        }
    }
    return f;
}
static void drv_features(uint64_t f)
{
    for (uint32_t i = 0; i < 2; i++) {
        if (is_pci) {
            wr32(base + P_GFSEL, i);
            wr32(base + P_GF, (uint32_t)(f >> (32 * i)));
        } else {
            wr32(base + M_DRV_FEATURES_SEL, i);
            wr32(base + M_DRV_FEATURES, (uint32_t)(f >> (32 * i)));
        }
    }
}
static void queue_config(uint32_t q, uint32_t size, uint64_t d, uint64_t a, uint64_t u)
{
    if (is_pci) {
        wr16(base + P_QSEL, (uint16_t)q);
        wr16(base + P_QSIZE, (uint16_t)size);
        wr64(base + P_QDESC, d);
        wr64(base + P_QDRIVER, a);
        wr64(base + P_QDEVICE, u);
    } else {
        wr32(base + M_QUEUE_SEL, q);
        wr32(base + M_QUEUE_NUM, size);
        wr32(base + M_DESC_LO, (uint32_t)d);
        wr32(base + M_DESC_HI, (uint32_t)(d >> 32));
        wr32(base + M_DRIVER_LO, (uint32_t)a);
        wr32(base + M_DRIVER_HI, (uint32_t)(a >> 32));
        wr32(base + M_DEVICE_LO, (uint32_t)u);
        wr32(base + M_DEVICE_HI, (uint32_t)(u >> 32));
    }
}
static void queue_enable(uint32_t q)
{
    if (is_pci) {
        wr16(base + P_QSEL, (uint16_t)q);
        wr16(base + P_QENABLE, 1);
    } else {
        wr32(base + M_QUEUE_SEL, q);
        wr32(base + M_QUEUE_READY, 1);
    }
}
static uint32_t queue_ready(uint32_t q)
{
    if (is_pci) {
        wr16(base + P_QSEL, (uint16_t)q);
        return rd16(base + P_QENABLE);
    }
    wr32(base + M_QUEUE_SEL, q);
    return rd32(base + M_QUEUE_READY);
}
static void notify(uint32_t q)
{
    fence();
    if (is_pci)
        wr16(base + P_NOTIFY + 4 * q, (uint16_t)q);
    else
        wr32(base + M_QUEUE_NOTIFY, q);
}
/* Reads and acknowledges the interrupt status. */
static uint32_t take_isr(void)
{
    if (is_pci)
        return rd8(base + P_ISR);
    uint32_t v = rd32(base + M_INT_STATUS);
    wr32(base + M_INT_ACK, v);
    return v;
}
static uint32_t cfg32(uint32_t off)
{
    return rd32(base + (is_pci ? P_DEVCFG : M_CONFIG) + off);
}
static uint64_t capacity(void) { return cfg32(0) | (uint64_t)cfg32(4) << 32; }

/* ---- finding the device ---- */
static int find_mmio(void)
{
    for (int i = 0; i < 8; i++) {
        uintptr_t b = MMIO_BASE + 0x1000UL * i;
        if (rd32(b + M_MAGIC) == 0x74726976 && rd32(b + M_VERSION) == 2 &&
            rd32(b + M_DEVICE_ID) == 2) {
            base = b;
            return 1;
        }
    }
    return 0;
}
static int find_pci(void)
{
    for (uint32_t dev = 0; dev < 32; dev++) {
        uintptr_t cfg = ECAM + (dev << 15);
        if (rd16(cfg) != 0x1af4 || rd16(cfg + 2) != 0x1042)
            continue;
        /* BAR4/5 form a 64-bit memory BAR; place it, then decode memory and master. */
        wr32(cfg + 0x20, (uint32_t)BAR_ADDR);
        wr32(cfg + 0x24, 0);
        wr16(cfg + 4, rd16(cfg + 4) | 0x6);
        base = BAR_ADDR;
        pci_cfg = cfg;
        is_pci = 1;
        return 1;
    }
    return 0;
}

/* ---- a well-behaved driver ---- */
static void reset(void)
{
    set_status(0);
    uint64_t t = now();
    while (get_status() != 0 && now() - t < MTIME_HZ)
        ;
    take_isr();
    avail_idx = 0;
    memset_(&vring, 0, sizeof(vring));
}

/* Negotiates `features` and sets up queue 0; returns the status read back. */
static uint8_t bring_up(uint64_t features)
{
    reset();
    set_status(1);
    set_status(1 | 2);
    drv_features(features);
    set_status(1 | 2 | 8);
    uint8_t s = get_status();
    if (!(s & 8))
        return s;
    queue_config(0, QS, (uintptr_t)vring.desc, (uintptr_t)&vring.avail, (uintptr_t)&vring.used);
    queue_enable(0);
    set_status(1 | 2 | 8 | 4);
    return get_status();
}
static int bring_up_ok(void)
{
    return bring_up(F_VERSION_1 | F_INDIRECT_DESC) == (1 | 2 | 4 | 8);
}

/* Publishes head on the avail ring (idx moved by `step`) and kicks. */
static void kick(uint16_t head, uint16_t step)
{
    vring.avail.ring[avail_idx % QS] = head;
    fence();
    avail_idx = (uint16_t)(avail_idx + step);
    vring.avail.idx = avail_idx;
    notify(0);
}

/* 0 when the used ring caught up with avail, -1 timeout, -2 NEEDS_RESET. */
static int wait_used(void)
{
    uint64_t t = now();
    for (;;) {
        fence();
        if (*(volatile uint16_t *)&vring.used.idx == avail_idx)
            return 0;
        if (get_status() & S_NEEDS_RESET)
            return -2;
        if (now() - t > 5 * MTIME_HZ)
            return -1;
    }
}

static void set_desc(int i, void *addr, uint32_t len, uint16_t flags, uint16_t next)
{
    vring.desc[i] = (Desc){ (uintptr_t)addr, len, flags, next };
}

/* A 3-descriptor blk request in the ring; returns the used status byte or -1/-2. */
static int blk_rw(uint32_t type, uint64_t sector, uint32_t len)
{
    hdr.type = type;
    hdr.reserved = 0;
    hdr.sector = sector;
    status_byte = 0xee;
    set_desc(0, &hdr, 16, F_NEXT, 1);
    set_desc(1, data, len, F_NEXT | (type == T_IN ? F_WRITE : 0), 2);
    set_desc(2, (void *)&status_byte, 1, F_WRITE, 0);
    kick(0, 1);
    int r = wait_used();
    if (r < 0)
        return r;
    uint32_t used_len = vring.used.ring[(avail_idx - 1) % QS].len;
    if (vring.used.ring[(avail_idx - 1) % QS].id != 0)
        return -3;
    if (type == T_IN && status_byte == 0 && used_len != len + 1)
        return -4;
    return status_byte;
}

/* Writes a pattern, reads it back: the device works. */
static int good_io(uint8_t seed)
{
    for (int i = 0; i < 1024; i++)
        data[i] = (uint8_t)(i * 7 + seed);
    if (blk_rw(T_OUT, 3, 1024) != 0)
        return 0;
    for (int i = 0; i < 1024; i++)
        check[i] = data[i];
    memset_(data, 0, sizeof(data));
    if (blk_rw(T_IN, 3, 1024) != 0)
        return 0;
    for (int i = 0; i < 1024; i++)
        if (data[i] != check[i])
            return 0;
    return 1;
}

/* The device reports NEEDS_RESET (with a config interrupt), quail goes on, and
 * after a reset the device works again. */
static void expect_broken_irq(const char *what, int want_irq)
{
    uint64_t t = now();
    while (!(get_status() & S_NEEDS_RESET) && now() - t < 5 * MTIME_HZ)
        ;
    cases++;
    uint8_t s = get_status();
    uint32_t isr = take_isr();
    /* The config interrupt is owed only once DRIVER_OK was set (spec 2.1.2). */
    int ok = (s & S_NEEDS_RESET) && (!want_irq || (isr & 2));
    int again = ok && bring_up_ok() && good_io((uint8_t)cases);
    expect(ok && again, what);
    cases--;
    if (!ok) {
        puts_("     status=");
        puthex(s);
        puts_(" isr=");
        puthex(isr);
        puts_("\n");
    }
}
static void expect_broken(const char *what) { expect_broken_irq(what, 1); }
static void expect_healthy(const char *what)
{
    int ok = !(get_status() & S_NEEDS_RESET) && good_io((uint8_t)cases);
    expect(ok, what);
}

/* ---- the attacks ---- */
static void ring_attacks(void)
{
    /* A chain that loops: 0 -> 1 -> 0. */
    bring_up_ok();
    set_desc(0, &hdr, 16, F_NEXT, 1);
    set_desc(1, data, 512, F_NEXT, 0);
    kick(0, 1);
    expect_broken("descriptor chain loop 0->1->0");

    /* A descriptor chained to itself. */
    bring_up_ok();
    set_desc(5, &hdr, 16, F_NEXT, 5);
    kick(5, 1);
    expect_broken("descriptor chained to itself");

    /* next index beyond the queue size. */
    bring_up_ok();
    set_desc(0, &hdr, 16, F_NEXT, 200);
    kick(0, 1);
    expect_broken("next index out of range");

    /* Head index beyond the queue size. */
    bring_up_ok();
    kick(QS + 3, 1);
    expect_broken("avail head index out of range");

    /* An indirect descriptor inside an indirect table. */
    bring_up_ok();
    itab2[0] = (Desc){ (uintptr_t)&hdr, 16, 0, 0 };
    itab[0] = (Desc){ (uintptr_t)itab2, sizeof(itab2), F_INDIRECT, 0 };
    set_desc(0, itab, 16, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("indirect inside indirect");

    /* Indirect table whose length is not a multiple of 16. */
    bring_up_ok();
    itab[0] = (Desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    itab[1] = (Desc){ (uintptr_t)&status_byte, 1, F_WRITE, 0 };
    set_desc(0, itab, 24, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("indirect table length 24");

    /* A huge indirect table (4 GiB - 16). */
    bring_up_ok();
    set_desc(0, itab, 0xfffffff0u, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("indirect table length 0xfffffff0");

    /* Zero-length indirect table. */
    bring_up_ok();
    set_desc(0, itab, 0, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("indirect table length 0");

    /* Indirect table outside RAM (the UART). */
    bring_up_ok();
    set_desc(0, (void *)UART, 32, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("indirect table at the UART");

    /* Indirect descriptor with NEXT as well. */
    bring_up_ok();
    itab[0] = (Desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    itab[1] = (Desc){ (uintptr_t)&status_byte, 1, F_WRITE, 0 };
    set_desc(0, itab, 32, F_INDIRECT | F_NEXT, 1);
    set_desc(1, (void *)&status_byte, 1, F_WRITE, 0);
    kick(0, 1);
    expect_broken("indirect descriptor with NEXT");

    /* Indirect descriptor without negotiating VIRTIO_RING_F_INDIRECT_DESC. */
    expect(bring_up(F_VERSION_1) == 15, "bring-up without INDIRECT_DESC");
    itab[0] = (Desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    itab[1] = (Desc){ (uintptr_t)&status_byte, 1, F_WRITE, 0 };
    set_desc(0, itab, 32, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("indirect descriptor not negotiated");

    /* A loop inside an indirect table. */
    bring_up_ok();
    itab[0] = (Desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    itab[1] = (Desc){ (uintptr_t)data, 16, F_NEXT, 0 };
    set_desc(0, itab, 32, F_INDIRECT, 0);
    kick(0, 1);
    expect_broken("loop inside an indirect table");

    /* A chain of 1025 segments: one direct header, then a full 1024-entry
     * indirect table (more than any request may span). */
    bring_up_ok();
    for (int i = 0; i < 1024; i++)
        bigtab[i] = (Desc){ (uintptr_t)&status_byte, 1, (uint16_t)(F_WRITE | (i < 1023 ? F_NEXT : 0)),
                            (uint16_t)(i + 1) };
    set_desc(0, &hdr, 16, F_NEXT, 1);
    set_desc(1, bigtab, sizeof(bigtab), F_INDIRECT, 0);
    hdr.type = T_IN;
    hdr.sector = 0;
    kick(0, 1);
    expect_broken("chain of 1025 segments");

    /* Buffers outside RAM: below it, at an MMIO device, past its end, wrapping. */
    static const struct { uint64_t addr; uint32_t len; const char *what; } bad[] = {
        { 0x1000, 16, "buffer at 0x1000 (not RAM)" },
        { UART, 16, "buffer at the UART" },
        { 0x10001000, 16, "buffer on a virtio-mmio slot" },
        { RAM_BASE - 8, 16, "buffer straddling the start of RAM" },
        { RAM_BASE + (64UL << 20) - 8, 16, "buffer straddling the end of RAM" },
        { 0xfffffffffffffff8ULL, 16, "buffer wrapping the address space" },
        { RAM_BASE, 0xffffffffu, "4 GiB buffer from the start of RAM" },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bring_up_ok();
        set_desc(0, &hdr, 16, F_NEXT, 1);
        set_desc(1, (void *)(uintptr_t)bad[i].addr, bad[i].len, F_NEXT | F_WRITE, 2);
        set_desc(2, (void *)&status_byte, 1, F_WRITE, 0);
        hdr.type = T_IN;
        hdr.sector = 0;
        kick(0, 1);
        expect_broken(bad[i].what);
    }

    /* Device-readable descriptor after a writable one. */
    bring_up_ok();
    set_desc(0, &hdr, 16, F_NEXT, 1);
    set_desc(1, (void *)&status_byte, 1, F_NEXT | F_WRITE, 2);
    set_desc(2, data, 512, 0, 0);
    kick(0, 1);
    expect_broken("readable descriptor after a writable one");

    /* avail idx jumping by more than the queue size. */
    bring_up_ok();
    set_desc(0, &hdr, 16, F_NEXT, 1);
    set_desc(1, (void *)&status_byte, 1, F_WRITE, 0);
    kick(0, QS + 1);
    expect_broken("avail idx jumps by QS+1");

    bring_up_ok();
    kick(0, 0x8000);
    expect_broken("avail idx jumps by 0x8000");

    /* A full queue of valid requests (idx moved by exactly QS) is fine. */
    bring_up_ok();
    hdr.type = T_IN;
    hdr.sector = 0;
    /* each request: header, then only a status byte (a zero-length read) */
    for (int i = 0; i < QS; i += 2) {
        set_desc(i, &hdr, 16, F_NEXT, (uint16_t)(i + 1));
        set_desc(i + 1, (void *)&status_byte, 1, F_WRITE, 0);
        vring.avail.ring[i / 2] = (uint16_t)i;
    }
    fence();
    avail_idx = QS / 2;
    vring.avail.idx = avail_idx;
    notify(0);
    int r = wait_used();
    expect(r == 0 && !(get_status() & S_NEEDS_RESET), "QS/2 zero-length reads in one kick");
    expect_healthy("device healthy after a batch");
}

/* Reset while requests are in flight: their completions must not land in
 * the rings of the next session. */
static void reset_race(void)
{
    for (int round = 0; round < 8; round++) {
        bring_up_ok();
        hdr.type = T_IN;
        hdr.sector = 0;
        for (int i = 0; i < QS; i += 2) {
            set_desc(i, &hdr, 16, F_NEXT, (uint16_t)(i + 1));
            set_desc(i + 1, data, 1024, F_WRITE | F_NEXT, 15);
            vring.avail.ring[i / 2] = (uint16_t)i;
        }
        set_desc(15, (void *)&status_byte, 1, F_WRITE, 0);
        /* 7 requests sharing the status byte: legal, if unkind */
        fence();
        avail_idx = 7;
        vring.avail.idx = avail_idx;
        notify(0);
        /* reset at once, before (some of) the reads complete */
        bring_up_ok();
        for (volatile int spin = 0; spin < 20000; spin++)
            ;
        fence();
        if (vring.used.idx != 0 || (get_status() & S_NEEDS_RESET)) {
            expect(0, "stale completions after a reset");
            return;
        }
    }
    expect(1, "no stale completions after resets with requests in flight");
    expect_healthy("device healthy after reset races");
}

/* virtio-mmio lets the driver clear QueueReady and then change QueueNum:
 * requests still in flight (slow writes, a flush) complete into a queue
 * that is disabled and may have size 0. */
static void disable_in_flight(void)
{
    if (is_pci)
        return;     /* virtio-pci cannot disable a queue short of a reset */
    int hit = 0;
    for (int round = 0; round < 8; round++) {
        bring_up_ok();
        hdr.type = T_OUT;
        hdr.sector = 8;
        for (int i = 0; i < QS - 2; i += 2) {
            set_desc(i, &hdr, 16, F_NEXT, (uint16_t)(i + 1));
            set_desc(i + 1, data, 1024, F_NEXT, 15);
            vring.avail.ring[i / 2] = (uint16_t)i;
        }
        static struct { uint32_t type, reserved; uint64_t sector; } fhdr = { 4, 0, 0 };
        set_desc(14, &fhdr, 16, F_NEXT, 15);
        vring.avail.ring[7] = 14;
        set_desc(15, (void *)&status_byte, 1, F_WRITE, 0);
        fence();
        avail_idx = 8;
        vring.avail.idx = avail_idx;
        notify(0);
        wr32(base + M_QUEUE_SEL, 0);
        wr32(base + M_QUEUE_READY, 0);
        wr32(base + M_QUEUE_NUM, 0);
        uint64_t t = now();
        while (now() - t < MTIME_HZ / 50)
            ;
        /* Whether a completion raced the disable is up to the host's timing;
         * either way the device must come back after a reset. */
        hit += (get_status() & S_NEEDS_RESET) != 0;
    }
    expect(1, "completions into a disabled size-0 queue: quail survives");
    puts_("     rounds where a completion hit the disabled queue: ");
    puthex((uint64_t)hit);
    puts_("\n");
    expect(bring_up_ok() && good_io(0x33), "  ...device works after a reset");
}

/* The same descriptors posted again and again while still in flight: the
 * device must not hold more requests than the queue has entries (else host
 * memory grows at the guest's will).  It either catches up or sets
 * NEEDS_RESET; both are fine, what matters is that quail stays up. */
static void repost_in_flight(void)
{
    bring_up_ok();
    hdr.type = T_OUT;
    hdr.sector = 16;
    set_desc(0, &hdr, 16, F_NEXT, 1);
    set_desc(1, data, 1024, F_NEXT, 2);
    set_desc(2, (void *)&status_byte, 1, F_WRITE, 0);
    for (int i = 0; i < QS; i++)
        vring.avail.ring[i] = 0;
    for (int round = 0; round < 64 && !(get_status() & S_NEEDS_RESET); round++) {
        fence();
        avail_idx = (uint16_t)(avail_idx + QS);
        vring.avail.idx = avail_idx;
        notify(0);
    }
    int r = wait_used();
    expect(r == 0 || r == -2, "descriptors reposted while in flight: caught up or NEEDS_RESET");
    puts_(r == -2 ? "     (device set NEEDS_RESET)\n" : "     (device caught up)\n");
    expect(bring_up_ok() && good_io(0x5a), "  ...device works after a reset");
}

static void request_attacks(void)
{
    /* No status byte: header only, nothing writable. */
    bring_up_ok();
    hdr.type = T_IN;
    hdr.sector = 0;
    set_desc(0, &hdr, 16, 0, 0);
    kick(0, 1);
    expect_broken("blk request without a status byte");

    /* Short header (8 bytes) with a status byte. */
    bring_up_ok();
    set_desc(0, &hdr, 8, F_NEXT, 1);
    set_desc(1, (void *)&status_byte, 1, F_WRITE, 0);
    kick(0, 1);
    expect_broken("blk request with an 8-byte header");

    /* No descriptors readable at all: only a status byte. */
    bring_up_ok();
    set_desc(0, (void *)&status_byte, 1, F_WRITE, 0);
    kick(0, 1);
    expect_broken("blk request with no header");

    /* Sectors past the capacity complete with IOERR; the device stays usable. */
    bring_up_ok();
    uint64_t cap = capacity();
    expect(cap == 2048, "capacity is 2048 sectors (1 MiB)");
    expect(blk_rw(T_IN, cap, 512) == 1, "read at sector == capacity: IOERR");
    expect(blk_rw(T_IN, cap - 1, 1024) == 1, "read straddling the end: IOERR");
    expect(blk_rw(T_OUT, cap + 100, 512) == 1, "write past the end: IOERR");
    expect(blk_rw(T_IN, ~0ULL, 512) == 1, "read at sector 2^64-1: IOERR");
    expect(blk_rw(T_OUT, ~0ULL >> 9, 1024) == 1, "write at sector 2^55-1: IOERR");
    expect(blk_rw(T_IN, 0, 100) == 1, "read of 100 bytes (not a sector multiple): IOERR");
    expect(blk_rw(T_IN, cap - 2, 1024) == 0, "read of the last two sectors: OK");
    int st = blk_rw(0x7777, 0, 512);
    expect(st == 2, "unknown request type: UNSUPP");
    expect_healthy("device healthy after bad sectors");
}

static void queue_attacks(void)
{
    static const struct { uint64_t d, a, u; const char *what; } bad[] = {
        { 0x1000, 0x2000, 0x3000, "queue rings below RAM" },
        { UART, UART + 0x100, UART + 0x200, "queue rings on the UART" },
        { RAM_BASE + (64UL << 20) - 0x80, RAM_BASE + 0x100000, RAM_BASE + 0x101000,
          "descriptor table straddling the end of RAM" },
        { 0xfffffffffffff000ULL, RAM_BASE + 0x100000, RAM_BASE + 0x101000,
          "descriptor table wrapping the address space" },
        { RAM_BASE + 0x100008, RAM_BASE + 0x101000, RAM_BASE + 0x102000,
          "misaligned descriptor table" },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reset();
        set_status(1 | 2);
        drv_features(F_VERSION_1);
        set_status(1 | 2 | 8);
        queue_config(0, QS, bad[i].d, bad[i].a, bad[i].u);
        queue_enable(0);
        set_status(1 | 2 | 8 | 4);
        notify(0);
        expect(!queue_ready(0) || (get_status() & S_NEEDS_RESET), bad[i].what);
        expect_broken_irq("  ...device recovers after reset", 0);
    }

    /* Queue sizes that are not powers of two, zero, or above the maximum. */
    static const uint32_t sizes[] = { 0, 3, 100, 4096, 0xffff };
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        reset();
        set_status(1 | 2);
        drv_features(F_VERSION_1);
        set_status(1 | 2 | 8);
        queue_config(0, sizes[i], (uintptr_t)vring.desc, (uintptr_t)&vring.avail,
                     (uintptr_t)&vring.used);
        queue_enable(0);
        set_status(1 | 2 | 8 | 4);
        notify(0);
        expect(!queue_ready(0) || (get_status() & S_NEEDS_RESET), "bad queue size refused");
        expect_broken_irq("  ...device recovers after reset", 0);
    }

    /* Notify on queues that do not exist or are not enabled. */
    reset();
    set_status(1 | 2);
    drv_features(F_VERSION_1 | F_INDIRECT_DESC);
    set_status(1 | 2 | 8);
    notify(0);          /* before the queue is set up */
    notify(1);
    notify(7);
    if (!is_pci)
        wr32(base + M_QUEUE_NOTIFY, 0xffffffff);
    else
        wr16(base + P_NOTIFY + 0x3fc, 0xffff);
    expect(!(get_status() & S_NEEDS_RESET), "notify on unconfigured queues ignored");
    queue_config(0, QS, (uintptr_t)vring.desc, (uintptr_t)&vring.avail, (uintptr_t)&vring.used);
    queue_enable(0);
    /* Configuring a queue that does not exist changes nothing. */
    queue_config(5, QS, RAM_BASE, RAM_BASE, RAM_BASE);
    queue_enable(5);
    expect(!queue_ready(5), "queue 5 does not exist");
    notify(5);
    set_status(1 | 2 | 8 | 4);
    expect_healthy("device healthy after notifies on unconfigured queues");
}

static void feature_attacks(void)
{
    uint64_t offered = dev_features();
    expect((offered & F_VERSION_1) != 0, "device offers VERSION_1");
    uint8_t s = bring_up(F_VERSION_1 | (1ULL << 63));
    expect(!(s & 8), "FEATURES_OK refused with unoffered bit 63");
    s = bring_up(F_VERSION_1 | (~offered & 0xffffffffULL));
    expect(!(s & 8), "FEATURES_OK refused with all unoffered low bits");
    s = bring_up(0);
    expect(!(s & 8), "FEATURES_OK refused without VERSION_1");
    /* Changing features after FEATURES_OK is ignored. */
    expect(bring_up_ok(), "bring-up with offered features");
    drv_features(~0ULL);
    expect(get_status() == 15, "features written after FEATURES_OK ignored");
    expect_healthy("device healthy after feature games");
}

static void register_attacks(void)
{
    bring_up_ok();
    if (!is_pci) {
        /* Wrong sizes on 32-bit registers and odd offsets. */
        wr8(base + M_STATUS, 0);
        wr16(base + M_STATUS, 0);
        wr8(base + M_QUEUE_NOTIFY, 0);
        wr16(base + M_QUEUE_READY, 0);
        wr8(base + M_QUEUE_SEL + 1, 3);
        wr32(base + M_QUEUE_SEL + 2, 0);
        wr32(base + 0x0fc, 0x1234);           /* ConfigGeneration is read-only */
        wr32(base + 0xffc, 0xffffffff);       /* far past the config space */
        wr64(base + M_CONFIG + 0x38, ~0ULL);  /* straddles the end of config */
        wr64(base + M_CONFIG, ~0ULL);         /* capacity is read-only */
        (void)rd8(base + M_MAGIC + 1);
        (void)rd16(base + M_STATUS);
        (void)rd64(base + M_MAGIC);
        (void)rd64(base + 0xff8);
        (void)rd32(base + 0xffc);
        expect(get_status() == 15, "mmio wrong-size writes did not change status");
        wr32(base + M_QUEUE_SEL, 0);
        wr32(base + M_QUEUE_NUM, 2);           /* while ready: ignored */
        wr32(base + M_DESC_LO, 0x1000);        /* while ready: ignored */
    } else {
        wr8(base + P_STATUS + 1, 0);          /* config_generation is read-only */
        wr32(base + 0x38, ~0u);                /* past the common structure */
        wr32(base + 0x0ffc, ~0u);
        wr32(base + P_ISR, ~0u);               /* ISR is read-only */
        wr32(base + P_ISR + 0xffc, ~0u);
        wr64(base + P_DEVCFG + 0x38, ~0ULL);   /* straddles the end of config */
        wr64(base + P_DEVCFG + 0xff8, ~0ULL);
        wr8(base + P_NOTIFY + 1, 0);           /* inside queue 0's notify word */
        wr64(base + 0x3ff8, ~0ULL);            /* last bytes of the BAR */
        (void)rd64(base + 0x3ff8);
        (void)rd8(base + P_DEVCFG + 0x3b);
        (void)rd64(base + P_DEVCFG + 0x3c);
        wr16(base + P_QSEL, 0);
        wr16(base + P_QSIZE, 2);               /* while enabled: ignored */
        wr64(base + P_QDESC, 0x1000);          /* while enabled: ignored */
        wr16(base + P_QSEL, 0xffff);           /* selecting a queue that does not exist */
        expect(rd16(base + P_QSIZE) == 0, "pci nonexistent queue reads size 0");
        wr16(base + P_QSIZE, 8);
        wr16(base + P_QENABLE, 1);
        wr16(base + P_QSEL, 0);
        expect(get_status() == 15, "pci odd writes did not change status");
    }
    expect(capacity() == 2048, "capacity unchanged by config writes");
    expect_healthy("device healthy after register abuse");
}

static void set_bar(uint64_t addr)
{
    wr32(pci_cfg + 0x20, (uint32_t)addr);
    wr32(pci_cfg + 0x24, (uint32_t)(addr >> 32));
}

/* The BAR moved over RAM, across the end of the MMIO window, to the top of
 * the address space: none of it may be decoded (the program runs from RAM,
 * so shadowing it would end the test); then moved back, the device works. */
static void bar_attacks(void)
{
    if (!is_pci)
        return;
    bring_up_ok();
    static const uint64_t where[] = { RAM_BASE, RAM_BASE + 0x4000, 0x7fffe000,
                                      0xffffffffffffc000ULL, 0x0, 0x10000000 };
    static volatile uint32_t canary[2] = { 0x600dcafe, 0x600dcafe };
    int ram_ok = 1;
    for (unsigned i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        set_bar(where[i]);
        /* RAM (and so this program) still reads as RAM */
        ram_ok &= rd32(RAM_BASE) == rd32(RAM_BASE) && canary[0] == 0x600dcafe;
        /* touching the old place would fault: it must no longer decode */
    }
    set_bar(BAR_ADDR);
    expect(ram_ok, "pci BAR over RAM / outside the window not decoded");
    expect(rd8(BAR_ADDR + P_STATUS) == 15, "pci BAR moved around and back");
    wr16(pci_cfg + 4, rd16(pci_cfg + 4) & ~0x2);
    wr16(pci_cfg + 4, rd16(pci_cfg + 4) | 0x2);
    expect_healthy("device healthy after BAR games");
}

int main(void)
{
    puts_("virtio hostile-driver test\n");
    if (!find_mmio() && !find_pci()) {
        puts_("FAIL no virtio-blk device found\n");
        finish((98u << 16) | 0x3333);
    }
    puts_(is_pci ? "transport: virtio-pci at " : "transport: virtio-mmio at ");
    puthex(base);
    puts_("\n");
    expect(bring_up_ok(), "well-formed bring-up");
    expect(good_io(1), "well-formed write and read back");
    feature_attacks();
    ring_attacks();
    request_attacks();
    reset_race();
    disable_in_flight();
    repost_in_flight();
    queue_attacks();
    register_attacks();
    bar_attacks();
    puts_("cases: ");
    puthex((uint64_t)cases);
    puts_(" failures: ");
    puthex((uint64_t)failures);
    puts_("\n");
    finish(failures ? ((uint32_t)(failures > 0xff ? 0xff : failures) << 16) | 0x3333 : 0x5555);
    return 0;
}
