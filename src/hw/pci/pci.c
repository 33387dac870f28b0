#include "hw/pci/pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hw/pci/pci_bridge.h"
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
        /* Only decode inside the host's window and every bridge window
         * above: anything else (sizing patterns, stray values, a window the
         * guest has not opened) is simply not forwarded. */
        bool want = mem_on && addr >= h->mmio_base && addr - h->mmio_base < h->mmio_size &&
                    b->size <= h->mmio_size - (addr - h->mmio_base) &&
                    pci_bus_forwards(d->bus, addr, b->size);
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

/* Window registers of a type 1 header, decoded the way a bridge does:
 * 1 MiB granularity, limit inclusive, base > limit means closed. */
static bool window_has(uint64_t base, uint64_t limit, uint64_t addr, uint64_t size)
{
    return base <= limit && addr >= base && size - 1 <= limit - addr && addr <= limit;
}

static bool bridge_passes(PciDevice *br, uint64_t addr, uint64_t size)
{
    const uint8_t *c = br->config;
    if (!(pci_get_word(c + PCI_COMMAND) & PCI_COMMAND_MEMORY) || !size)
        return false;
    uint64_t base = (uint64_t)(pci_get_word(c + PCI_MEMORY_BASE) & 0xfff0) << 16;
    uint64_t limit = (uint64_t)(pci_get_word(c + PCI_MEMORY_LIMIT) & 0xfff0) << 16 | 0xfffff;
    if (window_has(base, limit, addr, size))
        return true;
    if (!pci_bridge_has_pref(br))
        return false;
    uint16_t pb = pci_get_word(c + PCI_PREF_MEMORY_BASE), pl = pci_get_word(c + PCI_PREF_MEMORY_LIMIT);
    base = (uint64_t)(pb & 0xfff0) << 16;
    limit = (uint64_t)(pl & 0xfff0) << 16 | 0xfffff;
    if ((pb & 0xf) == 1) {      /* 64-bit window */
        base |= (uint64_t)pci_get_long(c + PCI_PREF_BASE_UPPER32) << 32;
        limit |= (uint64_t)pci_get_long(c + PCI_PREF_LIMIT_UPPER32) << 32;
    }
    return window_has(base, limit, addr, size);
}

bool pci_bus_forwards(PciBus *bus, uint64_t addr, uint64_t size)
{
    /* Bounded: a bus chain deeper than 256 cannot be numbered anyway. */
    for (int depth = 0; bus && depth < 256; depth++) {
        if (!bus->bridge)
            return bus->host && bus == &bus->host->root;
        if (!bridge_passes(bus->bridge, addr, size))
            return false;
        bus = bus->bridge->bus;
    }
    return false;
}

static void walk(PciBus *bus, bool post, void (*fn)(PciDevice *d, void *opaque), void *opaque,
                 int depth)
{
    if (!bus || depth > 256)
        return;
    for (int i = 0; i < 256; i++) {
        PciDevice *d = bus->devs[i];
        if (!d)
            continue;
        if (!post)
            fn(d, opaque);
        if (d->sec_bus)
            walk(d->sec_bus, post, fn, opaque, depth + 1);
        if (post && bus->devs[i] == d)
            fn(d, opaque);
    }
}

void pci_bus_walk(PciBus *bus, bool post, void (*fn)(PciDevice *d, void *opaque), void *opaque)
{
    walk(bus, post, fn, opaque, 0);
}

static void update_one(PciDevice *d, void *opaque)
{
    pci_update_mappings(d);
}

void pci_bus_update_mappings(PciBus *bus)
{
    pci_bus_walk(bus, false, update_one, NULL);
}

static void reset_one(PciDevice *d, void *opaque)
{
    pci_device_reset(d);
}

void pci_config_write(PciDevice *d, uint32_t off, unsigned size, uint32_t val)
{
    if (off >= PCI_CONFIG_SIZE || size > 4 || off + size > PCI_CONFIG_SIZE)
        return;
    bool old_intx = intx_effective(d);
    bool touches_bars = false, touches_windows = false;
    bool old_bus_reset = d->config[PCI_BRIDGE_CONTROL] & PCI_BRIDGE_CTL_BUS_RESET;
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = off + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint8_t wm = d->wmask[a], w1c = d->w1cmask[a];
        d->config[a] = (uint8_t)((d->config[a] & ~wm) | (b & wm));
        d->config[a] &= (uint8_t)~(b & w1c);
        if ((a >= PCI_BASE_ADDRESS_0 && a < PCI_BASE_ADDRESS_0 + 24) ||
            a == PCI_COMMAND || a == PCI_COMMAND + 1)
            touches_bars = true;
        if (a == PCI_COMMAND || (a >= PCI_MEMORY_BASE && a < PCI_PREF_LIMIT_UPPER32 + 4))
            touches_windows = true;
    }
    if (touches_bars)
        pci_update_mappings(d);
    if (d->sec_bus) {
        if (touches_windows)
            pci_bus_update_mappings(d->sec_bus);
        /* Secondary bus reset: everything below goes back to power-on state
         * while the bit rises. */
        if (!old_bus_reset && (d->config[PCI_BRIDGE_CONTROL] & PCI_BRIDGE_CTL_BUS_RESET))
            for (int i = 0; i < 256; i++)
                if (d->sec_bus->devs[i])
                    reset_one(d->sec_bus->devs[i], NULL);
    }
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
    if (d->sec_bus) {
        /* Bus numbers, windows and bridge control are guest-programmed. */
        for (uint32_t a = PCI_PRIMARY_BUS; a < PCI_CAPABILITY_LIST; a++)
            d->config[a] &= (uint8_t)~d->wmask[a];
        pci_set_word(d->config + PCI_BRIDGE_CONTROL, 0);
        d->config[PCI_SEC_STATUS] = 0;
        d->config[PCI_SEC_STATUS + 1] = 0;
    }
    pci_update_mappings(d);
    d->intx_level = false;
    intx_update(d, old);
    if (d->ops && d->ops->reset)
        d->ops->reset(d);
    if (d->sec_bus)
        for (int i = 0; i < 256; i++)
            if (d->sec_bus->devs[i])
                reset_one(d->sec_bus->devs[i], NULL);
}

static bool hotplugging;

int pci_bus_attach(PciBus *bus, PciDevice *d, uint8_t devfn)
{
    if (PCI_SLOT(devfn) > bus->last_slot)
        return err_set(EINVAL, "Unsupported PCI slot %d for this bus. Valid slots are "
                       "between 0 and %d", PCI_SLOT(devfn), bus->last_slot);
    if (bus->devs[devfn])
        return err_set(EBUSY, "PCI slot %02x.%x is already taken by %s", PCI_SLOT(devfn),
                       devfn & 7, bus->devs[devfn]->id);
    bus->devs[devfn] = d;
    d->bus = bus;
    d->devfn = devfn;
    if (d->sec_bus)
        d->sec_bus->host = bus->host;
    if (!hotplugging && bus->hotplug && bus->hotplug->cold_plugged)
        bus->hotplug->cold_plugged(bus, d);
    return 0;
}

void pci_set_hotplugging(bool on)
{
    hotplugging = on;
}

int pci_bus_free_slot(PciBus *bus)
{
    for (int slot = bus->first_slot; slot <= bus->last_slot && slot < 32; slot++)
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
    /* Nothing below a detached bridge is reachable any more. */
    if (d->sec_bus)
        pci_bus_update_mappings(d->sec_bus);
}
