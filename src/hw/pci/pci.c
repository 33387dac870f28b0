#include "hw/pci/pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hw/pci/pci_host.h"
#include "util/error.h"
#include "util/log.h"

void pci_device_init(PciDevice *d, const char *id, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code, uint16_t subsys_vendor,
                     uint16_t subsys)
{
    memset(d->config, 0, sizeof(d->config));
    memset(d->wmask, 0, sizeof(d->wmask));
    memset(d->w1cmask, 0, sizeof(d->w1cmask));
    snprintf(d->id, sizeof(d->id), "%s", id);
    pci_set_word(d->config + PCI_VENDOR_ID, vendor);
    pci_set_word(d->config + PCI_DEVICE_ID, device);
    d->config[PCI_REVISION_ID] = revision;
    d->config[PCI_CLASS_PROG] = (uint8_t)class_code;
    pci_set_word(d->config + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
    pci_set_word(d->config + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
    pci_set_word(d->config + PCI_SUBSYSTEM_ID, subsys);
    pci_set_word(d->wmask + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                         PCI_COMMAND_INTX_DISABLE);
    /* Error bits in status are write-one-to-clear. */
    pci_set_word(d->w1cmask + PCI_STATUS, 0xf900);
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    d->wmask[0x0c] = 0xff;      /* cache line size */
    d->wmask[0x0d] = 0xff;      /* latency timer */
    d->next_cap = 0x40;
}

int pci_register_bar(PciDevice *d, int idx, uint64_t size, uint8_t flags,
                     const MmioOps *ops, void *opaque)
{
    bool is64 = flags & PCI_BAR_MEM64;
    if (idx < 0 || idx >= PCI_NUM_BARS || (is64 && idx + 1 >= PCI_NUM_BARS) || size < 16 ||
        (size & (size - 1)))
        return err_set(EINVAL, "%s: bad BAR %d (size 0x%llx)", d->id, idx,
                       (unsigned long long)size);
    PciBar *b = &d->bars[idx];
    *b = (PciBar){ .size = size, .flags = flags, .ops = ops, .opaque = opaque, .dev = d };
    uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)idx;
    pci_set_long(d->config + off, flags & (PCI_BAR_MEM64 | PCI_BAR_PREFETCH));
    pci_set_long(d->wmask + off, (uint32_t)~(size - 1) & ~0xfu);
    if (is64)
        pci_set_long(d->wmask + off + 4, (uint32_t)(~(size - 1) >> 32));
    return 0;
}

int pci_add_capability(PciDevice *d, uint8_t cap_id, uint8_t len)
{
    if (len < 2 || d->next_cap + len > 0x100)
        return -ENOSPC;
    uint8_t off = d->next_cap;
    d->config[off] = cap_id;
    d->config[off + 1] = d->config[PCI_CAPABILITY_LIST];  /* push onto the list head */
    d->config[PCI_CAPABILITY_LIST] = off;
    pci_set_word(d->config + PCI_STATUS,
                 pci_get_word(d->config + PCI_STATUS) | PCI_STATUS_CAP_LIST);
    d->next_cap = (uint8_t)((off + len + 3) & ~3);
    return off;
}

void pci_set_intx_pin(PciDevice *d, int pin)
{
    d->config[PCI_INTERRUPT_PIN] = (uint8_t)pin;
}

static void intx_update(PciDevice *d, bool old_effective)
{
    bool disabled = pci_get_word(d->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
    bool now = d->intx_level && !disabled;
    if (now != old_effective && d->bus && d->bus->host && d->config[PCI_INTERRUPT_PIN])
        pci_host_route_intx(d->bus->host, d, d->config[PCI_INTERRUPT_PIN], now);
}

static bool intx_effective(PciDevice *d)
{
    return d->intx_level &&
           !(pci_get_word(d->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
}

void pci_set_irq(PciDevice *d, bool level)
{
    bool old = intx_effective(d);
    d->intx_level = level;
    uint16_t st = pci_get_word(d->config + PCI_STATUS);
    pci_set_word(d->config + PCI_STATUS,
                 level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT);
    intx_update(d, old);
}

uint32_t pci_config_read(PciDevice *d, uint32_t off, unsigned size)
{
    if (off >= PCI_CONFIG_SIZE || size > 4 || off + size > PCI_CONFIG_SIZE)
        return 0xffffffffu;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)d->config[off + i] << (8 * i);
    if (d->ops && d->ops->config_read)
        v = d->ops->config_read(d, off, size, v);
    return v;
}

static void bar_addr(PciDevice *d, int i, uint64_t *addr)
{
    uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;
    uint64_t a = pci_get_long(d->config + off) & ~0xfULL;
    if (d->bars[i].flags & PCI_BAR_MEM64)
        a |= (uint64_t)pci_get_long(d->config + off + 4) << 32;
    *addr = a;
}

static int bar_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    PciBar *b = opaque;
    return b->ops->read ? b->ops->read(b->opaque, off, size, val) : (*val = 0, 0);
}

static int bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    PciBar *b = opaque;
    return b->ops->write ? b->ops->write(b->opaque, off, size, val) : 0;
}

static const MmioOps bar_ops = { bar_read, bar_write };

static void bar_unmap(PciDevice *d, PciBar *b)
{
    if (b->mapped && d->bus && d->bus->host)
        bus_del_mmio(d->bus->host->membus, b->mapped_at, b);
    b->mapped = false;
}

void pci_update_mappings(PciDevice *d)
{
    if (!d->bus || !d->bus->host)
        return;
    PciHost *h = d->bus->host;
    bool mem_on = pci_get_word(d->config + PCI_COMMAND) & PCI_COMMAND_MEMORY;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &d->bars[i];
        if (!b->size)
            continue;
        uint64_t addr;
        bar_addr(d, i, &addr);
        /* Only decode inside the host's window: anything else (sizing
         * patterns, stray values) is simply not forwarded. */
        bool want = mem_on && addr >= h->mmio_base && addr - h->mmio_base < h->mmio_size &&
                    b->size <= h->mmio_size - (addr - h->mmio_base);
        if (b->mapped && (!want || b->mapped_at != addr))
            bar_unmap(d, b);
        if (want && !b->mapped) {
            if (bus_add_mmio(h->membus, addr, b->size, &bar_ops, b, d->id) == 0) {
                b->mapped = true;
                b->mapped_at = addr;
            } else {
                log_guest_error("%s: BAR%d at 0x%llx not mapped: %s", d->id, i,
                                (unsigned long long)addr, err_msg());
            }
        }
    }
}

void pci_config_write(PciDevice *d, uint32_t off, unsigned size, uint32_t val)
{
    if (off >= PCI_CONFIG_SIZE || size > 4 || off + size > PCI_CONFIG_SIZE)
        return;
    bool old_intx = intx_effective(d);
    bool touches_bars = false;
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = off + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint8_t wm = d->wmask[a], w1c = d->w1cmask[a];
        d->config[a] = (uint8_t)((d->config[a] & ~wm) | (b & wm));
        d->config[a] &= (uint8_t)~(b & w1c);
        if ((a >= PCI_BASE_ADDRESS_0 && a < PCI_BASE_ADDRESS_0 + 24) ||
            a == PCI_COMMAND || a == PCI_COMMAND + 1)
            touches_bars = true;
    }
    if (touches_bars)
        pci_update_mappings(d);
    intx_update(d, old_intx);
    if (d->ops && d->ops->config_written)
        d->ops->config_written(d, off, size, val);
}

void pci_device_reset(PciDevice *d)
{
    bool old = intx_effective(d);
    pci_set_word(d->config + PCI_COMMAND, 0);
    uint16_t st = pci_get_word(d->config + PCI_STATUS);
    pci_set_word(d->config + PCI_STATUS, st & PCI_STATUS_CAP_LIST);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        if (!d->bars[i].size)
            continue;
        uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;
        pci_set_long(d->config + off, d->bars[i].flags & (PCI_BAR_MEM64 | PCI_BAR_PREFETCH));
        if (d->bars[i].flags & PCI_BAR_MEM64)
            pci_set_long(d->config + off + 4, 0);
    }
    d->config[PCI_INTERRUPT_LINE] = 0;
    pci_update_mappings(d);
    d->intx_level = false;
    intx_update(d, old);
    if (d->ops && d->ops->reset)
        d->ops->reset(d);
}

int pci_bus_attach(PciBus *bus, PciDevice *d, uint8_t devfn)
{
    if (bus->devs[devfn])
        return err_set(EBUSY, "PCI slot %02x.%x is already taken by %s", PCI_SLOT(devfn),
                       devfn & 7, bus->devs[devfn]->id);
    bus->devs[devfn] = d;
    d->bus = bus;
    d->devfn = devfn;
    return 0;
}

int pci_bus_free_slot(PciBus *bus)
{
    for (int slot = 1; slot < 32; slot++)   /* slot 0 is the host bridge's place */
        if (!bus->devs[PCI_DEVFN(slot, 0)])
            return slot;
    return err_set(ENOSPC, "no free PCI slot on the bus");
}

void pci_bus_detach(PciDevice *d)
{
    if (!d->bus)
        return;
    bool old = intx_effective(d);
    d->intx_level = false;
    intx_update(d, old);
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bar_unmap(d, &d->bars[i]);
    d->bus->devs[d->devfn] = NULL;
    d->bus = NULL;
}
