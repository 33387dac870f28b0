/* The PCI Express capability (PCIe base spec 7.5.3) and, for downstream
 * ports, the native hot-plug slot it describes: attention button, power
 * controller, power/attention indicators, presence detect, command
 * completed and data-link-layer-active reporting.  The virt machine's PLIC
 * has no MSI, so slot events raise the port's INTx. */
#ifndef QUAIL_HW_PCI_PCIE_CAP_H
#define QUAIL_HW_PCI_PCIE_CAP_H

#include "hw/pci/pci.h"

#define PCI_EXP_TYPE_ENDPOINT 0x0
#define PCI_EXP_TYPE_ROOT_PORT 0x4
#define PCI_EXP_TYPE_PCI_BRIDGE 0x7

#define PCIE_CAP_LEN 0x3c

/* Register offsets inside the capability */
#define PCI_EXP_FLAGS 0x02
#define PCI_EXP_DEVCAP 0x04
#define PCI_EXP_DEVCTL 0x08
#define PCI_EXP_DEVSTA 0x0a
#define PCI_EXP_LNKCAP 0x0c
#define PCI_EXP_LNKCTL 0x10
#define PCI_EXP_LNKSTA 0x12
#define PCI_EXP_SLTCAP 0x14
#define PCI_EXP_SLTCTL 0x18
#define PCI_EXP_SLTSTA 0x1a
#define PCI_EXP_RTCTL 0x1c
#define PCI_EXP_RTSTA 0x20
#define PCI_EXP_DEVCTL2 0x28
#define PCI_EXP_LNKCAP2 0x2c
#define PCI_EXP_LNKCTL2 0x30

#define PCI_EXP_FLAGS_SLOT 0x0100
#define PCI_EXP_LNKCAP_DLLLARC 0x00100000
#define PCI_EXP_LNKSTA_DLLLA 0x2000

#define PCI_EXP_SLTCAP_ABP 0x01
#define PCI_EXP_SLTCAP_PCP 0x02
#define PCI_EXP_SLTCAP_AIP 0x08
#define PCI_EXP_SLTCAP_PIP 0x10
#define PCI_EXP_SLTCAP_HPC 0x40
#define PCI_EXP_SLTCAP_PSN_SHIFT 19

#define PCI_EXP_SLTCTL_ABPE 0x0001
#define PCI_EXP_SLTCTL_PDCE 0x0008
#define PCI_EXP_SLTCTL_CCIE 0x0010
#define PCI_EXP_SLTCTL_HPIE 0x0020
#define PCI_EXP_SLTCTL_AIC 0x00c0
#define PCI_EXP_SLTCTL_ATTN_IND_OFF 0x00c0
#define PCI_EXP_SLTCTL_PIC 0x0300
#define PCI_EXP_SLTCTL_PWR_IND_ON 0x0100
#define PCI_EXP_SLTCTL_PWR_IND_OFF 0x0300
#define PCI_EXP_SLTCTL_PCC 0x0400      /* 1 = power off */
#define PCI_EXP_SLTCTL_DLLSCE 0x1000

#define PCI_EXP_SLTSTA_ABP 0x0001
#define PCI_EXP_SLTSTA_PDC 0x0008
#define PCI_EXP_SLTSTA_CC 0x0010
#define PCI_EXP_SLTSTA_PDS 0x0040
#define PCI_EXP_SLTSTA_DLLSC 0x0100

/* Adds the capability (version 2) with this port type; returns its offset. */
int pcie_cap_init(PciDevice *d, uint8_t type, uint8_t port_num);

/* Downstream port with a hot-plug slot (physical slot number slot_nr). */
void pcie_cap_slot_init(PciDevice *d, int cap, uint16_t slot_nr);
/* Power-on state: presence from what sits on the secondary bus. */
void pcie_cap_slot_reset(PciDevice *d, int cap);
/* Call from the port's config_written hook (with the slot control value
 * before the write): completes commands, ejects on power off. */
void pcie_cap_slot_write(PciDevice *d, int cap, uint32_t off, unsigned size, uint16_t old_ctl);
/* A device was put in the slot while running: presence and link up. */
int pcie_cap_slot_plug(PciDevice *d, int cap);
/* device_del: press the attention button; the guest powers the slot down. */
int pcie_cap_slot_unplug_request(PciDevice *d, int cap);

#endif
