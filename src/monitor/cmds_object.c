/* -object / object-add / object-del for throttle-group objects, and
 * block_set_io_throttle, which puts a throttle filter node above a device's
 * node (or re-configures or removes the one it put there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/blockdev_opts.h"
#include "block/node.h"
#include "block/throttle.h"
#include "hw/drive.h"
#include "hw/options.h"
#include "monitor/qmp.h"
#include "util/error.h"

static const char *sarg(json_object *a, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_string(v) : NULL;
}

static int object_add_json(json_object *args)
{
    const char *type = sarg(args, "qom-type"), *id = sarg(args, "id");
    if (!type)
        return err_set(EINVAL, "Parameter 'qom-type' is missing");
    if (!id)
        return err_set(EINVAL, "Parameter 'id' is missing");
    if (strcmp(type, "throttle-group"))
        return err_set(EINVAL, "Parameter 'qom-type' does not accept value '%s'", type);
    ThrottleLimits l;
    int ret = throttle_limits_parse(args, &l);
    if (ret < 0)
        return ret;
    return throttle_group_create(id, &l);
}

static int object_add(json_object *args, json_object **ret)
{
    *ret = NULL;
    if (object_add_json(args) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    return 0;
}
/* Properties depend on qom-type; checked above. */
static const QmpCommand cmd_object_add = { "object-add", NULL, object_add, false };
QMP_COMMAND_REGISTER(cmd_object_add)

static int object_del(json_object *args, json_object **ret)
{
    *ret = NULL;
    if (throttle_group_delete(sarg(args, "id")) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    return 0;
}
static const QmpCommand cmd_object_del = { "object-del", "id:s", object_del, false };
QMP_COMMAND_REGISTER(cmd_object_del)

/* -object throttle-group,id=G,x-bps-total=N: deferred to the backend phase
 * so -blockdev throttle nodes later on the command line find the group. */
static int object_apply(VirtMachine *m, const char *arg, void *opaque)
{
    (void)m; (void)opaque;
    size_t n = strlen(arg) + 16;
    char *s = malloc(n);
    if (!s)
        return err_set(ENOMEM, "out of memory");
    snprintf(s, n, "qom-type=%s", arg);
    json_object *o = NULL;
    int ret = blockdev_opts_parse(s, &o);
    free(s);
    if (ret == 0)
        ret = object_add_json(o);
    json_object_put(o);
    return ret < 0 ? err_prefix(ret, "-object %s", arg) : 0;
}

static int parse_object(RunConfig *cfg, const char *arg)
{
    return run_config_defer(cfg, RUN_PHASE_BACKEND, object_apply, arg, NULL);
}
static const RunOption o_object = { "object", "TYPE,id=ID,...",
                                    "add an object (throttle-group)", parse_object };
RUN_OPTION_REGISTER(o_object)

/* ---- block_set_io_throttle ---- */

/* The device's root edge: by qdev id / QOM path, or by drive name. */
static BlockChild *device_edge(const char *id, const char *device)
{
    char path[256];
    if (id && id[0] != '/')
        snprintf(path, sizeof(path), "/machine/peripheral/%s/virtio-backend", id);
    else
        snprintf(path, sizeof(path), "%s", id ? id : "");
    BlockNode *want = device ? drive_lookup(device) : NULL;
    for (BlockNode *bs = blk_next_node(NULL); bs; bs = blk_next_node(bs))
        for (BlockChild *c = bs->parents; c; c = c->next_parent) {
            if (c->parent || strncmp(c->name, "/machine/", 9))
                continue;
            if ((id && id[0] == '/' && !strcmp(c->name, path)) || (want && (bs == want ||
                (!strcmp(bs->drv->name, "throttle") && bs->file && bs->file->node == want))))
                return c;
        }
    return NULL;
}

static bool device_edge_exists(const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "/machine/peripheral/%s/virtio-backend", id);
    return device_edge(path, NULL) != NULL;
}

static int set_io_throttle(json_object *args, json_object **ret)
{
    *ret = NULL;
    const char *id = sarg(args, "id"), *device = sarg(args, "device");
    if (!id && !device)
        return qmp_error(QMP_ERR_GENERIC, "Need exactly one of 'device' and 'id'");
    BlockChild *edge = device_edge(id, device);
    if (!edge && id && id[0] != '/' && device_edge_exists(id))
        /* As QEMU: the backend belongs to the inner virtio device's QOM path. */
        return qmp_error(QMP_ERR_GENERIC, "Device does not have a block device backend");
    if (!edge)
        return qmp_error(QMP_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", id ? id : device);
    static const char *const keys[THR_BUCKETS] = { "bps", "bps_rd", "bps_wr", "iops", "iops_rd",
                                                   "iops_wr" };
    ThrottleLimits l;
    memset(&l, 0, sizeof(l));
    bool any = false;
    for (int i = 0; i < THR_BUCKETS; i++) {
        char k[48];
        json_object *v;
        l.burst_length[i] = 1;
        if (json_object_object_get_ex(args, keys[i], &v))
            l.avg[i] = (double)json_object_get_int64(v);
        snprintf(k, sizeof(k), "%s_max", keys[i]);
        if (json_object_object_get_ex(args, k, &v))
            l.max[i] = (double)json_object_get_int64(v);
        snprintf(k, sizeof(k), "%s_max_length", keys[i]);
        if (json_object_object_get_ex(args, k, &v))
            l.burst_length[i] = (uint64_t)json_object_get_int64(v);
        if (l.avg[i] < 0 || l.max[i] < 0)
            return qmp_error(QMP_ERR_GENERIC, "bps/iops/max values must be within [0, %lld]",
                             1000000000000000LL);
        any |= l.avg[i] > 0;
    }
    json_object *v;
    if (json_object_object_get_ex(args, "iops_size", &v))
        l.iops_size = (uint64_t)json_object_get_int64(v);
    if (throttle_limits_check(&l) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());

    BlockNode *top = edge->node;
    bool ours = !strcmp(top->drv->name, "throttle") && top->auto_named;
    char group[300];
    snprintf(group, sizeof(group), "__quail_throttle:%s", edge->name);
    if (ours && !any) {
        /* Limits off: the filter leaves the graph. */
        BlockNode *below = top->file->node;
        if (blk_replace_node(top, below) < 0)
            return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
        blk_unref(top);
        throttle_group_delete(group);
        return 0;
    }
    if (!any)
        return 0;
    if (throttle_group_ensure(group, &l) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    if (ours)
        return 0;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "driver", json_object_new_string("throttle"));
    json_object_object_add(o, "throttle-group", json_object_new_string(group));
    json_object_object_add(o, "file", json_object_new_string(top->node_name));
    BlockNode *f = NULL;
    int r = blk_open(o, top->read_only ? 0 : BLK_O_RDWR, &f);
    json_object_put(o);
    if (r < 0 || (r = blk_replace_node(top, f)) < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        if (r < 0 && f)
            blk_unref(f);
        throttle_group_delete(group);
        return qmp_error(QMP_ERR_GENERIC, "%s", msg);
    }
    return 0;
}
static const QmpCommand cmd_set_io_throttle = { "block_set_io_throttle",
    "?device:s,?id:s,bps:i,bps_rd:i,bps_wr:i,iops:i,iops_rd:i,iops_wr:i,?bps_max:i,"
    "?bps_rd_max:i,?bps_wr_max:i,?iops_max:i,?iops_rd_max:i,?iops_wr_max:i,"
    "?bps_max_length:i,?bps_rd_max_length:i,?bps_wr_max_length:i,?iops_max_length:i,"
    "?iops_rd_max_length:i,?iops_wr_max_length:i,?iops_size:i,?group:s",
    set_io_throttle, false };
QMP_COMMAND_REGISTER(cmd_set_io_throttle)

/* ---- blockdev-reopen: moving a node's file/backing child onto another
 * node, which is how a filter is put between a format node and its file
 * (and taken out again) while a device keeps using the format node.  Other
 * option changes are not supported and are ignored. ---- */
static int reopen_one(json_object *o)
{
    const char *name = sarg(o, "node-name");
    if (!name)
        return err_set(EINVAL, "node-name not specified");
    BlockNode *bs = blk_find_node(name);
    if (!bs)
        return err_set(ENOENT, "Cannot find node named '%s'", name);
    const char *drv = sarg(o, "driver");
    if (drv && strcmp(drv, bs->drv->name))
        return err_set(EINVAL, "Cannot change the option 'driver'");
    static const char *const keys[] = { "file", "backing" };
    for (int k = 0; k < 2; k++) {
        json_object *v;
        if (!json_object_object_get_ex(o, keys[k], &v) || !json_object_is_type(v, json_type_string))
            continue;
        BlockChild *c = k == 0 ? bs->file : bs->backing;
        const char *want = json_object_get_string(v);
        BlockNode *to = blk_find_node(want);
        if (!to)
            return err_set(ENOENT, "Cannot find device='' nor node-name='%s'", want);
        if (!c)
            return err_set(EINVAL, "Cannot change the option '%s'", keys[k]);
        BlockNode *from = c->node;
        if (from == to)
            continue;
        /* Only this edge may move: every other user of `from` must be below
         * `to` (the filter's own edge onto it), or blk_replace_node would
         * take them along. */
        for (BlockChild *p = from->parents; p; p = p->next_parent) {
            if (p == c)
                continue;
            bool ok = false;
            for (BlockChild *q = to->children; q && !ok; q = q->next_child)
                ok = q == p;
            if (!ok && !(to->file && to->file->node == from && p->parent == to))
                return err_set(ENOTSUP, "Cannot change the option '%s': '%s' has other users",
                               keys[k], from->node_name);
        }
        int ret = blk_replace_node(from, to);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int blockdev_reopen(json_object *args, json_object **ret)
{
    *ret = NULL;
    json_object *list;
    json_object_object_get_ex(args, "options", &list);
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(list, i);
        if (!json_object_is_type(o, json_type_object))
            return qmp_error(QMP_ERR_GENERIC, "Invalid parameter type for 'options[%zu]', "
                             "expected: object", i);
        if (reopen_one(o) < 0)
            return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    }
    return 0;
}
static const QmpCommand cmd_reopen = { "blockdev-reopen", "options:a", blockdev_reopen, false };
QMP_COMMAND_REGISTER(cmd_reopen)
