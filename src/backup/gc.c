/* Garbage collection: chunks no manifest references leave the repository.
 *
 * Packs are never changed in place.  A pack whose chunks are all unreferenced
 * is removed; a partly used one has its live records copied into new packs.
 * The order makes every step safe to interrupt: new packs are written and
 * synced, then one index describing every live chunk replaces the old index
 * files (written, synced, old ones removed, synced), and only then do the old
 * packs go.  An interruption leaves at worst unindexed packs, which the next gc
 * removes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chunkset.h"
#include "backup/manifest.h"
#include "backup/prune.h"
#include "backup/repo_internal.h"
#include "util/error.h"

enum { PACK_PRESENT = 1, PACK_HAS_LIVE = 2, PACK_HAS_DEAD = 4 };

typedef struct Gc {
    Repo *repo;
    ChunkIndex ix;
    ChunkSet live;
    uint8_t *pack_state;          /* PACK_* per pack number */
    bool dry_run;
    GcStats st;
    /* packs named in packs/ that no index entry knows: removed at the end */
    uint8_t (*orphans)[PACK_ID_LEN];
    size_t norphans;
} Gc;

static int collect_live(Gc *g)
{
    char (*ids)[REPO_ID_MAX] = NULL;
    int n = repo_list_backup_ids(g->repo, &ids);
    if (n < 0)
        return n;
    int ret = 0;
    for (int i = 0; i < n && ret >= 0; i++) {
        Manifest *m;
        if ((ret = repo_load_manifest(g->repo, ids[i], &m)) < 0) {
            ret = err_prefix(ret, "not collecting garbage, it could be referenced by a "
                             "backup that cannot be read");
            break;
        }
        for (size_t d = 0; d < m->ndisks && ret >= 0; d++)
            for (uint64_t c = 0; c < m->disks[d].nchunks && ret >= 0; c++)
                if (!m->disks[d].chunks[c].zero)
                    ret = chunkset_add(&g->live, m->disks[d].chunks[c].hash);
        manifest_free(m);
    }
    free(ids);
    return ret < 0 ? ret : 0;
}

static int pack_entry(void *opaque, const char *name)
{
    Gc *g = opaque;
    Store *st = g->repo->store;
    char path[512];
    snprintf(path, sizeof(path), "packs/%s", name);
    if (strstr(name, ".tmp.")) {
        /* We hold the write lock, so no writer is mid-way: this is debris. */
        g->st.leftovers++;
        if (!g->dry_run)
            st->ops->remove(st, path);
        return 0;
    }
    uint8_t id[PACK_ID_LEN];
    if (!pack_id_parse(name, id))
        return 0;                       /* not ours: leave it */
    long no = chunk_index_pack_no(&g->ix, id);
    if (no >= 0) {
        g->pack_state[no] |= PACK_PRESENT;
        return 0;
    }
    /* Published by a backup that died before its index file was written. */
    void *p = realloc(g->orphans, (g->norphans + 1) * sizeof(*g->orphans));
    if (!p)
        return err_set(ENOMEM, "out of memory");
    g->orphans = p;
    memcpy(g->orphans[g->norphans++], id, PACK_ID_LEN);
    g->st.packs_removed++;
    return 0;
}

static int index_leftover(void *opaque, const char *name)
{
    Gc *g = opaque;
    if (!strstr(name, ".tmp."))
        return 0;
    char path[512];
    snprintf(path, sizeof(path), "index/%s", name);
    g->st.leftovers++;
    if (!g->dry_run)
        g->repo->store->ops->remove(g->repo->store, path);
    return 0;
}

typedef struct SlotRef {
    const IndexSlot *s;
} SlotRef;

static int by_pack_offset(const void *x, const void *y)
{
    const IndexSlot *a = ((const SlotRef *)x)->s, *b = ((const SlotRef *)y)->s;
    if (a->pack != b->pack)
        return a->pack < b->pack ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Between steps: the kill-point test SIGKILLs gc there (repo_set_step_hook). */
static void step(Gc *g)
{
    if (g->repo->step_hook)
        g->repo->step_hook();
}

static int write_new_pack(Gc *g, PackBuilder *pb, IndexEntry *out, size_t *nout)
{
    if (!pb->n)
        return 0;
    char path[PACK_PATH_LEN];
    pack_path(pb->id, path);
    Store *st = g->repo->store;
    int ret = st->ops->write_atomic(st, path, pb->buf, pb->len, true);
    if (ret < 0)
        return err_prefix(ret, "writing pack %s", path);
    memcpy(out + *nout, pb->ents, pb->n * sizeof(*pb->ents));
    *nout += pb->n;
    pack_builder_reset(pb);
    step(g);
    return 0;
}

/* Builds the new index: live entries of untouched packs as they are, live
 * records of partly used packs copied into new packs. */
static int rebuild(Gc *g, IndexEntry *out, size_t *nout)
{
    Store *st = g->repo->store;
    SlotRef *refs = malloc((g->ix.count ? g->ix.count : 1) * sizeof(*refs));
    if (!refs)
        return err_set(ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < g->ix.cap; i++)
        if (g->ix.slots[i].length && chunkset_has(&g->live, g->ix.slots[i].hash))
            refs[n++].s = &g->ix.slots[i];
    qsort(refs, n, sizeof(*refs), by_pack_offset);
    PackBuilder pb = { 0 };
    uint8_t *packbuf = NULL;
    uint32_t loaded = UINT32_MAX;
    size_t packlen = 0;
    int ret = 0;
    for (size_t k = 0; k < n && ret == 0; k++) {
        const IndexSlot *s = refs[k].s;
        IndexEntry e;
        memcpy(e.hash, s->hash, REPO_HASH_LEN);
        memcpy(e.pack, chunk_index_pack(&g->ix, s), PACK_ID_LEN);
        e.offset = s->offset;
        e.length = s->length;
        if (!(g->pack_state[s->pack] & PACK_HAS_DEAD) ||
            !(g->pack_state[s->pack] & PACK_PRESENT)) {
            /* Kept as is (a missing pack stays indexed, for verify to report). */
            out[(*nout)++] = e;
            continue;
        }
        if (loaded != s->pack) {
            char path[PACK_PATH_LEN];
            pack_path(e.pack, path);
            free(packbuf);
            packbuf = NULL;
            repo_touch_lock(g->repo);
            if ((ret = st->ops->read(st, path, (void **)&packbuf, &packlen, PACK_MAX_SIZE)) < 0) {
                ret = err_prefix(ret, "reading pack %s to rewrite it", path);
                break;
            }
            loaded = s->pack;
        }
        char hex[2 * REPO_HASH_LEN + 1];
        repo_hash_to_hex(s->hash, hex);
        if (s->offset > packlen || s->length > packlen - s->offset) {
            ret = err_set(EBADMSG, "not collecting garbage: chunk %s in use is cut short "
                          "(run verify)", hex);
            break;
        }
        if ((ret = pack_check_record(packbuf + s->offset, s->length, s->hash, hex)) < 0) {
            ret = err_prefix(ret, "not collecting garbage (run verify)");
            break;
        }
        if ((ret = pack_builder_add_record(&pb, packbuf + s->offset, s->length)) < 0)
            break;
        if (pack_builder_full(&pb))
            ret = write_new_pack(g, &pb, out, nout);
    }
    if (ret == 0)
        ret = write_new_pack(g, &pb, out, nout);
    free(packbuf);
    pack_builder_free(&pb);
    free(refs);
    return ret;
}

static void remove_pack(Gc *g, const uint8_t id[PACK_ID_LEN])
{
    char path[PACK_PATH_LEN];
    pack_path(id, path);
    g->repo->store->ops->remove(g->repo->store, path);
}

static int gc_run(Gc *g)
{
    Repo *repo = g->repo;
    Store *st = repo->store;
    int ret = collect_live(g);
    if (ret < 0)
        return ret;
    if ((ret = chunk_index_load(st, &g->ix)) < 0)
        return err_prefix(ret, "reading the chunk index");
    if (g->ix.ndamaged)
        return err_set(EBADMSG, "not collecting garbage: %zu index file(s) are damaged, so "
                       "it is not known which packs hold chunks in use (run verify)",
                       g->ix.ndamaged);
    g->pack_state = calloc(g->ix.npacks ? g->ix.npacks : 1, 1);
    if (!g->pack_state)
        return err_set(ENOMEM, "out of memory");
    for (size_t i = 0; i < g->ix.cap; i++) {
        const IndexSlot *s = &g->ix.slots[i];
        if (!s->length)
            continue;
        bool live = chunkset_has(&g->live, s->hash);
        g->pack_state[s->pack] |= live ? PACK_HAS_LIVE : PACK_HAS_DEAD;
        if (live)
            g->st.chunks_kept++;
        else
            g->st.chunks_removed++;
    }
    if ((ret = st->ops->list(st, "packs", pack_entry, g)) < 0 && ret != -ENOENT)
        return ret;
    if ((ret = st->ops->list(st, "index", index_leftover, g)) < 0 && ret != -ENOENT)
        return ret;
    for (size_t p = 0; p < g->ix.npacks; p++) {
        uint8_t f = g->pack_state[p];
        if ((f & PACK_PRESENT) && !(f & PACK_HAS_LIVE))
            g->st.packs_removed++;
        else if ((f & PACK_PRESENT) && (f & PACK_HAS_DEAD))
            g->st.packs_rewritten++;
    }
    bool dead = g->st.chunks_removed > 0;
    if (g->dry_run || (!dead && g->ix.nfiles <= 1 && !g->norphans))
        return 0;
    IndexEntry *ents = NULL;
    size_t nents = 0;
    char (*written)[INDEX_PATH_LEN] = NULL;
    size_t nwritten = 0;
    if (dead || g->ix.nfiles > 1) {
        ents = malloc((g->ix.count ? g->ix.count : 1) * sizeof(*ents));
        if (!ents)
            return err_set(ENOMEM, "out of memory");
        if ((ret = rebuild(g, ents, &nents)) == 0 && (ret = st->ops->sync ? st->ops->sync(st) : 0) == 0)
            ret = chunk_index_write(st, ents, nents, &written, &nwritten);
        free(ents);
        free(written);
        if (ret < 0)
            return err_prefix(ret, "gc (nothing was removed)");
        /* The new index is durable: the old files go, and that must be durable
         * before any pack they name does. */
        step(g);
        for (size_t i = 0; i < g->ix.nfiles; i++) {
            st->ops->remove(st, g->ix.files[i]);
            step(g);
        }
        if (st->ops->sync && (ret = st->ops->sync(st)) < 0)
            return err_prefix(ret, "gc");
        for (size_t p = 0; p < g->ix.npacks; p++)
            if ((g->pack_state[p] & PACK_PRESENT) && (g->pack_state[p] & PACK_HAS_DEAD))
            {
                remove_pack(g, g->ix.packs[p]);
                step(g);
            }
    }
    for (size_t i = 0; i < g->norphans; i++)
    {
        remove_pack(g, g->orphans[i]);
        step(g);
    }
    /* A later backup through this handle must see the new index. */
    repo->index_loaded = false;
    return 0;
}

int repo_gc_ex(Repo *repo, bool dry_run, GcStats *out)
{
    if (repo->mode != REPO_WRITE)
        return err_set(EPERM, "gc needs the repository open for writing");
    Gc g = { .repo = repo, .dry_run = dry_run };
    int ret = gc_run(&g);
    *out = g.st;
    chunk_index_free(&g.ix);
    chunkset_free(&g.live);
    free(g.pack_state);
    free(g.orphans);
    return ret;
}

int repo_gc(Repo *repo, bool dry_run, uint64_t *removed, uint64_t *kept)
{
    GcStats st;
    int ret = repo_gc_ex(repo, dry_run, &st);
    *removed = st.chunks_removed;
    *kept = st.chunks_kept;
    return ret;
}
