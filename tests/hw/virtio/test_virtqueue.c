/* Descriptor walking against well-formed and hostile rings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "hw/virtio/virtqueue.h"

#define RAM 0x80000000ULL
#define DESC (RAM + 0x1000)
#define AVAIL (RAM + 0x2000)
#define USED (RAM + 0x3000)
#define BUFS (RAM + 0x10000)
#define QSZ 8

typedef struct T { Bus bus; VirtQueue vq; VirtQueueElem e; } T;

static int setup(void **state)
{
    static T t;
    if (t.bus.ram)
        bus_destroy(&t.bus);    /* tests that rebuild the queue mid-way */
    memset(&t, 0, sizeof(t));
    if (bus_init(&t.bus, RAM, 1 << 20))
        return -1;
    t.vq.max_size = QSZ;
    vq_reset(&t.vq);
    t.vq.desc_addr = DESC;
    t.vq.avail_addr = AVAIL;
    t.vq.used_addr = USED;
    t.vq.ready = true;
    t.vq.indirect = true;
    *state = &t;
    return 0;
}

static int teardown(void **state)
{
    T *t = *state;
    bus_destroy(&t->bus);
    return 0;
}

static void put_desc(T *t, uint64_t table, int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = bus_ram_ptr(&t->bus, table + 16 * (uint64_t)i, 16);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

static void make_avail(T *t, uint16_t head)
{
    uint8_t *a = bus_ram_ptr(&t->bus, AVAIL, 4 + 2 * QSZ + 2);
    uint16_t idx;
    memcpy(&idx, a + 2, 2);
    memcpy(a + 4 + 2 * (idx % QSZ), &head, 2);
    idx++;
    memcpy(a + 2, &idx, 2);
}

static void chain_and_push(void **state)
{
    T *t = *state;
    assert_int_equal(vq_validate(&t->vq, &t->bus), 0);
    assert_int_equal(vq_pop(&t->vq, &t->bus, &t->e), 0);
    put_desc(t, DESC, 0, BUFS, 16, VRING_DESC_F_NEXT, 3);
    put_desc(t, DESC, 3, BUFS + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
    put_desc(t, DESC, 5, BUFS + 0x400, 1, VRING_DESC_F_WRITE, 0);
    make_avail(t, 0);
    assert_int_equal(vq_pop(&t->vq, &t->bus, &t->e), 1);
    assert_int_equal(t->e.head, 0);
    assert_int_equal(t->e.n_out, 1);
    assert_int_equal(t->e.n_in, 2);
    assert_int_equal(t->e.out_len, 16);
    assert_int_equal(t->e.in_len, 513);
    uint8_t status = 0x5a;
    assert_int_equal(vq_elem_write(&t->e, 512, &status, 1), 1);
    assert_int_equal(*bus_ram_ptr(&t->bus, BUFS + 0x400, 1), 0x5a);
    assert_int_equal(vq_push(&t->vq, &t->bus, t->e.head, 513), 0);
    uint16_t used_idx;
    memcpy(&used_idx, bus_ram_ptr(&t->bus, USED + 2, 2), 2);
    assert_int_equal(used_idx, 1);
    assert_true(vq_should_notify(&t->vq, &t->bus));
    assert_int_equal(vq_pop(&t->vq, &t->bus, &t->e), 0);
}

static void indirect_table(void **state)
{
    T *t = *state;
    uint64_t ind = RAM + 0x5000;
    put_desc(t, ind, 0, BUFS, 16, VRING_DESC_F_NEXT, 1);
    put_desc(t, ind, 1, BUFS + 0x100, 64, VRING_DESC_F_WRITE, 0);
    put_desc(t, DESC, 2, ind, 32, VRING_DESC_F_INDIRECT, 0);
    make_avail(t, 2);
    assert_int_equal(vq_pop(&t->vq, &t->bus, &t->e), 1);
    assert_int_equal(t->e.n_out + t->e.n_in, 2);
}

static void rejects(T *t, const char *what)
{
    int r = vq_pop(&t->vq, &t->bus, &t->e);
    if (r != -EINVAL)
        fail_msg("%s: vq_pop returned %d", what, r);
}

static void loop_rejected(void **state)
{
    T *t = *state;
    put_desc(t, DESC, 0, BUFS, 16, VRING_DESC_F_NEXT, 1);
    put_desc(t, DESC, 1, BUFS, 16, VRING_DESC_F_NEXT, 0);
    make_avail(t, 0);
    rejects(t, "loop");
}

static void index_out_of_range(void **state)
{
    T *t = *state;
    put_desc(t, DESC, 0, BUFS, 16, VRING_DESC_F_NEXT, 200);
    make_avail(t, 0);
    rejects(t, "next out of range");
    setup(state);
    T *u = *state;
    make_avail(u, 9);
    rejects(u, "head out of range");
}

static void buffer_outside_ram(void **state)
{
    T *t = *state;
    put_desc(t, DESC, 0, 0x1000, 16, 0, 0);
    make_avail(t, 0);
    rejects(t, "address below RAM");
    setup(state);
    t = *state;
    put_desc(t, DESC, 0, RAM + (1 << 20) - 8, 16, 0, 0);
    make_avail(t, 0);
    rejects(t, "buffer straddles end of RAM");
    setup(state);
    t = *state;
    put_desc(t, DESC, 0, UINT64_MAX - 4, 16, 0, 0);
    make_avail(t, 0);
    rejects(t, "wrapping address");
}

static void nested_indirect_rejected(void **state)
{
    T *t = *state;
    uint64_t ind = RAM + 0x5000, ind2 = RAM + 0x6000;
    put_desc(t, ind2, 0, BUFS, 16, 0, 0);
    put_desc(t, ind, 0, ind2, 16, VRING_DESC_F_INDIRECT, 0);
    put_desc(t, DESC, 0, ind, 16, VRING_DESC_F_INDIRECT, 0);
    make_avail(t, 0);
    rejects(t, "indirect in indirect");
}

static void indirect_loop_and_size(void **state)
{
    T *t = *state;
    uint64_t ind = RAM + 0x5000;
    put_desc(t, ind, 0, BUFS, 16, VRING_DESC_F_NEXT, 1);
    put_desc(t, ind, 1, BUFS, 16, VRING_DESC_F_NEXT, 0);
    put_desc(t, DESC, 0, ind, 32, VRING_DESC_F_INDIRECT, 0);
    make_avail(t, 0);
    rejects(t, "loop inside indirect");
    setup(state);
    t = *state;
    put_desc(t, DESC, 0, ind, 17, VRING_DESC_F_INDIRECT, 0);
    make_avail(t, 0);
    rejects(t, "indirect length not a multiple of 16");
    setup(state);
    t = *state;
    t->vq.indirect = false;
    put_desc(t, DESC, 0, ind, 16, VRING_DESC_F_INDIRECT, 0);
    make_avail(t, 0);
    rejects(t, "indirect without the feature");
}

static void avail_jump_rejected(void **state)
{
    T *t = *state;
    uint16_t idx = 100;
    memcpy(bus_ram_ptr(&t->bus, AVAIL + 2, 2), &idx, 2);
    rejects(t, "avail idx jumped past the queue size");
}

static void event_idx_notifications(void **state)
{
    T *t = *state;
    t->vq.event_idx = true;
    for (int i = 0; i < 3; i++) {
        put_desc(t, DESC, i, BUFS, 16, 0, 0);
        make_avail(t, (uint16_t)i);
    }
    /* Driver asks to be interrupted only once used idx passes 2. */
    uint16_t used_event = 2;
    memcpy(bus_ram_ptr(&t->bus, AVAIL + 4 + 2 * QSZ, 2), &used_event, 2);
    /* Nothing signalled yet: the first check always notifies, and primes. */
    assert_true(vq_should_notify(&t->vq, &t->bus));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vq_pop(&t->vq, &t->bus, &t->e), 1);
        vq_push(&t->vq, &t->bus, t->e.head, 0);
    }
    assert_false(vq_should_notify(&t->vq, &t->bus));   /* used idx 2: not past 2 yet */
    assert_int_equal(vq_pop(&t->vq, &t->bus, &t->e), 1);
    vq_push(&t->vq, &t->bus, t->e.head, 0);
    assert_true(vq_should_notify(&t->vq, &t->bus));    /* used idx 3 passes used_event 2 */
    uint16_t avail_event;
    memcpy(&avail_event, bus_ram_ptr(&t->bus, USED + 4 + 8 * QSZ, 2), 2);
    assert_int_equal(avail_event, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(chain_and_push, setup, teardown),
        cmocka_unit_test_setup_teardown(indirect_table, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(index_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(buffer_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_indirect_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(indirect_loop_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(avail_jump_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(event_idx_notifications, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
