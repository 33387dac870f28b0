/* virtio-rng: entropy from the host's getrandom(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hw/device.h"
#include "hw/virt.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio_mmio.h"
#include "hw/virtio/virtio_pci.h"
#include "util/error.h"

#define VIRTIO_ID_RNG 4

typedef struct VirtioRng {
    VirtioDevice vdev;
    VirtQueueElem elem;
    char id[64];
} VirtioRng;

static void rng_notify(VirtioDevice *d, int q)
{
    VirtioRng *r = (VirtioRng *)d;
    bool pushed = false;
    /* Bounded by the queue: each pop consumes one avail entry. */
    while (virtio_pop(d, q, &r->elem) == 1) {
        size_t done = 0;
        for (unsigned i = r->elem.n_out; i < r->elem.n_out + r->elem.n_in; i++) {
            struct iovec *v = &r->elem.iov[i];
            ssize_t got = getrandom(v->iov_base, v->iov_len, GRND_NONBLOCK);
            if (got > 0)
                done += (size_t)got;
            if (got < (ssize_t)v->iov_len)
                break;
        }
        virtio_push(d, q, &r->elem, (uint32_t)done);
        pushed = true;
    }
    if (pushed)
        virtio_notify(d, q);
}

static const VirtioDeviceOps rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .queue_notify = rng_notify,
};

static void rng_free(VirtMachine *m, void *opaque)
{
    free(opaque);
}

/* Builds the device; the caller attaches it to a transport. */
static int rng_new(VirtMachine *m, const KvList *opts, VirtioRng **out)
{
    static const char *const keys[] = { "driver", "id", "bus", "addr", NULL };
    int r = kv_check_keys(opts, keys);
    if (r < 0)
        return r;
    VirtioRng *rng = calloc(1, sizeof(*rng));
    if (!rng)
        return err_set(ENOMEM, "out of memory");
    const char *id = kv_get(opts, "id");
    snprintf(rng->id, sizeof(rng->id), "%s", id ? id : "virtio-rng");
    virtio_init(&rng->vdev, &rng_ops, &m->bus, rng->id, 0, 1, 256, 0);
    if ((r = machine_add_cleanup_hook(m, rng_free, rng)) < 0) {
        free(rng);
        return r;
    }
    *out = rng;
    return 0;
}

static int rng_device_create(VirtMachine *m, const KvList *opts)
{
    VirtioRng *rng = NULL;
    int r = rng_new(m, opts, &rng);
    return r < 0 ? r : virtio_mmio_attach(m, &rng->vdev);
}

static const DeviceType virtio_rng_device = {
    "virtio-rng-device", "virtio entropy source on a virtio-mmio slot", rng_device_create,
};
DEVICE_TYPE_REGISTER(virtio_rng_device)

static int rng_pci_create(VirtMachine *m, const KvList *opts)
{
    VirtioRng *rng = NULL;
    int r = rng_new(m, opts, &rng);
    return r < 0 ? r : virtio_pci_attach(m, &rng->vdev, opts, 0x00ff00);
}

static const DeviceType virtio_rng_pci = {
    "virtio-rng-pci", "virtio entropy source on PCI", rng_pci_create,
};
DEVICE_TYPE_REGISTER(virtio_rng_pci)
