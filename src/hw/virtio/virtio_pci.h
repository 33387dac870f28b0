/* virtio-pci modern transport (virtio 1.x section 4.1): capabilities in
 * config space point into one 64-bit BAR holding the common, ISR, device and
 * notify structures, laid out as QEMU lays them out.  Interrupts are INTx (the
 * virt machine's PLIC has no MSI controller). */
#ifndef QUAIL_HW_VIRTIO_VIRTIO_PCI_H
#define QUAIL_HW_VIRTIO_VIRTIO_PCI_H

#include "hw/device.h"
#include "hw/virtio/virtio.h"

typedef struct VirtMachine VirtMachine;

/* Puts d on the PCI bus named by opts' bus= (default the root bus) at addr=
 * (default the first free slot).  class_code is the 24-bit PCI class. */
int virtio_pci_attach(VirtMachine *m, VirtioDevice *d, const KvList *opts, uint32_t class_code);

#endif
