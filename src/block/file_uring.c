/* io_uring back end of the file driver: reads, writes and flushes are
 * submitted from the caller's thread and completed on a per-node completion
 * thread.  Anything else, or any moment the ring is full, falls back to the
 * core worker pool (-ENOTSUP from file_aio_submit). */
#include "block/file_priv.h"
#include "util/error.h"
#include "util/log.h"

#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#define RING_ENTRIES 128

struct FileUring {
    struct io_uring ring;
    pthread_mutex_t lock;       /* serialises SQ access */
    pthread_t thread;
    int inflight;               /* bounded by RING_ENTRIES so the CQ never overflows */
};

bool file_uses_uring(BlockNode *bs)
{
    return ((FileState *)bs->opaque)->uring != NULL;
}

/* Finishes a request whose io_uring result was short (or EAGAIN/EINTR)
 * synchronously on the completion thread. */
static void complete(BlockAIO *req, int res)
{
    FileState *s = req->bs->opaque;
    int ret = 0;
    if (req->op == BLK_AIO_FLUSH) {
        ret = res < 0 ? err_set_errno(-res, "flush '%s'", req->bs->filename) : 0;
    } else if (res < 0 && res != -EAGAIN && res != -EINTR) {
        ret = err_set_errno(-res, "%s '%s'", req->op == BLK_AIO_READ ? "read" : "write",
                            req->bs->filename);
    } else {
        uint64_t done = res < 0 ? 0 : (uint64_t)res;
        if (done < req->bytes) {
            struct iovec rest[64];
            int n = iov_slice(rest, 64, req->iov, req->niov, done, req->bytes - done);
            ret = n < 0 ? n : file_rw_sync(s, req->op == BLK_AIO_WRITE, req->offset + done, rest, n);
        }
    }
    blk_aio_complete(req, ret);
}

static void *completion_thread(void *arg)
{
    FileUring *u = arg;
    for (;;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&u->ring, &cqe);
        if (r == -EINTR)
            continue;
        if (r < 0) {
            log_msg("io_uring wait failed: %s", strerror(-r));
            break;
        }
        BlockAIO *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        if (!req)
            break;  /* the stop marker */
        pthread_mutex_lock(&u->lock);
        u->inflight--;
        pthread_mutex_unlock(&u->lock);
        complete(req, res);
    }
    return NULL;
}

void file_uring_init(BlockNode *bs)
{
    FileState *s = bs->opaque;
    const char *no = getenv("QUAIL_NO_IO_URING");
    if (!s->want_uring || (no && *no && strcmp(no, "0")))
        return;
    FileUring *u = calloc(1, sizeof(*u));
    if (!u)
        return;
    int r = io_uring_queue_init(RING_ENTRIES, &u->ring, 0);
    if (r < 0) {
        /* Sandboxes often forbid io_uring: the worker pool does the job. */
        free(u);
        return;
    }
    pthread_mutex_init(&u->lock, NULL);
    if (pthread_create(&u->thread, NULL, completion_thread, u)) {
        io_uring_queue_exit(&u->ring);
        pthread_mutex_destroy(&u->lock);
        free(u);
        return;
    }
    s->uring = u;
}

void file_uring_cleanup(BlockNode *bs)
{
    FileState *s = bs->opaque;
    FileUring *u = s->uring;
    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&u->ring)))
        io_uring_submit(&u->ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, NULL);
    io_uring_submit(&u->ring);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->thread, NULL);
    io_uring_queue_exit(&u->ring);
    pthread_mutex_destroy(&u->lock);
    free(u);
    s->uring = NULL;
}

int file_aio_submit(BlockNode *bs, BlockAIO *req)
{
    FileState *s = bs->opaque;
    FileUring *u = s->uring;
    if (!u || (req->op != BLK_AIO_READ && req->op != BLK_AIO_WRITE && req->op != BLK_AIO_FLUSH))
        return -ENOTSUP;
    /* O_DIRECT requests take the pool's locked path: a bounced
     * read-modify-write must not race a direct write to the same block. */
    if (req->niov > 1024 || s->direct)
        return -ENOTSUP;
    /* A read the page cache can satisfy completes here: io_uring would copy
     * it inline on this thread anyway, and then wake the completion thread
     * just to report it.  That hand-off was about a quarter of a guest 4 KiB
     * read's device time.  On a miss (EAGAIN or short) io_uring reads it. */
    if (req->op == BLK_AIO_READ) {
        ssize_t r = preadv2(s->fd, req->iov, req->niov, (off_t)req->offset, RWF_NOWAIT);
        if (r >= 0 && (uint64_t)r == req->bytes) {
            blk_aio_complete(req, 0);
            return 0;
        }
    }
    pthread_mutex_lock(&u->lock);
    struct io_uring_sqe *sqe = NULL;
    if (u->inflight < RING_ENTRIES)
        sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        pthread_mutex_unlock(&u->lock);
        return -ENOTSUP;
    }
    switch (req->op) {
    case BLK_AIO_READ:
        io_uring_prep_readv(sqe, s->fd, req->iov, (unsigned)req->niov, req->offset);
        break;
    case BLK_AIO_WRITE:
        io_uring_prep_writev(sqe, s->fd, req->iov, (unsigned)req->niov, req->offset);
        break;
    default:
        io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    u->inflight++;
    int r = io_uring_submit(&u->ring);
    if (r < 0) {
        /* The SQE stays queued and goes with the next submit; report nothing. */
        log_msg("io_uring submit: %s", strerror(-r));
    }
    pthread_mutex_unlock(&u->lock);
    return 0;
}
