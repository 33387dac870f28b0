/* Dirty bitmaps and their qcow2 persistence, in-process: marking by the
 * core after writes/zeroes/discards, ranges and extents, merges across
 * granularities, and a store/load round trip through the bitmaps extension
 * (checked with qemu-img too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/dirty_bitmap.h"
#include "block/node.h"
#include "block/qcow2_bitmap.h"
#include "util/error.h"

#define SIZE (16u << 20)

static char tmpdir[64];

static BlockNode *open_img(const char *name, const char *fmt, bool create)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    if (create) {
        BlockCreateOpts o = { .size = SIZE };
        assert_int_equal(blk_create(fmt, p, &o), 0);
    }
    BlockNode *bs;
    assert_int_equal(blk_open_image(p, fmt, BLK_O_RDWR, &bs), 0);
    return bs;
}

static void marking_and_ranges(void **state)
{
    (void)state;
    BlockNode *bs = open_img("m.qcow2", "qcow2", true);
    DirtyBitmap *a, *b, *off;
    assert_int_equal(dbm_create(bs, "a", 65536, &a), 0);
    assert_int_equal(dbm_create(bs, "b", 4096, &b), 0);
    assert_int_equal(dbm_create(bs, "off", 65536, &off), 0);
    off->enabled = false;
    assert_int_equal(dbm_create(bs, "a", 65536, &a), -EEXIST);
    assert_int_equal(dbm_create(bs, "", 65536, &a), -EINVAL);
    assert_int_equal(dbm_create(bs, "g", 1000, &a), -EINVAL);
    a = dbm_find(bs, "a");

    char buf[8192];
    memset(buf, 7, sizeof(buf));
    assert_int_equal(blk_pwrite(bs, 65536 - 512, buf, 1024), 0);      /* straddles */
    assert_int_equal(blk_write_zeroes(bs, 1 << 20, 4096, 0), 0);
    assert_int_equal(blk_discard(bs, 8 << 20, 65536), 0);
    assert_int_equal(dbm_count(a), 4 * 65536ull);
    assert_int_equal(dbm_count(b), (2 + 1 + 16) * 4096ull);
    assert_int_equal(dbm_count(off), 0);
    /* Reads never mark. */
    assert_int_equal(blk_pread(bs, 4 << 20, buf, sizeof(buf)), 0);
    assert_int_equal(dbm_count(a), 4 * 65536ull);

    uint64_t len;
    assert_true(dbm_extent(a, 0, SIZE, &len));
    assert_int_equal(len, 2 * 65536);
    assert_false(dbm_extent(a, 2 * 65536, SIZE, &len));
    assert_int_equal(len, (1 << 20) - 2 * 65536);

    /* Reset clears only chunks wholly inside the range. */
    dbm_reset_range(a, 1000, 65536);
    assert_true(dbm_get(a, 0) && dbm_get(a, 65536));
    dbm_reset_range(a, 0, 65536 + 100);
    assert_false(dbm_get(a, 0));
    assert_true(dbm_get(a, 65536));

    /* Merge across granularities: the coarse target covers each fine bit. */
    assert_int_equal(dbm_merge(off, b), 0);
    assert_int_equal(dbm_count(off), 4 * 65536ull);
    DirtyBitmap *copy;
    assert_int_equal(dbm_clone(off, &copy), 0);
    dbm_clear(off);
    assert_int_equal(dbm_count(off), 0);
    dbm_restore(off, copy);
    assert_int_equal(dbm_count(off), 4 * 65536ull);
    dbm_free_detached(copy);
    dbm_release(dbm_find(bs, "b"));
    assert_null(dbm_find(bs, "b"));
    blk_unref(bs);
}

static void qcow2_round_trip(void **state)
{
    (void)state;
    BlockNode *bs = open_img("p.qcow2", "qcow2", true);
    DirtyBitmap *p, *q, *t;
    assert_int_equal(dbm_create(bs, "p", 65536, &p), 0);
    assert_int_equal(dbm_create(bs, "q", 512, &q), 0);
    assert_int_equal(dbm_create(bs, "tmp", 65536, &t), 0);
    p->persistent = q->persistent = true;
    q->enabled = false;
    dbm_set_range(p, 3 << 20, 200000);
    dbm_set_range(p, SIZE - 1, 1);
    dbm_set_range(q, 0, 512);
    dbm_set_range(q, 9 << 20, 4096);
    uint64_t pc = dbm_count(p), qc = dbm_count(q);
    blk_unref(bs);          /* close stores the persistent ones */

    char cmd[256];
    snprintf(cmd, sizeof(cmd), "qemu-img check -q %s/p.qcow2", tmpdir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "qemu-img info %s/p.qcow2 | grep -q 'name: q'", tmpdir);
    assert_int_equal(system(cmd), 0);

    bs = open_img("p.qcow2", "qcow2", false);
    p = dbm_find(bs, "p");
    q = dbm_find(bs, "q");
    assert_non_null(p);
    assert_non_null(q);
    assert_null(dbm_find(bs, "tmp"));
    assert_true(p->persistent && p->enabled && !p->inconsistent);
    assert_false(q->enabled);
    assert_int_equal(q->granularity, 512);
    assert_int_equal(dbm_count(p), pc);
    assert_int_equal(dbm_count(q), qc);
    assert_true(dbm_get(p, SIZE - 1) && dbm_get(q, 9 << 20) && !dbm_get(q, 512));
    /* Removing one and closing rewrites the directory without it. */
    dbm_release(q);
    blk_unref(bs);
    snprintf(cmd, sizeof(cmd), "qemu-img check -q %s/p.qcow2", tmpdir);
    assert_int_equal(system(cmd), 0);
    bs = open_img("p.qcow2", "qcow2", false);
    assert_null(dbm_find(bs, "q"));
    assert_int_equal(dbm_count(dbm_find(bs, "p")), pc);
    blk_unref(bs);
}

static void parser_rejects(void **state)
{
    (void)state;
    uint8_t d[64] = { 0 };
    Qcow2BitmapEntry e[2];
    /* table offset 64K, 1 entry, flags auto, type 1, 16 granularity bits, name "x" */
    d[5] = 1; d[11] = 1; d[15] = 2; d[16] = 1; d[17] = 16; d[19] = 1; d[24] = 'x';
    assert_int_equal(qcow2_bitmap_parse_dir(d, 32, 1, 16, SIZE, e, 2), 1);
    assert_string_equal(e[0].name, "x");
    assert_true(qcow2_bitmap_parse_dir(d, 24, 1, 16, SIZE, e, 2) < 0);     /* truncated */
    d[16] = 2;
    assert_true(qcow2_bitmap_parse_dir(d, 32, 1, 16, SIZE, e, 2) < 0);     /* type */
    d[16] = 1; d[17] = 40;
    assert_true(qcow2_bitmap_parse_dir(d, 32, 1, 16, SIZE, e, 2) < 0);     /* granularity */
    d[17] = 16; d[11] = 2;
    assert_true(qcow2_bitmap_parse_dir(d, 32, 1, 16, SIZE, e, 2) < 0);     /* table size */
    d[11] = 1; d[15] = 0x12;
    assert_true(qcow2_bitmap_parse_dir(d, 32, 1, 16, SIZE, e, 2) < 0);     /* flags */
    d[15] = 2; d[23] = 4;
    assert_true(qcow2_bitmap_parse_dir(d, 32, 1, 16, SIZE, e, 2) < 0);     /* extra data */
    d[23] = 0; d[19] = 0xff; d[18] = 0xff;
    assert_true(qcow2_bitmap_parse_dir(d, 64, 1, 16, SIZE, e, 2) < 0);     /* name length */
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/quail-dbm-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(marking_and_ranges),
        cmocka_unit_test(qcow2_round_trip),
        cmocka_unit_test(parser_rejects),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        r = r ? r : 1;
    return r;
}
