/* pcie-root-port (1b36:000c): a PCIe root port with one native hot-plug
 * slot, as QEMU's generic root port.  Options as QEMU: chassis, slot, port,
 * bus-reserve (advertised in the Red Hat resource-reservation capability
 * that firmware reads; Linux needs pci=hpbussize= instead, see docs/pcie.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/device.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pcie_cap.h"
#include "hw/virt.h"
#include "hw/virtio/virtio_pci.h"
#include "util/error.h"

#define REDHAT_CAP_RESOURCE_RESERVE 1

typedef struct RootPort {
    PciDevice dev;
    PciBus sec;
    int exp_cap;
    uint16_t last_ctl;      /* slot control before the current write */
    uint16_t chassis, slot;
} RootPort;

static void rp_config_written(PciDevice *d, uint32_t off, unsigned size, uint32_t val)
{
    RootPort *rp = d->opaque;
    pcie_cap_slot_write(d, rp->exp_cap, off, size, rp->last_ctl);
    rp->last_ctl = pci_get_word(d->config + rp->exp_cap + PCI_EXP_SLTCTL);
}

static void rp_reset(PciDevice *d)
{
    RootPort *rp = d->opaque;
    pcie_cap_slot_reset(d, rp->exp_cap);
    rp->last_ctl = pci_get_word(d->config + rp->exp_cap + PCI_EXP_SLTCTL);
}

static const PciDeviceOps rp_ops = { .config_written = rp_config_written, .reset = rp_reset };

static void rp_cold_plugged(PciBus *bus, PciDevice *d)
{
    RootPort *rp = bus->hotplug_opaque;
    rp_reset(&rp->dev);
}

static int rp_plug(PciBus *bus, PciDevice *d)
{
    RootPort *rp = bus->hotplug_opaque;
    return pcie_cap_slot_plug(&rp->dev, rp->exp_cap);
}

static int rp_unplug_request(PciBus *bus, PciDevice *d)
{
    RootPort *rp = bus->hotplug_opaque;
    return pcie_cap_slot_unplug_request(&rp->dev, rp->exp_cap);
}

static const PciHotplugOps rp_hotplug = { rp_cold_plugged, rp_plug, rp_unplug_request };

static void rp_cleanup(VirtMachine *m, void *opaque)
{
    RootPort *rp = opaque;
    pci_bus_detach(&rp->dev);
    free(rp);
}

typedef struct SlotClash {
    uint16_t chassis, slot;
    bool clash;
} SlotClash;

static void slot_clash_fn(PciDevice *d, void *opaque)
{
    SlotClash *c = opaque;
    if (d->ops == &rp_ops) {
        RootPort *rp = d->opaque;
        c->clash |= rp->chassis == c->chassis && rp->slot == c->slot;
    }
}

static int get_u16(const KvList *opts, const char *key, uint16_t max, uint16_t *out)
{
    uint64_t v;
    int r = kv_get_u64(opts, key, &v);
    if (r == -ENOENT)
        return 0;
    if (r < 0 || v > max)
        return err_set(EINVAL, "Parameter '%s' expects a number up to %u", key, max);
    *out = (uint16_t)v;
    return 0;
}

static int rp_create(VirtMachine *m, const KvList *opts)
{
    static const char *const keys[] = { "driver", "id", "bus", "addr", "chassis", "slot",
                                        "port", "bus-reserve", NULL };
    int r = kv_check_keys(opts, keys);
    if (r < 0)
        return r;
    uint16_t chassis = 0, slot = 0, port = 0, bus_reserve = 0xffff;
    if ((r = get_u16(opts, "chassis", 255, &chassis)) < 0 ||
        (r = get_u16(opts, "slot", 0x1fff, &slot)) < 0 ||
        (r = get_u16(opts, "port", 255, &port)) < 0 ||
        (r = get_u16(opts, "bus-reserve", 255, &bus_reserve)) < 0)
        return r;
    PciBus *bus;
    uint8_t devfn;
    if ((r = pci_host_place(m, opts, &bus, &devfn)) < 0)
        return r;
    PciHost *h = pci_host_get(m);
    if (bus->bridge)
        return err_set(EINVAL, "pcie-root-port must sit on the root bus pcie.0");
    const char *id = kv_get(opts, "id");
    if ((r = pci_bridge_check_id(bus, id)) < 0)
        return r;
    SlotClash c = { chassis, slot, false };
    pci_bus_walk(&h->root, false, slot_clash_fn, &c);
    if (c.clash)
        return err_set(EBUSY, "Can't add chassis slot, error %d (chassis %u slot %u in use)",
                       -EBUSY, chassis, slot);
    RootPort *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return err_set(ENOMEM, "out of memory");
    rp->chassis = chassis;
    rp->slot = slot;
    PciDevice *d = &rp->dev;
    /* Only device 0 exists below a downstream port.  The prefetchable
     * window is 32-bit so that a hot-plugged pcie-pci-bridge's 64-bit
     * prefetchable SHPC BAR lands in it while Linux 6.1 budgets it against
     * the memory window (docs/pcie.md, "Bridge windows and Linux 6.1"). */
    pci_bridge_init(d, &rp->sec, id, 0x1b36, 0x000c, 0, true, 0, 0, PCI_BRIDGE_PREF_32);
    d->ops = &rp_ops;
    d->opaque = rp;
    rp->sec.hotplug = &rp_hotplug;
    rp->sec.hotplug_opaque = rp;
    /* INTD, not INTA: the function in the slot (device 0) has its INTA
     * swizzled onto the same host line as the port's INTA, and Linux's
     * pciehp removes that function from the port's threaded interrupt
     * handler -- freeing a handler of the very line it runs on waits for
     * itself.  With INTD the two never share a line (there is no MSI here
     * to keep them apart, as there is on other machines). */
    pci_set_intx_pin(d, 4);
    rp->exp_cap = pcie_cap_init(d, PCI_EXP_TYPE_ROOT_PORT, (uint8_t)port);
    if (rp->exp_cap < 0) {
        r = rp->exp_cap;
        free(rp);
        return r;
    }
    pcie_cap_slot_init(d, rp->exp_cap, slot);
    rp->last_ctl = pci_get_word(d->config + rp->exp_cap + PCI_EXP_SLTCTL);
    if (bus_reserve != 0xffff) {
        /* Red Hat vendor capability: buses/windows firmware should leave
         * free below this port (all-ones: no reservation of that kind). */
        int cap = pci_add_capability(d, PCI_CAP_ID_VNDR, 0x20);
        if (cap >= 0) {
            d->config[cap + 2] = 0x20;
            d->config[cap + 3] = REDHAT_CAP_RESOURCE_RESERVE;
            pci_set_long(d->config + cap + 4, bus_reserve);
            memset(d->config + cap + 8, 0xff, 0x18);
        }
    }
    if ((r = pci_bus_attach(bus, d, devfn)) < 0) {
        free(rp);
        return r;
    }
    if ((r = machine_add_cleanup_hook(m, rp_cleanup, rp)) < 0) {
        pci_bus_detach(d);
        free(rp);
        return r;
    }
    return 0;
}

static const DeviceType pcie_root_port = {
    "pcie-root-port", "PCIe root port with a hot-plug slot (id=,chassis=,slot=[,bus-reserve=])",
    rp_create,
};
DEVICE_TYPE_REGISTER(pcie_root_port)
