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
/* Chunks are read into buffers of READ_BUFFER bytes (or one chunk, when
 * chunks are larger), each handed to the writer's workers whole; a buffer is
 * filled by requests of at most READ_REQUEST bytes, READ_WINDOW bytes of them
 * in flight.  This is tuned for QEMU's NBD server on a small machine: it
 * allocates a buffer per request, and with more than about 1 MiB in flight a
 * fresh QEMU's malloc gives the memory back to the kernel between requests,
 * so it faults every page in again.  QEMU CPU per 768 MiB read, fresh QEMU,
 * request size x in flight: 4 MiB x 4: 197k faults, 0.68 s; 1 MiB x 4: 139k,
 * 0.60 s; 512 KiB x 3: 33k, 0.41 s; 512 KiB x 2: none, 0.33 s; 256 KiB x 4:
 * none, 0.35-0.41 s; 128 KiB x 4: none, 0.55 s (more round trips). */
#define READ_BUFFER      (1u << 20)
#define READ_REQUEST     (512u << 10)
#define READ_WINDOW      (1u << 20)
#define READ_SLOTS       4      /* buffers being filled or waiting to be handed over */
#define READ_MAX_REQS    16     /* ring of requests; the window keeps it far from full */

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
    uint64_t issued;        /* bytes of [off, off+len) asked for so far */
    unsigned pending;       /* requests into buf not completed yet */
} Slot;

typedef struct Req {
    int64_t cookie;
    Slot *slot;
    uint64_t len;
} Req;

typedef struct Reader {
    NbdPull *p;
    DiskWriter *dw;
    Slot slots[READ_SLOTS];
    unsigned shead, nslots;     /* ring of buffers, oldest first */
    Req reqs[READ_MAX_REQS];
    unsigned rhead, nreqs;      /* ring of requests in flight, oldest first */
    uint64_t inflight;          /* bytes */
    uint64_t next;              /* first chunk not yet planned into a buffer */
    uint64_t piece;             /* buffer size */
} Reader;

static bool wanted(const NbdPull *p, uint64_t i)
{
    return p->bitmap_ctx ? (p->state[i] & CH_DIRTY) : (p->state[i] & CH_NONZERO);
}

/* Waits for the oldest request in flight (requests complete about in order). */
static int wait_oldest(Reader *r)
{
    Req *q = &r->reqs[r->rhead];
    int ret = 0;
    for (;;) {
        int c = nbd_aio_command_completed(r->p->h, q->cookie);
        if (c == 1)
            break;
        if (c == -1) {
            ret = nbd_fail("read");
            break;
        }
        if (nbd_poll(r->p->h, -1) == -1) {
            /* The request may still land in the buffer: keep it pending. */
            return nbd_fail("poll");
        }
    }
    q->slot->pending--;
    r->inflight -= q->len;
    r->rhead = (r->rhead + 1) % READ_MAX_REQS;
    r->nreqs--;
    return ret;
}

/* Plans the next buffer: skips unwanted chunks, marks dirty chunks that are
 * zero now (discarded) without reading them, and takes a buffer for the next
 * run of chunks to read.  Returns 1 with a new slot, 0 when there is nothing
 * left to read or (wait false) no free buffer. */
static int open_slot(Reader *r, bool wait)
{
    NbdPull *p = r->p;
    while (r->next < p->nchunks) {
        uint64_t i = r->next;
        if (!wanted(p, i)) {
            r->next++;
            continue;
        }
        if (!(p->state[i] & CH_NONZERO)) {
            uint64_t off = i * p->chunk;
            uint64_t len = p->size - off < p->chunk ? p->size - off : p->chunk;
            int ret = disk_mark_zero(r->dw, off, len);
            if (ret < 0)
                return ret;
            p->st.chunks_zero++;
            r->next++;
            continue;
        }
        /* Coalesce a run of chunks to read into one buffer. */
        uint64_t end = i, n = 0;
        while (end < p->nchunks && (n + 1) * p->chunk <= r->piece && wanted(p, end) &&
               (p->state[end] & CH_NONZERO)) {
            end++;
            n++;
        }
        Slot *s = &r->slots[(r->shead + r->nslots) % READ_SLOTS];
        int ret = disk_get_buffer(r->dw, r->piece, wait, &s->buf);
        if (ret == -EAGAIN)
            return 0;
        if (ret < 0)
            return ret;
        s->off = i * p->chunk;
        s->len = n * p->chunk;
        if (s->off + s->len > p->size)
            s->len = p->size - s->off;
        s->issued = 0;
        s->pending = 0;
        r->nslots++;
        r->next = end;
        return 1;
    }
    return 0;
}

/* Asks for the next piece of the newest buffer still to be requested. */
static int issue(Reader *r, Slot *s)
{
    uint64_t len = s->len - s->issued;
    if (len > READ_REQUEST)
        len = READ_REQUEST;
    Req *q = &r->reqs[(r->rhead + r->nreqs) % READ_MAX_REQS];
    q->cookie = nbd_aio_pread(r->p->h, (uint8_t *)s->buf + s->issued, len, s->off + s->issued,
                              NBD_NULL_COMPLETION, 0);
    if (q->cookie == -1)
        return nbd_fail("read");
    q->slot = s;
    q->len = len;
    r->nreqs++;
    r->inflight += len;
    s->issued += len;
    s->pending++;
    return 0;
}

/* Reads go straight into the writer's buffers, which are handed to its worker
 * threads as they fill up (in order); the reader keeps READ_WINDOW bytes of
 * requests in flight while buffers are free. */
int nbd_pull_run(NbdPull *p, DiskWriter *dw, PullProgress progress, void *opaque,
                 volatile sig_atomic_t *stop)
{
    Reader r = { .p = p, .dw = dw };
    r.piece = p->chunk > READ_BUFFER ? p->chunk : READ_BUFFER;
    int ret = 0;
    for (;;) {
        if (stop && *stop) {
            ret = err_set(EINTR, "interrupted");
            goto out;
        }
        /* Fill the window: the newest buffer first, then new ones. */
        while (r.nreqs < READ_MAX_REQS && (r.nreqs == 0 || r.inflight < READ_WINDOW)) {
            Slot *s = r.nslots ? &r.slots[(r.shead + r.nslots - 1) % READ_SLOTS] : NULL;
            if (!s || s->issued == s->len) {
                if (r.nslots == READ_SLOTS)
                    break;
                /* Block for a buffer only when we hold none: otherwise
                 * waiting for our requests and handing their buffers over
                 * is what keeps the workers busy. */
                ret = open_slot(&r, r.nslots == 0);
                if (ret < 0)
                    goto out;
                if (ret == 0)
                    break;
                continue;
            }
            if ((ret = issue(&r, s)) < 0)
                goto out;
        }
        if (r.nreqs && (ret = wait_oldest(&r)) < 0)
            goto out;
        /* Hand over the buffers that are complete, oldest first. */
        bool handed = false;
        while (r.nslots) {
            Slot *s = &r.slots[r.shead];
            if (s->issued < s->len || s->pending)
                break;
            r.shead = (r.shead + 1) % READ_SLOTS;
            r.nslots--;
            p->st.bytes_read += s->len;
            p->st.chunks_read += (s->len + p->chunk - 1) / p->chunk;
            ret = disk_put_buffer(dw, s->off, s->buf, s->len);
            s->buf = NULL;
            if (ret < 0)
                goto out;
            handed = true;
        }
        if (handed && progress)
            progress(opaque, p->st.bytes_read);
        if (!r.nreqs && !r.nslots && r.next >= p->nchunks)
            break;
    }
    ret = disk_writer_drain(dw);
out:
    /* Requests still in flight write into our buffers: let them land first,
     * unless the connection is gone and nothing more will land. */
    while (r.nreqs > 0)
        if (wait_oldest(&r) < 0 && (nbd_aio_is_dead(p->h) == 1 || nbd_aio_is_closed(p->h) == 1))
            break;
    for (; r.nslots; r.nslots--, r.shead = (r.shead + 1) % READ_SLOTS) {
        disk_release_buffer(dw, r.slots[r.shead].buf);
        r.slots[r.shead].buf = NULL;
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
