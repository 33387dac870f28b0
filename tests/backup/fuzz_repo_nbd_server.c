/* libFuzzer: arbitrary client bytes against the NBD server (handshake and
 * transmission) with a small writable export and an extra metadata context. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "block/nbd/server.h"

#define SIZE (1u << 20)
static uint8_t disk[SIZE];

static int f_pread(void *o, void *buf, uint32_t len, uint64_t off)
{
    if (off > SIZE || len > SIZE - off)
        __builtin_trap();             /* the server must have bounded it */
    memcpy(buf, disk + off, len);
    return 0;
}

static int f_pwrite(void *o, const void *buf, uint32_t len, uint64_t off, bool fua)
{
    if (off > SIZE || len > SIZE - off)
        __builtin_trap();
    memcpy(disk + off, buf, len);
    return 0;
}

static int f_status(void *o, unsigned ctx, uint64_t off, uint32_t len, NbdExtent *e, unsigned max)
{
    if (ctx > 1 || max == 0 || off > SIZE || len > SIZE - off)
        __builtin_trap();
    /* Deliberately sloppy: more than asked for, to exercise the clipping. */
    e[0].length = (uint64_t)len + 4096;
    e[0].flags = ctx;
    return 1;
}

static const NbdExportOps ops = { f_pread, f_pwrite, NULL, NULL, NULL, f_status };
static const char *const extra[] = { "qemu:dirty-bitmap:fuzz" };
static const NbdExport exp = { "disk", "fuzz", SIZE, &ops, NULL, extra, 1 };

typedef struct { int fd; const uint8_t *data; size_t size; } Feed;

static void *feed(void *arg)
{
    Feed *f = arg;
    size_t done = 0;
    while (done < f->size) {
        ssize_t n = send(f->fd, f->data + done, f->size - done, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        done += n;
    }
    shutdown(f->fd, SHUT_WR);
    char b[65536];
    while (recv(f->fd, b, sizeof(b), 0) > 0)
        ;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static NbdServer *srv;
    if (!srv && nbd_server_new(&exp, 1, &srv) < 0)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    Feed f = { sv[1], data, size };
    pthread_t t;
    if (pthread_create(&t, NULL, feed, &f) != 0) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    nbd_server_serve_fd(srv, sv[0]);
    pthread_join(t, NULL);
    close(sv[1]);
    return 0;
}
