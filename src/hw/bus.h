/* The physical address space: one RAM block plus MMIO regions.
 *
 * Harts run on their own threads.  RAM is plain shared memory (atomics for
 * LR/SC and AMOs are done on the host pointer); MMIO callbacks run under the
 * bus's io_lock, so device models need no locking of their own unless they also
 * run work on other threads (block I/O completion, monitor).
 */
#ifndef QUAIL_HW_BUS_H
#define QUAIL_HW_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_REGIONS 64

typedef struct MmioOps {
    /* off is relative to the region base; size is 1, 2, 4 or 8.  Return 0, or a
     * negative errno to make the access fault (the hart takes an access fault). */
    int (*read)(void *opaque, uint64_t off, unsigned size, uint64_t *val);
    int (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
} MmioOps;

typedef struct MmioRegion {
    uint64_t base, size;
    const MmioOps *ops;
    void *opaque;
    const char *name;
} MmioRegion;

typedef struct Bus {
    uint8_t *ram;
    uint64_t ram_base, ram_size;
    MmioRegion regions[BUS_MAX_REGIONS];
    int nregions;
    pthread_mutex_t io_lock;
} Bus;

int bus_init(Bus *b, uint64_t ram_base, uint64_t ram_size);
void bus_destroy(Bus *b);

/* Fails with -EEXIST if the range overlaps RAM or another region. */
int bus_add_mmio(Bus *b, uint64_t base, uint64_t size, const MmioOps *ops,
                 void *opaque, const char *name);
/* Removes the region registered with this opaque at base (hot-unplug, BAR moves). */
void bus_del_mmio(Bus *b, uint64_t base, void *opaque);

/* Host pointer to [pa, pa+len) if that range lies wholly in RAM, else NULL.
 * This is the only way device models reach guest memory (DMA): the bounds check
 * is here so a guest-supplied address can never point outside RAM. */
static inline uint8_t *bus_ram_ptr(Bus *b, uint64_t pa, uint64_t len)
{
    uint64_t off = pa - b->ram_base;
    if (pa < b->ram_base || off > b->ram_size || len > b->ram_size - off)
        return NULL;
    return b->ram + off;
}

/* Region containing pa, or NULL.  Not for RAM. */
MmioRegion *bus_find_mmio(Bus *b, uint64_t pa);

/* Any access: RAM or MMIO (MMIO under io_lock).  -EFAULT if nothing is mapped. */
int bus_read(Bus *b, uint64_t pa, unsigned size, uint64_t *val);
int bus_write(Bus *b, uint64_t pa, unsigned size, uint64_t val);

/* Bulk copies for loaders and DMA; -EFAULT unless the range is wholly RAM. */
int bus_copy_to(Bus *b, uint64_t pa, const void *src, uint64_t len);
int bus_copy_from(Bus *b, uint64_t pa, void *dst, uint64_t len);

#endif
