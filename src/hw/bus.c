#include "hw/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/error.h"

int bus_init(Bus *b, uint64_t ram_base, uint64_t ram_size)
{
    memset(b, 0, sizeof(*b));
    /* mmap keeps untouched guest RAM unallocated on the host. */
    void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return err_set_errno(errno, "cannot allocate %llu MiB of guest RAM",
                             (unsigned long long)(ram_size >> 20));
    b->ram = p;
    b->ram_base = ram_base;
    b->ram_size = ram_size;
    /* Recursive: a block request may complete synchronously inside the MMIO
     * callback that submitted it, and its completion takes the lock too. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&b->io_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return 0;
}

void bus_destroy(Bus *b)
{
    if (b->ram)
        munmap(b->ram, b->ram_size);
    b->ram = NULL;
    pthread_mutex_destroy(&b->io_lock);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int bus_add_mmio(Bus *b, uint64_t base, uint64_t size, const MmioOps *ops,
                 void *opaque, const char *name)
{
    if (size == 0 || base + size < base)
        return err_set(EINVAL, "MMIO region %s has a bad range", name);
    if (overlaps(base, size, b->ram_base, b->ram_size))
        return err_set(EEXIST, "MMIO region %s overlaps RAM", name);
    for (int i = 0; i < b->nregions; i++)
        if (overlaps(base, size, b->regions[i].base, b->regions[i].size))
            return err_set(EEXIST, "MMIO region %s overlaps %s", name, b->regions[i].name);
    if (b->nregions == BUS_MAX_REGIONS)
        return err_set(ENOSPC, "too many MMIO regions (adding %s)", name);
    b->regions[b->nregions++] = (MmioRegion){ base, size, ops, opaque, name };
    return 0;
}

void bus_del_mmio(Bus *b, uint64_t base, void *opaque)
{
    for (int i = 0; i < b->nregions; i++) {
        if (b->regions[i].base == base && b->regions[i].opaque == opaque) {
            memmove(&b->regions[i], &b->regions[i + 1],
                    (size_t)(b->nregions - i - 1) * sizeof(b->regions[0]));
            b->nregions--;
            return;
        }
    }
}

MmioRegion *bus_find_mmio(Bus *b, uint64_t pa)
{
    for (int i = 0; i < b->nregions; i++)
        if (pa - b->regions[i].base < b->regions[i].size)
            return &b->regions[i];
    return NULL;
}

int bus_read(Bus *b, uint64_t pa, unsigned size, uint64_t *val)
{
    uint8_t *p = bus_ram_ptr(b, pa, size);
    if (p) {
        uint64_t v = 0;
        memcpy(&v, p, size);    /* little-endian host assumed (x86-64, arm64) */
        *val = v;
        return 0;
    }
    pthread_mutex_lock(&b->io_lock);
    MmioRegion *r = bus_find_mmio(b, pa);
    int ret = -EFAULT;
    if (r && pa - r->base + size <= r->size && r->ops->read)
        ret = r->ops->read(r->opaque, pa - r->base, size, val);
    pthread_mutex_unlock(&b->io_lock);
    return ret;
}

int bus_write(Bus *b, uint64_t pa, unsigned size, uint64_t val)
{
    uint8_t *p = bus_ram_ptr(b, pa, size);
    if (p) {
        memcpy(p, &val, size);
        return 0;
    }
    pthread_mutex_lock(&b->io_lock);
    MmioRegion *r = bus_find_mmio(b, pa);
    int ret = -EFAULT;
    if (r && pa - r->base + size <= r->size && r->ops->write)
        ret = r->ops->write(r->opaque, pa - r->base, size, val);
    pthread_mutex_unlock(&b->io_lock);
    return ret;
}

int bus_copy_to(Bus *b, uint64_t pa, const void *src, uint64_t len)
{
    uint8_t *p = bus_ram_ptr(b, pa, len);
    if (!p)
        return err_set(EFAULT, "guest range 0x%llx+0x%llx is not RAM",
                       (unsigned long long)pa, (unsigned long long)len);
    memcpy(p, src, len);
    return 0;
}

int bus_copy_from(Bus *b, uint64_t pa, void *dst, uint64_t len)
{
    uint8_t *p = bus_ram_ptr(b, pa, len);
    if (!p)
        return err_set(EFAULT, "guest range 0x%llx+0x%llx is not RAM",
                       (unsigned long long)pa, (unsigned long long)len);
    memcpy(dst, p, len);
    return 0;
}
