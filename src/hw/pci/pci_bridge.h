/* The type 1 (PCI-to-PCI bridge) configuration header shared by the root
 * port and the PCIe-to-PCI bridge: bus numbers and memory/prefetchable
 * windows the guest programs (no I/O window: the virt host has no I/O
 * range).  Forwarding through the windows is decided in pci.c. */
#ifndef QUAIL_HW_PCI_PCI_BRIDGE_H
#define QUAIL_HW_PCI_PCI_BRIDGE_H

#include "hw/pci/pci.h"

/* Which prefetchable window a bridge implements (the window is optional in
 * a type 1 header; its type nibble says 32 or 64 bits). */
typedef enum PciBridgePref {
    PCI_BRIDGE_PREF_NONE,
    PCI_BRIDGE_PREF_32,
    PCI_BRIDGE_PREF_64,
} PciBridgePref;

/* Initialises d as a bridge (class 0604) whose secondary bus is sec, with
 * slots first_slot..last_slot usable below it. */
void pci_bridge_init(PciDevice *d, PciBus *sec, const char *id, uint16_t vendor,
                     uint16_t device, uint8_t revision, bool express_secondary,
                     uint8_t first_slot, uint8_t last_slot, PciBridgePref pref);

/* Whether bridge d implements a prefetchable window (its registers are
 * writable); without one they read 0 and must not be decoded. */
bool pci_bridge_has_pref(const PciDevice *d);

/* Checks that a new bridge's id can name a bus (unique, not "pcie.0"). */
int pci_bridge_check_id(PciBus *parent, const char *id);

#endif
