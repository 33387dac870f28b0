/* The generic ECAM host bridge of the virt machine (pci-host-ecam-generic):
 * configuration space at VIRT_PCIE_ECAM_BASE, a 32-bit memory window for
 * BARs, INTx on four PLIC lines with QEMU's swizzle. */
#ifndef QUAIL_HW_PCI_PCI_HOST_H
#define QUAIL_HW_PCI_PCI_HOST_H

#include "hw/device.h"
#include "hw/pci/pci.h"

typedef struct VirtMachine VirtMachine;

struct PciHost {
    VirtMachine *m;
    Bus *membus;
    PciBus root;
    uint64_t mmio_base, mmio_size;
    int intx_count[4];      /* devices asserting each shared line */
};

/* The machine's host bridge, created on first use (so a machine without PCI
 * devices still has the ECAM window and DT node, like QEMU's virt). */
PciHost *pci_host_get(VirtMachine *m);
int pci_host_create(VirtMachine *m);

/* Finds the bus a -device bus= names ("pcie.0" or a bridge's id); NULL = root. */
PciBus *pci_host_find_bus(PciHost *h, const char *name);

/* The one host of this process (QMP handlers have no machine pointer). */
PciHost *pci_host_any(void);
/* The function whose id is id, anywhere in the hierarchy, or NULL. */
PciDevice *pci_host_find_device(PciHost *h, const char *id);
/* The bus a configuration cycle for bus number nr reaches, or NULL. */
PciBus *pci_host_bus_by_number(PciHost *h, unsigned nr);

/* "3", "0x3", "03.0" -> devfn; -EINVAL when malformed. */
int pci_parse_addr(const char *s, uint8_t *devfn);

/* Where a new function goes: the bus -device's bus= names (the root bus by
 * default) and addr= (the bus's first free slot by default).  Creates the
 * host if needed. */
int pci_host_place(VirtMachine *m, const KvList *opts, PciBus **bus, uint8_t *devfn);

/* Used by pci.c: a function's pin changed level (after bridge swizzling). */
void pci_host_route_intx(PciHost *h, PciDevice *d, int pin, bool level);

#endif
