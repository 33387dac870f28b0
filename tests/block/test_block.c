/* Block layer unit tests: option parsing, graph permissions and deletion,
 * raw/qcow2 I/O patterns (sync and async, io_uring and thread pool), image
 * locking and the qcow2 check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/blockdev_opts.h"
#include "block/node.h"
#include "util/error.h"

static char tmpdir[64];

static void path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static const char *jget(json_object *o, const char *dotted)
{
    char key[128];
    snprintf(key, sizeof(key), "%s", dotted);
    json_object *cur = o;
    for (char *p = strtok(key, "."); p; p = strtok(NULL, ".")) {
        if (!json_object_object_get_ex(cur, p, &cur))
            return NULL;
    }
    return json_object_get_string(cur);
}

static void keyval_forms(void **state)
{
    (void)state;
    json_object *o;
    assert_int_equal(blockdev_opts_parse("driver=qcow2,node-name=disk0,file.driver=file,"
                                         "file.filename=/a,,b.img", &o), 0);
    assert_string_equal(jget(o, "driver"), "qcow2");
    assert_string_equal(jget(o, "file.driver"), "file");
    assert_string_equal(jget(o, "file.filename"), "/a,b.img");
    json_object_put(o);

    assert_int_equal(blockdev_opts_parse("driver=raw,file=proto0", &o), 0);
    assert_string_equal(jget(o, "file"), "proto0");
    json_object_put(o);

    assert_int_equal(blockdev_opts_parse("driver=x,server.0.host=a,server.1.host=b", &o), 0);
    json_object *srv;
    assert_true(json_object_object_get_ex(o, "server", &srv));
    assert_true(json_object_is_type(srv, json_type_array));
    assert_int_equal(json_object_array_length(srv), 2);
    json_object_put(o);

    assert_true(blockdev_opts_parse("driver=raw,file=x,file.driver=file", &o) < 0);
    assert_non_null(strstr(err_msg(), "used inconsistently"));
    assert_true(blockdev_opts_parse("driver=raw,noequals", &o) < 0);

    assert_int_equal(blockdev_opts_parse(" {\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\","
                                         "\"filename\":\"x\"}}", &o), 0);
    assert_string_equal(jget(o, "file.filename"), "x");
    json_object_put(o);
    assert_true(blockdev_opts_parse("{\"driver\":", &o) < 0);

    json_object *node, *drive;
    assert_int_equal(blockdev_drive_parse("file=d.qcow2,format=qcow2,if=none,id=drv0,readonly=on,"
                                          "aio=threads", &node, &drive), 0);
    assert_string_equal(jget(node, "driver"), "qcow2");
    assert_string_equal(jget(node, "read-only"), "on");
    assert_string_equal(jget(node, "file.filename"), "d.qcow2");
    assert_string_equal(jget(node, "file.aio"), "threads");
    assert_string_equal(jget(drive, "id"), "drv0");
    assert_string_equal(jget(drive, "if"), "none");
    json_object_put(node);
    json_object_put(drive);

    uint64_t v;
    assert_int_equal(parse_size("1G", &v), 0);
    assert_true(v == 1ull << 30);
    assert_int_equal(parse_size("512k", &v), 0);
    assert_true(v == 512 * 1024);
    assert_int_equal(parse_size("1.5M", &v), 0);
    assert_true(v == 3 * 512 * 1024);
    assert_true(parse_size("12Q", &v) < 0);
    assert_true(parse_size("-1", &v) < 0);
    assert_true(parse_size("99999999999999999999", &v) < 0);
    assert_true(parse_size("20E", &v) < 0);
}

static BlockNode *open_str(const char *s, int flags)
{
    json_object *o;
    assert_int_equal(blockdev_opts_parse(s, &o), 0);
    BlockNode *bs = NULL;
    int ret = blk_open(o, flags, &bs);
    json_object_put(o);
    return ret < 0 ? NULL : bs;
}

static void make_qcow2(const char *name, uint64_t size, uint32_t cs)
{
    char p[256];
    path(p, sizeof(p), name);
    BlockCreateOpts o = { .size = size, .cluster_size = cs };
    assert_int_equal(blk_create("qcow2", p, &o), 0);
}

static void permissions(void **state)
{
    (void)state;
    char p[256], opts[512];
    make_qcow2("perm.qcow2", 1 << 20, 0);
    path(p, sizeof(p), "perm.qcow2");
    snprintf(opts, sizeof(opts), "driver=file,node-name=proto0,filename=%s", p);
    BlockNode *proto = open_str(opts, BLK_O_RDWR);
    assert_non_null(proto);
    proto->monitor_owned = true;
    BlockNode *disk = open_str("driver=qcow2,node-name=disk0,file=proto0", BLK_O_RDWR);
    assert_non_null(disk);
    disk->monitor_owned = true;
    assert_ptr_equal(blk_find_node("disk0"), disk);

    /* A second format node over the same protocol node would write it too. */
    assert_null(open_str("driver=qcow2,node-name=disk1,file=proto0", BLK_O_RDWR));
    assert_non_null(strstr(err_msg(), "Conflicts with use by disk0 as 'file'"));
    assert_null(blk_find_node("disk1"));

    BlockChild *dev1, *dev2, *reader, *shy;
    assert_int_equal(blk_root_attach(disk, "dev1", BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                     BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED, &dev1), 0);
    assert_true(blk_root_attach(disk, "dev2", BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL, &dev2) < 0);
    assert_non_null(strstr(err_msg(), "Conflicts with use by dev1 as 'dev1', which does not allow 'write' on disk0"));
    assert_int_equal(blk_root_attach(disk, "reader", BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &reader), 0);
    assert_true(blk_root_attach(disk, "shy", BLK_PERM_CONSISTENT_READ,
                                BLK_PERM_CONSISTENT_READ, &shy) < 0);
    assert_non_null(strstr(err_msg(), "which uses 'write'"));

    unsigned perm, shared;
    blk_node_perms(disk, &perm, &shared);
    assert_true(perm & BLK_PERM_WRITE);
    assert_false(shared & BLK_PERM_WRITE);

    /* blockdev-del refuses nodes in use, then works once they are free. */
    assert_int_equal(blk_node_del("proto0"), -EBUSY);
    assert_non_null(strstr(err_msg(), "is busy"));
    assert_int_equal(blk_node_del("disk0"), -EBUSY);
    assert_int_equal(blk_node_del("nosuch"), -ENOENT);
    blk_root_detach(dev1);
    assert_int_equal(blk_root_attach(disk, "dev2", BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                     BLK_PERM_ALL, &dev2), 0);
    blk_root_detach(dev2);
    blk_root_detach(reader);
    assert_int_equal(blk_node_del("disk0"), 0);
    assert_null(blk_find_node("disk0"));
    assert_int_equal(blk_node_del("proto0"), 0);
    assert_null(blk_find_node("proto0"));

    /* Read-only nodes refuse writers; auto-generated names look like QEMU's. */
    snprintf(opts, sizeof(opts), "driver=qcow2,read-only=on,file.driver=file,file.filename=%s", p);
    BlockNode *ro = open_str(opts, 0);
    assert_non_null(ro);
    assert_true(ro->auto_named);
    assert_int_equal(ro->node_name[0], '#');
    assert_true(blk_root_attach(ro, "dev", BLK_PERM_WRITE, BLK_PERM_ALL, &dev1) < 0);
    assert_non_null(strstr(err_msg(), "read-only"));
    assert_true(blk_pwrite(ro, 0, "x", 1) < 0);
    blk_unref(ro);
}

static void locking(void **state)
{
    (void)state;
    char p[256];
    make_qcow2("lock.qcow2", 1 << 20, 0);
    path(p, sizeof(p), "lock.qcow2");
    BlockNode *a, *b;
    assert_int_equal(blk_open_image(p, "qcow2", BLK_O_RDWR, &a), 0);
    /* A separate open of the file is another lock owner, like another process. */
    assert_true(blk_open_image(p, "qcow2", BLK_O_RDWR, &b) < 0);
    assert_non_null(strstr(err_msg(), "Failed to get \"write\" lock"));
    assert_true(blk_open_image(p, "qcow2", 0, &b) < 0);
    assert_non_null(strstr(err_msg(), "Failed to get shared \"write\" lock"));
    assert_int_equal(blk_open_image(p, "qcow2", BLK_O_FORCE_SHARE, &b), 0);
    blk_unref(b);
    blk_unref(a);
    assert_int_equal(blk_open_image(p, "qcow2", 0, &a), 0);
    assert_int_equal(blk_open_image(p, "qcow2", 0, &b), 0);
    blk_unref(b);
    blk_unref(a);

    /* raw passes its users' permissions down: the lock follows the device. */
    char r[256];
    path(r, sizeof(r), "lock.raw");
    BlockCreateOpts o = { .size = 65536 };
    assert_int_equal(blk_create("raw", r, &o), 0);
    BlockChild *ra, *rb;
    assert_int_equal(blk_open_image(r, "raw", BLK_O_RDWR, &a), 0);
    assert_int_equal(blk_open_image(r, "raw", BLK_O_RDWR, &b), 0);  /* nobody uses them yet */
    assert_int_equal(blk_root_attach(a, "devA", BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                     BLK_PERM_CONSISTENT_READ, &ra), 0);
    assert_true(blk_root_attach(b, "devB", BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL, &rb) < 0);
    assert_non_null(strstr(err_msg(), "Failed to get \"write\" lock"));
    assert_true(blk_root_attach(b, "devB", BLK_PERM_CONSISTENT_READ, BLK_PERM_CONSISTENT_READ, &rb) < 0);
    assert_non_null(strstr(err_msg(), "Failed to get shared \"write\" lock"));
    /* A reader that lets others write is fine. */
    assert_int_equal(blk_root_attach(b, "devB", BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &rb), 0);
    blk_root_detach(rb);
    blk_root_detach(ra);
    assert_int_equal(blk_root_attach(b, "devB", BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                     BLK_PERM_CONSISTENT_READ, &rb), 0);
    blk_root_detach(rb);
    blk_unref(b);
    blk_unref(a);
}

static void fill(uint8_t *buf, size_t n, uint64_t off, int seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)((off + i) * 7 + (uint64_t)seed * 13 + ((off + i) >> 9));
}

/* Writes the same random operations to a node and a memory model, then
 * compares all of it. */
static void random_ops(BlockNode *bs, uint64_t size, uint32_t cs, int seed, int nops)
{
    uint8_t *model = calloc(1, size), *buf = malloc(size);
    assert_non_null(model);
    assert_non_null(buf);
    assert_int_equal(blk_pread(bs, 0, model, size), 0);
    srand((unsigned)seed);
    for (int i = 0; i < nops; i++) {
        uint64_t off = (uint64_t)rand() % size;
        static const uint64_t lens[] = { 1, 511, 512, 4096, 65535, 65536, 65537, 200000 };
        uint64_t len = lens[rand() % 8];
        if (len > size - off)
            len = size - off;
        int kind = rand() % 10;
        if (kind < 7) {
            fill(buf, len, off, i);
            assert_int_equal(blk_pwrite(bs, off, buf, len), 0);
            memcpy(model + off, buf, len);
        } else if (kind < 9) {
            assert_int_equal(blk_write_zeroes(bs, off, len, kind == 8 ? BLK_ZERO_MAY_UNMAP : 0), 0);
            memset(model + off, 0, len);
        } else {
            assert_int_equal(blk_discard(bs, off, len), 0);
            /* Discard is advisory; re-read the range into the model. */
            assert_int_equal(blk_pread(bs, off, model + off, len), 0);
            uint64_t a = (off + cs - 1) / cs * cs, b = (off + len) / cs * cs;
            for (uint64_t x = a; x < b; x++)
                assert_int_equal(model[x], 0);
        }
    }
    assert_int_equal(blk_pread(bs, 0, buf, size), 0);
    assert_memory_equal(buf, model, size);
    free(model);
    free(buf);
}

static void qcow2_patterns(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 512, 4096, 65536 };
    for (int k = 0; k < 3; k++) {
        char name[32], p[256];
        snprintf(name, sizeof(name), "pat%u.qcow2", sizes[k]);
        make_qcow2(name, 4 << 20, sizes[k]);
        path(p, sizeof(p), name);
        BlockNode *bs;
        assert_int_equal(blk_open_image(p, NULL, BLK_O_RDWR, &bs), 0);
        assert_string_equal(bs->drv->name, "qcow2");
        random_ops(bs, 4 << 20, sizes[k], k + 1, 300);
        BlockCheckResult r;
        assert_int_equal(bs->drv->check(bs, &r, 0), 0);
        assert_int_equal(r.corruptions, 0);
        assert_int_equal(r.leaks, 0);
        blk_unref(bs);
        /* Reopen: everything came from the disk, not caches. */
        assert_int_equal(blk_open_image(p, "qcow2", 0, &bs), 0);
        uint8_t b[512];
        assert_int_equal(blk_pread(bs, (4 << 20) - 512, b, 512), 0);
        assert_true(blk_pread(bs, (4 << 20) - 511, b, 512) < 0);
        blk_unref(bs);
    }
}

static void raw_patterns(void **state)
{
    (void)state;
    char p[256], opts[512];
    path(p, sizeof(p), "pat.raw");
    BlockCreateOpts o = { .size = 2 << 20 };
    assert_int_equal(blk_create("raw", p, &o), 0);
    BlockNode *bs;
    assert_int_equal(blk_open_image(p, "raw", BLK_O_RDWR, &bs), 0);
    random_ops(bs, 2 << 20, 4096, 7, 200);
    blk_unref(bs);

    /* offset/size window */
    snprintf(opts, sizeof(opts), "driver=raw,offset=4096,size=8192,file.driver=file,file.filename=%s", p);
    bs = open_str(opts, BLK_O_RDWR);
    assert_non_null(bs);
    assert_int_equal(blk_getlength(bs), 8192);
    assert_int_equal(blk_pwrite(bs, 0, "ABCD", 4), 0);
    assert_true(blk_pwrite(bs, 8190, "ABCD", 4) < 0);
    blk_unref(bs);
    assert_int_equal(blk_open_image(p, "raw", 0, &bs), 0);
    char got[4];
    assert_int_equal(blk_pread(bs, 4096, got, 4), 0);
    assert_memory_equal(got, "ABCD", 4);
    blk_unref(bs);
    snprintf(opts, sizeof(opts), "driver=raw,offset=4096,size=99999999,file.driver=file,file.filename=%s", p);
    assert_null(open_str(opts, 0));

    /* QMP-style typed JSON values work like the dotted strings. */
    snprintf(opts, sizeof(opts), "{\"driver\":\"raw\",\"offset\":4096,\"size\":8192,\"read-only\":true,"
             "\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}", p);
    bs = open_str(opts, BLK_O_RDWR);
    assert_non_null(bs);
    assert_true(bs->read_only);
    assert_int_equal(blk_getlength(bs), 8192);
    assert_int_equal(blk_pread(bs, 0, got, 4), 0);
    assert_memory_equal(got, "ABCD", 4);
    blk_unref(bs);
    snprintf(opts, sizeof(opts), "{\"driver\":\"raw\",\"offset\":-5,\"file\":{\"driver\":\"file\","
             "\"filename\":\"%s\"}}", p);
    assert_null(open_str(opts, 0));
    assert_null(open_str("driver=nosuch,file.driver=file,file.filename=/dev/null", 0));
    assert_non_null(strstr(err_msg(), "Unknown driver 'nosuch'"));
}

static void drive_shorthand(void **state)
{
    (void)state;
    char p[256], opts[512];
    make_qcow2("drive.qcow2", 1 << 20, 0);
    path(p, sizeof(p), "drive.qcow2");
    snprintf(opts, sizeof(opts), "file=%s,if=none,id=drv0,node-name=dn0,aio=threads", p);
    json_object *node, *drive;
    assert_int_equal(blockdev_drive_parse(opts, &node, &drive), 0);
    BlockNode *bs;
    assert_int_equal(blk_open(node, BLK_O_RDWR, &bs), 0);
    assert_string_equal(bs->drv->name, "qcow2");  /* probed */
    assert_string_equal(bs->node_name, "dn0");
    assert_string_equal(bs->file->node->drv->name, "file");
    assert_int_equal(blk_getlength(bs), 1 << 20);
    blk_unref(bs);
    json_object_put(node);
    json_object_put(drive);
}

typedef struct Waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending, errors;
    pthread_t submitter;
    int on_other_thread;
} Waiter;

static void done_cb(void *opaque, int ret)
{
    Waiter *w = opaque;
    pthread_mutex_lock(&w->lock);
    if (ret < 0)
        w->errors++;
    if (!pthread_equal(pthread_self(), w->submitter))
        w->on_other_thread++;
    w->pending--;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void wait_all(Waiter *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->pending)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

static void async_io(const char *fmt, const char *aio, bool no_uring)
{
    char p[256], opts[512], name[64];
    snprintf(name, sizeof(name), "aio-%s-%s-%d", fmt, aio, no_uring);
    path(p, sizeof(p), name);
    BlockCreateOpts o = { .size = 8 << 20 };
    assert_int_equal(blk_create(fmt, p, &o), 0);
    if (no_uring)
        setenv("QUAIL_NO_IO_URING", "1", 1);
    snprintf(opts, sizeof(opts), "driver=%s,file.driver=file,file.filename=%s,file.aio=%s", fmt, p, aio);
    BlockNode *bs = open_str(opts, BLK_O_RDWR);
    unsetenv("QUAIL_NO_IO_URING");
    assert_non_null(bs);
    enum { N = 32, SZ = 65536 + 512 };
    uint8_t *bufs = malloc((size_t)N * SZ), *rd = calloc(N, SZ);
    struct iovec iov[N], riov[N];
    Waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
                 .submitter = pthread_self() };
    for (int i = 0; i < N; i++) {
        fill(bufs + (size_t)i * SZ, SZ, (uint64_t)i * SZ, 3);
        iov[i] = (struct iovec){ bufs + (size_t)i * SZ, SZ };
        pthread_mutex_lock(&w.lock);
        w.pending++;
        pthread_mutex_unlock(&w.lock);
        assert_int_equal(blk_aio_pwritev(bs, (uint64_t)i * SZ, &iov[i], 1, done_cb, &w), 0);
    }
    wait_all(&w);
    pthread_mutex_lock(&w.lock);
    w.pending = 1;
    pthread_mutex_unlock(&w.lock);
    assert_int_equal(blk_aio_flush(bs, done_cb, &w), 0);
    wait_all(&w);
    /* Writes and flushes complete on I/O threads, never on the submitter
     * (reads the page cache holds may complete inline: no disk wait). */
    assert_int_equal(w.on_other_thread, N + 1);
    for (int i = 0; i < N; i++) {
        riov[i] = (struct iovec){ rd + (size_t)i * SZ, SZ };
        pthread_mutex_lock(&w.lock);
        w.pending++;
        pthread_mutex_unlock(&w.lock);
        assert_int_equal(blk_aio_preadv(bs, (uint64_t)i * SZ, &riov[i], 1, done_cb, &w), 0);
    }
    wait_all(&w);
    assert_int_equal(w.errors, 0);
    assert_memory_equal(rd, bufs, (size_t)N * SZ);
    if (!strcmp(fmt, "qcow2")) {
        /* Unallocated clusters with a cached L2 table are answered at
         * submission: no pool hop, no disk wait. */
        int before = w.on_other_thread;
        memset(rd, 0xee, 4096);
        riov[0] = (struct iovec){ rd, 4096 };
        pthread_mutex_lock(&w.lock);
        w.pending++;
        pthread_mutex_unlock(&w.lock);
        assert_int_equal(blk_aio_preadv(bs, 6 << 20, &riov[0], 1, done_cb, &w), 0);
        wait_all(&w);
        assert_int_equal(w.on_other_thread, before);
        for (int i = 0; i < 4096; i++)
            assert_int_equal(rd[i], 0);
    }
    /* Out-of-range requests fail at submission, without a callback. */
    assert_true(blk_aio_preadv(bs, 8 << 20, &riov[0], 1, done_cb, &w) < 0);
    blk_unref(bs);
    free(bufs);
    free(rd);
}

static void async_uring_qcow2(void **s) { (void)s; async_io("qcow2", "io_uring", false); }
static void async_uring_raw(void **s) { (void)s; async_io("raw", "io_uring", false); }
static void async_threads_raw(void **s) { (void)s; async_io("raw", "threads", false); }
static void async_fallback_raw(void **s) { (void)s; async_io("raw", "io_uring", true); }
static void async_fallback_qcow2(void **s) { (void)s; async_io("qcow2", "io_uring", true); }

/* Many overlapping asynchronous writes at once: whatever order they land
 * in, the metadata must stay consistent (no leaks, no corruption) and every
 * byte must hold one of the values written to it. */
static void async_overlap(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 512, 65536 };
    for (int k = 0; k < 2; k++) {
        char name[32], p[256];
        snprintf(name, sizeof(name), "ovl%u.qcow2", sizes[k]);
        make_qcow2(name, 2 << 20, sizes[k]);
        path(p, sizeof(p), name);
        BlockNode *bs;
        assert_int_equal(blk_open_image(p, "qcow2", BLK_O_RDWR, &bs), 0);
        enum { N = 64, LEN = 70000 };
        uint8_t *bufs = malloc((size_t)N * LEN);
        struct iovec iov[N];
        uint64_t offs[N];
        Waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
                     .submitter = pthread_self() };
        srand(42 + k);
        for (int i = 0; i < N; i++) {
            offs[i] = (uint64_t)(rand() % ((2 << 20) - LEN));
            memset(bufs + (size_t)i * LEN, i + 1, LEN);
            iov[i] = (struct iovec){ bufs + (size_t)i * LEN, LEN };
            pthread_mutex_lock(&w.lock);
            w.pending++;
            pthread_mutex_unlock(&w.lock);
            int ret = (i % 5 == 4) ? blk_aio_discard(bs, offs[i], LEN, done_cb, &w)
                                   : blk_aio_pwritev(bs, offs[i], &iov[i], 1, done_cb, &w);
            assert_int_equal(ret, 0);
        }
        wait_all(&w);
        assert_int_equal(w.errors, 0);
        uint8_t *img = malloc(2 << 20);
        assert_int_equal(blk_pread(bs, 0, img, 2 << 20), 0);
        for (uint64_t x = 0; x < (2 << 20); x++) {
            if (!img[x])
                continue;
            int v = img[x] - 1;
            assert_true(v < N && v % 5 != 4 && x >= offs[v] && x < offs[v] + LEN);
        }
        BlockCheckResult r;
        assert_int_equal(bs->drv->check(bs, &r, BLK_CHECK_QUIET), 0);
        assert_int_equal(r.corruptions, 0);
        assert_int_equal(r.leaks, 0);
        blk_unref(bs);
        free(img);
        free(bufs);
    }
}

static void backing_chain(void **state)
{
    (void)state;
    char base[256], top[256];
    make_qcow2("base.qcow2", 1 << 20, 4096);
    path(base, sizeof(base), "base.qcow2");
    path(top, sizeof(top), "top.qcow2");
    BlockNode *bs;
    assert_int_equal(blk_open_image(base, "qcow2", BLK_O_RDWR, &bs), 0);
    uint8_t buf[8192];
    memset(buf, 0xaa, sizeof(buf));
    assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf)), 0);
    blk_unref(bs);
    BlockCreateOpts o = { .size = 2 << 20, .backing_file = "base.qcow2", .backing_fmt = "qcow2",
                          .cluster_size = 65536 };
    assert_int_equal(blk_create("qcow2", top, &o), 0);
    assert_int_equal(blk_open_image(top, "qcow2", BLK_O_RDWR, &bs), 0);
    assert_non_null(bs->backing);
    assert_true(bs->backing->node->read_only);
    assert_string_equal(bs->backing_file, "base.qcow2");
    /* Partial write into a cluster backed by the base: COW keeps the rest. */
    assert_int_equal(blk_pwrite(bs, 100, "hello", 5), 0);
    assert_int_equal(blk_pread(bs, 0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[99], 0xaa);
    assert_memory_equal(buf + 100, "hello", 5);
    assert_int_equal(buf[105], 0xaa);
    /* Beyond the base's end reads zero. */
    assert_int_equal(blk_pread(bs, (1 << 20) + 4096, buf, 16), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(buf[i], 0);
    /* Discard over a backed cluster must not expose the base again. */
    assert_int_equal(blk_discard(bs, 0, 65536), 0);
    assert_int_equal(blk_pread(bs, 0, buf, 16), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(buf[i], 0);
    uint64_t pnum, map;
    BlockNode *f;
    int st = blk_block_status(bs, 0, 1 << 20, &pnum, &map, &f);
    assert_true(st & BLK_STATUS_ZERO);
    assert_true(st & BLK_STATUS_ALLOCATED);
    st = blk_block_status(bs, 65536, 1 << 20, &pnum, &map, &f);
    assert_false(st & BLK_STATUS_ALLOCATED);
    blk_unref(bs);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/quail-block-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyval_forms),
        cmocka_unit_test(permissions),
        cmocka_unit_test(locking),
        cmocka_unit_test(qcow2_patterns),
        cmocka_unit_test(raw_patterns),
        cmocka_unit_test(drive_shorthand),
        cmocka_unit_test(async_uring_qcow2),
        cmocka_unit_test(async_uring_raw),
        cmocka_unit_test(async_threads_raw),
        cmocka_unit_test(async_fallback_raw),
        cmocka_unit_test(async_fallback_qcow2),
        cmocka_unit_test(async_overlap),
        cmocka_unit_test(backing_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
