/* A generic NBD server (fixed newstyle handshake, structured replies, metadata
 * contexts) serving exports described by a callback table over a unix socket or
 * loopback TCP.  Every byte a client sends is untrusted: lengths are bounded,
 * bad requests get NBD errors, protocol violations drop the client.
 *
 * Clients are served each on its own thread; calls into one server's export
 * callbacks are serialized by the server, so callbacks need no locking. */
#ifndef QUAIL_BLOCK_NBD_SERVER_H
#define QUAIL_BLOCK_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

/* base:allocation flags */
#define NBD_STATE_HOLE 1u
#define NBD_STATE_ZERO 2u

/* The largest READ/WRITE payload accepted (advertised as the maximum block size). */
#define NBD_SERVER_MAX_PAYLOAD (32u * 1024 * 1024)
#define NBD_SERVER_MAX_EXTENTS 1024

typedef struct NbdExtent {
    uint64_t length;
    uint32_t flags;
} NbdExtent;

typedef struct NbdExportOps {
    /* Required.  Return 0 or -errno. */
    int (*pread)(void *opaque, void *buf, uint32_t len, uint64_t offset);
    /* Optional: without pwrite the export is read-only. */
    int (*pwrite)(void *opaque, const void *buf, uint32_t len, uint64_t offset, bool fua);
    int (*flush)(void *opaque);
    int (*trim)(void *opaque, uint32_t len, uint64_t offset);
    int (*write_zeroes)(void *opaque, uint32_t len, uint64_t offset, bool may_trim);
    /* Extents from offset covering at most len bytes, in context ctx (0 is
     * base:allocation, i > 0 the export's meta_contexts[i-1]).  Fills at most
     * max extents and returns how many (>= 1), or -errno.  Optional: without
     * it base:allocation reports everything as data. */
    int (*block_status)(void *opaque, unsigned ctx, uint64_t offset, uint32_t len,
                        NbdExtent *ext, unsigned max);
} NbdExportOps;

typedef struct NbdExport {
    const char *name;               /* "" is also matched by the first export */
    const char *description;        /* optional */
    uint64_t size;
    const NbdExportOps *ops;
    void *opaque;
    /* Extra metadata contexts besides base:allocation, e.g. "qemu:dirty-bitmap:b0". */
    const char *const *meta_contexts;
    unsigned n_meta_contexts;
} NbdExport;

typedef struct NbdServer NbdServer;

/* The exports array must outlive the server (or its removal). */
int nbd_server_new(const NbdExport *exports, unsigned n, NbdServer **out);
/* Run-time exports (QMP): e must stay valid until removed. */
int nbd_server_add_export(NbdServer *s, const NbdExport *e);
/* Unlists e; with clients using it, fails with -EBUSY unless hard, which
 * disconnects them and waits until they are gone. */
int nbd_server_remove_export(NbdServer *s, const NbdExport *e, bool hard);
unsigned nbd_server_export_clients(NbdServer *s, const NbdExport *e);
int nbd_server_listen_unix(NbdServer *s, const char *path);
/* Listens on 127.0.0.1 (port 0 picks one; see nbd_server_port()). */
int nbd_server_listen_tcp(NbdServer *s, uint16_t port);
uint16_t nbd_server_port(const NbdServer *s);
/* Accepts and serves clients until nbd_server_stop(); returns 0 or -errno. */
int nbd_server_run(NbdServer *s);
/* Serves one already-connected client on fd (closed when done). */
int nbd_server_serve_fd(NbdServer *s, int fd);
/* Async-signal-safe: makes nbd_server_run() return, disconnecting clients. */
void nbd_server_stop(NbdServer *s);
void nbd_server_free(NbdServer *s);

#endif
