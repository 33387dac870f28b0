/* Transport-independent virtio device state (virtio 1.x).
 *
 * A device model (virtio-blk, virtio-rng, ...) fills a VirtioDeviceOps and
 * embeds a VirtioDevice; a transport (virtio-mmio, virtio-pci) owns the
 * registers and calls back into the device.  All of it runs under the bus
 * io_lock: transports are called from MMIO callbacks, and a device completing
 * work on another thread takes the lock before touching queues. */
#ifndef QUAIL_HW_VIRTIO_VIRTIO_H
#define QUAIL_HW_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"
#include "hw/virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_CONFIG_MAX 256

/* device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_ISR_QUEUE 1
#define VIRTIO_ISR_CONFIG 2

typedef struct VirtioDevice VirtioDevice;

typedef struct VirtioDeviceOps {
    const char *name;
    uint32_t device_id;
    /* Called when the driver notifies queue q. */
    void (*queue_notify)(VirtioDevice *d, int q);
    /* Device reset (status written to 0, or machine reset): drop in-flight state. */
    void (*reset)(VirtioDevice *d);
    /* The driver wrote val (little-endian, len bytes) at config offset off,
     * inside config_len.  The device stores what is writable for it; without
     * this hook the config space is read-only (as virtio-blk's capacity is). */
    void (*config_write)(VirtioDevice *d, uint32_t off, uint32_t len, uint64_t val);
} VirtioDeviceOps;

typedef struct VirtioTransport {
    /* Raises (or, level false, lowers) the device's interrupt. */
    void (*set_irq)(VirtioDevice *d, bool level);
} VirtioTransport;

struct VirtioDevice {
    const VirtioDeviceOps *ops;
    const VirtioTransport *transport;
    void *transport_opaque;
    Bus *bus;
    const char *id;                 /* user-visible id for logs */
    uint64_t host_features;         /* offered (device-specific + ring + VERSION_1) */
    uint64_t guest_features;        /* accepted by the driver */
    uint8_t status;
    uint32_t isr;
    uint32_t config_generation;
    uint32_t config_len;
    uint8_t config[VIRTIO_CONFIG_MAX];
    int nqueues;
    VirtQueue vq[VIRTIO_MAX_QUEUES];
    bool broken;
};

/* Initialises common state; device features are completed with the ring
 * features and VERSION_1. */
void virtio_init(VirtioDevice *d, const VirtioDeviceOps *ops, Bus *bus, const char *id,
                 uint64_t device_features, int nqueues, uint16_t queue_size,
                 uint32_t config_len);

/* Status register write, with the reset semantics of writing 0. */
void virtio_set_status(VirtioDevice *d, uint8_t status);
void virtio_reset(VirtioDevice *d);

/* Driver finished feature negotiation: applies ring features to the queues.
 * Returns false when the driver accepted features we did not offer, or did
 * not accept VERSION_1 (we are a modern-only device). */
bool virtio_features_ok(VirtioDevice *d);

/* After pushing used buffers on queue q: interrupt if the driver wants one. */
void virtio_notify(VirtioDevice *d, int q);
/* Config space changed on the device side. */
void virtio_notify_config(VirtioDevice *d);

/* The guest handed us something malformed: set NEEDS_RESET, stop processing
 * the device until reset, tell the driver, log why.  Quail keeps running. */
void virtio_mark_broken(VirtioDevice *d, const char *why);

/* Pops the next request of queue q: 1, 0 when empty, and on malformed
 * descriptors marks the device broken and returns 0. */
int virtio_pop(VirtioDevice *d, int q, VirtQueueElem *e);
void virtio_push(VirtioDevice *d, int q, const VirtQueueElem *e, uint32_t written);

/* A driver's config-space write from a transport: bounded, and passed to the
 * device's config_write (or ignored when it has none). */
void virtio_config_write(VirtioDevice *d, uint64_t off, unsigned len, uint64_t val);

/* Config space helpers (little-endian). */
void virtio_config_set16(VirtioDevice *d, uint32_t off, uint16_t v);
void virtio_config_set32(VirtioDevice *d, uint32_t off, uint32_t v);
void virtio_config_set64(VirtioDevice *d, uint32_t off, uint64_t v);

#endif
