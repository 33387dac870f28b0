/* Bare-metal riscv64 entry for workload.h: results land in wl_out, then
 * ebreak hands control back to the test. */
#include "workload.h"

uint64_t wl_out[WL_RESULTS];

void _start(void) __attribute__((naked, section(".text.start")));
void _start(void)
{
    __asm__ volatile("la sp, wl_stack_top\n"
                     "call wl_main\n"
                     "la a0, wl_out\n"
                     "ebreak\n"
                     "1: j 1b\n");
}

static uint8_t wl_stack[64 * 1024] __attribute__((aligned(16), used));
__asm__(".globl wl_stack_top\n.set wl_stack_top, wl_stack + 65536");

void wl_main(void);
void wl_main(void)
{
    wl_run(wl_out);
}
