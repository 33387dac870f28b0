/* The virt machine: device wiring, hart threads and the power-state loop. */
#include "hw/virt.h"
#include "block/node.h"
#include "monitor/qmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/options.h"
#include "hw/pci/pci_host.h"
#include "hw/serial_host.h"
#include "util/error.h"
#include "util/log.h"

/* --- PLIC outputs into the harts --- */
static void plic_to_hart(void *opaque, int context, bool level)
{
    VirtMachine *m = opaque;
    int hart = context / 2;
    if (hart < m->nharts)
        riscv_cpu_set_irq(m->cpus[hart], (context & 1) ? IRQ_SEI : IRQ_MEI, level);
}

static void uart_irq(void *opaque, bool level)
{
    VirtMachine *m = opaque;
    plic_set_irq(&m->plic, VIRT_UART0_IRQ, level);
}

void machine_set_irq(VirtMachine *m, int source, bool level, bool locked)
{
    if (!locked)
        pthread_mutex_lock(&m->bus.io_lock);
    plic_set_irq(&m->plic, source, level);
    if (!locked)
        pthread_mutex_unlock(&m->bus.io_lock);
}

static void rtc_irq(void *opaque, bool level)
{
    VirtMachine *m = opaque;
    plic_set_irq(&m->plic, VIRT_RTC_IRQ, level);
}

static void finisher(void *opaque, FinishKind kind, int code)
{
    VirtMachine *m = opaque;
    machine_request(m, kind == FINISH_POWEROFF ? MACHINE_POWEROFF :
                       kind == FINISH_RESET ? MACHINE_RESET : MACHINE_FAIL, code);
}

/* --- MROM: QEMU's reset vector followed by fw_dynamic_info --- */
static int mrom_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    VirtMachine *m = opaque;
    uint64_t v = 0;
    if (off + size > sizeof(m->mrom))
        return -EFAULT;
    memcpy(&v, m->mrom + off, size);
    *val = v;
    return 0;
}

static int mrom_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    log_guest_error("mrom: write to ROM at 0x%llx ignored",
                    (unsigned long long)(VIRT_MROM_BASE + off));
    return 0;
}

static const MmioOps mrom_ops = { mrom_read, mrom_write };

/* --- empty virtio-mmio slots: answer like a transport with no backend --- */
static int virtio_empty_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    *val = 0;
    if (size != 4)
        return 0;
    switch (off) {
    case 0x000: *val = 0x74726976; break;  /* "virt" */
    case 0x004: *val = 1; break;           /* legacy, QEMU 7.2's default */
    case 0x008: *val = 0; break;           /* no device */
    case 0x00c: *val = 0x554d4551; break;  /* "QEMU" */
    }
    return 0;
}

static int virtio_empty_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    return 0;
}

static const MmioOps virtio_empty_ops = { virtio_empty_read, virtio_empty_write };
static const char *const virtio_slot_names[VIRT_VIRTIO_COUNT] = {
    "virtio-mmio@10001000", "virtio-mmio@10002000", "virtio-mmio@10003000",
    "virtio-mmio@10004000", "virtio-mmio@10005000", "virtio-mmio@10006000",
    "virtio-mmio@10007000", "virtio-mmio@10008000",
};

int machine_alloc_virtio_slot(VirtMachine *m, const char *owner)
{
    /* Highest slot first: QEMU hands the first virtio-mmio device to
     * virtio-mmio-bus.7 (0x10008000), which is also the first node in the DT,
     * so the guest numbers devices in command-line order. */
    for (int i = VIRT_VIRTIO_COUNT - 1; i >= 0; i--) {
        if (m->virtio_owner[i])
            continue;
        m->virtio_owner[i] = owner;
        bus_del_mmio(&m->bus, VIRT_VIRTIO_BASE + (uint64_t)i * VIRT_VIRTIO_SIZE, m);
        return i;
    }
    return err_set(ENOSPC, "all %d virtio-mmio slots are in use", VIRT_VIRTIO_COUNT);
}

/* --- hooks --- */
static int add_hook(MachineHook *hooks, int *n, void *fn, void *opaque)
{
    if (*n == MACHINE_MAX_HOOKS)
        return err_set(ENOSPC, "too many machine hooks");
    hooks[(*n)++] = (MachineHook){ fn, opaque };
    return 0;
}

int machine_add_reset_hook(VirtMachine *m, MachineResetFn fn, void *opaque)
{
    return add_hook(m->reset_hooks, &m->nreset_hooks, (void *)fn, opaque);
}

int machine_add_fdt_hook(VirtMachine *m, MachineFdtFn fn, void *opaque)
{
    return add_hook(m->fdt_hooks, &m->nfdt_hooks, (void *)fn, opaque);
}

int machine_add_cleanup_hook(VirtMachine *m, MachineCleanupFn fn, void *opaque)
{
    return add_hook(m->cleanup_hooks, &m->ncleanup_hooks, (void *)fn, opaque);
}

void machine_request(VirtMachine *m, MachineRequest r, int exit_code)
{
    pthread_mutex_lock(&m->req_lock);
    /* The first request wins: a guest that writes "reset" after "poweroff"
     * has already been told to go away. */
    if (m->request == MACHINE_RUNNING) {
        m->request = r;
        m->exit_code = exit_code;
        pthread_cond_broadcast(&m->req_cond);
    }
    pthread_mutex_unlock(&m->req_lock);
}

/* --- creation --- */
int virt_create(VirtMachine **out, const RunConfig *cfg)
{
    if (cfg->smp < 1 || cfg->smp > VIRT_MAX_HARTS)
        return err_set(EINVAL, "-smp must be between 1 and %d", VIRT_MAX_HARTS);
    VirtMachine *m = calloc(1, sizeof(*m));
    if (!m)
        return err_set(ENOMEM, "out of memory");
    m->cfg = cfg;
    m->nharts = cfg->smp;
    pthread_mutex_init(&m->req_lock, NULL);
    pthread_cond_init(&m->req_cond, NULL);
    int ret = bus_init(&m->bus, VIRT_DRAM_BASE, cfg->ram_size);
    if (ret < 0) {
        pthread_mutex_destroy(&m->req_lock);
        pthread_cond_destroy(&m->req_cond);
        free(m);
        return ret;
    }
    for (int i = 0; i < m->nharts; i++) {
        m->cpus[i] = calloc(1, sizeof(RiscvCpu));
        if (!m->cpus[i]) {
            ret = err_set(ENOMEM, "out of memory");
            goto fail;
        }
        ret = riscv_cpu_init(m->cpus[i], &m->bus, (uint64_t)i);
        if (ret < 0) {
            free(m->cpus[i]);
            m->cpus[i] = NULL;
            goto fail;
        }
    }
    plic_init(&m->plic, m->nharts, plic_to_hart, m);
    clint_init(&m->clint, m->cpus, m->nharts);
    uart_init(&m->uart);
    m->uart.set_irq = uart_irq;
    m->uart.irq_opaque = m;
    m->test.finish = finisher;
    m->test.opaque = m;
    goldfish_rtc_init(&m->rtc, &m->bus);
    m->rtc.set_irq = rtc_irq;
    m->rtc.irq_opaque = m;
    m->rtc_inited = true;

    ret = serial_host_open(&m->serial, cfg->serial ? cfg->serial : "stdio",
                           cfg->nographic && !cfg->serial, m);
    if (ret < 0)
        goto fail;
    m->uart.tx = serial_host_write;
    m->uart.tx_opaque = m->serial;

    if ((ret = bus_add_mmio(&m->bus, VIRT_MROM_BASE, VIRT_MROM_SIZE, &mrom_ops, m, "mrom")) < 0 ||
        (ret = bus_add_mmio(&m->bus, VIRT_TEST_BASE, SIFIVE_TEST_MMIO_SIZE, &sifive_test_ops,
                            &m->test, "sifive_test")) < 0 ||
        (ret = bus_add_mmio(&m->bus, VIRT_RTC_BASE, GOLDFISH_RTC_MMIO_SIZE, &goldfish_rtc_ops,
                            &m->rtc, "goldfish_rtc")) < 0 ||
        (ret = bus_add_mmio(&m->bus, VIRT_CLINT_BASE, CLINT_MMIO_SIZE, &clint_ops,
                            &m->clint, "clint")) < 0 ||
        (ret = bus_add_mmio(&m->bus, VIRT_PLIC_BASE, PLIC_MMIO_SIZE, &plic_ops,
                            &m->plic, "plic")) < 0 ||
        (ret = bus_add_mmio(&m->bus, VIRT_UART0_BASE, UART_MMIO_SIZE, &uart_ops,
                            &m->uart, "uart0")) < 0)
        goto fail;
    for (int i = 0; i < VIRT_VIRTIO_COUNT; i++) {
        ret = bus_add_mmio(&m->bus, VIRT_VIRTIO_BASE + (uint64_t)i * VIRT_VIRTIO_SIZE,
                           VIRT_VIRTIO_SIZE, &virtio_empty_ops, m, virtio_slot_names[i]);
        if (ret < 0)
            goto fail;
    }
    /* Like QEMU's virt, the PCIe host is always there, devices or not. */
    if ((ret = pci_host_create(m)) < 0)
        goto fail;
    *out = m;
    return 0;
fail:
    virt_destroy(m);
    return ret;
}

void virt_destroy(VirtMachine *m)
{
    if (!m)
        return;
    for (int i = m->ncleanup_hooks - 1; i >= 0; i--)
        ((MachineCleanupFn)m->cleanup_hooks[i].fn)(m, m->cleanup_hooks[i].opaque);
    serial_host_close(m->serial);
    if (m->rtc_inited)
        goldfish_rtc_destroy(&m->rtc);
    for (int i = 0; i < m->nharts; i++) {
        if (m->cpus[i]) {
            riscv_cpu_destroy(m->cpus[i]);
            free(m->cpus[i]);
        }
    }
    free(m->fw_data);
    free(m->kernel_data);
    free(m->initrd_data);
    free(m->fdt);
    bus_destroy(&m->bus);
    pthread_mutex_destroy(&m->req_lock);
    pthread_cond_destroy(&m->req_cond);
    free(m);
}

/* --- running --- */
static void *hart_thread(void *opaque)
{
    RiscvCpu *cpu = opaque;
    char name[16];
    /* "hart0"... in top/gdb/perf */
    snprintf(name, sizeof(name), "hart%llu", (unsigned long long)cpu->mhartid);
    pthread_setname_np(pthread_self(), name);
    riscv_cpu_run(cpu);
    return NULL;
}

static int start_harts(VirtMachine *m)
{
    for (int i = 0; i < m->nharts; i++) {
        atomic_store(&m->cpus[i]->stop_request, false);
        int ret = pthread_create(&m->threads[i], NULL, hart_thread, m->cpus[i]);
        if (ret) {
            for (int j = 0; j < i; j++)
                riscv_cpu_request_stop(m->cpus[j]);
            for (int j = 0; j < i; j++)
                pthread_join(m->threads[j], NULL);
            return err_set(ret, "cannot start hart %d's thread", i);
        }
    }
    m->threads_running = true;
    return 0;
}

static void stop_harts(VirtMachine *m)
{
    if (!m->threads_running)
        return;
    for (int i = 0; i < m->nharts; i++)
        riscv_cpu_request_stop(m->cpus[i]);
    for (int i = 0; i < m->nharts; i++)
        pthread_join(m->threads[i], NULL);
    m->threads_running = false;
}

static void state_event(const char *name, bool guest, const char *reason)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "guest", json_object_new_boolean(guest));
    json_object_object_add(d, "reason", json_object_new_string(reason));
    qmp_event(name, d);
}

static void shutdown_event(bool guest, const char *reason)
{
    state_event("SHUTDOWN", guest, reason);
}

static void reset_event(bool guest, const char *reason)
{
    state_event("RESET", guest, reason);
}

static int set_pause(VirtMachine *m, bool pause)
{
    pthread_mutex_lock(&m->req_lock);
    if (m->request != MACHINE_RUNNING) {
        pthread_mutex_unlock(&m->req_lock);
        return err_set(EBUSY, "the machine is shutting down");
    }
    m->pause_want = pause;
    pthread_cond_broadcast(&m->req_cond);
    while (m->paused != pause && m->request == MACHINE_RUNNING)
        pthread_cond_wait(&m->req_cond, &m->req_lock);
    pthread_mutex_unlock(&m->req_lock);
    return 0;
}

int virt_pause(VirtMachine *m)
{
    return set_pause(m, true);
}

int virt_resume(VirtMachine *m)
{
    return set_pause(m, false);
}

const char *virt_status(VirtMachine *m)
{
    pthread_mutex_lock(&m->req_lock);
    const char *s = m->request != MACHINE_RUNNING ? "shutdown" : m->paused ? "paused" : "running";
    pthread_mutex_unlock(&m->req_lock);
    return s;
}

int virt_run(VirtMachine *m)
{
    int ret = serial_host_start(m->serial);
    if (ret < 0) {
        log_msg("%s", err_msg());
        return 1;
    }
    for (;;) {
        if (!m->paused) {
            ret = start_harts(m);
            if (ret < 0) {
                log_msg("%s", err_msg());
                return 1;
            }
        }
        pthread_mutex_lock(&m->req_lock);
        while (m->request == MACHINE_RUNNING && m->pause_want == m->paused)
            pthread_cond_wait(&m->req_cond, &m->req_lock);
        MachineRequest r = m->request;
        int code = m->exit_code;
        bool want_pause = m->pause_want;
        pthread_mutex_unlock(&m->req_lock);

        if (r == MACHINE_RUNNING) {
            /* stop/cont from the monitor */
            if (want_pause) {
                stop_harts(m);
                /* As QEMU's vm_stop: requests the guest already issued
                 * (queued in a throttle node, in io_uring) land before
                 * "stop" returns, so a copy taken while paused is exact. */
                blk_drain_all();
            }
            pthread_mutex_lock(&m->req_lock);
            m->paused = want_pause;
            pthread_cond_broadcast(&m->req_cond);
            pthread_mutex_unlock(&m->req_lock);
            qmp_event(want_pause ? "STOP" : "RESUME", NULL);
            continue;
        }
        stop_harts(m);
        bool host_reset = m->reset_reason != NULL;
        const char *reset_reason = host_reset ? m->reset_reason : "guest-reset";
        switch (r) {
        case MACHINE_RESET:
            if (m->cfg->no_reboot) {
                shutdown_event(!host_reset, reset_reason);
                return 0;
            }
            virt_reset(m);
            reset_event(!host_reset, reset_reason);
            pthread_mutex_lock(&m->req_lock);
            m->request = MACHINE_RUNNING;
            m->reset_reason = NULL;
            pthread_mutex_unlock(&m->req_lock);
            continue;
        case MACHINE_FAIL:
            shutdown_event(true, "guest-panic");
            return code;
        case MACHINE_POWEROFF:
            shutdown_event(true, "guest-shutdown");
            return 0;
        default:
            shutdown_event(false, m->quit_reason ? m->quit_reason : "host-signal");
            return 0;
        }
    }
}
