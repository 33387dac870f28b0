/* The generic NBD server (src/block/nbd/server.c) with an in-memory writable
 * export: libnbd as a well-behaved client, raw sockets as hostile ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "block/nbd/server.h"

#define SIZE (4u * 1024 * 1024)
#define GRAIN 65536u

static uint8_t *disk;
static uint8_t written[SIZE / GRAIN];      /* 1 = data, 0 = hole */
static int flushes;

static int mem_pread(void *o, void *buf, uint32_t len, uint64_t off)
{
    memcpy(buf, disk + off, len);
    return 0;
}

static int mem_pwrite(void *o, const void *buf, uint32_t len, uint64_t off, bool fua)
{
    memcpy(disk + off, buf, len);
    for (uint64_t g = off / GRAIN; g <= (off + len - 1) / GRAIN; g++)
        written[g] = 1;
    return 0;
}

static int mem_flush(void *o) { flushes++; return 0; }

static int mem_zero(void *o, uint32_t len, uint64_t off, bool may_trim)
{
    memset(disk + off, 0, len);
    return 0;
}

/* ctx 0: holes where never written; ctx 1 ("x-test:odd"): flag 1 on odd grains. */
static int mem_status(void *o, unsigned ctx, uint64_t off, uint32_t len, NbdExtent *e, unsigned max)
{
    unsigned n = 0;
    uint64_t end = off + len;
    while (off < end && n < max) {
        uint64_t g = off / GRAIN, gend = (g + 1) * GRAIN;
        uint32_t f = ctx == 0 ? (written[g] ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO) : (uint32_t)(g & 1);
        if (gend > end)
            gend = end;
        if (n && e[n - 1].flags == f)
            e[n - 1].length += gend - off;
        else
            e[n++] = (NbdExtent){ gend - off, f };
        off = gend;
    }
    return (int)n;
}

static const NbdExportOps rw_ops = { mem_pread, mem_pwrite, mem_flush, NULL, mem_zero, mem_status };
static const NbdExportOps ro_ops = { .pread = mem_pread };
static const char *const extra[] = { "x-test:odd" };
static NbdExport exports[] = {
    { "mem", "writable test disk", SIZE, &rw_ops, NULL, extra, 1 },
    { "ro", NULL, SIZE, &ro_ops, NULL, NULL, 0 },
};
static NbdServer *srv;

typedef struct { int fd; } ServeArg;

static void *serve_thread(void *arg)
{
    nbd_server_serve_fd(srv, ((ServeArg *)arg)->fd);
    return NULL;
}

/* Starts serving one end of a socketpair; returns the client end. */
static int start(pthread_t *t, ServeArg *a)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a->fd = sv[0];
    assert_int_equal(pthread_create(t, NULL, serve_thread, a), 0);
    return sv[1];
}

static int setup(void **s)
{
    disk = calloc(1, SIZE);
    memset(written, 0, sizeof(written));
    return disk && nbd_server_new(exports, 2, &srv) == 0 ? 0 : -1;
}

static int teardown(void **s)
{
    nbd_server_free(srv);
    free(disk);
    return 0;
}

typedef struct { uint32_t ent[64]; size_t n; char ctx[64]; int calls; } Ext;

static int ext_cb(void *ud, const char *ctx, uint64_t off, uint32_t *entries, size_t n, int *err)
{
    Ext *x = ud;
    if (strcmp(ctx, x->ctx))
        return 0;
    x->calls++;
    x->n = n < 64 ? n : 64;
    memcpy(x->ent, entries, x->n * sizeof(uint32_t));
    return 0;
}

static void libnbd_client(void **s)
{
    pthread_t t;
    ServeArg a;
    int fd = start(&t, &a);
    struct nbd_handle *h = nbd_create();
    assert_non_null(h);
    nbd_set_export_name(h, "mem");
    nbd_add_meta_context(h, "base:allocation");
    nbd_add_meta_context(h, "x-test:odd");
    assert_int_equal(nbd_connect_socket(h, fd), 0);
    assert_int_equal(nbd_get_size(h), SIZE);
    assert_int_equal(nbd_is_read_only(h), 0);
    assert_int_equal(nbd_can_meta_context(h, "base:allocation"), 1);
    assert_int_equal(nbd_can_meta_context(h, "x-test:odd"), 1);
    uint8_t *buf = malloc(3 * GRAIN), *back = malloc(3 * GRAIN);
    for (unsigned i = 0; i < 3 * GRAIN; i++)
        buf[i] = (uint8_t)(i * 13 + 1);
    assert_int_equal(nbd_pwrite(h, buf, 3 * GRAIN, GRAIN, LIBNBD_CMD_FLAG_FUA), 0);
    assert_true(flushes > 0);
    assert_int_equal(nbd_pread(h, back, 3 * GRAIN, GRAIN, 0), 0);
    assert_memory_equal(buf, back, 3 * GRAIN);
    assert_int_equal(nbd_zero(h, 100, GRAIN + 10, 0), 0);
    assert_int_equal(nbd_pread(h, back, 200, GRAIN, 0), 0);
    for (int i = 10; i < 110; i++)
        assert_int_equal(back[i], 0);
    assert_int_equal(back[110], buf[110]);
    assert_int_equal(nbd_trim(h, GRAIN, 0, 0), 0);
    assert_int_equal(nbd_flush(h, 0), 0);
    Ext x = { .ctx = "base:allocation" };
    nbd_extent_callback cb = { .callback = ext_cb, .user_data = &x };
    assert_int_equal(nbd_block_status(h, 8 * GRAIN, 0, cb, 0), 0);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.n, 6);       /* hole 1 grain, data 3 grains, hole 4 grains */
    assert_int_equal(x.ent[0], GRAIN);
    assert_int_equal(x.ent[1], NBD_STATE_HOLE | NBD_STATE_ZERO);
    assert_int_equal(x.ent[2], 3 * GRAIN);
    assert_int_equal(x.ent[3], 0);
    assert_int_equal(x.ent[4], 4 * GRAIN);
    Ext y = { .ctx = "x-test:odd" };
    cb.user_data = &y;
    assert_int_equal(nbd_block_status(h, 4 * GRAIN, 0, cb, LIBNBD_CMD_FLAG_REQ_ONE), 0);
    assert_int_equal(y.n, 2);
    assert_int_equal(y.ent[0], GRAIN);
    assert_int_equal(y.ent[1], 0);
    /* Out of range requests fail cleanly and the connection survives. */
    assert_int_equal(nbd_pread(h, back, 2, SIZE - 1, 0), -1);
    assert_int_equal(nbd_pwrite(h, buf, 2, SIZE - 1, 0), -1);
    assert_int_equal(nbd_pread(h, back, 16, 0, 0), 0);
    nbd_shutdown(h, 0);
    nbd_close(h);
    pthread_join(t, NULL);
    free(buf);
    free(back);
}

static void read_only_export(void **s)
{
    pthread_t t;
    ServeArg a;
    int fd = start(&t, &a);
    struct nbd_handle *h = nbd_create();
    nbd_set_export_name(h, "ro");
    assert_int_equal(nbd_connect_socket(h, fd), 0);
    assert_int_equal(nbd_is_read_only(h), 1);
    uint8_t b[512] = { 1 };
    /* libnbd refuses writes to a read-only export itself; flush still works. */
    assert_int_equal(nbd_pwrite(h, b, 512, 0, 0), -1);
    assert_int_equal(nbd_flush(h, 0), 0);
    nbd_shutdown(h, 0);
    nbd_close(h);
    pthread_join(t, NULL);
}

static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }

static int send_all(int fd, const void *b, size_t n) { return send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1; }

/* Reads until EOF; returns the byte count (the server dropped us when it ends). */
static size_t drain(int fd)
{
    uint8_t b[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = recv(fd, b, sizeof(b), 0)) > 0)
        total += n;
    return total;
}

static void hostile_clients(void **s)
{
    pthread_t t;
    ServeArg a;
    /* 1: unknown client flags: dropped right after the greeting (18 bytes). */
    int fd = start(&t, &a);
    uint8_t cf[4];
    put32(cf, 0xffffffff);
    send_all(fd, cf, 4);
    assert_int_equal(drain(fd), 18);
    close(fd);
    pthread_join(t, NULL);
    /* 2: an option claiming 4 GiB of data: dropped without reading it. */
    fd = start(&t, &a);
    uint8_t o[16 + 4];
    put32(cf, 3);
    send_all(fd, cf, 4);
    put64(o, 0x49484156454f5054ull);
    put32(o + 8, 7);
    put32(o + 12, 0xffffffffu);
    send_all(fd, o, 16);
    assert_int_equal(drain(fd), 18);
    close(fd);
    pthread_join(t, NULL);
    /* 3: GO with a name length pointing past the data: NBD_REP_ERR_INVALID,
     * then a bad magic drops the client. */
    fd = start(&t, &a);
    send_all(fd, cf, 4);
    put64(o, 0x49484156454f5054ull);
    put32(o + 8, 7);
    put32(o + 12, 4);
    put32(o + 16, 1000);
    send_all(fd, o, 20);
    uint8_t greet[18], rep[20];
    assert_int_equal(recv(fd, greet, 18, MSG_WAITALL), 18);
    assert_int_equal(recv(fd, rep, 20, MSG_WAITALL), 20);
    uint32_t type;
    memcpy(&type, rep + 12, 4);
    assert_int_equal(be32toh(type), 0x80000003u);
    uint32_t mlen;
    memcpy(&mlen, rep + 16, 4);
    uint8_t msg[256];
    assert_true(be32toh(mlen) < sizeof(msg));
    assert_int_equal(recv(fd, msg, be32toh(mlen), MSG_WAITALL), (ssize_t)be32toh(mlen));
    put64(o, 0x1122334455667788ull);
    send_all(fd, o, 16);
    assert_int_equal(drain(fd), 0);
    close(fd);
    pthread_join(t, NULL);
    /* 4: in transmission, a write longer than the maximum payload drops the
     * client; a read past the end only errors. */
    fd = start(&t, &a);
    send_all(fd, cf, 4);
    put64(o, 0x49484156454f5054ull);
    put32(o + 8, 1);                 /* EXPORT_NAME "" -> first export */
    put32(o + 12, 0);
    send_all(fd, o, 16);
    uint8_t info[18 + 10];
    assert_int_equal(recv(fd, info, sizeof(info), MSG_WAITALL), (ssize_t)sizeof(info));
    uint8_t req[28] = { 0 };
    put32(req, 0x25609513u);
    req[7] = 0;                      /* READ */
    put64(req + 16, SIZE - 8);
    put32(req + 24, 64);
    send_all(fd, req, 28);
    uint8_t sr[16];
    assert_int_equal(recv(fd, sr, 16, MSG_WAITALL), 16);
    memcpy(&type, sr + 4, 4);
    assert_int_equal(be32toh(type), 22);     /* EINVAL, no payload */
    req[7] = 1;                      /* WRITE */
    put64(req + 16, 0);
    put32(req + 24, NBD_SERVER_MAX_PAYLOAD + 1);
    send_all(fd, req, 28);
    assert_int_equal(drain(fd), 0);
    close(fd);
    pthread_join(t, NULL);
}

static void *run_thread(void *s)
{
    nbd_server_run(s);
    return NULL;
}

static void unix_listener(void **s)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/quail-nbd-test-%d.sock", (int)getpid());
    assert_int_equal(nbd_server_listen_unix(srv, path), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_thread, srv), 0);
    struct nbd_handle *h = nbd_create();
    nbd_set_export_name(h, "mem");
    assert_int_equal(nbd_connect_unix(h, path), 0);
    assert_int_equal(nbd_get_size(h), SIZE);
    /* Stopping the server disconnects a client that is still connected. */
    nbd_server_stop(srv);
    pthread_join(t, NULL);
    uint8_t b[16];
    assert_int_equal(nbd_pread(h, b, 16, 0, 0), -1);
    nbd_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(libnbd_client, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_export, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(unix_listener, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
