/* Split virtqueues (virtio 1.x, section 2.7): walking the guest's descriptor
 * chains into host iovecs and returning used buffers.
 *
 * Everything in the rings is guest-controlled.  vq_pop() bounds every index,
 * length and address, refuses loops, over-long chains and indirect tables
 * inside indirect tables, and reports such a guest with -EINVAL so the
 * transport can mark the device NEEDS_RESET; it never touches memory outside
 * guest RAM. */
#ifndef QUAIL_HW_VIRTIO_VIRTQUEUE_H
#define QUAIL_HW_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hw/bus.h"

#define VQ_MAX_SIZE 1024        /* largest queue we offer (QEMU's limit too) */
#define VQ_MAX_SEGS 1024        /* descriptors one request may span */

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

typedef struct VirtQueue {
    uint16_t size;              /* set by the driver, power of two <= max_size */
    uint16_t max_size;
    bool ready;
    uint64_t desc_addr, avail_addr, used_addr;
    bool event_idx;             /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    uint16_t last_avail_idx;    /* next avail entry we will read */
    uint16_t used_idx;          /* our copy of used->idx */
    uint16_t inuse;             /* popped, not yet pushed: at most size */
    uint16_t signalled_used;    /* used_idx when we last interrupted */
    bool signalled_used_valid;
} VirtQueue;

typedef struct VirtQueueElem {
    uint16_t head;              /* descriptor index to return in the used ring */
    unsigned n_out, n_in;       /* iov[0..n_out) device-readable, then n_in writable */
    size_t out_len, in_len;
    struct iovec iov[VQ_MAX_SEGS];
} VirtQueueElem;

void vq_reset(VirtQueue *vq);

/* Checks that the rings of a queue the driver enabled lie wholly in RAM and
 * that size is acceptable.  -EINVAL with a message otherwise. */
int vq_validate(const VirtQueue *vq, Bus *bus);

/* 1 and fills elem if a buffer was available, 0 if none, -EINVAL if the
 * guest's descriptors are malformed (the device should then be marked broken). */
int vq_pop(VirtQueue *vq, Bus *bus, VirtQueueElem *elem);

/* Puts a completed element on the used ring with `written` bytes written into
 * its device-writable part.  Elements may complete out of order. */
int vq_push(VirtQueue *vq, Bus *bus, uint16_t head, uint32_t written);

/* Whether the driver wants an interrupt for what was pushed since the last
 * notification (VRING_AVAIL_F_NO_INTERRUPT or used_event). */
bool vq_should_notify(VirtQueue *vq, Bus *bus);

/* Copies between an element's segments and a flat buffer; return bytes copied. */
size_t vq_elem_read(const VirtQueueElem *e, size_t off, void *buf, size_t len);
size_t vq_elem_write(const VirtQueueElem *e, size_t off, const void *buf, size_t len);

#endif
