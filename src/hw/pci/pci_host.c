#include "hw/pci/pci_host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "hw/virt.h"
#include "util/error.h"
#include "util/log.h"

#define PCI_NUM_PINS 4

/* One machine per process; the host hangs off it here rather than in
 * VirtMachine so machines without PCI carry nothing. */
static PciHost *the_host;
static PciDevice host_bridge_fn;

PciHost *pci_host_get(VirtMachine *m)
{
    return the_host && the_host->m == m ? the_host : NULL;
}

PciHost *pci_host_any(void)
{
    return the_host;
}

typedef struct FindBus {
    const char *name;
    PciBus *found;
} FindBus;

static void find_bus_fn(PciDevice *d, void *opaque)
{
    FindBus *f = opaque;
    if (!f->found && d->sec_bus && !strcmp(d->id, f->name))
        f->found = d->sec_bus;
}

PciBus *pci_host_find_bus(PciHost *h, const char *name)
{
    if (!name || !strcmp(name, "pcie.0"))
        return &h->root;
    FindBus f = { name, NULL };
    pci_bus_walk(&h->root, false, find_bus_fn, &f);
    return f.found;
}

typedef struct FindDev {
    const char *id;
    PciDevice *found;
} FindDev;

static void find_dev_fn(PciDevice *d, void *opaque)
{
    FindDev *f = opaque;
    if (!f->found && d->id[0] && !strcmp(d->id, f->id))
        f->found = d;
}

PciDevice *pci_host_find_device(PciHost *h, const char *id)
{
    FindDev f = { id, NULL };
    pci_bus_walk(&h->root, false, find_dev_fn, &f);
    return f.found;
}

/* Bus number -> bus, decoded the way type 1 configuration cycles travel: a
 * bridge claims every number from its secondary to its subordinate bus and
 * owns the secondary one itself.  Misprogrammed ranges just miss. */
PciBus *pci_host_bus_by_number(PciHost *h, unsigned nr)
{
    PciBus *bus = &h->root;
    if (nr == 0)
        return bus;
    for (int depth = 0; depth < 256; depth++) {
        PciBus *next = NULL;
        for (int i = 0; i < 256 && !next; i++) {
            PciDevice *d = bus->devs[i];
            if (!d || !d->sec_bus)
                continue;
            unsigned sec = d->config[PCI_SECONDARY_BUS], sub = d->config[PCI_SUBORDINATE_BUS];
            if (sec == 0 || nr < sec || nr > sub)
                continue;
            if (nr == sec)
                return d->sec_bus;
            next = d->sec_bus;
        }
        if (!next)
            return NULL;
        bus = next;
    }
    return NULL;
}

static PciBus *bus_by_number(PciHost *h, unsigned nr)
{
    return pci_host_bus_by_number(h, nr);
}

static PciDevice *ecam_target(PciHost *h, uint64_t off, uint32_t *reg)
{
    PciBus *bus = bus_by_number(h, (unsigned)(off >> 20) & 0xff);
    *reg = (uint32_t)(off & 0xfff);
    return bus ? bus->devs[(off >> 12) & 0xff] : NULL;
}

static int ecam_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    PciHost *h = opaque;
    uint32_t reg;
    PciDevice *d = ecam_target(h, off, &reg);
    if (size > 4 || (reg & (size - 1))) {
        *val = ~0ULL >> (64 - 8 * (size > 4 ? 8 : size));
        return 0;
    }
    /* An empty slot reads all-ones: "no device here". */
    *val = d ? pci_config_read(d, reg, size) : (uint32_t)(~0ULL >> (64 - 8 * size));
    return 0;
}

static int ecam_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    PciHost *h = opaque;
    uint32_t reg;
    PciDevice *d = ecam_target(h, off, &reg);
    if (d && size <= 4 && !(reg & (size - 1)))
        pci_config_write(d, reg, size, (uint32_t)val);
    return 0;
}

static const MmioOps ecam_ops = { ecam_read, ecam_write };

void pci_host_route_intx(PciHost *h, PciDevice *d, int pin, bool level)
{
    /* Swizzle up through bridges to the root bus, as the PCI spec's
     * bridge-to-bridge table does. */
    PciDevice *dev = d;
    int p = pin - 1;
    for (int depth = 0; dev->bus && dev->bus->bridge && depth < 256; depth++) {
        p = (p + PCI_SLOT(dev->devfn)) % PCI_NUM_PINS;
        dev = dev->bus->bridge;
    }
    if (dev->bus != &h->root)
        return;     /* below a bridge that is no longer plugged in */
    int line = (p + PCI_SLOT(dev->devfn)) % PCI_NUM_PINS;
    int old = h->intx_count[line];
    h->intx_count[line] += level ? 1 : -1;
    if (h->intx_count[line] < 0)
        h->intx_count[line] = 0;
    if ((old > 0) != (h->intx_count[line] > 0))
        machine_set_irq(h->m, VIRT_PCIE_IRQ + line, h->intx_count[line] > 0, true);
}

static int fdt_cells(void *fdt, const char *name, const uint32_t *c, int n)
{
    fdt32_t be[128];
    for (int i = 0; i < n && i < 128; i++)
        be[i] = cpu_to_fdt32(c[i]);
    return fdt_property(fdt, name, be, n * (int)sizeof(fdt32_t));
}

#define CHECK(x) do { int r_ = (x); if (r_ < 0) return r_; } while (0)

/* The node QEMU 7.2's virt machine writes for its GPEX host. */
static int pci_host_fdt(VirtMachine *m, void *fdt, void *opaque)
{
    PciHost *h = opaque;
    char name[64];
    snprintf(name, sizeof(name), "pci@%llx", (unsigned long long)VIRT_PCIE_ECAM_BASE);
    CHECK(fdt_begin_node(fdt, name));
    CHECK(fdt_property_string(fdt, "compatible", "pci-host-ecam-generic"));
    CHECK(fdt_property_string(fdt, "device_type", "pci"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 3));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
    CHECK(fdt_property_u32(fdt, "linux,pci-domain", 0));
    uint32_t range[2] = { 0, (uint32_t)(VIRT_PCIE_ECAM_SIZE >> 20) - 1 };
    CHECK(fdt_cells(fdt, "bus-range", range, 2));
    CHECK(fdt_property(fdt, "dma-coherent", NULL, 0));
    uint32_t reg[4] = { 0, (uint32_t)VIRT_PCIE_ECAM_BASE, 0, (uint32_t)VIRT_PCIE_ECAM_SIZE };
    CHECK(fdt_cells(fdt, "reg", reg, 4));
    uint32_t ranges[7] = { 0x02000000, 0, (uint32_t)h->mmio_base,
                           (uint32_t)(h->mmio_base >> 32), (uint32_t)h->mmio_base,
                           (uint32_t)(h->mmio_size >> 32), (uint32_t)h->mmio_size };
    CHECK(fdt_cells(fdt, "ranges", ranges, 7));
    uint32_t map[PCI_NUM_PINS * PCI_NUM_PINS * 6];
    int n = 0;
    for (int slot = 0; slot < PCI_NUM_PINS; slot++) {
        for (int pin = 0; pin < PCI_NUM_PINS; pin++) {
            map[n++] = (uint32_t)PCI_DEVFN(slot, 0) << 8;
            map[n++] = 0;
            map[n++] = 0;
            map[n++] = (uint32_t)pin + 1;
            map[n++] = m->plic_phandle;
            map[n++] = VIRT_PCIE_IRQ + (uint32_t)((pin + slot) % PCI_NUM_PINS);
        }
    }
    CHECK(fdt_cells(fdt, "interrupt-map", map, n));
    uint32_t mask[4] = { 0x1800, 0, 0, 7 };
    CHECK(fdt_cells(fdt, "interrupt-map-mask", mask, 4));
    return fdt_end_node(fdt);
}

static void pci_host_reset(VirtMachine *m, void *opaque)
{
    PciHost *h = opaque;
    for (int i = 0; i < 256; i++)
        if (h->root.devs[i])
            pci_device_reset(h->root.devs[i]);
}

static void pci_host_cleanup(VirtMachine *m, void *opaque)
{
    if (the_host == opaque)
        the_host = NULL;
    free(opaque);
}

int pci_host_create(VirtMachine *m)
{
    if (pci_host_get(m))
        return 0;
    PciHost *h = calloc(1, sizeof(*h));
    if (!h)
        return err_set(ENOMEM, "out of memory");
    h->m = m;
    h->membus = &m->bus;
    h->root.host = h;
    h->root.express = true;
    h->root.first_slot = 1;     /* slot 0 is the host bridge's place */
    h->root.last_slot = 31;
    h->mmio_base = VIRT_PCIE_MMIO_BASE;
    h->mmio_size = VIRT_PCIE_MMIO_SIZE;
    int r = bus_add_mmio(&m->bus, VIRT_PCIE_ECAM_BASE, VIRT_PCIE_ECAM_SIZE, &ecam_ops, h,
                         "pcie-ecam");
    if (r < 0) {
        free(h);
        return r;
    }
    if ((r = machine_add_fdt_hook(m, pci_host_fdt, h)) < 0 ||
        (r = machine_add_reset_hook(m, pci_host_reset, h)) < 0 ||
        (r = machine_add_cleanup_hook(m, pci_host_cleanup, h)) < 0) {
        bus_del_mmio(&m->bus, VIRT_PCIE_ECAM_BASE, h);
        free(h);
        return r;
    }
    /* 00:00.0 is the host bridge function, as QEMU's gpex-root. */
    pci_device_init(&host_bridge_fn, "pcie-host-bridge", 0x1b36, 0x0008, 0, 0x060000, 0, 0);
    pci_bus_attach(&h->root, &host_bridge_fn, 0);
    the_host = h;
    return 0;
}

int pci_parse_addr(const char *s, uint8_t *devfn)
{
    char *end;
    unsigned long slot = strtoul(s, &end, 16), fn = 0;
    if (end == s)
        return err_set(EINVAL, "bad PCI address '%s'", s);
    if (*end == '.') {
        const char *f = end + 1;
        fn = strtoul(f, &end, 16);
        if (end == f)
            return err_set(EINVAL, "bad PCI address '%s'", s);
    }
    if (*end || slot > 31 || fn > 7)
        return err_set(EINVAL, "bad PCI address '%s' (slot 0-1f, function 0-7)", s);
    *devfn = PCI_DEVFN(slot, fn);
    return 0;
}

int pci_host_place(VirtMachine *m, const KvList *opts, PciBus **bus, uint8_t *devfn)
{
    int r = pci_host_create(m);
    if (r < 0)
        return r;
    const char *busname = kv_get(opts, "bus");
    *bus = pci_host_find_bus(pci_host_get(m), busname);
    if (!*bus)
        return err_set(ENOENT, "Bus '%s' not found", busname);
    const char *addr = kv_get(opts, "addr");
    if (addr)
        return pci_parse_addr(addr, devfn);
    int slot = pci_bus_free_slot(*bus);
    if (slot < 0)
        return slot;
    *devfn = PCI_DEVFN(slot, 0);
    return 0;
}
