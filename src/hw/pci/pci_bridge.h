/* The type 1 (PCI-to-PCI bridge) configuration header shared by the root
 * port and the PCIe-to-PCI bridge: bus numbers and memory/prefetchable
 * windows the guest programs (no I/O window: the virt host has no I/O
 * range).  Forwarding through the windows is decided in pci.c. */
#ifndef QUAIL_HW_PCI_PCI_BRIDGE_H
#define QUAIL_HW_PCI_PCI_BRIDGE_H

#include "hw/pci/pci.h"

/* Initialises d as a bridge (class 0604) whose secondary bus is sec, with
 * slots first_slot..last_slot usable below it. */
void pci_bridge_init(PciDevice *d, PciBus *sec, const char *id, uint16_t vendor,
                     uint16_t device, uint8_t revision, bool express_secondary,
                     uint8_t first_slot, uint8_t last_slot);

/* Checks that a new bridge's id can name a bus (unique, not "pcie.0"). */
int pci_bridge_check_id(PciBus *parent, const char *id);

#endif
