/* Host side of the serial console: output to stdout or a file, input from
 * stdin on a reader thread.  With the QEMU -nographic style multiplexer,
 * Ctrl-A x quits, Ctrl-A Ctrl-A sends a literal Ctrl-A, Ctrl-A h lists keys. */
#ifndef QUAIL_HW_SERIAL_HOST_H
#define QUAIL_HW_SERIAL_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/virt.h"

/* spec: "stdio", "mon:stdio" (stdio with the Ctrl-A mux), "file:PATH",
 * "null" or "none".  mux forces the escape keys on for stdio. */
int serial_host_open(SerialHost **out, const char *spec, bool mux, VirtMachine *m);
/* Starts forwarding input to the machine's UART (stdio only). */
int serial_host_start(SerialHost *s);
/* Stops the reader thread and restores the terminal.  Safe on NULL. */
void serial_host_close(SerialHost *s);
/* Uart tx callback. */
void serial_host_write(void *opaque, const uint8_t *buf, size_t len);

/* Mux input filter, exposed for tests: feeds n input bytes through the escape
 * state machine, writes the bytes meant for the guest to out (at most n) and
 * returns their count; sets *quit when Ctrl-A x was seen. */
size_t serial_mux_filter(bool *escape_state, const uint8_t *in, size_t n,
                         uint8_t *out, bool *quit, bool *help);

#endif
