/* block-dirty-bitmap-* commands, each also a transaction action, and the
 * "dirty-bitmaps" list of query-block / query-named-block-nodes.  Messages
 * are QEMU 7.2's (checked against qemu-system-riscv64 by the transcripts). */
#include <stdlib.h>
#include <string.h>

#include "block/dirty_bitmap.h"
#include "block/job.h"
#include "monitor/qmp.h"
#include "util/error.h"

json_object *dbm_query_json(BlockNode *bs)
{
    json_object *list = json_object_new_array();
    dbm_lock();
    for (DirtyBitmap *bm = bs->dirty_bitmaps; bm; bm = bm->next) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(bm->name));
        json_object_object_add(o, "recording", json_object_new_boolean(bm->enabled));
        json_object_object_add(o, "persistent", json_object_new_boolean(bm->persistent));
        json_object_object_add(o, "busy", json_object_new_boolean(bm->busy > 0));
        json_object_object_add(o, "granularity", json_object_new_int64((int64_t)bm->granularity));
        json_object_object_add(o, "count", json_object_new_int64((int64_t)dbm_count(bm)));
        if (bm->inconsistent)
            json_object_object_add(o, "inconsistent", json_object_new_boolean(1));
        json_object_array_add(list, o);
    }
    dbm_unlock();
    return list;
}

static const char *str_arg(json_object *a, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_string(v) : NULL;
}

static bool bool_arg(json_object *a, const char *k, bool def)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_boolean(v) : def;
}

/* QEMU's lookup: node first, then the bitmap on it. */
static DirtyBitmap *lookup(const char *node, const char *name)
{
    BlockNode *bs = blk_lookup_bs(node);
    if (!bs)
        return NULL;
    DirtyBitmap *bm = dbm_find(bs, name);
    if (!bm)
        err_set(ENOENT, "Dirty bitmap '%s' not found", name);
    return bm;
}

/* May the user change bm (QEMU's bdrv_dirty_bitmap_check with BDRV_BITMAP_DEFAULT)? */
static int check_usable(DirtyBitmap *bm)
{
    if (bm->busy)
        return err_set(EBUSY, "Bitmap '%s' is currently in use by another operation and "
                       "cannot be used", bm->name);
    if (bm->inconsistent)
        return err_set(EINVAL, "Bitmap '%s' is inconsistent and cannot be used", bm->name);
    return 0;
}

/* ---- add ---- */
static int add_prepare(json_object *a, void **st)
{
    BlockNode *bs = blk_lookup_bs(str_arg(a, "node"));
    if (!bs)
        return -ENOENT;
    const char *name = str_arg(a, "name");
    json_object *g;
    uint64_t gran = dbm_default_granularity(bs);
    if (json_object_object_get_ex(a, "granularity", &g)) {
        int64_t v = json_object_get_int64(g);
        if (v < 0 || v > UINT32_MAX)
            return err_set(EINVAL, "Parameter 'granularity' expects uint32_t");
        gran = (uint64_t)v;
    }
    if (!name[0])
        return err_set(EINVAL, "Bitmap name cannot be empty");
    bool persistent = bool_arg(a, "persistent", false);
    if (persistent && (strcmp(bs->drv->name, "qcow2") || bs->read_only))
        return err_set(ENOTSUP, "Can't store persistent bitmaps to %s: Operation not supported",
                       bs->node_name);
    DirtyBitmap *bm;
    int ret = dbm_create(bs, name, gran, &bm);
    if (ret < 0)
        return ret;
    bm->persistent = persistent;
    bm->enabled = !bool_arg(a, "disabled", false);
    *st = bm;
    return 0;
}
static void add_abort(void *st) { dbm_release(st); }
static const TxnAction act_add = {
    "block-dirty-bitmap-add", "node:s,name:s,?granularity:i,?persistent:b,?disabled:b",
    add_prepare, NULL, add_abort, NULL };
TXN_ACTION_REGISTER(act_add)

/* ---- remove: hidden at prepare, freed at commit ---- */
typedef struct RemoveState {
    DirtyBitmap *bm;
    bool unlinked;
} RemoveState;

static int remove_prepare(json_object *a, void **st)
{
    DirtyBitmap *bm = lookup(str_arg(a, "node"), str_arg(a, "name"));
    if (!bm)
        return -ENOENT;
    if (bm->busy)
        return err_set(EBUSY, "Bitmap '%s' is currently in use by another operation and "
                       "cannot be used", bm->name);
    RemoveState *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->bm = bm;
    dbm_lock();
    for (DirtyBitmap **pp = &bm->bs->dirty_bitmaps; *pp; pp = &(*pp)->next)
        if (*pp == bm) {
            *pp = bm->next;
            s->unlinked = true;
            break;
        }
    dbm_unlock();
    *st = s;
    return 0;
}
static void remove_commit(void *st)
{
    RemoveState *s = st;
    /* A persistent bitmap also leaves the image at its next store. */
    dbm_free_detached(s->bm);
    s->bm = NULL;
}
static void remove_abort(void *st)
{
    RemoveState *s = st;
    dbm_lock();
    s->bm->next = s->bm->bs->dirty_bitmaps;
    s->bm->bs->dirty_bitmaps = s->bm;
    dbm_unlock();
}
static void remove_clean(void *st) { free(st); }
static const TxnAction act_remove = { "block-dirty-bitmap-remove", "node:s,name:s",
                                      remove_prepare, remove_commit, remove_abort,
                                      remove_clean };
TXN_ACTION_REGISTER(act_remove)

/* ---- clear / merge: a copy of the old bits for abort ---- */
typedef struct BitsState {
    DirtyBitmap *bm, *backup;
} BitsState;

static int save_bits(DirtyBitmap *bm, void **st)
{
    BitsState *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    int ret = dbm_clone(bm, &s->backup);
    if (ret < 0) {
        free(s);
        return ret;
    }
    s->bm = bm;
    *st = s;
    return 0;
}
static void bits_abort(void *st)
{
    BitsState *s = st;
    dbm_restore(s->bm, s->backup);
}
static void bits_clean(void *st)
{
    BitsState *s = st;
    dbm_free_detached(s->backup);
    free(s);
}

static int clear_prepare(json_object *a, void **st)
{
    DirtyBitmap *bm = lookup(str_arg(a, "node"), str_arg(a, "name"));
    if (!bm)
        return -ENOENT;
    int ret = check_usable(bm);
    if (ret < 0 || (ret = save_bits(bm, st)) < 0)
        return ret;
    dbm_clear(bm);
    return 0;
}
static const TxnAction act_clear = { "block-dirty-bitmap-clear", "node:s,name:s",
                                     clear_prepare, NULL, bits_abort, bits_clean };
TXN_ACTION_REGISTER(act_clear)

static int merge_prepare(json_object *a, void **st)
{
    const char *node = str_arg(a, "node");
    DirtyBitmap *dst = lookup(node, str_arg(a, "target"));
    if (!dst)
        return -ENOENT;
    int ret = check_usable(dst);
    if (ret < 0)
        return ret;
    BlockNode *bs = dst->bs;
    json_object *list;
    json_object_object_get_ex(a, "bitmaps", &list);
    size_t n = json_object_array_length(list);
    /* Resolve everything before changing anything. */
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        DirtyBitmap *src = NULL;
        if (json_object_is_type(e, json_type_string)) {
            src = dbm_find(bs, json_object_get_string(e));
            if (!src)
                return err_set(ENOENT, "Dirty bitmap '%s' not found", json_object_get_string(e));
        } else if (json_object_is_type(e, json_type_object)) {
            const char *sn = str_arg(e, "node"), *nm = str_arg(e, "name");
            if (!sn)
                return err_set(EINVAL, "Parameter 'node' is missing");
            if (!nm)
                return err_set(EINVAL, "Parameter 'name' is missing");
            BlockNode *sbs = blk_find_node(sn);
            if (!sbs)
                return err_set(ENOENT, "Node '%s' not found", sn);
            src = dbm_find(sbs, nm);
            if (!src)
                return err_set(ENOENT, "Dirty bitmap '%s' not found", nm);
        } else {
            return err_set(EINVAL, "Invalid parameter type for 'null', expected: "
                           "BlockDirtyBitmapOrStr");
        }
        if (src->inconsistent)
            return err_set(EINVAL, "Bitmap '%s' is inconsistent and cannot be used", src->name);
        if (src->size != dst->size)
            return err_set(EINVAL, "Bitmaps are of different sizes (destination size is %llu, "
                           "source size is %llu) and can't be merged",
                           (unsigned long long)dst->size, (unsigned long long)src->size);
    }
    if ((ret = save_bits(dst, st)) < 0)
        return ret;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        DirtyBitmap *src = json_object_is_type(e, json_type_string)
            ? dbm_find(bs, json_object_get_string(e))
            : dbm_find(blk_find_node(str_arg(e, "node")), str_arg(e, "name"));
        dbm_merge(dst, src);
    }
    return 0;
}
static const TxnAction act_merge = { "block-dirty-bitmap-merge", "node:s,target:s,bitmaps:a",
                                     merge_prepare, NULL, bits_abort, bits_clean };
TXN_ACTION_REGISTER(act_merge)

/* ---- enable / disable ---- */
typedef struct EnState {
    DirtyBitmap *bm;
    bool was;
} EnState;

static int set_enabled(json_object *a, void **st, bool on)
{
    DirtyBitmap *bm = lookup(str_arg(a, "node"), str_arg(a, "name"));
    if (!bm)
        return -ENOENT;
    int ret = check_usable(bm);
    if (ret < 0)
        return ret;
    EnState *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->bm = bm;
    dbm_lock();
    s->was = bm->enabled;
    bm->enabled = on;
    dbm_unlock();
    *st = s;
    return 0;
}
static int enable_prepare(json_object *a, void **st) { return set_enabled(a, st, true); }
static int disable_prepare(json_object *a, void **st) { return set_enabled(a, st, false); }
static void en_abort(void *st)
{
    EnState *s = st;
    dbm_lock();
    s->bm->enabled = s->was;
    dbm_unlock();
}
static void en_clean(void *st) { free(st); }
static const TxnAction act_enable = { "block-dirty-bitmap-enable", "node:s,name:s",
                                      enable_prepare, NULL, en_abort, en_clean };
TXN_ACTION_REGISTER(act_enable)
static const TxnAction act_disable = { "block-dirty-bitmap-disable", "node:s,name:s",
                                       disable_prepare, NULL, en_abort, en_clean };
TXN_ACTION_REGISTER(act_disable)

/* ---- the standalone commands ---- */
#define BITMAP_COMMAND(var, action)                                        \
    static int var##_handler(json_object *args, json_object **ret)         \
    {                                                                      \
        *ret = NULL;                                                       \
        if (txn_run_single(&(action), args) < 0)                           \
            return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());            \
        return 0;                                                          \
    }                                                                      \
    static const QmpCommand var = { NULL, NULL, var##_handler, false };    \
    static QmpCommand var##_real;                                          \
    static void __attribute__((constructor)) var##_reg(void)               \
    {                                                                      \
        var##_real = var;                                                  \
        var##_real.name = (action).type;                                   \
        var##_real.params = (action).params;                               \
        qmp_command_register(&var##_real);                                 \
    }

BITMAP_COMMAND(cmd_bm_add, act_add)
BITMAP_COMMAND(cmd_bm_remove, act_remove)
BITMAP_COMMAND(cmd_bm_clear, act_clear)
BITMAP_COMMAND(cmd_bm_merge, act_merge)
BITMAP_COMMAND(cmd_bm_enable, act_enable)
BITMAP_COMMAND(cmd_bm_disable, act_disable)
