/* QEMU-compatible RISC-V `virt` machine: memory map, devices, boot, harts.
 *
 * Life cycle: virt_create() builds the bus and base devices from a RunConfig,
 * the command line's deferred actions then add devices (-drive, -device...),
 * virt_load() loads firmware/kernel/initrd and builds the device tree, and
 * virt_run() starts one thread per hart and waits for poweroff/reset/quit.
 */
#ifndef QUAIL_HW_VIRT_H
#define QUAIL_HW_VIRT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/riscv.h"
#include "hw/bus.h"
#include "hw/clint.h"
#include "hw/goldfish_rtc.h"
#include "hw/plic.h"
#include "hw/sifive_test.h"
#include "hw/uart.h"

/* Memory map (QEMU 7.2 hw/riscv/virt.c) */
#define VIRT_MROM_BASE 0x1000ULL
#define VIRT_MROM_SIZE 0xf000ULL
#define VIRT_TEST_BASE 0x100000ULL
#define VIRT_RTC_BASE 0x101000ULL
#define VIRT_CLINT_BASE 0x2000000ULL
#define VIRT_PCIE_PIO_BASE 0x3000000ULL
#define VIRT_PCIE_PIO_SIZE 0x10000ULL
#define VIRT_PLIC_BASE 0xc000000ULL
#define VIRT_UART0_BASE 0x10000000ULL
#define VIRT_VIRTIO_BASE 0x10001000ULL
#define VIRT_VIRTIO_SIZE 0x1000ULL
#define VIRT_VIRTIO_COUNT 8
#define VIRT_PCIE_ECAM_BASE 0x30000000ULL
#define VIRT_PCIE_ECAM_SIZE 0x10000000ULL
#define VIRT_PCIE_MMIO_BASE 0x40000000ULL
#define VIRT_PCIE_MMIO_SIZE 0x40000000ULL
#define VIRT_DRAM_BASE 0x80000000ULL

/* PLIC sources */
#define VIRT_VIRTIO_IRQ 1           /* slot i uses 1 + i */
#define VIRT_UART0_IRQ 10
#define VIRT_RTC_IRQ 11
#define VIRT_PCIE_IRQ 0x20          /* 4 legacy INTx lines from here */

#define VIRT_MAX_HARTS 8
/* What the DT advertises; Linux still probes satp modes itself. */
#define VIRT_MMU_TYPE "riscv,sv48"
#define VIRT_DEFAULT_RAM (128ULL << 20)

typedef struct RunConfig RunConfig;
typedef struct VirtMachine VirtMachine;
typedef struct SerialHost SerialHost;

typedef enum {
    MACHINE_RUNNING = 0,
    MACHINE_POWEROFF,       /* guest powered off: exit 0 */
    MACHINE_RESET,          /* guest asked for a reset */
    MACHINE_FAIL,           /* finisher FAIL: exit with exit_code */
    MACHINE_QUIT,           /* host side: Ctrl-A x, signal, monitor quit */
} MachineRequest;

/* Hooks devices register with the machine. */
typedef void (*MachineResetFn)(VirtMachine *m, void *opaque);
/* Called inside /soc while the DT is written with libfdt's sequential-write
 * API: add nodes with fdt_begin_node()/fdt_property*()/fdt_end_node().
 * m->plic_phandle is the interrupt parent.  Return 0 or a libfdt error. */
typedef int (*MachineFdtFn)(VirtMachine *m, void *fdt, void *opaque);
typedef void (*MachineCleanupFn)(VirtMachine *m, void *opaque);

typedef struct MachineHook {
    void *fn;
    void *opaque;
} MachineHook;

#define MACHINE_MAX_HOOKS 64

struct VirtMachine {
    Bus bus;
    const RunConfig *cfg;
    int nharts;
    RiscvCpu *cpus[VIRT_MAX_HARTS];
    pthread_t threads[VIRT_MAX_HARTS];
    bool threads_running;

    Plic plic;
    Clint clint;
    Uart uart;
    SifiveTest test;
    GoldfishRtc rtc;
    bool rtc_inited;
    SerialHost *serial;
    uint8_t mrom[VIRT_MROM_SIZE];   /* reset vector + fw_dynamic_info, read-only */

    /* virtio-mmio slot i at VIRT_VIRTIO_BASE + i * 0x1000, IRQ 1 + i */
    const char *virtio_owner[VIRT_VIRTIO_COUNT];

    /* boot state, kept for resets */
    uint8_t *fw_data, *kernel_data, *initrd_data;
    size_t fw_size, kernel_size, initrd_size;
    uint64_t fw_addr, kernel_addr, kernel_entry, initrd_addr, fdt_addr, dinfo_addr;
    uint64_t start_pc;
    void *fdt;
    size_t fdt_size;
    uint32_t plic_phandle, test_phandle;

    MachineHook reset_hooks[MACHINE_MAX_HOOKS], fdt_hooks[MACHINE_MAX_HOOKS],
                cleanup_hooks[MACHINE_MAX_HOOKS];
    int nreset_hooks, nfdt_hooks, ncleanup_hooks;

    pthread_mutex_t req_lock;
    pthread_cond_t req_cond;
    MachineRequest request;
    int exit_code;
    /* Run state for QMP stop/cont: the main loop stops or restarts the hart
     * threads when pause_want differs from paused (both under req_lock). */
    bool pause_want, paused;
    const char *quit_reason;    /* SHUTDOWN event reason for MACHINE_QUIT */
    const char *reset_reason;   /* RESET event reason, guest-reset if NULL */
};

int virt_create(VirtMachine **out, const RunConfig *cfg);
void virt_destroy(VirtMachine *m);

/* Loads the images named in the config and builds the device tree. */
int virt_load(VirtMachine *m);
/* Resets devices and harts and copies the images back into RAM. */
void virt_reset(VirtMachine *m);
/* Runs until poweroff/fail/quit (resets are handled inside, unless
 * -no-reboot).  Returns the process exit status. */
int virt_run(VirtMachine *m);

/* QMP stop / cont: return once the harts have stopped or restarted;
 * -EBUSY when the machine is shutting down. */
int virt_pause(VirtMachine *m);
int virt_resume(VirtMachine *m);
/* "running", "paused", "shutdown" (query-status). */
const char *virt_status(VirtMachine *m);

/* Any thread: ask the main loop to power off, reset, fail or quit. */
void machine_request(VirtMachine *m, MachineRequest r, int exit_code);

int machine_add_reset_hook(VirtMachine *m, MachineResetFn fn, void *opaque);
int machine_add_fdt_hook(VirtMachine *m, MachineFdtFn fn, void *opaque);
int machine_add_cleanup_hook(VirtMachine *m, MachineCleanupFn fn, void *opaque);

/* Raise/lower a PLIC source.  Takes the bus io_lock unless the caller already
 * holds it (MMIO callbacks do: pass locked = true). */
void machine_set_irq(VirtMachine *m, int source, bool level, bool locked);

/* Claims the highest free virtio-mmio slot for owner (a device id for logs),
 * the order QEMU fills them in.
 * Returns the slot index (base = VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_SIZE,
 * PLIC source VIRT_VIRTIO_IRQ + i) or -ENOSPC. */
int machine_alloc_virtio_slot(VirtMachine *m, const char *owner);

/* Device tree construction (src/hw/virt_fdt.c). */
int virt_build_fdt(VirtMachine *m);

#endif
