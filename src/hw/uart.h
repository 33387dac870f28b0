/* ns16550a UART (8-bit registers, reg-shift 0) with a 16-byte receive FIFO.
 * Transmission is instantaneous: THR bytes go straight to the backend, so THRE
 * is always set again by the time the guest looks.  All calls happen under the
 * bus io_lock (MMIO callbacks, and the serial backend's reader thread takes it
 * before uart_receive()). */
#ifndef QUAIL_HW_UART_H
#define QUAIL_HW_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/bus.h"

#define UART_MMIO_SIZE 0x100
#define UART_CLOCK_HZ 3686400
#define UART_FIFO_SIZE 16

/* register offsets */
enum { UART_RBR = 0, UART_IER = 1, UART_IIR = 2, UART_LCR = 3, UART_MCR = 4,
       UART_LSR = 5, UART_MSR = 6, UART_SCR = 7 };

#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI 0x08
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_FIFO 0xc0
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_LCR_DLAB 0x80
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_ERRORS 0x1e
#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

typedef struct Uart {
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
    bool thr_ipending;
    bool irq_level;
    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;

    void (*set_irq)(void *opaque, bool level);
    void *irq_opaque;
    /* Transmitted bytes; may be NULL (-serial none). */
    void (*tx)(void *opaque, const uint8_t *buf, size_t len);
    void *tx_opaque;
} Uart;

extern const MmioOps uart_ops;

void uart_init(Uart *u);
void uart_reset(Uart *u);
/* Free room in the receive FIFO (1 when the FIFO is disabled). */
unsigned uart_rx_room(const Uart *u);
/* Queues up to len received bytes; returns how many were taken. */
size_t uart_receive(Uart *u, const uint8_t *buf, size_t len);

#endif
