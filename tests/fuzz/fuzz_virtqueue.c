/* libFuzzer target: a hostile guest's virtqueue.  The input is a small guest
 * RAM image holding the descriptor table, avail ring and buffers; vq_pop must
 * reject or accept it without touching memory outside RAM. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hw/virtio/virtqueue.h"

/* RAM at 0 so that small fuzzer-made addresses land in it. */
#define RAM_BASE 0x0ULL
#define RAM_SIZE 0x10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Bus bus;
    static bool init;
    static VirtQueueElem elem;
    if (!init) {
        if (bus_init(&bus, RAM_BASE, RAM_SIZE) < 0)
            return 0;
        init = true;
    }
    if (size < 4)
        return 0;
    memset(bus.ram, 0, RAM_SIZE);
    memcpy(bus.ram, data + 4, size - 4 < RAM_SIZE ? size - 4 : RAM_SIZE);
    VirtQueue vq = { .max_size = 256 };
    vq_reset(&vq);
    /* Compact layout so short inputs reach every ring: up to 32 entries. */
    vq.size = (uint16_t)(1u << (data[0] % 6));
    vq.desc_addr = RAM_BASE;
    vq.avail_addr = RAM_BASE + 0x200 + (data[1] & 0x0e);
    vq.used_addr = RAM_BASE + 0x400;
    vq.indirect = data[2] & 1;
    vq.event_idx = data[2] & 2;
    vq.ready = true;
    if (vq_validate(&vq, &bus) < 0)
        return 0;
    /* At most as many pops as the queue can hold. */
    for (int i = 0; i < vq.size; i++) {
        int r = vq_pop(&vq, &bus, &elem);
        if (r <= 0)
            break;
        for (unsigned s = 0; s < elem.n_out + elem.n_in; s++) {
            uint8_t *p = elem.iov[s].iov_base;
            /* Every segment must lie inside guest RAM. */
            if (p < bus.ram || p + elem.iov[s].iov_len > bus.ram + RAM_SIZE)
                __builtin_trap();
        }
        vq_push(&vq, &bus, elem.head, (uint32_t)elem.in_len);
        vq_should_notify(&vq, &bus);
    }
    return 0;
}
