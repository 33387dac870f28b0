/* virtio-mmio version 2 transport (virtio 1.x section 4.2) on the virt
 * machine's virtio-mmio slots. */
#ifndef QUAIL_HW_VIRTIO_VIRTIO_MMIO_H
#define QUAIL_HW_VIRTIO_VIRTIO_MMIO_H

#include "hw/virtio/virtio.h"

typedef struct VirtMachine VirtMachine;

/* Takes the first free slot and puts d on it.  Returns 0 or -errno. */
int virtio_mmio_attach(VirtMachine *m, VirtioDevice *d);

#endif
