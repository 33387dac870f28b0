/* Repository creation, opening, listing and reading. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backup/chunk.h"
#include "backup/manifest.h"
#include "backup/repo_internal.h"
#include "util/error.h"

static bool accept_new_hosts;

void repo_ssh_accept_new_hosts(bool accept)
{
    accept_new_hosts = accept;
}

bool repo_ssh_accepts_new_hosts(void)
{
    const char *e = getenv("QUAIL_SSH_ACCEPT_NEW");
    return accept_new_hosts || (e && (!strcmp(e, "1") || !strcmp(e, "yes")));
}

static int make_uuid(char out[37])
{
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != sizeof(b))
        return err_set_errno(errno, "getrandom");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return 0;
}

int repo_init(const char *url, uint32_t chunk_size)
{
    if (!chunk_size)
        chunk_size = REPO_DEFAULT_CHUNK_SIZE;
    if (chunk_size < REPO_MIN_CHUNK_SIZE || chunk_size > REPO_MAX_CHUNK_SIZE ||
        (chunk_size & (chunk_size - 1)))
        return err_set(EINVAL, "chunk size %u must be a power of two from %u to %u",
                       chunk_size, REPO_MIN_CHUNK_SIZE, REPO_MAX_CHUNK_SIZE);
    Store *st;
    int ret = store_open(url, &st);
    if (ret < 0)
        return ret;
    char uuid[37];
    if (st->ops->stat(st, "config", NULL) == 0) {
        ret = err_set(EEXIST, "%s already holds a backup repository", url);
        goto out;
    }
    if ((ret = make_uuid(uuid)) < 0 || (ret = st->ops->mkdir(st, ".")) < 0 ||
        (ret = st->ops->mkdir(st, "packs")) < 0 || (ret = st->ops->mkdir(st, "index")) < 0 ||
        (ret = st->ops->mkdir(st, "backups")) < 0)
        goto out;
    json_object *o = json_object_new_object();
    if (!o) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    json_object_object_add(o, "format", json_object_new_string("quail-backup-repository"));
    json_object_object_add(o, "version", json_object_new_int(REPO_FORMAT_VERSION));
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "chunk_size", json_object_new_int64(chunk_size));
    json_object_object_add(o, "hash", json_object_new_string("sha256-tree"));
    json_object_object_add(o, "hash_piece", json_object_new_int64(chunk_piece_for(chunk_size)));
    json_object_object_add(o, "compression", json_object_new_string("zstd"));
    json_object_object_add(o, "created", json_object_new_int64(time(NULL)));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
    char *copy = text ? strdup(text) : NULL;
    json_object_put(o);
    if (!copy) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    size_t n = strlen(copy);
    /* The config is written last: a half-made directory is never a repository. */
    ret = st->ops->write_atomic(st, "config", copy, n, true);
    free(copy);
    if (ret == -EEXIST)
        err_set(EEXIST, "%s already holds a backup repository", url);
out:
    st->ops->close(st);
    return ret;
}

static int parse_config(Repo *r, const char *text, size_t len)
{
    const char *url = r->store->url;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return err_set(ENOMEM, "out of memory");
    json_object *o = json_tokener_parse_ex(tok, text, (int)len), *v;
    json_tokener_free(tok);
    int ret = 0;
    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "format", &v) ||
        strcmp(json_object_get_string(v), "quail-backup-repository")) {
        ret = err_set(EBADMSG, "%s/config is damaged or not a quail backup repository", url);
        goto out;
    }
    if (!json_object_object_get_ex(o, "version", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 1) {
        ret = err_set(EBADMSG, "%s/config is damaged: bad version", url);
        goto out;
    }
    if (json_object_get_int64(v) > REPO_FORMAT_VERSION) {
        ret = err_set(EPROTO, "repository %s has format version %lld, newer than this quail "
                      "understands (%d); upgrade quail (nothing was changed)", url,
                      (long long)json_object_get_int64(v), REPO_FORMAT_VERSION);
        goto out;
    }
    r->version = (int)json_object_get_int64(v);
    if (r->version < 2) {
        ret = err_set(EPROTO, "repository %s has format version %d (one file per chunk), "
                      "which this quail no longer reads; restore with the quail that wrote "
                      "it (nothing was changed)", url, r->version);
        goto out;
    }
    int64_t cs = json_object_object_get_ex(o, "chunk_size", &v) ? json_object_get_int64(v) : 0;
    if (cs < REPO_MIN_CHUNK_SIZE || cs > REPO_MAX_CHUNK_SIZE || (cs & (cs - 1))) {
        ret = err_set(EBADMSG, "%s/config is damaged: bad chunk_size", url);
        goto out;
    }
    r->chunk_size = (uint32_t)cs;
    if (!json_object_object_get_ex(o, "uuid", &v) || json_object_get_string_len(v) != 36) {
        ret = err_set(EBADMSG, "%s/config is damaged: bad uuid", url);
        goto out;
    }
    memcpy(r->uuid, json_object_get_string(v), 37);
    for (int i = 0; i < 36; i++)
        if (!strchr("0123456789abcdef-", r->uuid[i])) {
            ret = err_set(EBADMSG, "%s/config is damaged: bad uuid", url);
            goto out;
        }
    if (!json_object_object_get_ex(o, "hash", &v) ||
        strcmp(json_object_get_string(v), "sha256-tree") ||
        !json_object_object_get_ex(o, "compression", &v) ||
        strcmp(json_object_get_string(v), "zstd")) {
        ret = err_set(EPROTO, "repository %s uses a hash or compression this quail does not "
                      "support", url);
        goto out;
    }
    int64_t piece = json_object_object_get_ex(o, "hash_piece", &v) ? json_object_get_int64(v) : 0;
    if (piece < CHUNK_PIECE_MIN || piece > CHUNK_PIECE_MAX || (piece & (piece - 1))) {
        ret = err_set(EBADMSG, "%s/config is damaged: bad hash_piece", url);
        goto out;
    }
    r->hash_piece = (uint32_t)piece;
    snprintf(r->bitmap, sizeof(r->bitmap), "quail-backup-%s", r->uuid);
out:
    json_object_put(o);
    return ret;
}

int repo_open(const char *url, RepoMode mode, Repo **out)
{
    Repo *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(ENOMEM, "out of memory");
    r->mode = mode;
    int ret = store_open(url, &r->store);
    if (ret < 0) {
        free(r);
        return ret;
    }
    void *text = NULL;
    size_t len;
    ret = r->store->ops->read(r->store, "config", &text, &len, REPO_CONFIG_MAX);
    if (ret == -ENOENT)
        ret = err_set(ENOENT, "%s is not a backup repository (no config; create one with "
                      "`quail backup init`)", url);
    if (ret == 0)
        ret = parse_config(r, text, len);
    free(text);
    if (ret == 0 && mode == REPO_WRITE) {
        char owner[512];
        store_lock_owner_text(owner, sizeof(owner), "write");
        ret = r->store->ops->lock(r->store, owner);
        r->lock_refreshed = time(NULL);
    }
    if (ret < 0) {
        r->store->ops->close(r->store);
        free(r);
        return ret;
    }
    *out = r;
    return 0;
}

void repo_close(Repo *repo)
{
    if (!repo)
        return;
    if (repo->mode == REPO_WRITE)
        repo->store->ops->unlock(repo->store);
    repo->store->ops->close(repo->store);
    chunk_index_free(&repo->index);
    free(repo);
}

void repo_set_step_hook(Repo *repo, void (*hook)(void))
{
    repo->step_hook = hook;
}

void repo_touch_lock(Repo *repo)
{
    int64_t now = time(NULL);
    if (repo->mode == REPO_WRITE && now - repo->lock_refreshed >= STORE_LOCK_REFRESH_SECS) {
        repo->store->ops->lock_refresh(repo->store);
        repo->lock_refreshed = now;
    }
}

uint32_t repo_chunk_size(const Repo *repo) { return repo->chunk_size; }
uint32_t repo_hash_piece(const Repo *repo) { return repo->hash_piece; }
const char *repo_uuid(const Repo *repo) { return repo->uuid; }
const char *repo_bitmap_name(const Repo *repo) { return repo->bitmap; }

int repo_load_manifest(Repo *repo, const char *id, Manifest **out)
{
    if (!manifest_id_valid(id))
        return err_set(EINVAL, "\"%s\" is not a valid backup id", id);
    char path[REPO_ID_MAX + 16];
    snprintf(path, sizeof(path), "backups/%s.json", id);
    void *text = NULL;
    size_t len;
    int ret = repo->store->ops->read(repo->store, path, &text, &len, MANIFEST_MAX_BYTES);
    if (ret == -ENOENT)
        return err_set(ENOENT, "no backup %s in %s", id, repo->store->url);
    if (ret < 0)
        return err_prefix(ret, "manifest %s", path);
    ret = manifest_from_json(text, len, path, id, out);
    free(text);
    if (ret == 0 && (*out)->chunk_size != repo->chunk_size) {
        manifest_free(*out);
        *out = NULL;
        ret = err_set(EBADMSG, "manifest %s is damaged: chunk size differs from the "
                      "repository's", path);
    }
    return ret;
}

typedef struct IdList {
    char (*ids)[REPO_ID_MAX];
    size_t n, cap;
} IdList;

static int collect_id(void *opaque, const char *name)
{
    IdList *l = opaque;
    size_t n = strlen(name);
    if (n <= 5 || strcmp(name + n - 5, ".json") || n - 5 >= REPO_ID_MAX)
        return 0;           /* temp files of interrupted writes and strangers */
    char id[REPO_ID_MAX];
    memcpy(id, name, n - 5);
    id[n - 5] = '\0';
    if (!manifest_id_valid(id))
        return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        void *p = realloc(l->ids, ncap * sizeof(*l->ids));
        if (!p)
            return err_set(ENOMEM, "out of memory");
        l->ids = p;
        l->cap = ncap;
    }
    strcpy(l->ids[l->n++], id);
    return 0;
}

static int info_cmp(const void *a, const void *b)
{
    const BackupInfo *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return strcmp(x->id, y->id);
}

int repo_list_backup_ids(Repo *repo, char (**ids)[REPO_ID_MAX])
{
    IdList l = { 0 };
    int ret = repo->store->ops->list(repo->store, "backups", collect_id, &l);
    if (ret < 0) {
        free(l.ids);
        return ret;
    }
    *ids = l.ids;
    return (int)l.n;
}

int repo_list_backups(Repo *repo, BackupInfo **out)
{
    return repo_list_backups_ex(repo, out, NULL);
}

int repo_list_backups_ex(Repo *repo, BackupInfo **out, int *damaged)
{
    char (*ids)[REPO_ID_MAX] = NULL;
    int n = repo_list_backup_ids(repo, &ids);
    if (n < 0)
        return n;
    BackupInfo *info = calloc(n ? n : 1, sizeof(*info));
    if (!info) {
        free(ids);
        return err_set(ENOMEM, "out of memory");
    }
    int good = 0;
    if (damaged)
        *damaged = 0;
    for (int i = 0; i < n; i++) {
        Manifest *m;
        int ret = repo_load_manifest(repo, ids[i], &m);
        if (ret < 0 && damaged && ret != -ENOMEM) {
            (*damaged)++;
            continue;
        }
        if (ret < 0) {
            free(ids);
            free(info);
            return ret;
        }
        BackupInfo *b = &info[good++];
        strcpy(b->id, m->id);
        snprintf(b->vm_name, sizeof(b->vm_name), "%s", m->vm_name);
        b->time = m->time;
        b->type = m->type;
        snprintf(b->parent, sizeof(b->parent), "%s", m->parent ? m->parent : "");
        manifest_free(m);
    }
    free(ids);
    qsort(info, good, sizeof(*info), info_cmp);
    *out = info;
    return good;
}

int repo_latest_backup(Repo *repo, const char *vm_name, char id_out[REPO_ID_MAX])
{
    BackupInfo *info;
    int n = repo_list_backups(repo, &info);
    if (n < 0)
        return n;
    int ret = err_set(ENOENT, "no backup of %s in %s", vm_name, repo->store->url);
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(info[i].vm_name, vm_name)) {
            strcpy(id_out, info[i].id);
            ret = 0;
            break;
        }
    free(info);
    return ret;
}

int repo_index(Repo *repo, ChunkIndex **out)
{
    if (!repo->index_loaded) {
        chunk_index_free(&repo->index);
        int ret = chunk_index_load(repo->store, &repo->index);
        if (ret < 0) {
            chunk_index_free(&repo->index);
            return err_prefix(ret, "reading the chunk index of %s", repo->store->url);
        }
        repo->index_loaded = true;
    }
    *out = &repo->index;
    return 0;
}

bool repo_has_chunk(Repo *repo, const uint8_t hash[REPO_HASH_LEN])
{
    ChunkIndex *ix;
    return repo_index(repo, &ix) == 0 && chunk_index_find(ix, hash) != NULL;
}

int repo_read_chunk(Repo *repo, const uint8_t hash[REPO_HASH_LEN], void *buf, size_t buflen)
{
    ChunkIndex *ix;
    int ret = repo_index(repo, &ix);
    if (ret < 0)
        return ret;
    const IndexSlot *s = chunk_index_find(ix, hash);
    if (!s) {
        char hex[2 * REPO_HASH_LEN + 1];
        repo_hash_to_hex(hash, hex);
        return err_set(ENOENT, "chunk %s is missing: no index entry%s", hex,
                       ix->ndamaged ? " (an index file is damaged)" : "");
    }
    ret = pack_read_chunk(repo->store, ix, s, repo->hash_piece, buf, buflen);
    /* Readers take no lock, so gc may have moved the chunk to a new pack and
     * removed the old one since the index was read: read it again, once. */
    if (ret == -ENOENT && repo->mode == REPO_READ) {
        repo->index_loaded = false;
        if (repo_index(repo, &ix) == 0 && (s = chunk_index_find(ix, hash)))
            ret = pack_read_chunk(repo->store, ix, s, repo->hash_piece, buf, buflen);
    }
    return ret;
}

struct DiskReader {
    Repo *repo;
    const DiskIndex *disk;
    uint8_t *buf;
    uint64_t cached;            /* chunk index in buf, or UINT64_MAX */
};

int disk_reader_open(Repo *repo, const DiskIndex *disk, DiskReader **out)
{
    DiskReader *r = calloc(1, sizeof(*r));
    if (!r || !(r->buf = malloc(disk->chunk_size))) {
        free(r);
        return err_set(ENOMEM, "out of memory");
    }
    r->repo = repo;
    r->disk = disk;
    r->cached = UINT64_MAX;
    *out = r;
    return 0;
}

int disk_reader_pread(DiskReader *r, void *buf, size_t len, uint64_t offset)
{
    const DiskIndex *d = r->disk;
    if (offset > d->size || len > d->size - offset)
        return err_set(EINVAL, "read beyond the end of disk %s", d->name);
    uint8_t *out = buf;
    while (len) {
        uint64_t ci = offset / d->chunk_size;
        size_t in = offset % d->chunk_size;
        size_t clen = d->chunk_size;
        if ((ci + 1) * d->chunk_size > d->size)
            clen = d->size - ci * d->chunk_size;
        size_t n = clen - in < len ? clen - in : len;
        if (d->chunks[ci].zero) {
            memset(out, 0, n);
        } else {
            if (r->cached != ci) {
                r->cached = UINT64_MAX;
                int got = repo_read_chunk(r->repo, d->chunks[ci].hash, r->buf, d->chunk_size);
                if (got < 0)
                    return got;
                if ((size_t)got != clen) {
                    char hex[2 * REPO_HASH_LEN + 1];
                    repo_hash_to_hex(d->chunks[ci].hash, hex);
                    return err_set(EBADMSG, "chunk %s has %d bytes, disk %s needs %zu there",
                                   hex, got, d->name, clen);
                }
                r->cached = ci;
            }
            memcpy(out, r->buf + in, n);
        }
        out += n;
        offset += n;
        len -= n;
    }
    return 0;
}

void disk_reader_close(DiskReader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}
