#include "hw/virtio/virtqueue.h"

#include <errno.h>
#include <string.h>

#include "util/error.h"

/* Ring layouts (virtio 1.x split ring), little-endian. */
typedef struct __attribute__((packed)) VringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VringDesc;

#define AVAIL_RING(n) (4 + 2 * (uint64_t)(n))
#define USED_RING(n) (4 + 8 * (uint64_t)(n))

void vq_reset(VirtQueue *vq)
{
    uint16_t max = vq->max_size;
    memset(vq, 0, sizeof(*vq));
    vq->max_size = max;
    vq->size = max;
}

int vq_validate(const VirtQueue *vq, Bus *bus)
{
    uint16_t n = vq->size;
    if (n == 0 || n > vq->max_size || (n & (n - 1)))
        return err_set(EINVAL, "queue size %u is not a power of two <= %u", n, vq->max_size);
    if (!bus_ram_ptr(bus, vq->desc_addr, 16ULL * n) ||
        !bus_ram_ptr(bus, vq->avail_addr, AVAIL_RING(n) + 2) ||
        !bus_ram_ptr(bus, vq->used_addr, USED_RING(n) + 2))
        return err_set(EINVAL, "virtqueue rings are not in guest RAM");
    if ((vq->desc_addr & 15) || (vq->avail_addr & 1) || (vq->used_addr & 3))
        return err_set(EINVAL, "virtqueue rings are misaligned");
    return 0;
}

static uint16_t load16_acquire(uint8_t *p)
{
    return __atomic_load_n((uint16_t *)p, __ATOMIC_ACQUIRE);
}

static int add_seg(VirtQueueElem *e, Bus *bus, uint64_t addr, uint32_t len, bool writable)
{
    if (e->n_out + e->n_in >= VQ_MAX_SEGS)
        return err_set(EINVAL, "descriptor chain longer than %d", VQ_MAX_SEGS);
    if (!writable && e->n_in)
        return err_set(EINVAL, "device-readable descriptor after a writable one");
    uint8_t *p = bus_ram_ptr(bus, addr, len);
    if (!p)
        return err_set(EINVAL, "descriptor buffer 0x%llx+%u is not in guest RAM",
                       (unsigned long long)addr, len);
    e->iov[e->n_out + e->n_in] = (struct iovec){ p, len };
    if (writable) {
        e->n_in++;
        e->in_len += len;
    } else {
        e->n_out++;
        e->out_len += len;
    }
    return 0;
}

/* Walks one table (the ring's or an indirect one) starting at index i. */
static int walk(VirtQueue *vq, Bus *bus, const VringDesc *table, uint32_t table_len,
                uint16_t i, bool in_indirect, VirtQueueElem *e)
{
    /* A chain can visit each descriptor at most once; more means a loop. */
    for (uint32_t visited = 0;; visited++) {
        if (visited >= table_len)
            return err_set(EINVAL, "descriptor chain loops");
        if (i >= table_len)
            return err_set(EINVAL, "descriptor index %u out of range %u", i, table_len);
        VringDesc d;
        memcpy(&d, &table[i], sizeof(d));
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (in_indirect)
                return err_set(EINVAL, "indirect descriptor inside an indirect table");
            if (!vq->indirect)
                return err_set(EINVAL, "indirect descriptor without the feature");
            if (d.flags & VRING_DESC_F_NEXT)
                return err_set(EINVAL, "indirect descriptor with NEXT set");
            if (d.len == 0 || d.len % sizeof(VringDesc) || d.len / sizeof(VringDesc) > VQ_MAX_SEGS)
                return err_set(EINVAL, "indirect table of %u bytes", d.len);
            const VringDesc *ind = (const VringDesc *)bus_ram_ptr(bus, d.addr, d.len);
            if (!ind)
                return err_set(EINVAL, "indirect table not in guest RAM");
            int r = walk(vq, bus, ind, d.len / sizeof(VringDesc), 0, true, e);
            if (r < 0)
                return r;
        } else {
            int r = add_seg(e, bus, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
            if (r < 0)
                return r;
        }
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        i = d.next;
    }
}

int vq_pop(VirtQueue *vq, Bus *bus, VirtQueueElem *e)
{
    if (!vq->ready)
        return 0;
    uint16_t n = vq->size;
    uint8_t *avail = bus_ram_ptr(bus, vq->avail_addr, AVAIL_RING(n) + 2);
    uint8_t *desc = bus_ram_ptr(bus, vq->desc_addr, 16ULL * n);
    if (!avail || !desc)
        return err_set(EINVAL, "virtqueue rings are not in guest RAM");
    uint16_t avail_idx = load16_acquire(avail + 2);
    if (avail_idx == vq->last_avail_idx)
        return 0;
    if ((uint16_t)(avail_idx - vq->last_avail_idx) > n)
        return err_set(EINVAL, "avail index moved by %u in a queue of %u",
                       (uint16_t)(avail_idx - vq->last_avail_idx), n);
    /* A driver that reposts descriptors still in flight could have us
     * hold unbounded requests (and host memory). */
    if (vq->inuse >= n)
        return err_set(EINVAL, "more than %u requests in flight on a queue of %u", n, n);
    uint16_t head;
    memcpy(&head, avail + 4 + 2 * (vq->last_avail_idx % n), 2);
    e->head = head;
    e->n_out = e->n_in = 0;
    e->out_len = e->in_len = 0;
    int r = walk(vq, bus, (const VringDesc *)desc, n, head, false, e);
    if (r < 0)
        return r;
    vq->last_avail_idx++;
    vq->inuse++;
    if (vq->event_idx) {
        /* avail_event: tell the driver which index should kick us next. */
        uint8_t *used = bus_ram_ptr(bus, vq->used_addr, USED_RING(n) + 2);
        if (used)
            __atomic_store_n((uint16_t *)(used + USED_RING(n)), vq->last_avail_idx,
                             __ATOMIC_RELEASE);
    }
    return 1;
}

int vq_push(VirtQueue *vq, Bus *bus, uint16_t head, uint32_t written)
{
    uint16_t n = vq->size;
    /* virtio-mmio lets a driver disable a queue and change its size with
     * requests in flight; their completions have nowhere valid to go. */
    if (!vq->ready || n == 0)
        return err_set(EINVAL, "completion for a disabled queue");
    uint8_t *used = bus_ram_ptr(bus, vq->used_addr, USED_RING(n) + 2);
    if (!used)
        return err_set(EINVAL, "used ring not in guest RAM");
    uint8_t *slot = used + 4 + 8 * (vq->used_idx % n);
    uint32_t id = head;
    memcpy(slot, &id, 4);
    memcpy(slot + 4, &written, 4);
    vq->used_idx++;
    if (vq->inuse)
        vq->inuse--;
    /* The element must be visible before the index that publishes it. */
    __atomic_store_n((uint16_t *)(used + 2), vq->used_idx, __ATOMIC_RELEASE);
    return 0;
}

bool vq_should_notify(VirtQueue *vq, Bus *bus)
{
    uint16_t n = vq->size;
    uint8_t *avail = bus_ram_ptr(bus, vq->avail_addr, AVAIL_RING(n) + 2);
    if (!avail)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx) {
        uint16_t flags;
        memcpy(&flags, avail, 2);
        return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    uint16_t used_event;
    memcpy(&used_event, avail + AVAIL_RING(n), 2);
    uint16_t old = vq->signalled_used, new = vq->used_idx;
    bool valid = vq->signalled_used_valid;
    vq->signalled_used = new;
    vq->signalled_used_valid = true;
    /* vring_need_event() from the spec, section 2.7.10. */
    return !valid || (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
}

size_t vq_elem_read(const VirtQueueElem *e, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < e->n_out && done < len; i++) {
        size_t l = e->iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t c = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)buf + done, (uint8_t *)e->iov[i].iov_base + off, c);
        done += c;
        off = 0;
    }
    return done;
}

size_t vq_elem_write(const VirtQueueElem *e, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = e->n_out; i < e->n_out + e->n_in && done < len; i++) {
        size_t l = e->iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t c = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)e->iov[i].iov_base + off, (const uint8_t *)buf + done, c);
        done += c;
        off = 0;
    }
    return done;
}
