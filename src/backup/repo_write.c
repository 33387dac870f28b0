/* Writing a backup: chunks are hashed, compressed and appended to packs by
 * worker threads as they arrive (each worker fills its own pack); full packs
 * are staged unsynced.  At commit the packs are made durable in one go and
 * published under their names, then the index file that locates their chunks
 * is written, and the manifest last (see docs/backup-repository.md,
 * "Durability"). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "backup/chunk.h"
#include "backup/chunkset.h"
#include "backup/manifest.h"
#include "backup/repo_internal.h"
#include "util/error.h"

struct DiskWriter {
    BackupWriter *w;
    DiskIndex d;
};

/* A buffer handed to the workers by disk_put_buffer(). */
typedef struct PoolBuf {
    uint8_t *data;
    size_t refs;                 /* chunks of it not yet stored */
    struct PoolBuf *next_free;
} PoolBuf;

typedef struct Task {
    DiskWriter *dw;
    uint64_t offset;
    const uint8_t *data;
    size_t len;
    PoolBuf *buf;
} Task;

typedef struct Worker {
    BackupWriter *w;
    pthread_t tid;
    ChunkCoder coder;
    PackBuilder pack;
} Worker;

struct BackupWriter {
    Repo *repo;
    Manifest m;                  /* disks filled in at commit */
    DiskWriter **disks;
    size_t ndisks;
    /* Everything below lock guards is shared with the workers. */
    pthread_mutex_t lock;
    ChunkIndex *index;           /* the repository's; only read during the backup */
    ChunkSet known;              /* chunks this backup stored or is storing */
    BackupStats stats;
    uint8_t (*staged)[PACK_ID_LEN]; /* packs staged, not yet published (stage() stores) */
    size_t nstaged, staged_cap;
    IndexEntry *ents;            /* where this backup's new chunks went */
    size_t nents, ents_cap;
    char suffix[40];             /* of staged files: ".tmp.<pid>.<random>" */
    bool serial_store;           /* the store is not thread-safe: store_lock */
    pthread_mutex_t store_lock;
    ChunkCoder coder;            /* for disk_put_chunk() on the caller's thread */
    PackBuilder pack;            /* likewise */
    size_t pack_size;            /* 0: PACK_TARGET_SIZE */
    void (*step_hook)(void);     /* tests: between the steps of commit */
    /* worker pool, started by the first backup_buffer_get() */
    unsigned jobs;
    Worker *workers;
    unsigned nworkers;
    PoolBuf *bufs, *free_bufs;
    unsigned nbufs;
    size_t bufsize;
    Task *queue;
    size_t qcap, qhead, qlen, busy;
    bool stopping;
    pthread_cond_t work_cv, done_cv;
    int error;                   /* first worker failure, message in errmsg */
    char errmsg[512];
};

static void pool_stop(BackupWriter *w);
static void discard_pack(BackupWriter *w, PackBuilder *pb);

static void writer_free(BackupWriter *w)
{
    pool_stop(w);
    chunk_coder_free(&w->coder);
    discard_pack(w, &w->pack);
    pack_builder_free(&w->pack);
    free(w->staged);
    free(w->ents);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->store_lock);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    for (size_t i = 0; i < w->ndisks; i++) {
        free(w->disks[i]->d.name);
        free(w->disks[i]->d.bitmap);
        free(w->disks[i]->d.chunks);
        free(w->disks[i]);
    }
    free(w->disks);
    free(w->m.vm_name);
    free(w->m.vm_uuid);
    free(w->m.parent);
    chunkset_free(&w->known);
    free(w);
}

int repo_backup_begin(Repo *repo, const BackupMeta *meta, BackupWriter **out)
{
    if (repo->mode != REPO_WRITE)
        return err_set(EPERM, "repository %s is open read-only", repo->store->url);
    if (!meta->vm_name || !meta->vm_name[0])
        return err_set(EINVAL, "a backup needs a VM name");
    if (meta->type == BACKUP_INCREMENTAL) {
        if (!meta->parent_id || !manifest_id_valid(meta->parent_id))
            return err_set(EINVAL, "an incremental backup needs a valid parent backup id");
        char path[REPO_ID_MAX + 16];
        snprintf(path, sizeof(path), "backups/%s.json", meta->parent_id);
        if (repo->store->ops->stat(repo->store, path, NULL) < 0)
            return err_set(ENOENT, "parent backup %s does not exist", meta->parent_id);
    }
    ChunkIndex *index;
    int ret = repo_index(repo, &index);
    if (ret < 0)
        return ret;
    BackupWriter *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(ENOMEM, "out of memory");
    w->repo = repo;
    w->index = index;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->store_lock, NULL);
    pthread_cond_init(&w->work_cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    w->serial_store = !repo->store->ops->thread_safe;
    w->m.version = MANIFEST_VERSION;
    w->m.time = meta->time ? meta->time : (int64_t)time(NULL);
    w->m.type = meta->type;
    w->m.chunk_size = repo->chunk_size;
    w->m.vm_name = strdup(meta->vm_name);
    w->m.vm_uuid = meta->vm_uuid ? strdup(meta->vm_uuid) : NULL;
    w->m.parent = meta->type == BACKUP_INCREMENTAL ? strdup(meta->parent_id) : NULL;
    if (!w->m.vm_name || (meta->vm_uuid && !w->m.vm_uuid) ||
        (meta->type == BACKUP_INCREMENTAL && !w->m.parent)) {
        writer_free(w);
        return err_set(ENOMEM, "out of memory");
    }
    /* Sortable by time; the random tail keeps ids of the same second apart. */
    time_t t = (time_t)w->m.time;
    struct tm tm;
    uint32_t rnd = 0;
    if (!gmtime_r(&t, &tm) || getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        writer_free(w);
        return err_set(EINVAL, "bad backup time");
    }
    uint32_t tag = 0;
    if (getrandom(&tag, sizeof(tag), 0) != sizeof(tag)) {
        writer_free(w);
        return err_set(EIO, "no random numbers");
    }
    /* gc removes names with ".tmp." in them: what a killed writer staged. */
    snprintf(w->suffix, sizeof(w->suffix), ".tmp.%d.%08x", (int)getpid(), tag);
    snprintf(w->m.id, sizeof(w->m.id), "%04d%02d%02dT%02d%02d%02dZ-%08x", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd);
    *out = w;
    return 0;
}

const char *backup_writer_id(const BackupWriter *w)
{
    return w->m.id;
}

static size_t chunk_len(uint64_t disk_size, uint64_t at, uint32_t chunk_size)
{
    return disk_size - at < chunk_size ? (size_t)(disk_size - at) : chunk_size;
}

static int carry_resized_chunk(DiskWriter *dw, const DiskIndex *parent, uint64_t i)
{
    uint64_t at = i * (uint64_t)dw->d.chunk_size;
    size_t len = chunk_len(dw->d.size, at, dw->d.chunk_size);
    uint8_t *buf = calloc(1, dw->d.chunk_size);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    int got = repo_read_chunk(dw->w->repo, parent->chunks[i].hash, buf, dw->d.chunk_size);
    int ret = got < 0 ? got : 0;
    if (ret == 0) {
        if ((size_t)got < len)
            memset(buf + got, 0, len - got);
        ret = disk_put_chunk(dw, at, buf, len);
    }
    free(buf);
    return ret;
}

int backup_disk_begin(BackupWriter *w, const char *disk_name, uint64_t size,
                      const char *bitmap_name, const DiskIndex *parent, DiskWriter **out)
{
    if (!disk_name || !disk_name[0])
        return err_set(EINVAL, "a disk needs a name");
    for (size_t i = 0; i < w->ndisks; i++)
        if (!strcmp(w->disks[i]->d.name, disk_name))
            return err_set(EEXIST, "disk %s is already in this backup", disk_name);
    if (parent && parent->chunk_size != w->m.chunk_size)
        return err_set(EINVAL, "parent index of %s has a different chunk size", disk_name);
    if (size > (1ull << 50))
        return err_set(EINVAL, "disk %s is too large", disk_name);
    DiskWriter *dw = calloc(1, sizeof(*dw));
    void *p = realloc(w->disks, (w->ndisks + 1) * sizeof(*w->disks));
    if (!dw || !p) {
        free(dw);
        return err_set(ENOMEM, "out of memory");
    }
    w->disks = p;
    dw->w = w;
    dw->d.size = size;
    dw->d.chunk_size = w->m.chunk_size;
    dw->d.nchunks = (size + dw->d.chunk_size - 1) / dw->d.chunk_size;
    dw->d.name = strdup(disk_name);
    dw->d.bitmap = bitmap_name ? strdup(bitmap_name) : NULL;
    dw->d.chunks = calloc(dw->d.nchunks ? dw->d.nchunks : 1, sizeof(ChunkEntry));
    if (!dw->d.name || (bitmap_name && !dw->d.bitmap) || !dw->d.chunks) {
        free(dw->d.name);
        free(dw->d.bitmap);
        free(dw->d.chunks);
        free(dw);
        return err_set(ENOMEM, "out of memory");
    }
    uint64_t resized = UINT64_MAX;
    for (uint64_t i = 0; i < dw->d.nchunks; i++) {
        uint64_t at = i * (uint64_t)dw->d.chunk_size;
        bool inherit = parent && i < parent->nchunks &&
                       chunk_len(parent->size, at, dw->d.chunk_size) ==
                       chunk_len(size, at, dw->d.chunk_size);
        if (inherit)
            dw->d.chunks[i] = parent->chunks[i];
        else
            dw->d.chunks[i].zero = true;
        if (parent && i < parent->nchunks && !inherit && !parent->chunks[i].zero)
            resized = i;
    }
    w->disks[w->ndisks++] = dw;
    /* The disk was resized and its old last chunk now has another length.  A
     * dirty bitmap does not mark it (resizing is no write), so it is carried
     * over here: the old data, cut or zero-extended (a grown disk reads zeroes
     * there).  If it is dirty too, the data path's put replaces it. */
    if (resized != UINT64_MAX) {
        int ret = carry_resized_chunk(dw, parent, resized);
        if (ret < 0) {
            w->ndisks--;
            free(dw->d.name);
            free(dw->d.bitmap);
            free(dw->d.chunks);
            free(dw);
            return err_prefix(ret, "carrying over the resized end of disk %s", disk_name);
        }
    }
    *out = dw;
    return 0;
}

static int check_range(DiskWriter *dw, uint64_t offset, uint64_t len, bool multi)
{
    const DiskIndex *d = &dw->d;
    if (offset % d->chunk_size || offset >= d->size || len == 0 || len > d->size - offset)
        return err_set(EINVAL, "disk %s: range %llu+%llu is not chunk aligned or beyond %llu",
                       d->name, (unsigned long long)offset, (unsigned long long)len,
                       (unsigned long long)d->size);
    if (len % d->chunk_size && offset + len != d->size)
        return err_set(EINVAL, "disk %s: length %llu is not a whole number of chunks",
                       d->name, (unsigned long long)len);
    if (!multi && len > d->chunk_size)
        return err_set(EINVAL, "disk %s: %llu bytes is more than one chunk", d->name,
                       (unsigned long long)len);
    return 0;
}

static void record_error(BackupWriter *w, int ret)
{
    pthread_mutex_lock(&w->lock);
    if (!w->error) {
        w->error = ret;
        snprintf(w->errmsg, sizeof(w->errmsg), "%s", err_msg());
    }
    pthread_mutex_unlock(&w->lock);
}

/* Writes a pack out: staged (unsynced, published at commit) where the store
 * can, else atomically and durably right away.  Its entries join the writer's
 * list for the index file. */
/* Makes room for one more staged pack and n more entries; under w->lock. */
static bool reserve_locked(BackupWriter *w, bool staged, size_t n)
{
    if (staged && w->nstaged == w->staged_cap) {
        size_t cap = w->staged_cap ? 2 * w->staged_cap : 64;
        void *p = realloc(w->staged, cap * sizeof(*w->staged));
        if (!p)
            return false;
        w->staged = p;
        w->staged_cap = cap;
    }
    if (w->nents + n > w->ents_cap) {
        size_t cap = w->ents_cap ? 2 * w->ents_cap : 1024;
        while (cap < w->nents + n)
            cap *= 2;
        void *p = realloc(w->ents, cap * sizeof(*w->ents));
        if (!p)
            return false;
        w->ents = p;
        w->ents_cap = cap;
    }
    return true;
}

static int flush_pack(BackupWriter *w, PackBuilder *pb)
{
    if (!pb->n)
        return 0;
    Store *st = w->repo->store;
    char path[PACK_PATH_LEN];
    pack_path(pb->id, path);
    bool staged = st->ops->stage != NULL;
    int ret;
    if (pb->fh) {
        ret = st->ops->stage_close(st, pb->fh, false);
        pb->fh = NULL;
    } else if (staged) {
        ret = st->ops->stage(st, path, w->suffix, NULL, 0, pb->buf, pb->len);
    } else {
        if (w->serial_store)
            pthread_mutex_lock(&w->store_lock);
        ret = st->ops->write_atomic(st, path, pb->buf, pb->len, true);
        if (w->serial_store)
            pthread_mutex_unlock(&w->store_lock);
    }
    if (ret < 0) {
        pack_builder_reset(pb);
        return err_prefix(ret, "writing pack %s", path);
    }
    pthread_mutex_lock(&w->lock);
    bool room = reserve_locked(w, staged, pb->n);
    if (room) {
        if (staged)
            memcpy(w->staged[w->nstaged++], pb->id, PACK_ID_LEN);
        memcpy(w->ents + w->nents, pb->ents, pb->n * sizeof(*pb->ents));
        w->nents += pb->n;
    }
    pthread_mutex_unlock(&w->lock);
    if (!room) {
        /* Not staged in the list, so nobody else would remove it. */
        char tmp[PACK_PATH_LEN + sizeof(w->suffix)];
        snprintf(tmp, sizeof(tmp), "%s%s", path, w->suffix);
        if (staged)
            st->ops->remove(st, tmp);
        return err_set(ENOMEM, "out of memory");
    }
    pack_builder_reset(pb);
    return 0;
}

/* Drops a pack that is being written straight to its staged file. */
static void discard_pack(BackupWriter *w, PackBuilder *pb)
{
    if (pb->fh) {
        w->repo->store->ops->stage_close(w->repo->store, pb->fh, true);
        pb->fh = NULL;
    }
    pack_builder_reset(pb);
}

/* Appends a record to pb: straight to its staged file where the store can
 * (no copy through a buffer), else into pb's buffer. */
static int append_record(BackupWriter *w, PackBuilder *pb, const uint8_t hash[REPO_HASH_LEN],
                         const uint8_t hdr[CHUNK_HEADER_LEN], const void *payload, size_t plen)
{
    Store *st = w->repo->store;
    if (!st->ops->stage_open)
        return pack_builder_add(pb, hash, hdr, payload, plen);
    int ret;
    if (!pb->fh) {
        uint8_t head[PACK_HEADER_LEN];
        char path[PACK_PATH_LEN];
        pack_builder_reset(pb);
        if ((ret = pack_builder_begin(pb, head)) < 0)
            return ret;
        pack_path(pb->id, path);
        if ((ret = st->ops->stage_open(st, path, w->suffix, &pb->fh)) < 0) {
            pack_builder_reset(pb);
            return ret;
        }
        struct iovec v = { head, sizeof(head) };
        if ((ret = st->ops->stage_append(st, pb->fh, &v, 1)) < 0) {
            discard_pack(w, pb);
            return ret;
        }
    }
    struct iovec v[3] = { { (void *)hash, REPO_HASH_LEN }, { (void *)hdr, CHUNK_HEADER_LEN },
                          { (void *)payload, plen } };
    if ((ret = st->ops->stage_append(st, pb->fh, v, 3)) < 0 ||
        (ret = pack_builder_note(pb, hash, PACK_RECORD_HDR + plen)) < 0) {
        discard_pack(w, pb);     /* the file may hold part of the record */
        return ret;
    }
    return 0;
}

/* Compresses one chunk the repository does not have yet (claimed in w->known
 * by the caller) into pb, writing pb out when it is full. */
static int write_new_chunk(BackupWriter *w, const uint8_t hash[REPO_HASH_LEN],
                           const uint8_t *data, size_t len, ChunkCoder *coder,
                           PackBuilder *pb)
{
    uint8_t hdr[CHUNK_HEADER_LEN];
    const void *payload;
    size_t plen;
    int ret = chunk_encode_with(coder, data, len, hdr, &payload, &plen);
    if (ret < 0 || (ret = append_record(w, pb, hash, hdr, payload, plen)) < 0)
        return ret;
    pthread_mutex_lock(&w->lock);
    w->stats.chunks_new++;
    w->stats.bytes_stored += PACK_RECORD_HDR + plen;
    pthread_mutex_unlock(&w->lock);
    return pack_builder_full(pb) ? flush_pack(w, pb) : 0;
}

/* Hashes, deduplicates and stores one chunk; safe on several threads at once
 * (each chunk index is only ever put by one of them). */
static int store_chunk(DiskWriter *dw, uint64_t offset, const uint8_t *data, size_t len,
                       ChunkCoder *coder, PackBuilder *pb)
{
    BackupWriter *w = dw->w;
    ChunkEntry *e = &dw->d.chunks[offset / dw->d.chunk_size];
    if (chunk_is_zero(data, len)) {
        pthread_mutex_lock(&w->lock);
        w->stats.chunks_put++;
        w->stats.bytes_in += len;
        w->stats.chunks_zero++;
        pthread_mutex_unlock(&w->lock);
        e->zero = true;
        return 0;
    }
    uint8_t hash[REPO_HASH_LEN];
    int ret = chunk_name(w->repo->hash_piece, data, len, hash);
    if (ret < 0)
        return ret;
    /* The repository's index does not change during a backup: no lock. */
    bool stored = chunk_index_find(w->index, hash) != NULL;
    pthread_mutex_lock(&w->lock);
    w->stats.chunks_put++;
    w->stats.bytes_in += len;
    /* Claiming the hash first means one thread stores it; a failure fails the
     * whole backup, so the others may reference it right away. */
    int added = stored ? 0 : chunkset_add(&w->known, hash);
    pthread_mutex_unlock(&w->lock);
    if (added < 0)
        return added;
    if (added && (ret = write_new_chunk(w, hash, data, len, coder, pb)) < 0)
        return err_prefix(ret, "storing chunk of disk %s", dw->d.name);
    memcpy(e->hash, hash, REPO_HASH_LEN);
    e->zero = false;
    return 0;
}

static void touch_lock(BackupWriter *w)
{
    if (w->serial_store)
        pthread_mutex_lock(&w->store_lock);
    repo_touch_lock(w->repo);
    if (w->serial_store)
        pthread_mutex_unlock(&w->store_lock);
}

int disk_put_chunk(DiskWriter *dw, uint64_t offset, const void *data, size_t len)
{
    int ret = check_range(dw, offset, len, false);
    if (ret < 0)
        return ret;
    touch_lock(dw->w);
    if ((ret = store_chunk(dw, offset, data, len, &dw->w->coder, &dw->w->pack)) < 0)
        record_error(dw->w, ret);
    return ret;
}

/* ---- the worker pool ---- */

static void *worker_main(void *arg)
{
    Worker *wk = arg;
    BackupWriter *w = wk->w;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->qlen && !w->stopping)
            pthread_cond_wait(&w->work_cv, &w->lock);
        if (!w->qlen)
            break;
        Task t = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qlen--;
        w->busy++;
        bool skip = w->error || w->stopping;
        pthread_mutex_unlock(&w->lock);
        int ret = skip ? 0 : store_chunk(t.dw, t.offset, t.data, t.len, &wk->coder,
                                         &wk->pack);
        if (ret < 0)
            record_error(w, ret);
        pthread_mutex_lock(&w->lock);
        w->busy--;
        bool freed = --t.buf->refs == 0;
        if (freed) {
            t.buf->next_free = w->free_bufs;
            w->free_bufs = t.buf;
        }
        /* Waiters want a free buffer, an idle pool or an error: waking them
         * for every chunk cost more context switches than the work saved. */
        if (freed || ret < 0 || (!w->qlen && !w->busy))
            pthread_cond_broadcast(&w->done_cv);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void pool_stop(BackupWriter *w)
{
    if (w->nworkers) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->work_cv);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->nworkers; i++)
            pthread_join(w->workers[i].tid, NULL);
    }
    for (unsigned i = 0; w->workers && i < w->jobs; i++) {
        chunk_coder_free(&w->workers[i].coder);
        discard_pack(w, &w->workers[i].pack);
        pack_builder_free(&w->workers[i].pack);
    }
    free(w->workers);
    w->workers = NULL;
    w->nworkers = 0;
    for (unsigned i = 0; w->bufs && i < w->nbufs; i++)
        free(w->bufs[i].data);
    free(w->bufs);
    w->bufs = w->free_bufs = NULL;
    free(w->queue);
    w->queue = NULL;
}

static int pool_start(BackupWriter *w, size_t bufsize)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = w->jobs ? w->jobs : cpus > 0 ? (unsigned)cpus : 1;
    if (jobs > 256)
        jobs = 256;
    w->jobs = jobs;
    /* Enough buffers for the reader's requests in flight plus two per worker,
     * and no more: memory stays bounded whatever the disk size. */
    w->nbufs = 2 * jobs + 4;
    w->bufsize = bufsize;
    w->qcap = (size_t)w->nbufs * (bufsize / w->m.chunk_size + 1);
    w->bufs = calloc(w->nbufs, sizeof(*w->bufs));
    w->queue = calloc(w->qcap, sizeof(*w->queue));
    w->workers = calloc(jobs, sizeof(*w->workers));
    if (!w->bufs || !w->queue || !w->workers)
        goto nomem;
    for (unsigned i = 0; i < w->nbufs; i++) {
        if (!(w->bufs[i].data = malloc(bufsize)))
            goto nomem;
        w->bufs[i].next_free = w->free_bufs;
        w->free_bufs = &w->bufs[i];
    }
    for (unsigned i = 0; i < jobs; i++) {
        w->workers[i].w = w;
        w->workers[i].pack.target = w->pack_size;
        int e = pthread_create(&w->workers[i].tid, NULL, worker_main, &w->workers[i]);
        if (e) {
            if (w->nworkers)
                break;          /* fewer workers is slower, not wrong */
            pool_stop(w);
            return err_set_errno(e, "starting worker threads");
        }
        w->nworkers++;
    }
    return 0;
nomem:
    pool_stop(w);
    return err_set(ENOMEM, "out of memory for %u buffers of %zu bytes", w->nbufs, bufsize);
}

void backup_writer_set_step_hook(BackupWriter *w, void (*hook)(void))
{
    w->step_hook = hook;
}

static void step(BackupWriter *w)
{
    if (w->step_hook)
        w->step_hook();
}

void backup_writer_set_pack_size(BackupWriter *w, size_t bytes)
{
    if (bytes > PACK_TARGET_SIZE)
        bytes = PACK_TARGET_SIZE;
    w->pack_size = bytes;
    w->pack.target = bytes;
}

void backup_writer_set_jobs(BackupWriter *w, unsigned jobs)
{
    if (!w->nworkers)
        w->jobs = jobs;
}

int disk_get_buffer(DiskWriter *dw, size_t size, bool wait, void **out)
{
    BackupWriter *w = dw->w;
    int ret;
    if (!w->nworkers && (ret = pool_start(w, size)) < 0)
        return ret;
    if (size > w->bufsize)
        return err_set(EINVAL, "buffer of %zu bytes requested, the pool has %zu", size,
                       w->bufsize);
    pthread_mutex_lock(&w->lock);
    while (!w->free_bufs && !w->error && wait)
        pthread_cond_wait(&w->done_cv, &w->lock);
    PoolBuf *b = w->error ? NULL : w->free_bufs;
    if (b)
        w->free_bufs = b->next_free;
    ret = w->error;
    pthread_mutex_unlock(&w->lock);
    if (ret < 0)
        return err_set(-ret, "%s", w->errmsg);
    if (!b)
        return -EAGAIN;
    *out = b->data;
    return 0;
}

static PoolBuf *find_buf(BackupWriter *w, const void *data)
{
    for (unsigned i = 0; i < w->nbufs; i++)
        if (w->bufs[i].data == data)
            return &w->bufs[i];
    return NULL;
}

void disk_release_buffer(DiskWriter *dw, void *buf)
{
    BackupWriter *w = dw->w;
    PoolBuf *b = buf ? find_buf(w, buf) : NULL;
    if (!b)
        return;
    pthread_mutex_lock(&w->lock);
    b->next_free = w->free_bufs;
    w->free_bufs = b;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->lock);
}

int disk_put_buffer(DiskWriter *dw, uint64_t offset, void *buf, size_t len)
{
    BackupWriter *w = dw->w;
    PoolBuf *b = find_buf(w, buf);
    if (!b)
        return err_set(EINVAL, "buffer not from disk_get_buffer()");
    int ret = len > w->bufsize ? err_set(EINVAL, "%zu bytes overflow the buffer", len)
                               : check_range(dw, offset, len, true);
    if (ret < 0) {
        disk_release_buffer(dw, buf);
        return ret;
    }
    touch_lock(w);
    size_t n = (len + dw->d.chunk_size - 1) / dw->d.chunk_size;
    pthread_mutex_lock(&w->lock);
    if ((ret = w->error) < 0 || w->qlen + n > w->qcap) {
        b->next_free = w->free_bufs;
        w->free_bufs = b;
        pthread_mutex_unlock(&w->lock);
        return ret < 0 ? err_set(-ret, "%s", w->errmsg) : err_set(EOVERFLOW, "chunk queue full");
    }
    b->refs = n;
    for (size_t k = 0; k < n; k++) {
        size_t at = k * (size_t)dw->d.chunk_size;
        Task *t = &w->queue[(w->qhead + w->qlen++) % w->qcap];
        *t = (Task){ dw, offset + at, b->data + at,
                     len - at < dw->d.chunk_size ? len - at : dw->d.chunk_size, b };
    }
    pthread_cond_broadcast(&w->work_cv);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int disk_writer_drain(DiskWriter *dw)
{
    BackupWriter *w = dw->w;
    pthread_mutex_lock(&w->lock);
    while (w->qlen || w->busy)
        pthread_cond_wait(&w->done_cv, &w->lock);
    int ret = w->error;
    pthread_mutex_unlock(&w->lock);
    return ret < 0 ? err_set(-ret, "%s", w->errmsg) : 0;
}

int disk_mark_zero(DiskWriter *dw, uint64_t offset, uint64_t len)
{
    int ret = check_range(dw, offset, len, true);
    if (ret < 0)
        return ret;
    uint64_t first = offset / dw->d.chunk_size;
    uint64_t last = (offset + len - 1) / dw->d.chunk_size;
    for (uint64_t i = first; i <= last; i++)
        dw->d.chunks[i].zero = true;
    return 0;
}

/* Removes what was staged and not published (an aborted or failed backup). */
static void remove_staged(BackupWriter *w)
{
    Store *st = w->repo->store;
    for (size_t i = 0; i < w->nstaged; i++) {
        char path[PACK_PATH_LEN], tmp[PACK_PATH_LEN + sizeof(w->suffix)];
        pack_path(w->staged[i], path);
        snprintf(tmp, sizeof(tmp), "%s%s", path, w->suffix);
        st->ops->remove(st, tmp);
    }
    w->nstaged = 0;
}

/* The durability step: one sync makes every staged pack durable, only then do
 * they get their names, and a second sync makes the names durable before the
 * index file and the manifest that point into them are written. */
static int publish_staged(BackupWriter *w)
{
    if (!w->nstaged)
        return 0;
    Store *st = w->repo->store;
    int ret = st->ops->sync(st);
    if (ret < 0)
        return err_prefix(ret, "making the new packs durable");
    step(w);
    while (w->nstaged) {
        char path[PACK_PATH_LEN];
        pack_path(w->staged[w->nstaged - 1], path);
        if ((ret = st->ops->publish(st, path, w->suffix)) < 0)
            return err_prefix(ret, "publishing pack");
        w->nstaged--;
        if (w->nstaged == 1)
            step(w);            /* some packs published, not all */
    }
    if ((ret = st->ops->sync(st)) < 0)
        return err_prefix(ret, "making the new pack names durable");
    return 0;
}

/* Writes the workers' partly filled packs, publishes every pack, and records
 * where the new chunks are in an index file (and in the repository's index,
 * for a later backup through the same handle). */
static int finish_packs(BackupWriter *w)
{
    int ret = 0;
    for (unsigned i = 0; i < w->nworkers && ret == 0; i++)
        ret = flush_pack(w, &w->workers[i].pack);
    if (ret == 0)
        ret = flush_pack(w, &w->pack);
    step(w);
    if (ret == 0)
        ret = publish_staged(w);
    step(w);
    if (ret == 0 && w->nents)
        ret = chunk_index_write(w->repo->store, w->ents, w->nents, NULL, NULL);
    step(w);
    if (ret < 0)
        return ret;
    for (size_t i = 0; i < w->nents; i++)
        if (chunk_index_add(w->index, &w->ents[i]) < 0) {
            /* Only the in-memory copy fell behind: read it again when needed. */
            w->repo->index_loaded = false;
            break;
        }
    return 0;
}

int backup_commit(BackupWriter *w)
{
    w->m.ndisks = w->ndisks;
    w->m.disks = calloc(w->ndisks ? w->ndisks : 1, sizeof(DiskIndex));
    int ret = 0;
    char *text = NULL;
    size_t len;
    if (!w->m.disks) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&w->lock);
    while (w->qlen || w->busy)
        pthread_cond_wait(&w->done_cv, &w->lock);
    ret = w->error;
    pthread_mutex_unlock(&w->lock);
    if (ret < 0) {
        ret = err_set(-ret, "%s", w->errmsg);
        goto out;
    }
    touch_lock(w);
    if ((ret = finish_packs(w)) < 0)
        goto out;
    for (size_t i = 0; i < w->ndisks; i++)
        w->m.disks[i] = w->disks[i]->d;          /* shallow: writer_free frees them */
    if ((ret = manifest_to_json(&w->m, &text, &len)) < 0)
        goto out;
    char path[REPO_ID_MAX + 16];
    snprintf(path, sizeof(path), "backups/%s.json", w->m.id);
    Store *st = w->repo->store;
    ret = st->ops->write_atomic(st, path, text, len, true);
    if (ret < 0)
        ret = err_prefix(ret, "writing manifest of backup %s", w->m.id);
out:
    free(text);
    free(w->m.disks);
    w->m.disks = NULL;
    pool_stop(w);
    remove_staged(w);
    writer_free(w);
    return ret;
}

void backup_abort(BackupWriter *w)
{
    if (!w)
        return;
    pool_stop(w);
    remove_staged(w);
    writer_free(w);
}

void backup_writer_stats(const BackupWriter *w, BackupStats *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->lock);
    *out = w->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&w->lock);
}
