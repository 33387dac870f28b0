#include "hw/virtio/virtio_mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/virt.h"
#include "util/error.h"
#include "util/log.h"

typedef struct VirtioMmio {
    VirtioDevice *dev;
    VirtMachine *m;
    int slot;
    uint32_t dev_features_sel, drv_features_sel, queue_sel;
} VirtioMmio;

enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
    R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
    R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
    R_DESC_LO = 0x080, R_DESC_HI = 0x084, R_DRIVER_LO = 0x090, R_DRIVER_HI = 0x094,
    R_DEVICE_LO = 0x0a0, R_DEVICE_HI = 0x0a4, R_SHM_SEL = 0x0ac,
    R_SHM_LEN_LO = 0x0b0, R_SHM_LEN_HI = 0x0b4, R_SHM_BASE_LO = 0x0b8, R_SHM_BASE_HI = 0x0bc,
    R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

static void mmio_set_irq(VirtioDevice *d, bool level)
{
    VirtioMmio *t = d->transport_opaque;
    /* Level-triggered: the line stays up while any ISR bit is set. */
    machine_set_irq(t->m, VIRT_VIRTIO_IRQ + t->slot, level && d->isr, true);
}

static const VirtioTransport mmio_transport = { mmio_set_irq };

static VirtQueue *cur_queue(VirtioMmio *t)
{
    return t->queue_sel < (uint32_t)t->dev->nqueues ? &t->dev->vq[t->queue_sel] : NULL;
}

static int mmio_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    VirtioMmio *t = opaque;
    VirtioDevice *d = t->dev;
    *val = 0;
    if (off >= R_CONFIG) {
        uint64_t c = off - R_CONFIG;
        if (c + size <= d->config_len)
            memcpy(val, d->config + c, size);
        return 0;
    }
    if (size != 4) {
        log_guest_error("%s: %u-byte read of register 0x%llx", d->id, size, (unsigned long long)off);
        return 0;
    }
    VirtQueue *q = cur_queue(t);
    switch (off) {
    case R_MAGIC: *val = 0x74726976; break;
    case R_VERSION: *val = 2; break;
    case R_DEVICE_ID: *val = d->ops->device_id; break;
    case R_VENDOR_ID: *val = 0x554d4551; break;
    case R_DEV_FEATURES:
        *val = t->dev_features_sel < 2 ? (uint32_t)(d->host_features >> (32 * t->dev_features_sel)) : 0;
        break;
    case R_QUEUE_NUM_MAX: *val = q ? q->max_size : 0; break;
    case R_QUEUE_READY: *val = q ? q->ready : 0; break;
    case R_INT_STATUS: *val = d->isr; break;
    case R_STATUS: *val = d->status; break;
    case R_CONFIG_GEN: *val = d->config_generation; break;
    case R_SHM_LEN_LO: case R_SHM_LEN_HI: *val = 0xffffffff; break;  /* no shared memory */
    case R_SHM_BASE_LO: case R_SHM_BASE_HI: *val = 0xffffffff; break;
    default: break;
    }
    return 0;
}

static void set_half(uint64_t *reg, bool high, uint32_t v)
{
    *reg = high ? (*reg & 0xffffffffULL) | ((uint64_t)v << 32)
                : (*reg & ~0xffffffffULL) | v;
}

static int mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    VirtioMmio *t = opaque;
    VirtioDevice *d = t->dev;
    if (off >= R_CONFIG) {
        virtio_config_write(d, off - R_CONFIG, size, val);
        return 0;
    }
    if (size != 4) {
        log_guest_error("%s: %u-byte write of register 0x%llx", d->id, size, (unsigned long long)off);
        return 0;
    }
    uint32_t v = (uint32_t)val;
    VirtQueue *q = cur_queue(t);
    switch (off) {
    case R_DEV_FEATURES_SEL: t->dev_features_sel = v; break;
    case R_DRV_FEATURES_SEL: t->drv_features_sel = v; break;
    case R_DRV_FEATURES:
        if (t->drv_features_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&d->guest_features, t->drv_features_sel == 1, v);
        break;
    case R_QUEUE_SEL: t->queue_sel = v; break;
    case R_QUEUE_NUM:
        if (q && !q->ready)
            q->size = (uint16_t)(v <= q->max_size ? v : 0);
        break;
    case R_QUEUE_READY:
        if (!q)
            break;
        if (v & 1) {
            if (vq_validate(q, d->bus) < 0) {
                virtio_mark_broken(d, err_msg());
                break;
            }
            q->ready = true;
        } else {
            q->ready = false;
        }
        break;
    case R_QUEUE_NOTIFY:
        if (v < (uint32_t)d->nqueues && d->vq[v].ready && !d->broken && d->ops->queue_notify)
            d->ops->queue_notify(d, (int)v);
        break;
    case R_INT_ACK:
        d->isr &= ~v;
        mmio_set_irq(d, d->isr != 0);
        break;
    case R_STATUS:
        if ((v & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK) &&
            !virtio_features_ok(d))
            v &= ~VIRTIO_STATUS_FEATURES_OK;    /* the driver reads it back and gives up */
        virtio_set_status(d, (uint8_t)v);
        if (v == 0)
            t->queue_sel = t->dev_features_sel = t->drv_features_sel = 0;
        break;
    case R_DESC_LO: case R_DESC_HI:
        if (q && !q->ready)
            set_half(&q->desc_addr, off == R_DESC_HI, v);
        break;
    case R_DRIVER_LO: case R_DRIVER_HI:
        if (q && !q->ready)
            set_half(&q->avail_addr, off == R_DRIVER_HI, v);
        break;
    case R_DEVICE_LO: case R_DEVICE_HI:
        if (q && !q->ready)
            set_half(&q->used_addr, off == R_DEVICE_HI, v);
        break;
    default:
        break;
    }
    return 0;
}

static const MmioOps virtio_mmio_ops = { mmio_read, mmio_write };

static void mmio_reset(VirtMachine *m, void *opaque)
{
    VirtioMmio *t = opaque;
    virtio_reset(t->dev);
    t->queue_sel = t->dev_features_sel = t->drv_features_sel = 0;
}

static void mmio_cleanup(VirtMachine *m, void *opaque)
{
    free(opaque);
}

int virtio_mmio_attach(VirtMachine *m, VirtioDevice *d)
{
    VirtioMmio *t = calloc(1, sizeof(*t));
    if (!t)
        return err_set(ENOMEM, "out of memory");
    int slot = machine_alloc_virtio_slot(m, d->id);
    if (slot < 0) {
        free(t);
        return slot;
    }
    t->dev = d;
    t->m = m;
    t->slot = slot;
    d->transport = &mmio_transport;
    d->transport_opaque = t;
    int r = bus_add_mmio(&m->bus, VIRT_VIRTIO_BASE + (uint64_t)slot * VIRT_VIRTIO_SIZE,
                         VIRT_VIRTIO_SIZE, &virtio_mmio_ops, t, d->id);
    if (r < 0) {
        free(t);
        return r;
    }
    if ((r = machine_add_reset_hook(m, mmio_reset, t)) < 0 ||
        (r = machine_add_cleanup_hook(m, mmio_cleanup, t)) < 0) {
        bus_del_mmio(&m->bus, VIRT_VIRTIO_BASE + (uint64_t)slot * VIRT_VIRTIO_SIZE, t);
        free(t);
        return r;
    }
    return 0;
}
