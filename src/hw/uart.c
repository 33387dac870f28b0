#include "hw/uart.h"

#include <string.h>

#include "util/log.h"

static uint8_t uart_iir(const Uart *u)
{
    uint8_t iir;
    if ((u->ier & UART_IER_RLSI) && (u->lsr & UART_LSR_ERRORS))
        iir = UART_IIR_RLSI;
    else if ((u->ier & UART_IER_RDI) && (u->lsr & UART_LSR_DR))
        iir = UART_IIR_RDI;
    else if ((u->ier & UART_IER_THRI) && u->thr_ipending)
        iir = UART_IIR_THRI;
    else if ((u->ier & UART_IER_MSI) && (u->msr & 0x0f))
        iir = UART_IIR_MSI;
    else
        iir = UART_IIR_NO_INT;
    if (u->fcr & UART_FCR_ENABLE)
        iir |= UART_IIR_FIFO;
    return iir;
}

static void uart_update_irq(Uart *u)
{
    bool level = !(uart_iir(u) & UART_IIR_NO_INT);
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->set_irq)
            u->set_irq(u->irq_opaque, level);
    }
}

/* Modem status as seen by the guest: in loopback the MCR outputs feed the
 * inputs; otherwise the line looks like a connected terminal (as QEMU shows
 * when the backend has no modem lines). */
static void uart_set_msr(Uart *u)
{
    uint8_t in;
    if (u->mcr & UART_MCR_LOOP) {
        in = 0;
        if (u->mcr & UART_MCR_RTS) in |= UART_MSR_CTS;
        if (u->mcr & UART_MCR_DTR) in |= UART_MSR_DSR;
        if (u->mcr & UART_MCR_OUT1) in |= UART_MSR_RI;
        if (u->mcr & UART_MCR_OUT2) in |= UART_MSR_DCD;
    } else {
        in = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    }
    uint8_t old = u->msr, delta = u->msr & 0x0f;
    if ((old ^ in) & UART_MSR_CTS) delta |= UART_MSR_DCTS;
    if ((old ^ in) & UART_MSR_DSR) delta |= UART_MSR_DDSR;
    if ((old ^ in) & UART_MSR_DCD) delta |= UART_MSR_DDCD;
    if ((old & UART_MSR_RI) && !(in & UART_MSR_RI)) delta |= UART_MSR_TERI;
    u->msr = in | delta;
}

void uart_init(Uart *u)
{
    memset(u, 0, sizeof(*u));
    uart_reset(u);
}

void uart_reset(Uart *u)
{
    u->ier = 0;
    u->lcr = 0;
    u->mcr = UART_MCR_OUT2;
    u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    u->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    u->scr = 0;
    u->fcr = 0;
    u->dll = 12;        /* 9600 baud from the 1.8432 MHz x2 clock */
    u->dlm = 0;
    u->thr_ipending = false;
    u->rx_head = u->rx_count = 0;
    uart_update_irq(u);
}

static unsigned uart_capacity(const Uart *u)
{
    return (u->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

unsigned uart_rx_room(const Uart *u)
{
    unsigned cap = uart_capacity(u);
    return u->rx_count < cap ? cap - u->rx_count : 0;
}

static void rx_push(Uart *u, uint8_t c)
{
    if (u->rx_count >= uart_capacity(u)) {
        u->lsr |= UART_LSR_OE;
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
    u->rx_count++;
    u->lsr |= UART_LSR_DR;
}

size_t uart_receive(Uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    /* In loopback the line is disconnected from the outside world. */
    if (u->mcr & UART_MCR_LOOP)
        return 0;
    while (n < len && uart_rx_room(u) > 0)
        rx_push(u, buf[n++]);
    uart_update_irq(u);
    return n;
}

static void rx_clear(Uart *u)
{
    u->rx_head = u->rx_count = 0;
    u->lsr &= ~UART_LSR_DR;
}

static int uart_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    Uart *u = opaque;
    uint8_t v = 0;
    if (off > UART_SCR) {
        log_guest_error("uart: read at bad offset 0x%llx", (unsigned long long)off);
        *val = 0;
        return 0;
    }
    switch (off) {
    case UART_RBR:
        if (u->lcr & UART_LCR_DLAB) {
            v = u->dll;
        } else if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
            if (--u->rx_count == 0)
                u->lsr &= ~UART_LSR_DR;
            uart_update_irq(u);
        }
        break;
    case UART_IER:
        v = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
        break;
    case UART_IIR:
        v = uart_iir(u);
        /* Reading IIR acknowledges a THR-empty interrupt. */
        if ((v & 0x0f) == UART_IIR_THRI) {
            u->thr_ipending = false;
            uart_update_irq(u);
        }
        break;
    case UART_LCR: v = u->lcr; break;
    case UART_MCR: v = u->mcr; break;
    case UART_LSR:
        v = u->lsr;
        if (u->lsr & (UART_LSR_ERRORS)) {
            u->lsr &= ~UART_LSR_ERRORS;
            uart_update_irq(u);
        }
        break;
    case UART_MSR:
        v = u->msr;
        if (u->msr & 0x0f) {
            u->msr &= 0xf0;
            uart_update_irq(u);
        }
        break;
    case UART_SCR: v = u->scr; break;
    }
    *val = v;
    return 0;
}

static int uart_write(void *opaque, uint64_t off, unsigned size, uint64_t val64)
{
    Uart *u = opaque;
    uint8_t val = (uint8_t)val64;
    if (off > UART_SCR) {
        log_guest_error("uart: write at bad offset 0x%llx", (unsigned long long)off);
        return 0;
    }
    switch (off) {
    case UART_RBR:
        if (u->lcr & UART_LCR_DLAB) {
            u->dll = val;
            break;
        }
        if (u->mcr & UART_MCR_LOOP)
            rx_push(u, val);
        else if (u->tx)
            u->tx(u->tx_opaque, &val, 1);
        /* The byte left at once: THR is empty again and says so. */
        u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
        u->thr_ipending = true;
        uart_update_irq(u);
        break;
    case UART_IER:
        if (u->lcr & UART_LCR_DLAB) {
            u->dlm = val;
        } else {
            uint8_t changed = (u->ier ^ val) & 0x0f;
            u->ier = val & 0x0f;
            if (changed & UART_IER_THRI)
                u->thr_ipending = (u->ier & UART_IER_THRI) && (u->lsr & UART_LSR_TEMT);
            uart_update_irq(u);
        }
        break;
    case UART_IIR: {       /* FCR */
        if ((val ^ u->fcr) & UART_FCR_ENABLE)
            rx_clear(u);
        if (val & UART_FCR_CLEAR_RX)
            rx_clear(u);
        u->fcr = val & 0xc9;
        uart_update_irq(u);
        break;
    }
    case UART_LCR: u->lcr = val; break;
    case UART_MCR:
        u->mcr = val & 0x1f;
        uart_set_msr(u);
        uart_update_irq(u);
        break;
    case UART_LSR:
    case UART_MSR:
        break;      /* read-only (factory test writes are ignored) */
    case UART_SCR: u->scr = val; break;
    }
    return 0;
}

const MmioOps uart_ops = { uart_read, uart_write };
