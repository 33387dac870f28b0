/* QMP `transaction`: every action prepares in order; if one fails, those
 * already prepared are aborted in reverse order, so the group is all or
 * nothing.  Standalone commands run the same actions one at a time. */
#include <stdio.h>
#include <string.h>

#include "block/job.h"
#include "hw/drive.h"
#include "monitor/qmp.h"
#include "util/error.h"

#define MAX_ACTIONS 32
#define MAX_TXN 256

static const TxnAction *actions[MAX_ACTIONS];
static int nactions;

void txn_action_register(const TxnAction *a)
{
    if (nactions < MAX_ACTIONS)
        actions[nactions++] = a;
}

BlockNode *blk_lookup_bs(const char *name)
{
    BlockNode *bs = blk_find_node(name);
    if (!bs)
        bs = drive_lookup(name);
    if (!bs)
        err_set(ENOENT, "Cannot find device='%s' nor node-name='%s'", name, name);
    return bs;
}

static bool type_ok(char t, json_object *v)
{
    enum json_type jt = json_object_get_type(v);
    switch (t) {
    case 's': return jt == json_type_string;
    case 'i': return jt == json_type_int;
    case 'b': return jt == json_type_boolean;
    case 'o': return jt == json_type_object;
    case 'a': return jt == json_type_array;
    default: return true;
    }
}

static const char *type_name(char t)
{
    switch (t) {
    case 's': return "string";
    case 'i': return "integer";
    case 'b': return "boolean";
    case 'o': return "object";
    case 'a': return "array";
    default: return "any";
    }
}

/* Same checks and texts as the dispatcher applies to a command's arguments. */
int txn_check_args(const char *spec, json_object *args)
{
    if (!json_object_is_type(args, json_type_object))
        return err_set(EINVAL, "Invalid parameter type for 'data', expected: object");
    json_object_object_foreach(args, key, val) {
        const char *p = spec;
        char t = 0;
        size_t kl = strlen(key);
        while (p && *p) {
            const char *end = strchr(p, ',');
            const char *n = p + (*p == '?');
            const char *colon = strchr(n, ':');
            if (colon && (!end || colon < end) && (size_t)(colon - n) == kl && !strncmp(n, key, kl)) {
                t = colon[1];
                if (!strncmp(colon + 1, "any", 3))
                    t = '*';
                break;
            }
            p = end ? end + 1 : NULL;
        }
        if (!t)
            return err_set(EINVAL, "Parameter '%s' is unexpected", key);
        if (!type_ok(t, val))
            return err_set(EINVAL, "Invalid parameter type for '%s', expected: %s", key,
                           type_name(t));
    }
    for (const char *p = spec; p && *p;) {
        const char *end = strchr(p, ',');
        if (*p != '?') {
            const char *colon = strchr(p, ':');
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
            if (!json_object_object_get_ex(args, name, NULL))
                return err_set(EINVAL, "Parameter '%s' is missing", name);
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int txn_run_single(const TxnAction *a, json_object *args)
{
    void *st = NULL;
    int ret = a->prepare(args, &st);
    if (ret < 0) {
        if (st && a->clean)
            a->clean(st);
        return ret;
    }
    if (a->commit)
        a->commit(st);
    if (a->clean)
        a->clean(st);
    return 0;
}

static const TxnAction *find_action(const char *type)
{
    for (int i = 0; i < nactions; i++)
        if (!strcmp(actions[i]->type, type))
            return actions[i];
    return NULL;
}

static int transaction(json_object *args, json_object **ret)
{
    json_object *list;
    json_object_object_get_ex(args, "actions", &list);
    size_t n = json_object_array_length(list);
    if (n > MAX_TXN)
        return qmp_error(QMP_ERR_GENERIC, "too many actions in one transaction");
    const TxnAction *acts[MAX_TXN];
    json_object *datas[MAX_TXN];
    void *states[MAX_TXN];
    /* Validate every action's shape before doing anything. */
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(list, i), *t, *d;
        if (!json_object_is_type(a, json_type_object))
            return qmp_error(QMP_ERR_GENERIC,
                             "Invalid parameter type for 'actions[%zu]', expected: object", i);
        if (!json_object_object_get_ex(a, "type", &t))
            return qmp_error(QMP_ERR_GENERIC, "Parameter 'type' is missing");
        if (!json_object_is_type(t, json_type_string))
            return qmp_error(QMP_ERR_GENERIC, "Invalid parameter type for 'type', expected: string");
        acts[i] = find_action(json_object_get_string(t));
        if (!acts[i])
            return qmp_error(QMP_ERR_GENERIC, "Parameter 'type' does not accept value '%s'",
                             json_object_get_string(t));
        if (!json_object_object_get_ex(a, "data", &d))
            return qmp_error(QMP_ERR_GENERIC, "Parameter 'data' is missing");
        if (txn_check_args(acts[i]->params, d) < 0)
            return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
        datas[i] = d;
    }
    size_t done = 0;
    int rc = 0;
    for (; done < n; done++) {
        states[done] = NULL;
        rc = acts[done]->prepare(datas[done], &states[done]);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        if (states[done] && acts[done]->clean)
            acts[done]->clean(states[done]);
        while (done-- > 0) {
            if (acts[done]->abort)
                acts[done]->abort(states[done]);
            if (acts[done]->clean)
                acts[done]->clean(states[done]);
        }
        return qmp_error(QMP_ERR_GENERIC, "%s", msg);
    }
    for (size_t i = 0; i < n; i++)
        if (acts[i]->commit)
            acts[i]->commit(states[i]);
    for (size_t i = 0; i < n; i++)
        if (acts[i]->clean)
            acts[i]->clean(states[i]);
    *ret = NULL;
    return 0;
}
static const QmpCommand cmd_transaction = { "transaction", "actions:a,?properties:o",
                                            transaction, false };
QMP_COMMAND_REGISTER(cmd_transaction)

/* ---- blockdev-snapshot-sync: a new qcow2 overlay whose backing is the
 * node takes the node's place for all its users (a transaction action too). */
#include <stdlib.h>
#include <unistd.h>

typedef struct SnapState {
    BlockNode *src, *overlay;
    char *file;
    bool created;
} SnapState;

static const char *jstr(json_object *a, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_string(v) : NULL;
}

static int snap_prepare(json_object *a, void **st)
{
    const char *dev = jstr(a, "device"), *nn = jstr(a, "node-name");
    const char *file = jstr(a, "snapshot-file"), *sname = jstr(a, "snapshot-node-name");
    const char *fmt = jstr(a, "format"), *mode = jstr(a, "mode");
    BlockNode *src = nn ? blk_find_node(nn) : dev ? blk_lookup_bs(dev) : NULL;
    if (!src)
        return err_set(ENOENT, "Cannot find device='%s' nor node-name='%s'", dev ? dev : "",
                       nn ? nn : "");
    for (BlockChild *c = src->parents; c; c = c->next_parent)
        if (c->role == BLK_ROLE_BACKING)
            return err_set(EBUSY, "Node '%s' is busy: node is used as backing hd of '%s'",
                           src->node_name, c->parent->node_name);
    if (sname && blk_find_node(sname))
        return err_set(EEXIST, "New overlay node-name already in use");
    if (fmt && strcmp(fmt, "qcow2"))
        return err_set(ENOTSUP, "quail creates qcow2 overlays only, not '%s'", fmt);
    bool existing = mode && !strcmp(mode, "existing");
    if (mode && !existing && strcmp(mode, "absolute-paths"))
        return err_set(EINVAL, "Parameter 'mode' does not accept value '%s'", mode);
    SnapState *s = calloc(1, sizeof(*s));
    if (!s || !(s->file = strdup(file))) {
        free(s);
        return err_set(ENOMEM, "out of memory");
    }
    *st = s;
    s->src = src;
    int ret;
    if (!existing) {
        int64_t len = blk_getlength(src);
        if (len < 0)
            return (int)len;
        BlockCreateOpts o = { .size = (uint64_t)len, .backing_file = src->filename,
                              .backing_fmt = src->drv->name };
        if ((ret = blk_create("qcow2", file, &o)) < 0)
            return ret;
        s->created = true;
    }
    json_object *o = json_object_new_object(), *f = json_object_new_object();
    json_object_object_add(f, "driver", json_object_new_string("file"));
    json_object_object_add(f, "filename", json_object_new_string(file));
    json_object_object_add(o, "driver", json_object_new_string("qcow2"));
    if (sname)
        json_object_object_add(o, "node-name", json_object_new_string(sname));
    json_object_object_add(o, "file", f);
    json_object_object_add(o, "backing", json_object_new_string(src->node_name));
    ret = blk_open(o, BLK_O_RDWR, &s->overlay);
    json_object_put(o);
    if (ret < 0) {
        s->overlay = NULL;
        return ret;
    }
    s->overlay->monitor_owned = true;
    return blk_replace_node(src, s->overlay);
}

static void snap_abort(void *st)
{
    SnapState *s = st;
    if (s->overlay) {
        blk_replace_node(s->overlay, s->src);
        s->overlay->monitor_owned = false;
        blk_unref(s->overlay);
        s->overlay = NULL;
    }
    if (s->created)
        unlink(s->file);
}

static void snap_clean(void *st)
{
    SnapState *s = st;
    free(s->file);
    free(s);
}

/* Cleans up a failed prepare too (the transaction calls clean only). */
static int snap_prepare_checked(json_object *a, void **st)
{
    int ret = snap_prepare(a, st);
    if (ret < 0 && *st) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        snap_abort(*st);
        err_set(-ret, "%s", msg);
    }
    return ret;
}

static const TxnAction act_snapshot = {
    "blockdev-snapshot-sync",
    "?device:s,?node-name:s,snapshot-file:s,?snapshot-node-name:s,?format:s,?mode:s",
    snap_prepare_checked, NULL, snap_abort, snap_clean };
TXN_ACTION_REGISTER(act_snapshot)

static int snapshot_sync(json_object *args, json_object **ret)
{
    *ret = NULL;
    if (txn_run_single(&act_snapshot, args) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    return 0;
}
static const QmpCommand cmd_snapshot = { "blockdev-snapshot-sync",
    "?device:s,?node-name:s,snapshot-file:s,?snapshot-node-name:s,?format:s,?mode:s",
    snapshot_sync, false };
QMP_COMMAND_REGISTER(cmd_snapshot)
