#include "hw/pci/pci_bridge.h"

#include <errno.h>
#include <string.h>

#include "hw/pci/pci_host.h"
#include "util/error.h"

void pci_bridge_init(PciDevice *d, PciBus *sec, const char *id, uint16_t vendor,
                     uint16_t device, uint8_t revision, bool express_secondary,
                     uint8_t first_slot, uint8_t last_slot, PciBridgePref pref)
{
    pci_device_init(d, id, vendor, device, revision, 0x060400, 0, 0);
    /* A type 1 header keeps the prefetchable limit where a type 0 one has
     * its subsystem ids. */
    pci_set_long(d->config + PCI_PREF_LIMIT_UPPER32, 0);
    d->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_BRIDGE;
    pci_set_word(d->wmask + PCI_COMMAND, pci_get_word(d->wmask + PCI_COMMAND) | 0x0140);
    d->wmask[PCI_PRIMARY_BUS] = 0xff;
    d->wmask[PCI_SECONDARY_BUS] = 0xff;
    d->wmask[PCI_SUBORDINATE_BUS] = 0xff;
    d->wmask[PCI_SEC_LATENCY_TIMER] = 0xff;
    pci_set_word(d->w1cmask + PCI_SEC_STATUS, 0xf900);
    pci_set_word(d->wmask + PCI_MEMORY_BASE, 0xfff0);
    pci_set_word(d->wmask + PCI_MEMORY_LIMIT, 0xfff0);
    if (pref != PCI_BRIDGE_PREF_NONE) {
        pci_set_word(d->wmask + PCI_PREF_MEMORY_BASE, 0xfff0);
        pci_set_word(d->wmask + PCI_PREF_MEMORY_LIMIT, 0xfff0);
    }
    if (pref == PCI_BRIDGE_PREF_64) {
        /* type bits 01 read back in base and limit */
        pci_set_word(d->config + PCI_PREF_MEMORY_BASE, 0x0001);
        pci_set_word(d->config + PCI_PREF_MEMORY_LIMIT, 0x0001);
        pci_set_long(d->wmask + PCI_PREF_BASE_UPPER32, 0xffffffff);
        pci_set_long(d->wmask + PCI_PREF_LIMIT_UPPER32, 0xffffffff);
    }
    /* parity, SERR, ISA, VGA, master abort mode, secondary bus reset */
    pci_set_word(d->wmask + PCI_BRIDGE_CONTROL, 0x007f);
    memset(sec, 0, sizeof(*sec));
    sec->bridge = d;
    sec->express = express_secondary;
    sec->first_slot = first_slot;
    sec->last_slot = last_slot;
    d->sec_bus = sec;
}

bool pci_bridge_has_pref(const PciDevice *d)
{
    return pci_get_word(d->wmask + PCI_PREF_MEMORY_BASE) != 0;
}

int pci_bridge_check_id(PciBus *parent, const char *id)
{
    if (!id || !*id)
        return err_set(EINVAL, "a bridge needs an id= to name its bus");
    if (!strcmp(id, "pcie.0"))
        return err_set(EINVAL, "'pcie.0' is the root bus");
    if (parent->host && pci_host_find_device(parent->host, id))
        return err_set(EEXIST, "Duplicate device ID '%s'", id);
    return 0;
}
