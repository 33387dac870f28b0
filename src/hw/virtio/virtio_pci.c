#include "hw/virtio/virtio_pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci/pci.h"
#include "hw/pci/pci_host.h"
#include "hw/virt.h"
#include "util/error.h"
#include "util/log.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define BAR_IDX 4
#define BAR_SIZE 0x4000
#define COMMON_OFF 0x0000
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4

enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI = 5 };

typedef struct VirtioPci {
    PciDevice pci;
    VirtioDevice *dev;
    VirtMachine *m;
    uint32_t dfselect, gfselect;
    uint16_t queue_sel;
} VirtioPci;

static void pci_transport_irq(VirtioDevice *d, bool level)
{
    VirtioPci *t = d->transport_opaque;
    pci_set_irq(&t->pci, level && d->isr);
}

static const VirtioTransport pci_transport = { pci_transport_irq };

static VirtQueue *cur_queue(VirtioPci *t)
{
    return t->queue_sel < t->dev->nqueues ? &t->dev->vq[t->queue_sel] : NULL;
}

/* Common configuration structure (4.1.4.3), any access size the driver uses. */
static uint64_t common_read(VirtioPci *t, uint64_t off, unsigned size)
{
    VirtioDevice *d = t->dev;
    VirtQueue *q = cur_queue(t);
    uint64_t v = 0;
    switch (off) {
    case 0x00: v = t->dfselect; break;
    case 0x04: v = t->dfselect < 2 ? (uint32_t)(d->host_features >> (32 * t->dfselect)) : 0; break;
    case 0x08: v = t->gfselect; break;
    case 0x0c: v = t->gfselect < 2 ? (uint32_t)(d->guest_features >> (32 * t->gfselect)) : 0; break;
    case 0x10: v = 0xffff; break;                   /* msix_config: no vector */
    case 0x12: v = (uint16_t)d->nqueues; break;
    case 0x14: v = d->status; break;
    case 0x15: v = (uint8_t)d->config_generation; break;
    case 0x16: v = t->queue_sel; break;
    case 0x18: v = q ? q->size : 0; break;
    case 0x1a: v = 0xffff; break;                   /* queue_msix_vector */
    case 0x1c: v = q ? q->ready : 0; break;
    case 0x1e: v = q ? t->queue_sel : 0; break;     /* queue_notify_off */
    case 0x20: v = q ? q->desc_addr : 0; break;
    case 0x24: v = q ? q->desc_addr >> 32 : 0; break;
    case 0x28: v = q ? q->avail_addr : 0; break;
    case 0x2c: v = q ? q->avail_addr >> 32 : 0; break;
    case 0x30: v = q ? q->used_addr : 0; break;
    case 0x34: v = q ? q->used_addr >> 32 : 0; break;
    default: break;
    }
    return size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

static void set_part(uint64_t *reg, uint64_t off_in_field, unsigned size, uint64_t val)
{
    if (size == 8) {
        *reg = val;
        return;
    }
    uint64_t mask = ((1ULL << (8 * size)) - 1) << (8 * off_in_field);
    *reg = (*reg & ~mask) | ((val << (8 * off_in_field)) & mask);
}

static void common_write(VirtioPci *t, uint64_t off, unsigned size, uint64_t val)
{
    VirtioDevice *d = t->dev;
    VirtQueue *q = cur_queue(t);
    switch (off) {
    case 0x00: t->dfselect = (uint32_t)val; break;
    case 0x08: t->gfselect = (uint32_t)val; break;
    case 0x0c:
        if (t->gfselect < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
            set_part(&d->guest_features, 4 * t->gfselect, 4, (uint32_t)val);
        break;
    case 0x14: {
        uint8_t s = (uint8_t)val;
        if ((s & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK) &&
            !virtio_features_ok(d))
            s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        virtio_set_status(d, s);
        if (s == 0)
            t->queue_sel = 0, t->dfselect = t->gfselect = 0;
        break;
    }
    case 0x16: t->queue_sel = (uint16_t)val; break;
    case 0x18:
        if (q && !q->ready)
            q->size = (uint16_t)(val <= q->max_size ? val : 0);
        break;
    case 0x1c:
        if (q && (val & 1) && !q->ready) {
            if (vq_validate(q, d->bus) < 0)
                virtio_mark_broken(d, err_msg());
            else
                q->ready = true;
        }
        break;
    case 0x20: case 0x24:
        if (q && !q->ready)
            set_part(&q->desc_addr, (off - 0x20) / 4 * 4, size == 8 ? 8 : 4, val);
        break;
    case 0x28: case 0x2c:
        if (q && !q->ready)
            set_part(&q->avail_addr, (off - 0x28) / 4 * 4, size == 8 ? 8 : 4, val);
        break;
    case 0x30: case 0x34:
        if (q && !q->ready)
            set_part(&q->used_addr, (off - 0x30) / 4 * 4, size == 8 ? 8 : 4, val);
        break;
    default:
        break;
    }
}

static int bar_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    VirtioPci *t = opaque;
    VirtioDevice *d = t->dev;
    *val = 0;
    if (off < ISR_OFF) {
        *val = common_read(t, off, size);
    } else if (off < DEVICE_OFF) {
        if (off == ISR_OFF) {
            /* Reading the ISR acknowledges it and drops the line. */
            *val = d->isr;
            d->isr = 0;
            pci_set_irq(&t->pci, false);
        }
    } else if (off < NOTIFY_OFF) {
        uint64_t c = off - DEVICE_OFF;
        if (c + size <= d->config_len)
            memcpy(val, d->config + c, size);
    }
    return 0;
}

static int bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    VirtioPci *t = opaque;
    VirtioDevice *d = t->dev;
    if (off < ISR_OFF) {
        common_write(t, off, size, val);
    } else if (off >= DEVICE_OFF && off < NOTIFY_OFF) {
        virtio_config_write(d, off - DEVICE_OFF, size, val);
    } else if (off >= NOTIFY_OFF) {
        uint64_t q = (off - NOTIFY_OFF) / NOTIFY_MULT;
        if (q < (uint64_t)d->nqueues && d->vq[q].ready && !d->broken &&
            (d->status & VIRTIO_STATUS_DRIVER_OK) && d->ops->queue_notify)
            d->ops->queue_notify(d, (int)q);
    }
    return 0;
}

static const MmioOps virtio_bar_ops = { bar_read, bar_write };

static void add_cap(PciDevice *p, uint8_t type, uint32_t offset, uint32_t length, bool notify)
{
    int c = pci_add_capability(p, PCI_CAP_ID_VNDR, notify ? 20 : 16);
    if (c < 0)
        return;
    p->config[c + 2] = notify ? 20 : 16;
    p->config[c + 3] = type;
    p->config[c + 4] = BAR_IDX;
    pci_set_long(p->config + c + 8, offset);
    pci_set_long(p->config + c + 12, length);
    if (notify)
        pci_set_long(p->config + c + 16, NOTIFY_MULT);
}

static void virtio_pci_reset(PciDevice *p)
{
    VirtioPci *t = p->opaque;
    virtio_reset(t->dev);
    t->queue_sel = 0;
    t->dfselect = t->gfselect = 0;
}

static const PciDeviceOps virtio_pci_ops = { .reset = virtio_pci_reset };

static void virtio_pci_cleanup(VirtMachine *m, void *opaque)
{
    VirtioPci *t = opaque;
    pci_bus_detach(&t->pci);
    free(t);
}

int virtio_pci_attach(VirtMachine *m, VirtioDevice *d, const KvList *opts, uint32_t class_code)
{
    PciBus *bus;
    uint8_t devfn;
    int r = pci_host_place(m, opts, &bus, &devfn);
    if (r < 0)
        return r;
    VirtioPci *t = calloc(1, sizeof(*t));
    if (!t)
        return err_set(ENOMEM, "out of memory");
    t->dev = d;
    t->m = m;
    PciDevice *p = &t->pci;
    pci_device_init(p, d->id, VIRTIO_PCI_VENDOR, (uint16_t)(0x1040 + d->ops->device_id), 1,
                    class_code, VIRTIO_PCI_VENDOR, (uint16_t)d->ops->device_id);
    p->ops = &virtio_pci_ops;
    p->opaque = t;
    pci_set_intx_pin(p, 1);
    pci_register_bar(p, BAR_IDX, BAR_SIZE, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, &virtio_bar_ops, t);
    add_cap(p, CAP_COMMON, COMMON_OFF, 0x38, false);
    add_cap(p, CAP_ISR, ISR_OFF, 1, false);
    add_cap(p, CAP_DEVICE, DEVICE_OFF, d->config_len ? d->config_len : 4, false);
    add_cap(p, CAP_NOTIFY, NOTIFY_OFF, NOTIFY_MULT * (uint32_t)d->nqueues, true);
    d->transport = &pci_transport;
    d->transport_opaque = t;
    if ((r = pci_bus_attach(bus, p, devfn)) < 0) {
        free(t);
        return r;
    }
    if ((r = machine_add_cleanup_hook(m, virtio_pci_cleanup, t)) < 0) {
        pci_bus_detach(p);
        free(t);
        return r;
    }
    return 0;
}
