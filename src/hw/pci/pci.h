/* Conventional PCI / PCIe function model and the buses they sit on.
 *
 * A function owns a 4 KiB configuration space with per-byte write masks, so
 * the generic code handles every register a guest may poke (of any size at
 * any offset) and devices only hook what they care about.  BARs are mapped
 * onto the machine bus when the guest enables memory decoding, exactly where
 * the guest put them, and unmapped when it moves or disables them; a BAR the
 * guest programs over something else is simply not mapped (no forwarding),
 * as on real hardware. */
#ifndef QUAIL_HW_PCI_PCI_H
#define QUAIL_HW_PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

#define PCI_CONFIG_SIZE 4096
#define PCI_NUM_BARS 6
#define PCI_DEVFN(slot, fn) ((uint8_t)(((slot) << 3) | (fn)))
#define PCI_SLOT(devfn) (((devfn) >> 3) & 0x1f)

/* Standard header offsets */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x08
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_BAR_MEM64 0x4
#define PCI_BAR_PREFETCH 0x8

#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_SHPC 0x0c
#define PCI_CAP_ID_EXP 0x10

/* Type 1 (bridge) header */
#define PCI_HEADER_TYPE_BRIDGE 0x01
#define PCI_PRIMARY_BUS 0x18
#define PCI_SECONDARY_BUS 0x19
#define PCI_SUBORDINATE_BUS 0x1a
#define PCI_SEC_LATENCY_TIMER 0x1b
#define PCI_IO_BASE 0x1c
#define PCI_IO_LIMIT 0x1d
#define PCI_SEC_STATUS 0x1e
#define PCI_MEMORY_BASE 0x20
#define PCI_MEMORY_LIMIT 0x22
#define PCI_PREF_MEMORY_BASE 0x24
#define PCI_PREF_MEMORY_LIMIT 0x26
#define PCI_PREF_BASE_UPPER32 0x28
#define PCI_PREF_LIMIT_UPPER32 0x2c
#define PCI_BRIDGE_CONTROL 0x3e
#define PCI_BRIDGE_CTL_BUS_RESET 0x40

typedef struct PciDevice PciDevice;
typedef struct PciBus PciBus;

typedef struct PciBar {
    uint64_t size;          /* power of two >= 16; 0 = unused */
    uint8_t flags;          /* PCI_BAR_MEM64 | PCI_BAR_PREFETCH */
    const MmioOps *ops;     /* called with (opaque, offset in BAR, ...) */
    void *opaque;
    uint64_t mapped_at;     /* guest-physical address while mapped */
    bool mapped;
    PciDevice *dev;
} PciBar;

typedef struct PciDeviceOps {
    /* After the generic code applied a config write (already masked). */
    void (*config_written)(PciDevice *d, uint32_t off, unsigned size, uint32_t val);
    /* Reads that need live values (e.g. a status a device computes). */
    uint32_t (*config_read)(PciDevice *d, uint32_t off, unsigned size, uint32_t val);
    void (*reset)(PciDevice *d);
} PciDeviceOps;

struct PciDevice {
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];     /* bits the guest may write */
    uint8_t w1cmask[PCI_CONFIG_SIZE];   /* bits a guest 1 clears */
    PciBar bars[PCI_NUM_BARS];
    const PciDeviceOps *ops;
    void *opaque;
    PciBus *bus;
    uint8_t devfn;
    char id[64];
    bool intx_level;        /* what the device wants on its pin */
    uint8_t next_cap;       /* where the next capability goes */
    PciBus *sec_bus;        /* a bridge's secondary bus, else NULL */
    bool unplug_pending;    /* device_del asked, the guest has not ejected yet */
};

typedef struct PciHost PciHost;

/* A bus whose slots can take devices while the guest runs (a root port's
 * slot, an SHPC-driven bridge).  plug tells the guest a device arrived;
 * unplug_request asks the guest to release it, and the slot calls
 * pci_device_ejected() once the guest has powered it off. */
typedef struct PciHotplugOps {
    /* A device was put on the bus before the machine started: it is simply
     * there (slot powered, presence set), no event. */
    void (*cold_plugged)(PciBus *bus, PciDevice *d);
    int (*plug)(PciBus *bus, PciDevice *d);
    int (*unplug_request)(PciBus *bus, PciDevice *d);
} PciHotplugOps;

struct PciBus {
    PciDevice *devs[256];   /* by devfn */
    PciHost *host;
    PciDevice *bridge;      /* NULL for the root bus */
    bool express;
    uint8_t first_slot, last_slot;  /* slots devices may use (root: 1-31) */
    const PciHotplugOps *hotplug;
    void *hotplug_opaque;
};

/* Sets the identity registers and write masks of a type 0 function. */
void pci_device_init(PciDevice *d, const char *id, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code, uint16_t subsys_vendor,
                     uint16_t subsys);

/* Declares a memory BAR (size a power of two).  64-bit BARs use two slots. */
int pci_register_bar(PciDevice *d, int idx, uint64_t size, uint8_t flags,
                     const MmioOps *ops, void *opaque);

/* Appends a capability of len bytes with the given id; returns its offset or
 * -ENOSPC.  The caller fills the body (after the 2-byte header). */
int pci_add_capability(PciDevice *d, uint8_t cap_id, uint8_t len);

/* Interrupt pin: 1 = INTA ... 4 = INTD. */
void pci_set_intx_pin(PciDevice *d, int pin);
/* Raises or lowers the function's INTx (honours INTX_DISABLE, sets the status bit). */
void pci_set_irq(PciDevice *d, bool level);

/* Generic config access, any size (1, 2, 4) at any offset within 4 KiB. */
uint32_t pci_config_read(PciDevice *d, uint32_t off, unsigned size);
void pci_config_write(PciDevice *d, uint32_t off, unsigned size, uint32_t val);

void pci_device_reset(PciDevice *d);

/* Places d on bus at devfn (-EBUSY when taken, -EINVAL for a slot the bus
 * does not have) and maps nothing until the guest enables it. */
int pci_bus_attach(PciBus *bus, PciDevice *d, uint8_t devfn);
/* While true (device_add), attaches are hot plugs: the caller tells the
 * slot with hotplug->plug() afterwards instead of cold_plugged(). */
void pci_set_hotplugging(bool on);
/* First free slot (function 0) on bus, or -ENOSPC. */
int pci_bus_free_slot(PciBus *bus);
void pci_bus_detach(PciDevice *d);

/* Re-evaluates which BARs are mapped (after command or BAR writes). */
void pci_update_mappings(PciDevice *d);
/* The same for every function below a bus (a bridge window or command
 * changed, or the bridge went away). */
void pci_bus_update_mappings(PciBus *bus);

/* True when a memory access to [addr, addr+size) from the host reaches a
 * function on bus: every bridge above must have memory decoding on and the
 * range inside its memory or prefetchable window. */
bool pci_bus_forwards(PciBus *bus, uint64_t addr, uint64_t size);

/* Calls fn for every function on bus and, depth first, below its bridges
 * (children before the bridge itself when post is true). */
void pci_bus_walk(PciBus *bus, bool post, void (*fn)(PciDevice *d, void *opaque), void *opaque);

/* Implemented by the hotplug layer (qmp_pci.c): a slot finished removing d
 * (the guest powered the slot off).  Detaches d and everything below it,
 * sends DEVICE_DELETED and frees what device_add created.  Runs under the
 * bus io_lock. */
void pci_device_ejected(PciDevice *d);

static inline void pci_set_word(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void pci_set_long(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t pci_get_word(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t pci_get_long(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
