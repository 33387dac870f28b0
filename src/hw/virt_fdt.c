/* The virt machine's device tree, written at boot with libfdt's
 * sequential-write API; node names, compatibles and properties follow QEMU
 * 7.2 so OpenSBI and Linux take the same paths as under QEMU. */
#include "hw/virt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "hw/options.h"
#include "util/clock.h"
#include "util/error.h"

#define CHECK(x) do { int r_ = (x); if (r_ < 0) return r_; } while (0)

static int prop_cells(void *fdt, const char *name, const uint32_t *cells, int n)
{
    fdt32_t be[64];
    if (n > 64)
        return -FDT_ERR_NOSPACE;
    for (int i = 0; i < n; i++)
        be[i] = cpu_to_fdt32(cells[i]);
    return fdt_property(fdt, name, be, n * (int)sizeof(fdt32_t));
}

static int prop_reg(void *fdt, uint64_t addr, uint64_t size)
{
    uint32_t c[4] = { (uint32_t)(addr >> 32), (uint32_t)addr,
                      (uint32_t)(size >> 32), (uint32_t)size };
    return prop_cells(fdt, "reg", c, 4);
}

static int prop_strings(void *fdt, const char *name, const char *const *s, int n)
{
    char buf[256];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(s[i]) + 1;
        if (len + l > sizeof(buf))
            return -FDT_ERR_NOSPACE;
        memcpy(buf + len, s[i], l);
        len += l;
    }
    return fdt_property(fdt, name, buf, (int)len);
}

/* "rv64imafdc..." from misa, in canonical extension order. */
static void isa_string(const RiscvCpu *cpu, char *buf, size_t len)
{
    uint64_t misa = cpu->misa;
    if (!(misa & 0x3ffffff))
        misa = 0x112d;  /* IMAFDC when the hart does not say */
    size_t o = (size_t)snprintf(buf, len, "rv64");
    for (const char *p = "imafdqcbkjtpvh"; *p && o + 1 < len; p++)
        if (misa >> (*p - 'a') & 1)
            buf[o++] = *p;
    buf[o] = 0;
    snprintf(buf + o, len - o, "_zicsr_zifencei");
}

static int fdt_cpus(VirtMachine *m, void *fdt, uint32_t *intc_ph, uint32_t *next_ph)
{
    uint32_t cpu_ph[VIRT_MAX_HARTS];
    CHECK(fdt_begin_node(fdt, "cpus"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 1));
    CHECK(fdt_property_u32(fdt, "#size-cells", 0));
    CHECK(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)TIMEBASE_HZ));
    for (int i = 0; i < m->nharts; i++) {
        char name[32], isa[64];
        cpu_ph[i] = (*next_ph)++;
        intc_ph[i] = (*next_ph)++;
        snprintf(name, sizeof(name), "cpu@%d", i);
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_u32(fdt, "phandle", cpu_ph[i]));
        CHECK(fdt_property_string(fdt, "device_type", "cpu"));
        CHECK(fdt_property_u32(fdt, "reg", (uint32_t)i));
        CHECK(fdt_property_string(fdt, "status", "okay"));
        CHECK(fdt_property_string(fdt, "compatible", "riscv"));
        isa_string(m->cpus[i], isa, sizeof(isa));
        CHECK(fdt_property_string(fdt, "riscv,isa", isa));
        CHECK(fdt_property_string(fdt, "mmu-type", VIRT_MMU_TYPE));
        CHECK(fdt_begin_node(fdt, "interrupt-controller"));
        CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
        CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
        CHECK(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
        CHECK(fdt_property_u32(fdt, "phandle", intc_ph[i]));
        CHECK(fdt_end_node(fdt));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(fdt_begin_node(fdt, "cpu-map"));
    CHECK(fdt_begin_node(fdt, "cluster0"));
    for (int i = 0; i < m->nharts; i++) {
        char name[16];
        snprintf(name, sizeof(name), "core%d", i);
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_u32(fdt, "cpu", cpu_ph[i]));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(fdt_end_node(fdt));
    CHECK(fdt_end_node(fdt));
    return fdt_end_node(fdt);
}

static int fdt_soc(VirtMachine *m, void *fdt, const uint32_t *intc_ph)
{
    uint32_t cells[4 * VIRT_MAX_HARTS];
    char name[64];
    static const char *const clint_compat[] = { "sifive,clint0", "riscv,clint0" };
    static const char *const plic_compat[] = { "sifive,plic-1.0.0", "riscv,plic0" };
    static const char *const test_compat[] = { "sifive,test1", "sifive,test0", "syscon" };

    CHECK(fdt_begin_node(fdt, "soc"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_string(fdt, "compatible", "simple-bus"));
    CHECK(fdt_property(fdt, "ranges", NULL, 0));

    /* Same node order as QEMU 7.2 (Linux probes platform devices in DT order). */
    snprintf(name, sizeof(name), "rtc@%llx", (unsigned long long)VIRT_RTC_BASE);
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property_u32(fdt, "interrupts", VIRT_RTC_IRQ));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", m->plic_phandle));
    CHECK(prop_reg(fdt, VIRT_RTC_BASE, GOLDFISH_RTC_MMIO_SIZE));
    CHECK(fdt_property_string(fdt, "compatible", "google,goldfish-rtc"));
    CHECK(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)VIRT_UART0_BASE);
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property_u32(fdt, "interrupts", VIRT_UART0_IRQ));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", m->plic_phandle));
    CHECK(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK_HZ));
    CHECK(prop_reg(fdt, VIRT_UART0_BASE, UART_MMIO_SIZE));
    CHECK(fdt_property_string(fdt, "compatible", "ns16550a"));
    CHECK(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "test@%llx", (unsigned long long)VIRT_TEST_BASE);
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property_u32(fdt, "phandle", m->test_phandle));
    CHECK(prop_reg(fdt, VIRT_TEST_BASE, SIFIVE_TEST_MMIO_SIZE));
    CHECK(prop_strings(fdt, "compatible", test_compat, 3));
    CHECK(fdt_end_node(fdt));

    for (int i = 0; i < m->nfdt_hooks; i++)
        CHECK(((MachineFdtFn)m->fdt_hooks[i].fn)(m, fdt, m->fdt_hooks[i].opaque));

    for (int i = VIRT_VIRTIO_COUNT - 1; i >= 0; i--) {
        uint64_t base = VIRT_VIRTIO_BASE + (uint64_t)i * VIRT_VIRTIO_SIZE;
        snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)base);
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_u32(fdt, "interrupts", (uint32_t)(VIRT_VIRTIO_IRQ + i)));
        CHECK(fdt_property_u32(fdt, "interrupt-parent", m->plic_phandle));
        CHECK(prop_reg(fdt, base, VIRT_VIRTIO_SIZE));
        CHECK(fdt_property_string(fdt, "compatible", "virtio,mmio"));
        CHECK(fdt_end_node(fdt));
    }

    snprintf(name, sizeof(name), "plic@%llx", (unsigned long long)VIRT_PLIC_BASE);
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property_u32(fdt, "phandle", m->plic_phandle));
    /* QEMU 7.2 advertises VIRT_IRQCHIP_NUM_SOURCES here although source 96
     * does not exist; kept for an identical tree (nothing is wired there). */
    CHECK(fdt_property_u32(fdt, "riscv,ndev", PLIC_NUM_SOURCES));
    CHECK(prop_reg(fdt, VIRT_PLIC_BASE, PLIC_MMIO_SIZE));
    for (int i = 0; i < m->nharts; i++) {
        cells[4 * i + 0] = intc_ph[i];
        cells[4 * i + 1] = IRQ_MEI;
        cells[4 * i + 2] = intc_ph[i];
        cells[4 * i + 3] = IRQ_SEI;
    }
    CHECK(prop_cells(fdt, "interrupts-extended", cells, 4 * m->nharts));
    CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
    CHECK(prop_strings(fdt, "compatible", plic_compat, 2));
    CHECK(fdt_property_u32(fdt, "#address-cells", 0));
    CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
    CHECK(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "clint@%llx", (unsigned long long)VIRT_CLINT_BASE);
    CHECK(fdt_begin_node(fdt, name));
    for (int i = 0; i < m->nharts; i++) {
        cells[4 * i + 0] = intc_ph[i];
        cells[4 * i + 1] = IRQ_MSI;
        cells[4 * i + 2] = intc_ph[i];
        cells[4 * i + 3] = IRQ_MTI;
    }
    CHECK(prop_cells(fdt, "interrupts-extended", cells, 4 * m->nharts));
    CHECK(prop_reg(fdt, VIRT_CLINT_BASE, CLINT_MMIO_SIZE));
    CHECK(prop_strings(fdt, "compatible", clint_compat, 2));
    CHECK(fdt_end_node(fdt));

    return fdt_end_node(fdt);
}

static int fdt_write(VirtMachine *m, void *fdt, int size)
{
    const RunConfig *cfg = m->cfg;
    uint32_t intc_ph[VIRT_MAX_HARTS];
    uint32_t next_ph = 1;
    char name[64];

    CHECK(fdt_create(fdt, size));
    CHECK(fdt_finish_reservemap(fdt));
    CHECK(fdt_begin_node(fdt, ""));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_string(fdt, "compatible", "riscv-virtio"));
    CHECK(fdt_property_string(fdt, "model", "riscv-virtio,qemu"));

    m->test_phandle = next_ph++;
    CHECK(fdt_begin_node(fdt, "poweroff"));
    CHECK(fdt_property_u32(fdt, "value", FINISHER_PASS));
    CHECK(fdt_property_u32(fdt, "offset", 0));
    CHECK(fdt_property_u32(fdt, "regmap", m->test_phandle));
    CHECK(fdt_property_string(fdt, "compatible", "syscon-poweroff"));
    CHECK(fdt_end_node(fdt));
    CHECK(fdt_begin_node(fdt, "reboot"));
    CHECK(fdt_property_u32(fdt, "value", FINISHER_RESET));
    CHECK(fdt_property_u32(fdt, "offset", 0));
    CHECK(fdt_property_u32(fdt, "regmap", m->test_phandle));
    CHECK(fdt_property_string(fdt, "compatible", "syscon-reboot"));
    CHECK(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)VIRT_DRAM_BASE);
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property_string(fdt, "device_type", "memory"));
    CHECK(prop_reg(fdt, VIRT_DRAM_BASE, m->bus.ram_size));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_cpus(m, fdt, intc_ph, &next_ph));
    m->plic_phandle = next_ph++;
    CHECK(fdt_soc(m, fdt, intc_ph));

    CHECK(fdt_begin_node(fdt, "chosen"));
    if (cfg->append && *cfg->append)
        CHECK(fdt_property_string(fdt, "bootargs", cfg->append));
    snprintf(name, sizeof(name), "/soc/serial@%llx", (unsigned long long)VIRT_UART0_BASE);
    CHECK(fdt_property_string(fdt, "stdout-path", name));
    if (m->initrd_data) {
        /* One cell each, as QEMU 7.2 writes them (Linux reads either size);
         * two only if the initrd ever ended above 4 GiB. */
        uint64_t start = m->initrd_addr, end = m->initrd_addr + m->initrd_size;
        if (end <= UINT32_MAX) {
            CHECK(fdt_property_u32(fdt, "linux,initrd-start", (uint32_t)start));
            CHECK(fdt_property_u32(fdt, "linux,initrd-end", (uint32_t)end));
        } else {
            CHECK(fdt_property_u64(fdt, "linux,initrd-start", start));
            CHECK(fdt_property_u64(fdt, "linux,initrd-end", end));
        }
    }
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_end_node(fdt));
    return fdt_finish(fdt);
}

int virt_build_fdt(VirtMachine *m)
{
    for (int size = 64 * 1024; size <= 4 * 1024 * 1024; size *= 2) {
        void *fdt = calloc(1, (size_t)size);
        if (!fdt)
            return err_set(ENOMEM, "out of memory");
        int ret = fdt_write(m, fdt, size);
        if (ret == -FDT_ERR_NOSPACE) {
            free(fdt);
            continue;
        }
        if (ret < 0) {
            free(fdt);
            return err_set(EINVAL, "building the device tree: %s", fdt_strerror(ret));
        }
        fdt_pack(fdt);
        free(m->fdt);
        m->fdt = fdt;
        m->fdt_size = fdt_totalsize(fdt);
        return 0;
    }
    return err_set(E2BIG, "the device tree is too large");
}
