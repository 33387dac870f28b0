#include "hw/pci/pcie_cap.h"

#include <errno.h>

#include "util/error.h"

static uint16_t rd16(PciDevice *d, int cap, int reg) { return pci_get_word(d->config + cap + reg); }
static void wr16(PciDevice *d, int cap, int reg, uint16_t v) { pci_set_word(d->config + cap + reg, v); }

int pcie_cap_init(PciDevice *d, uint8_t type, uint8_t port_num)
{
    int cap = pci_add_capability(d, PCI_CAP_ID_EXP, PCIE_CAP_LEN);
    if (cap < 0)
        return err_set(ENOSPC, "%s: no room for the PCIe capability", d->id);
    uint8_t *c = d->config + cap;
    pci_set_word(c + PCI_EXP_FLAGS, (uint16_t)(2 | type << 4));
    /* 128-byte payloads, role-based error reporting */
    pci_set_long(c + PCI_EXP_DEVCAP, 1u << 15);
    pci_set_word(d->wmask + cap + PCI_EXP_DEVCTL, 0x7fff);
    pci_set_word(d->w1cmask + cap + PCI_EXP_DEVSTA, 0x000f);
    /* One 2.5 GT/s lane: what the link is does not matter to an emulator,
     * but drivers read it. */
    uint32_t lnkcap = 1 | 1 << 4 | (uint32_t)port_num << 24;
    if (type == PCI_EXP_TYPE_ROOT_PORT)
        lnkcap |= PCI_EXP_LNKCAP_DLLLARC;
    pci_set_long(c + PCI_EXP_LNKCAP, lnkcap);
    pci_set_word(d->wmask + cap + PCI_EXP_LNKCTL, 0x0fcb);
    pci_set_word(c + PCI_EXP_LNKSTA, 0x11);
    pci_set_word(d->wmask + cap + PCI_EXP_DEVCTL2, 0x043f);
    pci_set_long(c + PCI_EXP_LNKCAP2, 1 << 1);
    pci_set_word(c + PCI_EXP_LNKCTL2, 1);
    pci_set_word(d->wmask + cap + PCI_EXP_LNKCTL2, 0x0fff);
    if (type == PCI_EXP_TYPE_ROOT_PORT) {
        pci_set_word(d->wmask + cap + PCI_EXP_RTCTL, 0x001f);
        d->w1cmask[cap + PCI_EXP_RTSTA + 2] = 0x01;    /* PME status */
    }
    return cap;
}

static bool slot_occupied(PciDevice *d)
{
    return d->sec_bus && d->sec_bus->devs[0];
}

/* Slot events are level interrupts on the port's INTx: asserted while an
 * enabled event is latched and hot-plug interrupts are on. */
static void slot_update_irq(PciDevice *d, int cap)
{
    uint16_t ctl = rd16(d, cap, PCI_EXP_SLTCTL), sta = rd16(d, cap, PCI_EXP_SLTSTA);
    uint16_t pending = 0;
    if (ctl & PCI_EXP_SLTCTL_HPIE) {
        if (ctl & PCI_EXP_SLTCTL_ABPE)
            pending |= sta & PCI_EXP_SLTSTA_ABP;
        if (ctl & PCI_EXP_SLTCTL_PDCE)
            pending |= sta & PCI_EXP_SLTSTA_PDC;
        if (ctl & PCI_EXP_SLTCTL_CCIE)
            pending |= sta & PCI_EXP_SLTSTA_CC;
        if (ctl & PCI_EXP_SLTCTL_DLLSCE)
            pending |= sta & PCI_EXP_SLTSTA_DLLSC;
    }
    pci_set_irq(d, pending != 0);
}

static void slot_set_presence(PciDevice *d, int cap, bool present)
{
    uint16_t sta = rd16(d, cap, PCI_EXP_SLTSTA), lnk = rd16(d, cap, PCI_EXP_LNKSTA);
    sta = present ? sta | PCI_EXP_SLTSTA_PDS : sta & ~PCI_EXP_SLTSTA_PDS;
    lnk = present ? lnk | PCI_EXP_LNKSTA_DLLLA : lnk & ~PCI_EXP_LNKSTA_DLLLA;
    wr16(d, cap, PCI_EXP_SLTSTA, sta);
    wr16(d, cap, PCI_EXP_LNKSTA, lnk);
}

void pcie_cap_slot_init(PciDevice *d, int cap, uint16_t slot_nr)
{
    uint8_t *c = d->config + cap;
    pci_set_word(c + PCI_EXP_FLAGS, pci_get_word(c + PCI_EXP_FLAGS) | PCI_EXP_FLAGS_SLOT);
    pci_set_long(c + PCI_EXP_SLTCAP, PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP |
                 PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_HPC |
                 (uint32_t)(slot_nr & 0x1fff) << PCI_EXP_SLTCAP_PSN_SHIFT);
    pci_set_word(d->wmask + cap + PCI_EXP_SLTCTL, 0x1fff);
    pci_set_word(d->w1cmask + cap + PCI_EXP_SLTSTA, 0x011f);
    pcie_cap_slot_reset(d, cap);
}

void pcie_cap_slot_reset(PciDevice *d, int cap)
{
    bool present = slot_occupied(d);
    wr16(d, cap, PCI_EXP_SLTCTL, (uint16_t)(PCI_EXP_SLTCTL_ATTN_IND_OFF |
         (present ? PCI_EXP_SLTCTL_PWR_IND_ON : PCI_EXP_SLTCTL_PWR_IND_OFF)));
    wr16(d, cap, PCI_EXP_SLTSTA, 0);
    slot_set_presence(d, cap, present);
    slot_update_irq(d, cap);
}

void pcie_cap_slot_write(PciDevice *d, int cap, uint32_t off, unsigned size, uint16_t old_ctl)
{
    uint32_t ctl_off = (uint32_t)cap + PCI_EXP_SLTCTL;
    bool ctl_written = off < ctl_off + 2 && off + size > ctl_off;
    bool sta_written = off < ctl_off + 4 && off + size > ctl_off + 2;
    if (!ctl_written && !sta_written)
        return;
    if (ctl_written) {
        uint16_t ctl = rd16(d, cap, PCI_EXP_SLTCTL);
        /* Commands complete at once. */
        wr16(d, cap, PCI_EXP_SLTSTA, rd16(d, cap, PCI_EXP_SLTSTA) | PCI_EXP_SLTSTA_CC);
        /* Power off with the power indicator off is the guest's "done with
         * this card": eject it, as pressing the mechanical latch would. */
        if ((ctl & PCI_EXP_SLTCTL_PCC) && (ctl & PCI_EXP_SLTCTL_PIC) == PCI_EXP_SLTCTL_PWR_IND_OFF &&
            ((old_ctl & PCI_EXP_SLTCTL_PIC) != PCI_EXP_SLTCTL_PWR_IND_OFF ||
             !(old_ctl & PCI_EXP_SLTCTL_PCC)) && slot_occupied(d)) {
            for (int fn = 7; fn >= 0; fn--)
                if (d->sec_bus->devs[fn])
                    pci_device_ejected(d->sec_bus->devs[fn]);
            slot_set_presence(d, cap, false);
            wr16(d, cap, PCI_EXP_SLTSTA, rd16(d, cap, PCI_EXP_SLTSTA) | PCI_EXP_SLTSTA_PDC |
                 PCI_EXP_SLTSTA_DLLSC);
        }
    }
    slot_update_irq(d, cap);
}

int pcie_cap_slot_plug(PciDevice *d, int cap)
{
    slot_set_presence(d, cap, true);
    wr16(d, cap, PCI_EXP_SLTSTA, rd16(d, cap, PCI_EXP_SLTSTA) | PCI_EXP_SLTSTA_PDC |
         PCI_EXP_SLTSTA_DLLSC);
    slot_update_irq(d, cap);
    return 0;
}

int pcie_cap_slot_unplug_request(PciDevice *d, int cap)
{
    wr16(d, cap, PCI_EXP_SLTSTA, rd16(d, cap, PCI_EXP_SLTSTA) | PCI_EXP_SLTSTA_ABP);
    slot_update_irq(d, cap);
    return 0;
}
