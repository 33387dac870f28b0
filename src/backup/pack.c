/* Pack files and the chunk index: formats in pack.h. */
#include "backup/pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/bytes.h"
#include "util/error.h"
#include "util/log.h"

static void id_hex(const uint8_t id[PACK_ID_LEN], char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < PACK_ID_LEN; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * PACK_ID_LEN] = '\0';
}

void pack_path(const uint8_t id[PACK_ID_LEN], char path[PACK_PATH_LEN])
{
    memcpy(path, "packs/", 6);
    id_hex(id, path + 6);
}

bool pack_id_parse(const char *name, uint8_t id[PACK_ID_LEN])
{
    if (strlen(name) != 2 * PACK_ID_LEN)
        return false;
    for (int i = 0; i < 2 * PACK_ID_LEN; i++) {
        char c = name[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            id[i / 2] = (uint8_t)(v << 4);
        else
            id[i / 2] |= (uint8_t)v;
    }
    return true;
}

int pack_new_id(uint8_t id[PACK_ID_LEN])
{
    if (getrandom(id, PACK_ID_LEN, 0) != PACK_ID_LEN)
        return err_set(EIO, "no random numbers for a pack name");
    return 0;
}

/* ---- the index ---- */

/* Hashes are uniformly random, so their first bytes are a good bucket. */
static uint64_t key64(const uint8_t *h)
{
    return get_le64(h);
}

static size_t find_slot(const IndexSlot *slots, size_t cap, const uint8_t hash[REPO_HASH_LEN])
{
    size_t i = key64(hash) & (cap - 1);
    while (slots[i].length && memcmp(slots[i].hash, hash, REPO_HASH_LEN))
        i = (i + 1) & (cap - 1);
    return i;
}

static int grow_slots(ChunkIndex *ix)
{
    size_t cap = ix->cap ? ix->cap * 2 : 1024;
    IndexSlot *n = calloc(cap, sizeof(*n));
    if (!n)
        return err_set(ENOMEM, "out of memory for the chunk index");
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].length)
            n[find_slot(n, cap, ix->slots[i].hash)] = ix->slots[i];
    free(ix->slots);
    ix->slots = n;
    ix->cap = cap;
    return 0;
}

static size_t find_pack_slot(const ChunkIndex *ix, const uint8_t id[PACK_ID_LEN])
{
    size_t i = key64(id) & (ix->pack_slots_cap - 1);
    while (ix->pack_slots[i] && memcmp(ix->packs[ix->pack_slots[i] - 1], id, PACK_ID_LEN))
        i = (i + 1) & (ix->pack_slots_cap - 1);
    return i;
}

long chunk_index_pack_no(const ChunkIndex *ix, const uint8_t id[PACK_ID_LEN])
{
    if (!ix->pack_slots_cap)
        return -1;
    uint32_t v = ix->pack_slots[find_pack_slot(ix, id)];
    return v ? (long)v - 1 : -1;
}

static int pack_number(ChunkIndex *ix, const uint8_t id[PACK_ID_LEN], uint32_t *out)
{
    long no = chunk_index_pack_no(ix, id);
    if (no >= 0) {
        *out = (uint32_t)no;
        return 0;
    }
    if (ix->npacks >= UINT32_MAX - 1)
        return err_set(EOVERFLOW, "too many packs");
    if (ix->npacks == ix->packs_cap) {
        size_t cap = ix->packs_cap ? ix->packs_cap * 2 : 64;
        void *p = realloc(ix->packs, cap * PACK_ID_LEN);
        if (!p)
            return err_set(ENOMEM, "out of memory");
        ix->packs = p;
        ix->packs_cap = cap;
    }
    if (2 * (ix->npacks + 1) > ix->pack_slots_cap) {
        size_t cap = ix->pack_slots_cap ? ix->pack_slots_cap * 2 : 128;
        uint32_t *n = calloc(cap, sizeof(*n));
        if (!n)
            return err_set(ENOMEM, "out of memory");
        free(ix->pack_slots);
        ix->pack_slots = n;
        ix->pack_slots_cap = cap;
        for (size_t k = 0; k < ix->npacks; k++)
            ix->pack_slots[find_pack_slot(ix, ix->packs[k])] = (uint32_t)k + 1;
    }
    memcpy(ix->packs[ix->npacks], id, PACK_ID_LEN);
    ix->pack_slots[find_pack_slot(ix, id)] = (uint32_t)ix->npacks + 1;
    *out = (uint32_t)ix->npacks++;
    return 0;
}

int chunk_index_add(ChunkIndex *ix, const IndexEntry *e)
{
    if (2 * (ix->count + 1) > ix->cap) {
        int ret = grow_slots(ix);
        if (ret < 0)
            return ret;
    }
    size_t i = find_slot(ix->slots, ix->cap, e->hash);
    if (ix->slots[i].length)
        return 0;
    uint32_t pack = 0;
    int ret = pack_number(ix, e->pack, &pack);
    if (ret < 0)
        return ret;
    IndexSlot *s = &ix->slots[i];
    memcpy(s->hash, e->hash, REPO_HASH_LEN);
    s->offset = e->offset;
    s->length = e->length;
    s->pack = pack;
    ix->count++;
    return 1;
}

const IndexSlot *chunk_index_find(const ChunkIndex *ix, const uint8_t hash[REPO_HASH_LEN])
{
    if (!ix->cap)
        return NULL;
    const IndexSlot *s = &ix->slots[find_slot(ix->slots, ix->cap, hash)];
    return s->length ? s : NULL;
}

void chunk_index_free(ChunkIndex *ix)
{
    free(ix->slots);
    free(ix->packs);
    free(ix->pack_slots);
    free(ix->files);
    memset(ix, 0, sizeof(*ix));
}

static bool entry_sane(const IndexEntry *e)
{
    return e->length > PACK_RECORD_HDR && e->length <= PACK_RECORD_MAX &&
           e->offset >= PACK_HEADER_LEN && e->offset <= PACK_MAX_SIZE - e->length;
}

int chunk_index_parse(ChunkIndex *ix, const void *buf, size_t len, const char *name)
{
    const uint8_t *p = buf;
    if (len < INDEX_HEADER_LEN + REPO_HASH_LEN || memcmp(p, "QBIX", 4))
        return err_set(EBADMSG, "index file %s is damaged: bad header", name);
    if (p[4] != 1)
        return err_set(EBADMSG, "index file %s has unknown version %u", name, p[4]);
    uint64_t count = get_le64(p + 8);
    if (count > INDEX_MAX_ENTRIES ||
        len != INDEX_HEADER_LEN + count * INDEX_ENTRY_LEN + REPO_HASH_LEN)
        return err_set(EBADMSG, "index file %s is damaged: bad length", name);
    uint8_t sum[REPO_HASH_LEN];
    int ret = chunk_hash(p, len - REPO_HASH_LEN, sum);
    if (ret < 0)
        return ret;
    if (memcmp(sum, p + len - REPO_HASH_LEN, REPO_HASH_LEN))
        return err_set(EBADMSG, "index file %s is damaged: checksum mismatch", name);
    /* Check everything before adding anything: a damaged file adds nothing. */
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *q = p + INDEX_HEADER_LEN + i * INDEX_ENTRY_LEN;
        IndexEntry e;
        e.offset = get_le64(q + 48);
        e.length = get_le32(q + 56);
        if (!entry_sane(&e) || get_le32(q + 60))
            return err_set(EBADMSG, "index file %s is damaged: bad entry %llu", name,
                           (unsigned long long)i);
    }
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *q = p + INDEX_HEADER_LEN + i * INDEX_ENTRY_LEN;
        IndexEntry e;
        memcpy(e.hash, q, REPO_HASH_LEN);
        memcpy(e.pack, q + 32, PACK_ID_LEN);
        e.offset = get_le64(q + 48);
        e.length = get_le32(q + 56);
        if ((ret = chunk_index_add(ix, &e)) < 0)
            return ret;
    }
    return 0;
}

int index_file_encode(const IndexEntry *e, size_t n, void **out, size_t *len)
{
    if (n > INDEX_MAX_ENTRIES)
        return err_set(EINVAL, "too many entries for one index file");
    size_t size = INDEX_HEADER_LEN + n * INDEX_ENTRY_LEN + REPO_HASH_LEN;
    uint8_t *p = calloc(1, size);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    memcpy(p, "QBIX", 4);
    p[4] = 1;
    put_le64(p + 8, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *q = p + INDEX_HEADER_LEN + i * INDEX_ENTRY_LEN;
        memcpy(q, e[i].hash, REPO_HASH_LEN);
        memcpy(q + 32, e[i].pack, PACK_ID_LEN);
        put_le64(q + 48, e[i].offset);
        put_le32(q + 56, e[i].length);
    }
    int ret = chunk_hash(p, size - REPO_HASH_LEN, p + size - REPO_HASH_LEN);
    if (ret < 0) {
        free(p);
        return ret;
    }
    *out = p;
    *len = size;
    return 0;
}

typedef struct LoadWalk {
    Store *st;
    ChunkIndex *ix;
} LoadWalk;

static int load_one(void *opaque, const char *name)
{
    LoadWalk *lw = opaque;
    ChunkIndex *ix = lw->ix;
    uint8_t id[PACK_ID_LEN];
    char base[2 * PACK_ID_LEN + 1];
    size_t n = strlen(name);
    /* Temp files of interrupted writes and strangers are not index files. */
    if (n != 2 * PACK_ID_LEN + 4 || strcmp(name + 2 * PACK_ID_LEN, ".idx"))
        return 0;
    memcpy(base, name, 2 * PACK_ID_LEN);
    base[2 * PACK_ID_LEN] = '\0';
    if (!pack_id_parse(base, id))
        return 0;
    char path[INDEX_PATH_LEN];
    snprintf(path, sizeof(path), "index/%s", name);
    void *buf = NULL;
    size_t len;
    int ret = lw->st->ops->read(lw->st, path, &buf, &len, INDEX_MAX_FILE);
    if (ret == -EFBIG)
        ret = err_set(EBADMSG, "index file %s is damaged: too large", path);
    if (ret == 0)
        ret = chunk_index_parse(ix, buf, len, path);
    free(buf);
    if (ret == -ENOMEM)
        return ret;
    if (ret < 0) {
        log_msg("warning: %s (its chunks read as missing)", err_msg());
        ix->ndamaged++;
        return 0;
    }
    void *p = realloc(ix->files, (ix->nfiles + 1) * sizeof(*ix->files));
    if (!p)
        return err_set(ENOMEM, "out of memory");
    ix->files = p;
    memcpy(ix->files[ix->nfiles++], path, INDEX_PATH_LEN);
    return 0;
}

int chunk_index_load(Store *st, ChunkIndex *ix)
{
    LoadWalk lw = { st, ix };
    int ret = st->ops->list(st, "index", load_one, &lw);
    return ret == -ENOENT ? 0 : ret;
}

int chunk_index_write(Store *st, const IndexEntry *e, size_t n,
                      char (**names)[INDEX_PATH_LEN], size_t *nnames)
{
    size_t files = (n + INDEX_MAX_ENTRIES - 1) / INDEX_MAX_ENTRIES;
    char (*out)[INDEX_PATH_LEN] = NULL;
    if (names && files && !(out = calloc(files, sizeof(*out))))
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    size_t done = 0;
    for (size_t f = 0; f < files && ret == 0; f++) {
        size_t k = n - f * INDEX_MAX_ENTRIES;
        if (k > INDEX_MAX_ENTRIES)
            k = INDEX_MAX_ENTRIES;
        void *buf;
        size_t len;
        uint8_t id[PACK_ID_LEN];
        char hex[2 * PACK_ID_LEN + 1], path[INDEX_PATH_LEN];
        if ((ret = pack_new_id(id)) < 0 ||
            (ret = index_file_encode(e + f * INDEX_MAX_ENTRIES, k, &buf, &len)) < 0)
            break;
        id_hex(id, hex);
        snprintf(path, sizeof(path), "index/%s.idx", hex);
        ret = st->ops->write_atomic(st, path, buf, len, true);
        free(buf);
        if (ret < 0)
            ret = err_prefix(ret, "writing index file %s", path);
        else if (out)
            memcpy(out[done++], path, INDEX_PATH_LEN);
    }
    if (names) {
        *names = out;
        *nnames = done;
    }
    return ret;
}

/* ---- building ---- */

static int builder_reserve(PackBuilder *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : (1u << 20);
    while (cap < b->len + more)
        cap *= 2;
    void *p = realloc(b->buf, cap);
    if (!p)
        return err_set(ENOMEM, "out of memory for a pack");
    b->buf = p;
    b->cap = cap;
    return 0;
}

static void pack_header(uint8_t *p)
{
    memset(p, 0, PACK_HEADER_LEN);
    memcpy(p, "QBPK", 4);
    p[4] = 1;
}

int pack_builder_begin(PackBuilder *b, uint8_t hdr[PACK_HEADER_LEN])
{
    pack_header(hdr);
    if (b->len)
        return 0;
    int ret = pack_new_id(b->id);
    if (ret == 0)
        b->len = PACK_HEADER_LEN;
    return ret;
}

int pack_builder_note(PackBuilder *b, const uint8_t hash[REPO_HASH_LEN], size_t len)
{
    if (b->n == b->ents_cap) {
        size_t cap = b->ents_cap ? b->ents_cap * 2 : 64;
        void *p = realloc(b->ents, cap * sizeof(*b->ents));
        if (!p)
            return err_set(ENOMEM, "out of memory");
        b->ents = p;
        b->ents_cap = cap;
    }
    IndexEntry *e = &b->ents[b->n++];
    memcpy(e->hash, hash, REPO_HASH_LEN);
    memcpy(e->pack, b->id, PACK_ID_LEN);
    e->offset = b->len;
    e->length = (uint32_t)len;
    b->len += len;
    return 0;
}

/* Makes room for a record of len bytes in the buffer (starting the pack and
 * its header if need be) and records its entry; the caller copies it in. */
static int builder_entry(PackBuilder *b, const uint8_t hash[REPO_HASH_LEN], size_t len)
{
    int ret;
    if (b->len == 0) {
        if ((ret = pack_new_id(b->id)) < 0 || (ret = builder_reserve(b, PACK_HEADER_LEN)) < 0)
            return ret;
        pack_header(b->buf);
        b->len = PACK_HEADER_LEN;
    }
    if ((ret = builder_reserve(b, len)) < 0 || (ret = pack_builder_note(b, hash, len)) < 0)
        return ret;
    b->len -= len;              /* the caller copies the record there and counts it */
    return 0;
}

int pack_builder_add(PackBuilder *b, const uint8_t hash[REPO_HASH_LEN],
                     const uint8_t hdr[CHUNK_HEADER_LEN], const void *payload, size_t plen)
{
    if (plen > REPO_MAX_CHUNK_SIZE)
        return err_set(EINVAL, "chunk payload of %zu bytes is too large", plen);
    size_t len = PACK_RECORD_HDR + plen;
    int ret = builder_entry(b, hash, len);
    if (ret < 0)
        return ret;
    uint8_t *p = b->buf + b->len;
    memcpy(p, hash, REPO_HASH_LEN);
    memcpy(p + REPO_HASH_LEN, hdr, CHUNK_HEADER_LEN);
    memcpy(p + PACK_RECORD_HDR, payload, plen);
    b->len += len;
    return 0;
}

int pack_builder_add_record(PackBuilder *b, const uint8_t *rec, size_t len)
{
    if (len <= PACK_RECORD_HDR || len > PACK_RECORD_MAX)
        return err_set(EINVAL, "bad record length %zu", len);
    int ret = builder_entry(b, rec, len);
    if (ret < 0)
        return ret;
    memcpy(b->buf + b->len, rec, len);
    b->len += len;
    return 0;
}

void pack_builder_reset(PackBuilder *b)
{
    b->len = 0;
    b->n = 0;
}

void pack_builder_free(PackBuilder *b)
{
    free(b->buf);
    free(b->ents);
    memset(b, 0, sizeof(*b));
}

/* ---- reading ---- */

int pack_check_record(const uint8_t *rec, size_t len, const uint8_t hash[REPO_HASH_LEN],
                      const char *name)
{
    if (len <= PACK_RECORD_HDR)
        return err_set(EBADMSG, "chunk %s is damaged: record too short", name);
    if (memcmp(rec, hash, REPO_HASH_LEN))
        return err_set(EBADMSG, "chunk %s is damaged: the pack holds another chunk there",
                       name);
    const uint8_t *h = rec + REPO_HASH_LEN;
    if (memcmp(h, CHUNK_MAGIC, 4) || get_le32(h + 12) != len - PACK_RECORD_HDR)
        return err_set(EBADMSG, "chunk %s is damaged: bad header", name);
    return 0;
}

int pack_read_chunk(Store *st, const ChunkIndex *ix, const IndexSlot *s, uint32_t piece,
                    void *buf, size_t buflen)
{
    char hex[2 * REPO_HASH_LEN + 1], path[PACK_PATH_LEN], name[160];
    repo_hash_to_hex(s->hash, hex);
    pack_path(chunk_index_pack(ix, s), path);
    snprintf(name, sizeof(name), "%s (%s at %llu)", hex, path, (unsigned long long)s->offset);
    uint8_t *rec = malloc(s->length);
    if (!rec)
        return err_set(ENOMEM, "out of memory");
    int ret = st->ops->read_range(st, path, s->offset, rec, s->length);
    if (ret == -ENOENT)
        ret = err_set(ENOENT, "chunk %s is missing: no %s", hex, path);
    else if (ret == -ENODATA)
        ret = err_set(EBADMSG, "chunk %s is damaged: %s is cut short", name, path);
    if (ret == 0)
        ret = pack_check_record(rec, s->length, s->hash, name);
    if (ret == 0)
        ret = chunk_decode(rec + REPO_HASH_LEN, s->length - REPO_HASH_LEN, s->hash, piece,
                           buf, buflen, name);
    free(rec);
    return ret;
}
