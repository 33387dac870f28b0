/* Manifest JSON encoding.  Everything read here is untrusted: each field is
 * type- and range-checked, and each disk's chunk index carries a SHA-256 so a
 * flipped hash digit is caught, not silently restored as the wrong data. */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chunk.h"
#include "backup/manifest.h"
#include "util/error.h"

/* Far beyond any disk we back up, small enough that nchunks * entry fits. */
#define MANIFEST_MAX_DISK_SIZE (1ull << 50)
#define MANIFEST_MAX_DISKS 256

const char *backup_type_name(BackupType t)
{
    return t == BACKUP_FULL ? "full" : "incremental";
}

bool manifest_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= REPO_ID_MAX || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void repo_hash_to_hex(const uint8_t hash[REPO_HASH_LEN], char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < REPO_HASH_LEN; i++) {
        hex[2 * i] = digits[hash[i] >> 4];
        hex[2 * i + 1] = digits[hash[i] & 15];
    }
    hex[2 * REPO_HASH_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int repo_hash_from_hex(const char *hex, uint8_t hash[REPO_HASH_LEN])
{
    for (int i = 0; i < REPO_HASH_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        hash[i] = hi << 4 | lo;
    }
    return hex[2 * REPO_HASH_LEN] ? -EINVAL : 0;
}

static int index_digest(const DiskIndex *d, uint8_t out[REPO_HASH_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    static const uint8_t zero[REPO_HASH_LEN];
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (uint64_t i = 0; ok && i < d->nchunks; i++)
        ok = EVP_DigestUpdate(ctx, d->chunks[i].zero ? zero : d->chunks[i].hash, REPO_HASH_LEN);
    ok = ok && EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : err_set(EIO, "SHA-256 failed");
}

static json_object *disk_to_json(const DiskIndex *d)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    if (!o || !arr)
        goto fail;
    json_object_object_add(o, "name", json_object_new_string(d->name));
    json_object_object_add(o, "size", json_object_new_int64((int64_t)d->size));
    json_object_object_add(o, "bitmap", d->bitmap ? json_object_new_string(d->bitmap) : NULL);
    /* Runs of zero chunks are one integer: sparse disks stay small. */
    for (uint64_t i = 0; i < d->nchunks;) {
        json_object *e;
        if (d->chunks[i].zero) {
            uint64_t j = i;
            while (j < d->nchunks && d->chunks[j].zero)
                j++;
            e = json_object_new_int64((int64_t)(j - i));
            i = j;
        } else {
            char hex[2 * REPO_HASH_LEN + 1];
            repo_hash_to_hex(d->chunks[i].hash, hex);
            e = json_object_new_string(hex);
            i++;
        }
        if (!e || json_object_array_add(arr, e) < 0) {
            json_object_put(e);
            goto fail;
        }
    }
    json_object_object_add(o, "chunks", arr);
    arr = NULL;
    uint8_t dig[REPO_HASH_LEN];
    char hex[2 * REPO_HASH_LEN + 1];
    if (index_digest(d, dig) < 0)
        goto fail;
    repo_hash_to_hex(dig, hex);
    json_object_object_add(o, "index_sha256", json_object_new_string(hex));
    return o;
fail:
    json_object_put(arr);
    json_object_put(o);
    return NULL;
}

int manifest_to_json(const Manifest *m, char **out, size_t *len)
{
    json_object *root = json_object_new_object(), *disks = json_object_new_array();
    json_object *vm = json_object_new_object();
    if (!root || !disks || !vm) {
        json_object_put(root);
        json_object_put(disks);
        json_object_put(vm);
        return err_set(ENOMEM, "out of memory");
    }
    json_object_object_add(root, "format", json_object_new_string("quail-backup-manifest"));
    json_object_object_add(root, "version", json_object_new_int(MANIFEST_VERSION));
    json_object_object_add(root, "id", json_object_new_string(m->id));
    json_object_object_add(vm, "name", json_object_new_string(m->vm_name));
    json_object_object_add(vm, "uuid", m->vm_uuid ? json_object_new_string(m->vm_uuid) : NULL);
    json_object_object_add(root, "vm", vm);
    json_object_object_add(root, "time", json_object_new_int64(m->time));
    json_object_object_add(root, "type", json_object_new_string(backup_type_name(m->type)));
    json_object_object_add(root, "parent", m->parent ? json_object_new_string(m->parent) : NULL);
    json_object_object_add(root, "chunk_size", json_object_new_int64(m->chunk_size));
    json_object_object_add(root, "disks", disks);
    for (size_t i = 0; i < m->ndisks; i++) {
        json_object *d = disk_to_json(&m->disks[i]);
        if (!d) {
            json_object_put(root);
            return err_set(ENOMEM, "out of memory");
        }
        json_object_array_add(disks, d);
    }
    size_t n;
    const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &n);
    char *copy = s ? malloc(n + 2) : NULL;
    if (copy) {
        memcpy(copy, s, n);
        copy[n++] = '\n';
        copy[n] = '\0';
    }
    json_object_put(root);
    if (!copy)
        return err_set(ENOMEM, "out of memory");
    *out = copy;
    *len = n;
    return 0;
}

void manifest_free(Manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ndisks; i++) {
        free(m->disks[i].name);
        free(m->disks[i].bitmap);
        free(m->disks[i].chunks);
    }
    free(m->disks);
    free(m->vm_name);
    free(m->vm_uuid);
    free(m->parent);
    free(m);
}

const DiskIndex *manifest_disk(const Manifest *m, const char *name)
{
    for (size_t i = 0; m && i < m->ndisks; i++)
        if (!strcmp(m->disks[i].name, name))
            return &m->disks[i];
    return NULL;
}

static json_object *get(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

/* NULL-or-string fields: returns 0 with *out NULL or a copy, -1 if mistyped. */
static int opt_string(json_object *o, const char *key, char **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *out = strdup(json_object_get_string(v));
    return *out ? 0 : -1;
}

static int disk_from_json(json_object *o, uint32_t chunk_size, DiskIndex *d, const char *name)
{
    json_object *jn = get(o, "name", json_type_string), *js = get(o, "size", json_type_int);
    json_object *jc = get(o, "chunks", json_type_array), *jd = get(o, "index_sha256", json_type_string);
    if (!jn || !js || !jc || !jd || opt_string(o, "bitmap", &d->bitmap) < 0)
        return err_set(EBADMSG, "manifest %s is damaged: bad disk entry", name);
    int64_t size = json_object_get_int64(js);
    if (size < 0 || (uint64_t)size > MANIFEST_MAX_DISK_SIZE || !json_object_get_string_len(jn))
        return err_set(EBADMSG, "manifest %s is damaged: bad disk size or name", name);
    d->name = strdup(json_object_get_string(jn));
    d->size = size;
    d->chunk_size = chunk_size;
    d->nchunks = (d->size + chunk_size - 1) / chunk_size;
    d->chunks = calloc(d->nchunks ? d->nchunks : 1, sizeof(*d->chunks));
    if (!d->name || !d->chunks)
        return err_set(ENOMEM, "out of memory");
    uint64_t at = 0;
    size_t n = json_object_array_length(jc);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(jc, i);
        if (json_object_is_type(e, json_type_int)) {
            int64_t run = json_object_get_int64(e);
            if (run <= 0 || (uint64_t)run > d->nchunks - at)
                return err_set(EBADMSG, "manifest %s is damaged: bad zero run in disk %s",
                               name, d->name);
            for (int64_t k = 0; k < run; k++)
                d->chunks[at++].zero = true;
        } else if (json_object_is_type(e, json_type_string)) {
            if (at >= d->nchunks ||
                repo_hash_from_hex(json_object_get_string(e), d->chunks[at].hash) < 0)
                return err_set(EBADMSG, "manifest %s is damaged: bad chunk entry %zu of disk %s",
                               name, i, d->name);
            at++;
        } else {
            return err_set(EBADMSG, "manifest %s is damaged: bad chunk entry %zu of disk %s",
                           name, i, d->name);
        }
    }
    if (at != d->nchunks)
        return err_set(EBADMSG, "manifest %s is damaged: disk %s has %llu chunk entries, "
                       "expected %llu", name, d->name, (unsigned long long)at,
                       (unsigned long long)d->nchunks);
    uint8_t want[REPO_HASH_LEN], got[REPO_HASH_LEN];
    if (repo_hash_from_hex(json_object_get_string(jd), want) < 0)
        return err_set(EBADMSG, "manifest %s is damaged: bad index_sha256", name);
    int ret = index_digest(d, got);
    if (ret < 0)
        return ret;
    if (memcmp(want, got, REPO_HASH_LEN))
        return err_set(EBADMSG, "manifest %s is damaged: chunk index of disk %s does not "
                       "match its checksum", name, d->name);
    return 0;
}

static int parse(json_object *root, const char *name, const char *expect_id, Manifest *m)
{
    json_object *jf = get(root, "format", json_type_string), *jv = get(root, "version", json_type_int);
    if (!jf || strcmp(json_object_get_string(jf), "quail-backup-manifest") || !jv)
        return err_set(EBADMSG, "manifest %s is damaged: not a quail backup manifest", name);
    int64_t ver = json_object_get_int64(jv);
    if (ver > MANIFEST_VERSION)
        return err_set(EPROTO, "manifest %s has format version %lld, newer than this quail "
                       "understands (%d); upgrade quail", name, (long long)ver, MANIFEST_VERSION);
    if (ver < 1)
        return err_set(EBADMSG, "manifest %s is damaged: bad version", name);
    m->version = (int)ver;
    json_object *jid = get(root, "id", json_type_string), *jvm = get(root, "vm", json_type_object);
    json_object *jt = get(root, "time", json_type_int), *jty = get(root, "type", json_type_string);
    json_object *jcs = get(root, "chunk_size", json_type_int), *jd = get(root, "disks", json_type_array);
    json_object *jvn = jvm ? get(jvm, "name", json_type_string) : NULL;
    if (!jid || !jvm || !jt || !jty || !jcs || !jd || !jvn)
        return err_set(EBADMSG, "manifest %s is damaged: missing or mistyped fields", name);
    const char *id = json_object_get_string(jid);
    if (!manifest_id_valid(id) || (expect_id && strcmp(id, expect_id)))
        return err_set(EBADMSG, "manifest %s is damaged: id \"%s\" does not match", name, id);
    strcpy(m->id, id);
    m->vm_name = strdup(json_object_get_string(jvn));
    if (!m->vm_name || opt_string(jvm, "uuid", &m->vm_uuid) < 0 ||
        opt_string(root, "parent", &m->parent) < 0)
        return err_set(EBADMSG, "manifest %s is damaged: bad vm or parent", name);
    m->time = json_object_get_int64(jt);
    const char *ty = json_object_get_string(jty);
    if (!strcmp(ty, "full"))
        m->type = BACKUP_FULL;
    else if (!strcmp(ty, "incremental"))
        m->type = BACKUP_INCREMENTAL;
    else
        return err_set(EBADMSG, "manifest %s is damaged: bad type \"%s\"", name, ty);
    int64_t cs = json_object_get_int64(jcs);
    if (cs < REPO_MIN_CHUNK_SIZE || cs > REPO_MAX_CHUNK_SIZE || (cs & (cs - 1)))
        return err_set(EBADMSG, "manifest %s is damaged: bad chunk size", name);
    m->chunk_size = (uint32_t)cs;
    size_t nd = json_object_array_length(jd);
    if (nd > MANIFEST_MAX_DISKS)
        return err_set(EBADMSG, "manifest %s is damaged: too many disks", name);
    m->disks = calloc(nd ? nd : 1, sizeof(*m->disks));
    if (!m->disks)
        return err_set(ENOMEM, "out of memory");
    for (size_t i = 0; i < nd; i++) {
        json_object *d = json_object_array_get_idx(jd, i);
        if (!json_object_is_type(d, json_type_object))
            return err_set(EBADMSG, "manifest %s is damaged: bad disk entry", name);
        m->ndisks++;
        int ret = disk_from_json(d, m->chunk_size, &m->disks[i], name);
        if (ret < 0)
            return ret;
    }
    return 0;
}

int manifest_from_json(const char *text, size_t len, const char *name,
                       const char *expect_id, Manifest **out)
{
    if (len > MANIFEST_MAX_BYTES || len > INT32_MAX)
        return err_set(EBADMSG, "manifest %s is too large", name);
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return err_set(ENOMEM, "out of memory");
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return err_set(EBADMSG, "manifest %s is damaged: not valid JSON (%s)", name,
                       json_tokener_error_desc(jerr));
    }
    Manifest *m = calloc(1, sizeof(*m));
    if (!m) {
        json_object_put(root);
        return err_set(ENOMEM, "out of memory");
    }
    int ret = parse(root, name, expect_id, m);
    json_object_put(root);
    if (ret < 0) {
        manifest_free(m);
        return ret;
    }
    *out = m;
    return 0;
}
