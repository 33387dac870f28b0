#include "hw/virtio/virtio.h"

#include <string.h>

#include "util/error.h"
#include "util/log.h"

void virtio_init(VirtioDevice *d, const VirtioDeviceOps *ops, Bus *bus, const char *id,
                 uint64_t device_features, int nqueues, uint16_t queue_size,
                 uint32_t config_len)
{
    memset(d, 0, sizeof(*d));
    d->ops = ops;
    d->bus = bus;
    d->id = id;
    d->host_features = device_features | (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                       (1ULL << VIRTIO_RING_F_EVENT_IDX);
    d->nqueues = nqueues > VIRTIO_MAX_QUEUES ? VIRTIO_MAX_QUEUES : nqueues;
    for (int i = 0; i < d->nqueues; i++) {
        d->vq[i].max_size = queue_size;
        vq_reset(&d->vq[i]);
    }
    d->config_len = config_len > VIRTIO_CONFIG_MAX ? VIRTIO_CONFIG_MAX : config_len;
}

void virtio_reset(VirtioDevice *d)
{
    if (d->ops->reset)
        d->ops->reset(d);
    d->status = 0;
    d->guest_features = 0;
    d->isr = 0;
    d->broken = false;
    for (int i = 0; i < d->nqueues; i++)
        vq_reset(&d->vq[i]);
    if (d->transport)
        d->transport->set_irq(d, false);
}

void virtio_set_status(VirtioDevice *d, uint8_t status)
{
    if (status == 0) {
        virtio_reset(d);
        return;
    }
    /* NEEDS_RESET is the device's to set; the driver cannot clear it. */
    d->status = (uint8_t)((status & ~VIRTIO_STATUS_NEEDS_RESET) |
                          (d->status & VIRTIO_STATUS_NEEDS_RESET));
}

bool virtio_features_ok(VirtioDevice *d)
{
    if (d->guest_features & ~d->host_features)
        return false;
    if (!(d->guest_features & (1ULL << VIRTIO_F_VERSION_1)))
        return false;
    for (int i = 0; i < d->nqueues; i++) {
        d->vq[i].event_idx = d->guest_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
        d->vq[i].indirect = d->guest_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    }
    return true;
}

static void raise_isr(VirtioDevice *d, uint32_t isr_bit)
{
    d->isr |= isr_bit;
    if (d->transport)
        d->transport->set_irq(d, true);
}

void virtio_notify(VirtioDevice *d, int q)
{
    if (q < 0 || q >= d->nqueues)
        return;
    if (vq_should_notify(&d->vq[q], d->bus))
        raise_isr(d, VIRTIO_ISR_QUEUE);
}

void virtio_notify_config(VirtioDevice *d)
{
    d->config_generation++;
    if (d->status & VIRTIO_STATUS_DRIVER_OK)
        raise_isr(d, VIRTIO_ISR_CONFIG);
}

void virtio_mark_broken(VirtioDevice *d, const char *why)
{
    if (d->broken)
        return;
    d->broken = true;
    log_msg("%s (%s): guest error: %s; device needs reset", d->id ? d->id : "virtio",
            d->ops->name, why);
    d->status |= VIRTIO_STATUS_NEEDS_RESET;
    if (d->status & VIRTIO_STATUS_DRIVER_OK)
        raise_isr(d, VIRTIO_ISR_CONFIG);
}

int virtio_pop(VirtioDevice *d, int q, VirtQueueElem *e)
{
    if (d->broken || q < 0 || q >= d->nqueues || !(d->status & VIRTIO_STATUS_DRIVER_OK))
        return 0;
    int r = vq_pop(&d->vq[q], d->bus, e);
    if (r < 0) {
        virtio_mark_broken(d, err_msg());
        return 0;
    }
    return r;
}

void virtio_push(VirtioDevice *d, int q, const VirtQueueElem *e, uint32_t written)
{
    if (d->broken || q < 0 || q >= d->nqueues)
        return;
    if (written > e->in_len)
        written = (uint32_t)e->in_len;
    if (vq_push(&d->vq[q], d->bus, e->head, written) < 0)
        virtio_mark_broken(d, err_msg());
}

void virtio_config_write(VirtioDevice *d, uint64_t off, unsigned len, uint64_t val)
{
    if (len == 0 || len > 8 || off >= d->config_len || len > d->config_len - off)
        return;
    if (d->ops->config_write)
        d->ops->config_write(d, (uint32_t)off, len, val);
}

void virtio_config_set16(VirtioDevice *d, uint32_t off, uint16_t v)
{
    if (off + 2 <= VIRTIO_CONFIG_MAX)
        memcpy(d->config + off, &v, 2);
}

void virtio_config_set32(VirtioDevice *d, uint32_t off, uint32_t v)
{
    if (off + 4 <= VIRTIO_CONFIG_MAX)
        memcpy(d->config + off, &v, 4);
}

void virtio_config_set64(VirtioDevice *d, uint32_t off, uint64_t v)
{
    if (off + 8 <= VIRTIO_CONFIG_MAX)
        memcpy(d->config + off, &v, 8);
}
