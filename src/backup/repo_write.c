/* Writing a backup: chunks go to the store as they arrive, the manifest last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backup/chunk.h"
#include "backup/chunkset.h"
#include "backup/manifest.h"
#include "backup/repo_internal.h"
#include "util/error.h"

struct DiskWriter {
    BackupWriter *w;
    DiskIndex d;
};

struct BackupWriter {
    Repo *repo;
    Manifest m;                  /* disks filled in at commit */
    DiskWriter **disks;
    size_t ndisks;
    ChunkSet known;              /* chunks known to be stored, saves a stat each */
    BackupStats stats;
};

static void writer_free(BackupWriter *w)
{
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
    BackupWriter *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(ENOMEM, "out of memory");
    w->repo = repo;
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

int disk_put_chunk(DiskWriter *dw, uint64_t offset, const void *data, size_t len)
{
    int ret = check_range(dw, offset, len, false);
    if (ret < 0)
        return ret;
    BackupWriter *w = dw->w;
    ChunkEntry *e = &dw->d.chunks[offset / dw->d.chunk_size];
    w->stats.chunks_put++;
    w->stats.bytes_in += len;
    repo_touch_lock(w->repo);
    if (chunk_is_zero(data, len)) {
        w->stats.chunks_zero++;
        e->zero = true;
        return 0;
    }
    uint8_t hash[REPO_HASH_LEN];
    if ((ret = chunk_hash(data, len, hash)) < 0)
        return ret;
    if (!chunkset_has(&w->known, hash) && !repo_has_chunk(w->repo, hash)) {
        void *enc;
        size_t enc_len;
        if ((ret = chunk_encode(data, len, &enc, &enc_len)) < 0)
            return ret;
        char path[CHUNK_PATH_LEN];
        chunk_path(hash, path);
        Store *st = w->repo->store;
        ret = st->ops->write_atomic(st, path, enc, enc_len, true);
        free(enc);
        /* Someone else storing the same content first is success. */
        if (ret < 0 && ret != -EEXIST)
            return err_prefix(ret, "storing chunk of disk %s", dw->d.name);
        if (ret == 0) {
            w->stats.chunks_new++;
            w->stats.bytes_stored += enc_len;
        }
    }
    if ((ret = chunkset_add(&w->known, hash)) < 0)
        return ret;
    memcpy(e->hash, hash, REPO_HASH_LEN);
    e->zero = false;
    return 0;
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
    writer_free(w);
    return ret;
}

void backup_abort(BackupWriter *w)
{
    if (w)
        writer_free(w);
}

void backup_writer_stats(const BackupWriter *w, BackupStats *out)
{
    *out = w->stats;
}
