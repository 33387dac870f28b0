/* Request entry points: bounds checks, in-flight accounting, and the I/O
 * worker pool that runs asynchronous requests of drivers without native
 * async support (and of the file driver when io_uring is unavailable). */
#include "block/node.h"
#include "block/dirty_bitmap.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define POOL_THREADS 4

uint64_t iov_size(const struct iovec *iov, int niov)
{
    uint64_t n = 0;
    for (int i = 0; i < niov; i++)
        n += iov[i].iov_len;
    return n;
}

/* Walks [off, off+len) of the vector calling fn on each piece. */
#define IOV_WALK(iov, niov, off, len, BODY) do { \
        uint64_t o_ = (off), l_ = (len), done_ = 0; \
        for (int i_ = 0; i_ < (niov) && l_; i_++) { \
            if (o_ >= (iov)[i_].iov_len) { o_ -= (iov)[i_].iov_len; continue; } \
            uint64_t n_ = (iov)[i_].iov_len - o_; \
            if (n_ > l_) n_ = l_; \
            uint8_t *p_ = (uint8_t *)(iov)[i_].iov_base + o_; \
            BODY; \
            done_ += n_; l_ -= n_; o_ = 0; \
            (void)done_; \
        } \
    } while (0)

void iov_memset(struct iovec *iov, int niov, uint64_t off, int c, uint64_t len)
{
    IOV_WALK(iov, niov, off, len, memset(p_, c, n_));
}

void iov_to_buf(const struct iovec *iov, int niov, uint64_t off, void *buf, uint64_t len)
{
    IOV_WALK(iov, niov, off, len, memcpy((uint8_t *)buf + done_, p_, n_));
}

void iov_from_buf(struct iovec *iov, int niov, uint64_t off, const void *buf, uint64_t len)
{
    IOV_WALK(iov, niov, off, len, memcpy(p_, (const uint8_t *)buf + done_, n_));
}

int iov_slice(struct iovec *dst, int max, const struct iovec *src, int niov,
              uint64_t off, uint64_t len)
{
    int n = 0;
    int err = 0;
    IOV_WALK(src, niov, off, len, {
        if (n == max) { err = 1; break; }
        dst[n].iov_base = p_;
        dst[n].iov_len = n_;
        n++;
    });
    if (err)
        return err_set(EINVAL, "I/O vector too fragmented");
    return n;
}

static void inflight_inc(BlockNode *bs)
{
    pthread_mutex_lock(&bs->inflight_lock);
    bs->inflight++;
    pthread_mutex_unlock(&bs->inflight_lock);
}

static void inflight_dec(BlockNode *bs)
{
    pthread_mutex_lock(&bs->inflight_lock);
    if (--bs->inflight == 0)
        pthread_cond_broadcast(&bs->inflight_cond);
    pthread_mutex_unlock(&bs->inflight_lock);
}

void blk_drain(BlockNode *bs)
{
    pthread_mutex_lock(&bs->inflight_lock);
    while (bs->inflight > 0)
        pthread_cond_wait(&bs->inflight_cond, &bs->inflight_lock);
    pthread_mutex_unlock(&bs->inflight_lock);
}

void blk_drain_all(void)
{
    for (BlockNode *bs = blk_next_node(NULL); bs; bs = blk_next_node(bs))
        blk_drain(bs);
}

int64_t blk_getlength(BlockNode *bs)
{
    if (bs->drv->getlength)
        return bs->drv->getlength(bs);
    if (bs->file)
        return blk_getlength(bs->file->node);
    return err_set(ENOTSUP, "driver '%s' has no length", bs->drv->name);
}

int64_t blk_allocated_size(BlockNode *bs)
{
    if (bs->drv->allocated_size)
        return bs->drv->allocated_size(bs);
    if (bs->file)
        return blk_allocated_size(bs->file->node);
    return -ENOTSUP;
}

static int check_range(BlockNode *bs, uint64_t off, uint64_t len, bool write)
{
    if (write && bs->read_only)
        return err_set(EPERM, "Block node '%s' is read-only", bs->node_name);
    if (off > INT64_MAX || len > INT64_MAX - off)
        return err_set(EINVAL, "request offset or length out of range");
    if (bs->drv->protocol)
        return 0;
    int64_t size = blk_getlength(bs);
    if (size < 0)
        return (int)size;
    if (off > (uint64_t)size || len > (uint64_t)size - off)
        return err_set(EIO, "request [%llu, +%llu) beyond the end of '%s' (%lld bytes)",
                       (unsigned long long)off, (unsigned long long)len, bs->node_name,
                       (long long)size);
    return 0;
}

int blk_aio_run_sync(BlockAIO *req)
{
    BlockNode *bs = req->bs;
    const BlockDriver *d = bs->drv;
    switch (req->op) {
    case BLK_AIO_READ:
        if (!d->preadv)
            return err_set(ENOTSUP, "driver '%s' cannot read", d->name);
        return d->preadv(bs, req->offset, req->bytes, req->iov, req->niov);
    case BLK_AIO_WRITE:
        if (!d->pwritev)
            return err_set(ENOTSUP, "driver '%s' cannot write", d->name);
        return d->pwritev(bs, req->offset, req->bytes, req->iov, req->niov);
    case BLK_AIO_FLUSH:
        if (d->flush)
            return d->flush(bs);
        return bs->file ? blk_flush(bs->file->node) : 0;
    case BLK_AIO_DISCARD:
        return d->discard ? d->discard(bs, req->offset, req->bytes) : 0;
    case BLK_AIO_ZERO:
        if (d->write_zeroes)
            return d->write_zeroes(bs, req->offset, req->bytes, req->flags);
        else {
            /* Emulate with bounded zero buffers. */
            static const uint8_t zeros[65536];
            uint64_t off = req->offset, left = req->bytes;
            while (left) {
                uint64_t n = left < sizeof(zeros) ? left : sizeof(zeros);
                struct iovec v = { (void *)zeros, n };
                int ret = d->pwritev(bs, off, n, &v, 1);
                if (ret < 0)
                    return ret;
                off += n;
                left -= n;
            }
            return 0;
        }
    }
    return err_set(EINVAL, "bad request type");
}

static int sync_req(BlockNode *bs, int op, uint64_t off, uint64_t len, struct iovec *iov,
                    int niov, unsigned flags)
{
    bool write = op != BLK_AIO_READ && op != BLK_AIO_FLUSH;
    if (op != BLK_AIO_FLUSH) {
        int ret = check_range(bs, off, len, write);
        if (ret < 0)
            return ret;
    } else if (bs->read_only) {
        return 0;
    }
    BlockAIO req = { .bs = bs, .op = op, .offset = off, .bytes = len, .iov = iov,
                     .niov = niov, .flags = flags };
    inflight_inc(bs);
    int ret = blk_aio_run_sync(&req);
    if (ret >= 0 && write)
        dbm_mark_node(bs, off, len);    /* dirty tracking is core, as in QEMU */
    inflight_dec(bs);
    return ret;
}

int blk_preadv(BlockNode *bs, uint64_t off, struct iovec *iov, int niov)
{
    return sync_req(bs, BLK_AIO_READ, off, iov_size(iov, niov), iov, niov, 0);
}

int blk_pwritev(BlockNode *bs, uint64_t off, struct iovec *iov, int niov)
{
    return sync_req(bs, BLK_AIO_WRITE, off, iov_size(iov, niov), iov, niov, 0);
}

int blk_pread(BlockNode *bs, uint64_t off, void *buf, uint64_t len)
{
    struct iovec v = { buf, len };
    return blk_preadv(bs, off, &v, 1);
}

int blk_pwrite(BlockNode *bs, uint64_t off, const void *buf, uint64_t len)
{
    struct iovec v = { (void *)buf, len };
    return blk_pwritev(bs, off, &v, 1);
}

int blk_flush(BlockNode *bs)
{
    return sync_req(bs, BLK_AIO_FLUSH, 0, 0, NULL, 0, 0);
}

int blk_pwrite_compressed(BlockNode *bs, uint64_t off, const void *buf, uint64_t len)
{
    if (!bs->drv->pwrite_compressed)
        return err_set(ENOTSUP, "Image format '%s' does not support compressed writes", bs->drv->name);
    int ret = check_range(bs, off, len, true);
    if (ret < 0)
        return ret;
    inflight_inc(bs);
    ret = bs->drv->pwrite_compressed(bs, off, buf, len);
    if (ret >= 0)
        dbm_mark_node(bs, off, len);
    inflight_dec(bs);
    return ret;
}

int blk_discard(BlockNode *bs, uint64_t off, uint64_t len)
{
    return sync_req(bs, BLK_AIO_DISCARD, off, len, NULL, 0, 0);
}

int blk_write_zeroes(BlockNode *bs, uint64_t off, uint64_t len, unsigned flags)
{
    return sync_req(bs, BLK_AIO_ZERO, off, len, NULL, 0, flags);
}

int blk_block_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                     uint64_t *map, BlockNode **file)
{
    int64_t size = blk_getlength(bs);
    if (size < 0)
        return (int)size;
    if (off >= (uint64_t)size || bytes == 0) {
        *pnum = 0;
        return 0;
    }
    if (bytes > (uint64_t)size - off)
        bytes = (uint64_t)size - off;
    *map = 0;
    *file = NULL;
    if (!bs->drv->block_status) {
        *pnum = bytes;
        return BLK_STATUS_DATA | BLK_STATUS_ALLOCATED;
    }
    int ret = bs->drv->block_status(bs, off, bytes, pnum, map, file);
    if (ret >= 0 && (*pnum == 0 || *pnum > bytes))
        return err_set(EIO, "driver '%s' returned a bad block status length", bs->drv->name);
    return ret;
}

int blk_truncate(BlockNode *bs, uint64_t size, bool shrink)
{
    if (bs->read_only)
        return err_set(EPERM, "Block node '%s' is read-only", bs->node_name);
    if (!bs->drv->truncate)
        return err_set(ENOTSUP, "Image format '%s' does not support resizing", bs->drv->name);
    blk_drain(bs);
    return bs->drv->truncate(bs, size, shrink);
}

/* --- asynchronous requests --- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static BlockAIO *pool_head, *pool_tail;
static int pool_started;

static void *pool_worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool_lock);
        while (!pool_head)
            pthread_cond_wait(&pool_cond, &pool_lock);
        BlockAIO *req = pool_head;
        pool_head = req->next;
        if (!pool_head)
            pool_tail = NULL;
        pthread_mutex_unlock(&pool_lock);
        blk_aio_complete(req, blk_aio_run_sync(req));
    }
    return NULL;
}

static int pool_submit(BlockAIO *req)
{
    pthread_mutex_lock(&pool_lock);
    while (pool_started < POOL_THREADS) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&t, &a, pool_worker, NULL);
        pthread_attr_destroy(&a);
        if (e) {
            if (pool_started)
                break;
            pthread_mutex_unlock(&pool_lock);
            return err_set_errno(e, "cannot start I/O worker");
        }
        pool_started++;
    }
    req->next = NULL;
    if (pool_tail)
        pool_tail->next = req;
    else
        pool_head = req;
    pool_tail = req;
    pthread_cond_signal(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

void blk_aio_complete(BlockAIO *req, int ret)
{
    BlockNode *bs = req->bs;
    /* Marked before the caller learns of completion, so a bitmap read after
     * the guest saw its write done always has it. */
    if (ret >= 0 && req->op != BLK_AIO_READ && req->op != BLK_AIO_FLUSH)
        dbm_mark_node(bs, req->offset, req->bytes);
    req->cb(req->opaque, ret);
    free(req);
    inflight_dec(bs);
}

static int aio_submit(BlockNode *bs, int op, uint64_t off, uint64_t len, struct iovec *iov,
                      int niov, unsigned flags, BlockCompletionFunc *cb, void *opaque)
{
    if (op != BLK_AIO_FLUSH) {
        int ret = check_range(bs, off, len, op != BLK_AIO_READ);
        if (ret < 0)
            return ret;
    }
    BlockAIO *req = calloc(1, sizeof(*req));
    if (!req)
        return err_set(ENOMEM, "out of memory");
    *req = (BlockAIO){ .bs = bs, .op = op, .offset = off, .bytes = len, .iov = iov,
                       .niov = niov, .flags = flags, .cb = cb, .opaque = opaque };
    inflight_inc(bs);
    int ret = -ENOTSUP;
    if (bs->drv->aio_submit)
        ret = bs->drv->aio_submit(bs, req);
    if (ret == -ENOTSUP)
        ret = pool_submit(req);
    if (ret < 0) {
        free(req);
        inflight_dec(bs);
    }
    return ret;
}

int blk_aio_preadv(BlockNode *bs, uint64_t off, struct iovec *iov, int niov,
                   BlockCompletionFunc *cb, void *opaque)
{
    return aio_submit(bs, BLK_AIO_READ, off, iov_size(iov, niov), iov, niov, 0, cb, opaque);
}

int blk_aio_pwritev(BlockNode *bs, uint64_t off, struct iovec *iov, int niov,
                    BlockCompletionFunc *cb, void *opaque)
{
    return aio_submit(bs, BLK_AIO_WRITE, off, iov_size(iov, niov), iov, niov, 0, cb, opaque);
}

int blk_aio_flush(BlockNode *bs, BlockCompletionFunc *cb, void *opaque)
{
    return aio_submit(bs, BLK_AIO_FLUSH, 0, 0, NULL, 0, 0, cb, opaque);
}

int blk_aio_discard(BlockNode *bs, uint64_t off, uint64_t len,
                    BlockCompletionFunc *cb, void *opaque)
{
    return aio_submit(bs, BLK_AIO_DISCARD, off, len, NULL, 0, 0, cb, opaque);
}

int blk_aio_write_zeroes(BlockNode *bs, uint64_t off, uint64_t len, unsigned flags,
                         BlockCompletionFunc *cb, void *opaque)
{
    return aio_submit(bs, BLK_AIO_ZERO, off, len, NULL, 0, flags, cb, opaque);
}
