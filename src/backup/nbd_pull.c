#include "backup/nbd_pull.h"

#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* One block-status request covers up to 2 GiB (the protocol's length is 32
 * bit), so a 1 TiB disk takes a few hundred round trips, not millions. */
#define STATUS_SPAN      (1ull << 31)
#define STATUS_MAX_CALLS (1u << 24)
/* Read requests of 1 MiB (or one chunk, when chunks are larger), four in
 * flight.  QEMU's NBD server serves 1 MiB requests most cheaply: it takes a
 * fresh buffer for each request and page-faults it in, so 4 MiB ones cost it
 * 1.5 to 2 times the CPU (0.49 s against 0.24-0.33 s for 768 MiB), and
 * 256 KiB ones (0.34 s) cost more round trips.  Deeper queues (8: 0.34 s)
 * only add contention on two cores. */
#define READ_PIECE       (1u << 20)
#define READ_DEPTH       4

enum { CH_NONZERO = 1, CH_DIRTY = 2 };

struct NbdPull {
    struct nbd_handle *h;
    char *bitmap_ctx;       /* "qemu:dirty-bitmap:NAME" or NULL */
    uint64_t size;
    uint32_t chunk;
    uint64_t nchunks;
    uint8_t *state;         /* CH_* per chunk */
    PullStats st;
};

static int nbd_fail(const char *what)
{
    int e = nbd_get_errno();
    return err_set(e > 0 ? e : EIO, "NBD %s: %s", what, nbd_get_error() ? nbd_get_error() : "failed");
}

typedef struct ScanCtx {
    NbdPull *p;
    uint64_t end_alloc, end_dirty;   /* how far each context has answered */
} ScanCtx;

static void mark(NbdPull *p, uint64_t off, uint64_t len, uint8_t bit)
{
    if (off >= p->size || len == 0)
        return;
    if (len > p->size - off)
        len = p->size - off;
    uint64_t first = off / p->chunk, last = (off + len - 1) / p->chunk;
    for (uint64_t i = first; i <= last; i++)
        p->state[i] |= bit;
}

static int extent_cb(void *opaque, const char *ctx, uint64_t offset, uint32_t *entries,
                     size_t n, int *error)
{
    ScanCtx *s = opaque;
    NbdPull *p = s->p;
    bool alloc = strcmp(ctx, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0;
    bool dirty = p->bitmap_ctx && strcmp(ctx, p->bitmap_ctx) == 0;
    if (!alloc && !dirty)
        return 0;
    uint64_t off = offset;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t len = entries[i];
        uint32_t flags = entries[i + 1];
        if (len == 0 || off >= p->size)
            break;
        if (alloc && !(flags & LIBNBD_STATE_ZERO))
            mark(p, off, len, CH_NONZERO);
        if (dirty && (flags & 1))
            mark(p, off, len, CH_DIRTY);
        off += len;
    }
    if (off > p->size)
        off = p->size;
    if (alloc && off > s->end_alloc)
        s->end_alloc = off;
    if (dirty && off > s->end_dirty)
        s->end_dirty = off;
    return 0;
}

static int scan(NbdPull *p)
{
    ScanCtx s = { .p = p };
    uint64_t off = 0;
    while (off < p->size) {
        if (p->st.status_requests >= STATUS_MAX_CALLS)
            return err_set(EPROTO, "NBD server answers block status in implausibly small pieces");
        uint64_t len = p->size - off;
        if (len > STATUS_SPAN)
            len = STATUS_SPAN;
        s.end_alloc = off;
        s.end_dirty = p->bitmap_ctx ? off : p->size;
        nbd_extent_callback cb = { .callback = extent_cb, .user_data = &s };
        if (nbd_block_status(p->h, len, off, cb, 0) == -1)
            return nbd_fail("block status");
        p->st.status_requests++;
        uint64_t next = s.end_alloc < s.end_dirty ? s.end_alloc : s.end_dirty;
        if (next <= off)
            return err_set(EPROTO, "NBD block status made no progress at offset %llu",
                           (unsigned long long)off);
        off = next;
    }
    for (uint64_t i = 0; i < p->nchunks; i++) {
        uint64_t clen = p->size - i * p->chunk < p->chunk ? p->size - i * p->chunk : p->chunk;
        bool want = p->bitmap_ctx ? (p->state[i] & CH_DIRTY) : (p->state[i] & CH_NONZERO);
        if (want && (p->state[i] & CH_NONZERO))
            p->st.bytes_planned += clen;
    }
    return 0;
}

int nbd_pull_open(const char *socket, const char *export_name, const char *bitmap,
                  uint32_t chunk_size, NbdPull **out)
{
    NbdPull *p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret;
    p->chunk = chunk_size;
    p->h = nbd_create();
    if (!p->h) {
        ret = nbd_fail("create");
        goto fail;
    }
    if (bitmap) {
        if (asprintf(&p->bitmap_ctx, "qemu:dirty-bitmap:%s", bitmap) < 0) {
            p->bitmap_ctx = NULL;
            ret = err_set(ENOMEM, "out of memory");
            goto fail;
        }
        if (nbd_add_meta_context(p->h, p->bitmap_ctx) == -1) {
            ret = nbd_fail("add meta context");
            goto fail;
        }
    }
    /* libnbd would clear every read buffer first, in case a buggy server
     * left part of a read unanswered; it fails such reads anyway, and clearing
     * costs as much as hashing. */
    if (nbd_set_pread_initialize(p->h, false) == -1 ||
        nbd_add_meta_context(p->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1 ||
        nbd_set_export_name(p->h, export_name) == -1) {
        ret = nbd_fail("setup");
        goto fail;
    }
    if (nbd_connect_unix(p->h, socket) == -1) {
        ret = nbd_fail("connect");
        goto fail;
    }
    if (nbd_can_meta_context(p->h, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1) {
        ret = err_set(EPROTO, "NBD export %s offers no base:allocation", export_name);
        goto fail;
    }
    if (bitmap && nbd_can_meta_context(p->h, p->bitmap_ctx) != 1) {
        ret = err_set(EPROTO, "NBD export %s does not offer %s", export_name, p->bitmap_ctx);
        goto fail;
    }
    int64_t size = nbd_get_size(p->h);
    if (size < 0) {
        ret = nbd_fail("get size");
        goto fail;
    }
    p->size = (uint64_t)size;
    p->nchunks = (p->size + chunk_size - 1) / chunk_size;
    p->state = calloc(p->nchunks ? p->nchunks : 1, 1);
    if (!p->state) {
        ret = err_set(ENOMEM, "out of memory for %llu chunk states", (unsigned long long)p->nchunks);
        goto fail;
    }
    if ((ret = scan(p)) < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    nbd_pull_close(p);
    return ret;
}

uint64_t nbd_pull_size(const NbdPull *p)
{
    return p->size;
}

typedef struct Slot {
    void *buf;
    uint64_t off, len;
    int64_t cookie;
} Slot;

static int wait_slot(NbdPull *p, Slot *s)
{
    for (;;) {
        int r = nbd_aio_command_completed(p->h, s->cookie);
        if (r == 1)
            return 0;
        if (r == -1)
            return nbd_fail("read");
        if (nbd_poll(p->h, -1) == -1)
            return nbd_fail("poll");
    }
}

static bool wanted(const NbdPull *p, uint64_t i)
{
    return p->bitmap_ctx ? (p->state[i] & CH_DIRTY) : (p->state[i] & CH_NONZERO);
}

/* Reads go straight into the writer's chunk buffers, which are handed to its
 * worker threads as they complete (in order); the reader keeps READ_DEPTH
 * requests in flight while buffers are free. */
int nbd_pull_run(NbdPull *p, DiskWriter *dw, PullProgress progress, void *opaque,
                 volatile sig_atomic_t *stop)
{
    uint64_t piece = p->chunk > READ_PIECE ? p->chunk : READ_PIECE;
    Slot slots[READ_DEPTH] = { 0 };
    int ret = 0, head = 0, inflight = 0;
    uint64_t i = 0;
    while (i < p->nchunks || inflight) {
        if (stop && *stop) {
            ret = err_set(EINTR, "interrupted");
            goto out;
        }
        while (i < p->nchunks && inflight < READ_DEPTH) {
            if (!wanted(p, i)) {
                i++;
                continue;
            }
            /* Dirty chunks that are zero now (discarded) need no read. */
            if (!(p->state[i] & CH_NONZERO)) {
                uint64_t off = i * p->chunk;
                uint64_t len = p->size - off < p->chunk ? p->size - off : p->chunk;
                if ((ret = disk_mark_zero(dw, off, len)) < 0)
                    goto out;
                p->st.chunks_zero++;
                i++;
                continue;
            }
            /* Coalesce a run of chunks to read into one request. */
            uint64_t end = i, n = 0;
            while (end < p->nchunks && (n + 1) * p->chunk <= piece && wanted(p, end) &&
                   (p->state[end] & CH_NONZERO)) {
                end++;
                n++;
            }
            Slot *s = &slots[(head + inflight) % READ_DEPTH];
            /* Block for a buffer only when nothing is in flight to wait for. */
            ret = disk_get_buffer(dw, piece, inflight == 0, &s->buf);
            if (ret == -EAGAIN) {
                ret = 0;
                break;
            }
            if (ret < 0)
                goto out;
            s->off = i * p->chunk;
            s->len = n * p->chunk;
            if (s->off + s->len > p->size)
                s->len = p->size - s->off;
            s->cookie = nbd_aio_pread(p->h, s->buf, s->len, s->off, NBD_NULL_COMPLETION, 0);
            if (s->cookie == -1) {
                ret = nbd_fail("read");
                disk_release_buffer(dw, s->buf);
                s->buf = NULL;
                goto out;
            }
            inflight++;
            i = end;
        }
        if (!inflight)
            continue;
        Slot *s = &slots[head];
        if ((ret = wait_slot(p, s)) < 0)
            goto out;
        head = (head + 1) % READ_DEPTH;
        inflight--;
        p->st.bytes_read += s->len;
        p->st.chunks_read += (s->len + p->chunk - 1) / p->chunk;
        ret = disk_put_buffer(dw, s->off, s->buf, s->len);
        s->buf = NULL;
        if (ret < 0)
            goto out;
        if (progress)
            progress(opaque, p->st.bytes_read);
    }
    ret = disk_writer_drain(dw);
out:
    /* Requests still in flight write into our buffers: let them land first. */
    while (inflight > 0) {
        wait_slot(p, &slots[head]);
        disk_release_buffer(dw, slots[head].buf);
        slots[head].buf = NULL;
        head = (head + 1) % READ_DEPTH;
        inflight--;
    }
    return ret;
}

void nbd_pull_stats(const NbdPull *p, PullStats *out)
{
    *out = p->st;
}

void nbd_pull_close(NbdPull *p)
{
    if (!p)
        return;
    if (p->h) {
        nbd_shutdown(p->h, 0);
        nbd_close(p->h);
    }
    free(p->bitmap_ctx);
    free(p->state);
    free(p);
}
