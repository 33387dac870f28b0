/* pcie-pci-bridge (1b36:000e): PCI Express to conventional PCI bridge, as
 * QEMU's generic one, usable on any PCIe bus (also hot-plugged into a root
 * port).  Its secondary bus takes conventional PCI functions in slots 0-31;
 * slots 1-31 are hot-pluggable through the SHPC, whose registers sit in
 * BAR0.  msi= is accepted for QEMU's command lines; the virt PLIC has no MSI
 * controller, so the SHPC always interrupts through INTx. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/device.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pcie_cap.h"
#include "hw/pci/shpc.h"
#include "hw/virt.h"
#include "hw/virtio/virtio_pci.h"
#include "util/error.h"
#include "util/log.h"

typedef struct PciePciBridge {
    PciDevice dev;
    PciBus sec;
    Shpc shpc;
} PciePciBridge;

static int shpc_bar_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    PciePciBridge *br = opaque;
    *val = off < SHPC_BAR_SIZE ? shpc_read(&br->shpc, (uint32_t)off, size) : 0;
    return 0;
}

static int shpc_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    PciePciBridge *br = opaque;
    if (off < SHPC_BAR_SIZE)
        shpc_write(&br->shpc, (uint32_t)off, size, val);
    return 0;
}

static const MmioOps shpc_bar_ops = { shpc_bar_read, shpc_bar_write };

static void br_config_written(PciDevice *d, uint32_t off, unsigned size, uint32_t val)
{
    PciePciBridge *br = d->opaque;
    shpc_config_written(&br->shpc, off, size, val);
}

static uint32_t br_config_read(PciDevice *d, uint32_t off, unsigned size, uint32_t val)
{
    PciePciBridge *br = d->opaque;
    return shpc_config_read(&br->shpc, off, size, val);
}

static void br_reset(PciDevice *d)
{
    PciePciBridge *br = d->opaque;
    shpc_reset(&br->shpc);
}

static const PciDeviceOps br_ops = {
    .config_written = br_config_written, .config_read = br_config_read, .reset = br_reset,
};

static void br_cold_plugged(PciBus *bus, PciDevice *d)
{
    PciePciBridge *br = bus->hotplug_opaque;
    shpc_reset(&br->shpc);
}

static int br_plug(PciBus *bus, PciDevice *d)
{
    PciePciBridge *br = bus->hotplug_opaque;
    return shpc_plug(&br->shpc, d);
}

static int br_unplug_request(PciBus *bus, PciDevice *d)
{
    PciePciBridge *br = bus->hotplug_opaque;
    return shpc_unplug_request(&br->shpc, d);
}

static const PciHotplugOps br_hotplug = { br_cold_plugged, br_plug, br_unplug_request };

static void br_cleanup(VirtMachine *m, void *opaque)
{
    PciePciBridge *br = opaque;
    pci_bus_detach(&br->dev);
    free(br);
}

static int br_create(VirtMachine *m, const KvList *opts)
{
    static const char *const keys[] = { "driver", "id", "bus", "addr", "msi", NULL };
    int r = kv_check_keys(opts, keys);
    if (r < 0)
        return r;
    const char *msi = kv_get(opts, "msi");
    if (msi && strcmp(msi, "on") && strcmp(msi, "off") && strcmp(msi, "auto"))
        return err_set(EINVAL, "Parameter 'msi' does not accept value '%s' (on, off, auto)", msi);
    PciBus *bus;
    uint8_t devfn;
    if ((r = pci_host_place(m, opts, &bus, &devfn)) < 0)
        return r;
    const char *busname = kv_get(opts, "bus");
    if (!bus->express)
        return err_set(EINVAL, "pcie-pci-bridge needs a PCI Express bus, '%s' is conventional",
                       busname);
    const char *id = kv_get(opts, "id");
    if ((r = pci_bridge_check_id(bus, id)) < 0)
        return r;
    if (msi && !strcmp(msi, "on"))
        log_msg("%s: msi=on: the virt machine has no MSI controller, the SHPC uses INTx", id);
    PciePciBridge *br = calloc(1, sizeof(*br));
    if (!br)
        return err_set(ENOMEM, "out of memory");
    PciDevice *d = &br->dev;
    /* No prefetchable window and a 64-bit prefetchable SHPC BAR (QEMU has
     * both the other way round): the layout under which Linux 6.1 can size
     * this bridge's window after it was itself hot-plugged into a root
     * port, whose windows it otherwise overcommits (docs/pcie.md, "Bridge
     * windows and Linux 6.1").  SHPC register reads have no side effects. */
    pci_bridge_init(d, &br->sec, id, 0x1b36, 0x000e, 0, false, 0, 31, PCI_BRIDGE_PREF_NONE);
    d->ops = &br_ops;
    d->opaque = br;
    br->sec.hotplug = &br_hotplug;
    br->sec.hotplug_opaque = br;
    pci_set_intx_pin(d, 1);
    pci_register_bar(d, 0, SHPC_BAR_SIZE, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, &shpc_bar_ops, br);
    if ((r = pcie_cap_init(d, PCI_EXP_TYPE_PCI_BRIDGE, 0)) < 0 ||
        (r = shpc_init(&br->shpc, d, &br->sec, SHPC_MAX_SLOTS)) < 0 ||
        (r = pci_bus_attach(bus, d, devfn)) < 0) {
        free(br);
        return r;
    }
    if ((r = machine_add_cleanup_hook(m, br_cleanup, br)) < 0) {
        pci_bus_detach(d);
        free(br);
        return r;
    }
    return 0;
}

static const DeviceType pcie_pci_bridge = {
    "pcie-pci-bridge", "PCIe-to-PCI bridge with 31 SHPC hot-plug slots (id=[,bus=][,msi=])",
    br_create,
};
DEVICE_TYPE_REGISTER(pcie_pci_bridge)
