/* Standard Hot-Plug Controller (PCI SHPC 1.0) of a conventional PCI bus:
 * the working register set lives in a memory BAR of the bridge (and is also
 * readable through the DWORD select/data window of the SHPC capability).
 * Slot i (0-based) is device i + 1 on the secondary bus; device 0 is not
 * hot-pluggable.  Commands complete at once; events and command completion
 * raise the bridge's INTx. */
#ifndef QUAIL_HW_PCI_SHPC_H
#define QUAIL_HW_PCI_SHPC_H

#include "hw/pci/pci.h"

#define SHPC_MAX_SLOTS 31
#define SHPC_BAR_SIZE 0x100
#define SHPC_CAP_LEN 8

typedef struct Shpc {
    PciDevice *bridge;
    PciBus *bus;
    int cap;                    /* offset of the SHPC capability */
    int nslots;
    uint8_t regs[SHPC_BAR_SIZE];
    uint8_t wmask[SHPC_BAR_SIZE];
    uint8_t w1cmask[SHPC_BAR_SIZE];
} Shpc;

/* Adds the capability to bridge and sets up nslots slots on bus. */
int shpc_init(Shpc *s, PciDevice *bridge, PciBus *bus, int nslots);
/* Power-on state: occupied slots enabled, empty ones disabled. */
void shpc_reset(Shpc *s);

/* Register window (the BAR), any size at any offset. */
uint64_t shpc_read(Shpc *s, uint32_t off, unsigned size);
void shpc_write(Shpc *s, uint32_t off, unsigned size, uint64_t val);

/* Hooks for the bridge's config space (DWORD select/data window). */
uint32_t shpc_config_read(Shpc *s, uint32_t off, unsigned size, uint32_t val);
void shpc_config_written(Shpc *s, uint32_t off, unsigned size, uint32_t val);

/* d was attached at a slot of the bus while running / device_del asked
 * for it: tell the guest (presence change and attention button). */
int shpc_plug(Shpc *s, PciDevice *d);
int shpc_unplug_request(Shpc *s, PciDevice *d);

#endif
