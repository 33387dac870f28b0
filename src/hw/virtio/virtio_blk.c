/* virtio-blk over the block graph, several requests in flight.
 *
 * Requests are submitted asynchronously from the hart that notified us; the
 * block layer completes them on an I/O thread, which takes the bus io_lock
 * before touching the rings.  A device reset does not wait for in-flight
 * requests (the resetting hart holds the lock their completions need):
 * completions of an older generation are dropped instead of pushed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/node.h"
#include "hw/device.h"
#include "hw/drive.h"
#include "hw/virt.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio_mmio.h"
#include "hw/virtio/virtio_pci.h"
#include "util/error.h"
#include "util/log.h"

#define VIRTIO_ID_BLOCK 2
#define QUEUE_SIZE 256
#define SECTOR 512ULL

enum {
    F_SEG_MAX = 2, F_RO = 5, F_BLK_SIZE = 6, F_FLUSH = 9, F_DISCARD = 13, F_WRITE_ZEROES = 14,
};
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

/* config space offsets (virtio 1.x 5.2.4) */
enum {
    C_CAPACITY = 0, C_SIZE_MAX = 8, C_SEG_MAX = 12, C_BLK_SIZE = 20, C_WRITEBACK = 32,
    C_NUM_QUEUES = 34, C_MAX_DISCARD_SECTORS = 36, C_MAX_DISCARD_SEG = 40,
    C_DISCARD_ALIGN = 44, C_MAX_WZ_SECTORS = 48, C_MAX_WZ_SEG = 52, C_WZ_UNMAP = 56,
    C_LEN = 60,
};

typedef struct VirtioBlk {
    VirtioDevice vdev;
    VirtMachine *m;
    BlockNode *bs;
    BlockChild *root;
    bool read_only;
    uint64_t capacity;          /* bytes */
    char serial[21];
    char id[64];
    char qdev[128];             /* QOM-style path QMP reports as "qdev" */
    unsigned generation;        /* bumped at reset: stale completions are dropped */
    int inflight;
} VirtioBlk;

typedef struct BlkReq {
    VirtioBlk *blk;
    unsigned generation;
    int queue;
    uint32_t type;
    uint64_t sector;
    uint32_t data_len;
    struct iovec data[VQ_MAX_SEGS];
    int ndata;
    VirtQueueElem elem;
} BlkReq;

/* The node our root edge points at now: a filter inserted above the disk
 * (backup job, throttling) moves the edge, and guest I/O must follow it. */
static BlockNode *cur_node(VirtioBlk *b)
{
    return b->root->node;
}

static void complete(BlkReq *r, uint8_t status, uint32_t written)
{
    VirtioBlk *b = r->blk;
    VirtioDevice *d = &b->vdev;
    pthread_mutex_lock(&d->bus->io_lock);
    b->inflight--;
    if (r->generation == b->generation) {
        /* The status byte is the last device-writable byte of the chain. */
        vq_elem_write(&r->elem, r->elem.in_len - 1, &status, 1);
        virtio_push(d, r->queue, &r->elem, written + 1);
        virtio_notify(d, r->queue);
    }
    pthread_mutex_unlock(&d->bus->io_lock);
    free(r);
}

static void aio_done(void *opaque, int ret)
{
    BlkReq *r = opaque;
    if (ret < 0)
        log_guest_error("%s: I/O error at sector %llu: %s", r->blk->id,
                        (unsigned long long)r->sector, strerror(-ret));
    complete(r, ret < 0 ? S_IOERR : S_OK, ret < 0 || r->type != T_IN ? 0 : r->data_len);
}

/* Splits the chain: 16-byte header (readable), data, 1 status byte (writable). */
static int parse(BlkReq *r)
{
    VirtQueueElem *e = &r->elem;
    uint8_t hdr[16];
    if (e->out_len < 16 || e->in_len < 1)
        return -EINVAL;
    vq_elem_read(e, 0, hdr, 16);
    memcpy(&r->type, hdr, 4);
    memcpy(&r->sector, hdr + 8, 8);
    /* Data: readable bytes after the header, or writable bytes before status. */
    struct iovec all[VQ_MAX_SEGS];
    int n;
    uint64_t off, len;
    if (r->type == T_IN || r->type == T_GET_ID) {
        n = (int)e->n_in;
        memcpy(all, e->iov + e->n_out, sizeof(all[0]) * (size_t)n);
        off = 0;
        len = e->in_len - 1;
    } else {
        n = (int)e->n_out;
        memcpy(all, e->iov, sizeof(all[0]) * (size_t)n);
        off = 16;
        len = e->out_len - 16;
    }
    if (len > UINT32_MAX)
        return -EINVAL;
    r->data_len = (uint32_t)len;
    r->ndata = len ? iov_slice(r->data, VQ_MAX_SEGS, all, n, off, len) : 0;
    return r->ndata < 0 ? -EINVAL : 0;
}

static bool range_ok(VirtioBlk *b, uint64_t sector, uint64_t bytes)
{
    return sector <= b->capacity / SECTOR && bytes <= b->capacity - sector * SECTOR;
}

/* Discard / write-zeroes payload: one {sector, num_sectors, flags} segment. */
static int do_range_op(VirtioBlk *b, BlkReq *r)
{
    uint8_t seg[16];
    if (r->data_len != 16)
        return S_UNSUPP;    /* we advertise max_*_seg = 1 */
    iov_to_buf(r->data, r->ndata, 0, seg, 16);
    uint64_t sector;
    uint32_t num, flags;
    memcpy(&sector, seg, 8);
    memcpy(&num, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    if (!range_ok(b, sector, (uint64_t)num * SECTOR) || (r->type == T_DISCARD && flags))
        return S_IOERR;
    int ret = r->type == T_DISCARD
        ? blk_aio_discard(cur_node(b), sector * SECTOR, (uint64_t)num * SECTOR, aio_done, r)
        : blk_aio_write_zeroes(cur_node(b), sector * SECTOR, (uint64_t)num * SECTOR,
                               (flags & 1) ? BLK_ZERO_MAY_UNMAP : 0, aio_done, r);
    return ret < 0 ? S_IOERR : -1;
}

/* Returns a status to complete with now, or -1 when the request was submitted. */
static int submit(VirtioBlk *b, BlkReq *r)
{
    switch (r->type) {
    case T_IN:
    case T_OUT: {
        if (r->data_len % SECTOR || !range_ok(b, r->sector, r->data_len))
            return S_IOERR;
        if (r->type == T_OUT && b->read_only)
            return S_IOERR;
        if (r->data_len == 0)
            return S_OK;
        int ret = r->type == T_IN
            ? blk_aio_preadv(cur_node(b), r->sector * SECTOR, r->data, r->ndata, aio_done, r)
            : blk_aio_pwritev(cur_node(b), r->sector * SECTOR, r->data, r->ndata, aio_done, r);
        return ret < 0 ? S_IOERR : -1;
    }
    case T_FLUSH:
        return blk_aio_flush(cur_node(b), aio_done, r) < 0 ? S_IOERR : -1;
    case T_GET_ID: {
        char id[20] = { 0 };
        memcpy(id, b->serial, strnlen(b->serial, 20));
        iov_from_buf(r->data, r->ndata, 0, id, r->data_len < 20 ? r->data_len : 20);
        return S_OK;
    }
    case T_DISCARD:
    case T_WRITE_ZEROES:
        if (b->read_only)
            return S_IOERR;
        return do_range_op(b, r);
    default:
        return S_UNSUPP;
    }
}

static void blk_notify(VirtioDevice *d, int q)
{
    VirtioBlk *b = (VirtioBlk *)d;
    for (;;) {
        BlkReq *r = malloc(sizeof(*r));
        if (!r) {
            log_msg("%s: out of memory; requests wait", b->id);
            return;
        }
        if (virtio_pop(d, q, &r->elem) != 1) {
            free(r);
            return;
        }
        r->blk = b;
        r->queue = q;
        r->generation = b->generation;
        b->inflight++;
        if (parse(r) < 0) {
            virtio_mark_broken(d, "virtio-blk request without header or status byte");
            b->inflight--;
            free(r);
            return;
        }
        int status = submit(b, r);
        if (status >= 0)
            complete(r, (uint8_t)status,
                     status == S_OK && r->type == T_GET_ID ? (r->data_len < 20 ? r->data_len : 20) : 0);
    }
}

static void blk_reset(VirtioDevice *d)
{
    VirtioBlk *b = (VirtioBlk *)d;
    b->generation++;
}

static const VirtioDeviceOps blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .queue_notify = blk_notify,
    .reset = blk_reset,
};

static void blk_cleanup(VirtMachine *m, void *opaque)
{
    VirtioBlk *b = opaque;
    if (b->root)
        blk_drain(cur_node(b));
    if (b->root)
        blk_root_detach(b->root);
    free(b);
}

static int blk_new(VirtMachine *m, const KvList *opts, VirtioBlk **out)
{
    static const char *const keys[] = { "driver", "id", "bus", "addr", "drive", "serial",
                                        "num-queues", "queue-size", NULL };
    int r = kv_check_keys(opts, keys);
    if (r < 0)
        return r;
    const char *drive = kv_get(opts, "drive");
    if (!drive)
        return err_set(EINVAL, "%s: drive property not set", kv_get(opts, "driver"));
    BlockNode *bs = drive_lookup(drive);
    if (!bs)
        return err_set(ENOENT, "Drive '%s' not found", drive);
    VirtioBlk *b = calloc(1, sizeof(*b));
    if (!b)
        return err_set(ENOMEM, "out of memory");
    const char *id = kv_get(opts, "id");
    snprintf(b->id, sizeof(b->id), "%s", id ? id : drive);
    static int anon;
    if (id)
        snprintf(b->qdev, sizeof(b->qdev), "/machine/peripheral/%s/virtio-backend", id);
    else
        snprintf(b->qdev, sizeof(b->qdev), "/machine/peripheral-anon/device[%d]/virtio-backend",
                 anon++);
    const char *serial = kv_get(opts, "serial");
    if (!serial)
        serial = drive_serial(drive);
    snprintf(b->serial, sizeof(b->serial), "%s", serial ? serial : "");
    b->m = m;
    b->bs = bs;
    b->read_only = bs->read_only;
    unsigned perm = BLK_PERM_CONSISTENT_READ | (b->read_only ? 0 : BLK_PERM_WRITE);
    /* Like QEMU's virtio-blk: we let others read and write alongside (for
     * backup jobs and NBD exports) but not resize under us. */
    r = blk_root_attach(bs, b->qdev, perm,
                        BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED,
                        &b->root);
    if (r < 0) {
        free(b);
        return r;
    }
    int64_t len = blk_getlength(bs);
    if (len < 0) {
        blk_root_detach(b->root);
        free(b);
        return (int)len;
    }
    b->capacity = (uint64_t)len & ~(SECTOR - 1);
    uint64_t features = (1ULL << F_SEG_MAX) | (1ULL << F_BLK_SIZE) | (1ULL << F_FLUSH) |
                        (1ULL << F_DISCARD) | (1ULL << F_WRITE_ZEROES);
    if (b->read_only)
        features |= 1ULL << F_RO;
    VirtioDevice *d = &b->vdev;
    virtio_init(d, &blk_ops, &m->bus, b->id, features, 1, QUEUE_SIZE, C_LEN);
    virtio_config_set64(d, C_CAPACITY, b->capacity / SECTOR);
    virtio_config_set32(d, C_SEG_MAX, QUEUE_SIZE - 2);
    virtio_config_set32(d, C_BLK_SIZE, 512);
    d->config[C_WRITEBACK] = 1;
    virtio_config_set16(d, C_NUM_QUEUES, 1);
    virtio_config_set32(d, C_MAX_DISCARD_SECTORS, 0x3fffff);
    virtio_config_set32(d, C_MAX_DISCARD_SEG, 1);
    virtio_config_set32(d, C_DISCARD_ALIGN, 1);
    virtio_config_set32(d, C_MAX_WZ_SECTORS, 0x3fffff);
    virtio_config_set32(d, C_MAX_WZ_SEG, 1);
    d->config[C_WZ_UNMAP] = 1;
    if ((r = machine_add_cleanup_hook(m, blk_cleanup, b)) < 0) {
        blk_root_detach(b->root);
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

static int blk_pci_create(VirtMachine *m, const KvList *opts)
{
    VirtioBlk *b = NULL;
    int r = blk_new(m, opts, &b);
    return r < 0 ? r : virtio_pci_attach(m, &b->vdev, opts, 0x018000);
}

static int blk_mmio_create(VirtMachine *m, const KvList *opts)
{
    VirtioBlk *b = NULL;
    int r = blk_new(m, opts, &b);
    return r < 0 ? r : virtio_mmio_attach(m, &b->vdev);
}

static const DeviceType virtio_blk_pci = {
    "virtio-blk-pci", "virtio block device on PCI (drive=NODE[,serial=][,addr=])", blk_pci_create,
};
static const DeviceType virtio_blk_device = {
    "virtio-blk-device", "virtio block device on a virtio-mmio slot (drive=NODE)", blk_mmio_create,
};
DEVICE_TYPE_REGISTER(virtio_blk_pci)
DEVICE_TYPE_REGISTER(virtio_blk_device)
