/* Block QMP commands: query-block, query-named-block-nodes, blockdev-add,
 * blockdev-del, and `info block` for human-monitor-command.  Shapes follow
 * QEMU 7.2's BlockInfo / BlockDeviceInfo / ImageInfo. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "block/node.h"
#include "block/dirty_bitmap.h"
#include "block/throttle.h"
#include "hw/drive.h"
#include "monitor/qmp.h"
#include "util/error.h"

static json_object *image_info(BlockNode *bs, int depth)
{
    json_object *img = json_object_new_object();
    int64_t len = blk_getlength(bs);
    int64_t actual = blk_allocated_size(bs);
    json_object_object_add(img, "virtual-size", json_object_new_int64(len < 0 ? 0 : len));
    json_object_object_add(img, "filename", json_object_new_string(bs->filename));
    json_object_object_add(img, "format", json_object_new_string(bs->drv->name));
    if (actual >= 0)
        json_object_object_add(img, "actual-size", json_object_new_int64(actual));
    json_object_object_add(img, "dirty-flag", json_object_new_boolean(0));
    /* The driver adds what qemu-img info shows for its format
     * (cluster-size, format-specific, dirty-flag). */
    if (bs->drv->get_info)
        bs->drv->get_info(bs, img);
    if (bs->backing_file[0]) {
        json_object_object_add(img, "backing-filename", json_object_new_string(bs->backing_file));
        json_object_object_add(img, "full-backing-filename",
                               json_object_new_string(bs->backing && bs->backing->node
                                                      ? bs->backing->node->filename
                                                      : bs->backing_file));
        if (bs->backing_fmt[0])
            json_object_object_add(img, "backing-filename-format",
                                   json_object_new_string(bs->backing_fmt));
        if (bs->backing && bs->backing->node && depth < 64)
            json_object_object_add(img, "backing-image", image_info(bs->backing->node, depth + 1));
    }
    return img;
}

static json_object *device_info(BlockNode *bs)
{
    json_object *o = json_object_new_object();
    int depth = 0;
    for (BlockNode *b = bs; b->backing && b->backing->node && depth < 1000; b = b->backing->node)
        depth++;
    json_object_object_add(o, "file", json_object_new_string(bs->filename));
    json_object_object_add(o, "node-name", json_object_new_string(bs->node_name));
    json_object_object_add(o, "ro", json_object_new_boolean(bs->read_only));
    json_object_object_add(o, "drv", json_object_new_string(bs->drv->name));
    if (bs->backing_file[0])
        json_object_object_add(o, "backing_file", json_object_new_string(bs->backing_file));
    json_object_object_add(o, "backing_file_depth", json_object_new_int(depth));
    json_object_object_add(o, "encrypted", json_object_new_boolean(0));
    json_object_object_add(o, "detect_zeroes", json_object_new_string("off"));
    /* Throttling is a filter node in quail, never a property of a node. */
    static const char *const zero_keys[] = { "bps", "bps_rd", "bps_wr", "iops", "iops_rd",
                                             "iops_wr", "write_threshold" };
    for (size_t i = 0; i < sizeof(zero_keys) / sizeof(zero_keys[0]); i++)
        json_object_object_add(o, zero_keys[i], json_object_new_int(0));
    json_object *cache = json_object_new_object();
    json_object_object_add(cache, "writeback", json_object_new_boolean(1));
    json_object_object_add(cache, "direct", json_object_new_boolean(0));
    json_object_object_add(cache, "no-flush", json_object_new_boolean(0));
    json_object_object_add(o, "cache", cache);
    json_object_object_add(o, "image", image_info(bs, 0));
    /* As QEMU 7.2: listed only when the node has bitmaps (cmds_bitmap.c). */
    if (bs->dirty_bitmaps)
        json_object_object_add(o, "dirty-bitmaps", dbm_query_json(bs));
    return o;
}

static int query_named_block_nodes(json_object *args, json_object **ret)
{
    /* Newest first, the order QEMU lists its named nodes in. */
    size_t n = 0;
    for (BlockNode *bs = blk_next_node(NULL); bs; bs = blk_next_node(bs))
        n++;
    BlockNode **nodes = calloc(n ? n : 1, sizeof(*nodes));
    if (!nodes)
        return err_set(ENOMEM, "out of memory");
    size_t i = 0;
    for (BlockNode *bs = blk_next_node(NULL); bs && i < n; bs = blk_next_node(bs))
        nodes[i++] = bs;
    json_object *list = json_object_new_array();
    while (i > 0)
        json_object_array_add(list, device_info(nodes[--i]));
    free(nodes);
    *ret = list;
    return 0;
}
static const QmpCommand cmd_qnbn = { "query-named-block-nodes", "?flat:b",
                                     query_named_block_nodes, false };
QMP_COMMAND_REGISTER(cmd_qnbn)

/* Devices are the root users of nodes whose name is a QOM path. */
static int query_block(json_object *args, json_object **ret)
{
    json_object *list = json_object_new_array();
    for (BlockNode *bs = blk_next_node(NULL); bs; bs = blk_next_node(bs)) {
        for (BlockChild *c = bs->parents; c; c = c->next_parent) {
            if (c->parent || strncmp(c->name, "/machine/", 9))
                continue;
            json_object *o = json_object_new_object();
            const char *drive = drive_name_of(bs);
            json_object_object_add(o, "device", json_object_new_string(drive ? drive : ""));
            json_object_object_add(o, "qdev", json_object_new_string(c->name));
            json_object_object_add(o, "locked", json_object_new_boolean(0));
            json_object_object_add(o, "removable", json_object_new_boolean(0));
            json_object_object_add(o, "io-status", json_object_new_string("ok"));
            json_object_object_add(o, "type", json_object_new_string("unknown"));
            /* A throttle node block_set_io_throttle inserted is shown the way
             * QEMU shows BlockBackend limits: the node below, with bps/iops. */
            ThrottleLimits tl;
            if (bs->auto_named && bs->file && throttle_node_limits(bs, &tl)) {
                json_object *ins = device_info(bs->file->node);
                static const char *const k[THR_BUCKETS] = { "bps", "bps_rd", "bps_wr", "iops",
                                                            "iops_rd", "iops_wr" };
                for (int i = 0; i < THR_BUCKETS; i++)
                    json_object_object_add(ins, k[i], json_object_new_int64((int64_t)tl.avg[i]));
                json_object_object_add(o, "inserted", ins);
            } else {
                json_object_object_add(o, "inserted", device_info(bs));
            }
            json_object_array_add(list, o);
        }
    }
    *ret = list;
    return 0;
}
static const QmpCommand cmd_query_block = { "query-block", "", query_block, false };
QMP_COMMAND_REGISTER(cmd_query_block)

static int blockdev_add(json_object *args, json_object **ret)
{
    const char *name = NULL;
    json_object *nn;
    if (json_object_object_get_ex(args, "node-name", &nn))
        name = json_object_get_string(nn);
    if (!name)
        return qmp_error(QMP_ERR_GENERIC, "'node-name' must be specified for the root node");
    if (blk_find_node(name))
        return qmp_error(QMP_ERR_GENERIC, "Duplicate nodes with node-name='%s'", name);
    json_object *ro;
    bool read_only = json_object_object_get_ex(args, "read-only", &ro) && json_object_get_boolean(ro);
    BlockNode *bs;
    int r = blk_open(args, read_only ? 0 : BLK_O_RDWR, &bs);
    if (r < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    bs->monitor_owned = true;
    *ret = NULL;
    return 0;
}
/* Arguments depend on the driver; the block layer validates them. */
static const QmpCommand cmd_blockdev_add = { "blockdev-add", NULL, blockdev_add, false };
QMP_COMMAND_REGISTER(cmd_blockdev_add)

static int blockdev_del(json_object *args, json_object **ret)
{
    json_object *nn;
    json_object_object_get_ex(args, "node-name", &nn);
    const char *name = json_object_get_string(nn);
    BlockNode *bs = blk_find_node(name);
    if (!bs)
        return qmp_error(QMP_ERR_GENERIC, "Failed to find node with node-name='%s'", name);
    /* QEMU's wording for these two refusals. */
    if (!bs->monitor_owned)
        return qmp_error(QMP_ERR_GENERIC, "Node %s is not owned by the monitor", name);
    /* QEMU: a device/export user is "in use", another node's child edge
     * makes it a "Block device ... in use". */
    for (BlockChild *c = bs->parents; c; c = c->next_parent)
        if (!c->parent)
            return qmp_error(QMP_ERR_GENERIC, "Node %s is in use", name);
    if (bs->parents)
        return qmp_error(QMP_ERR_GENERIC, "Block device %s is in use", name);
    int r = blk_node_del(name);
    if (r < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    *ret = NULL;
    return 0;
}
static const QmpCommand cmd_blockdev_del = { "blockdev-del", "node-name:s", blockdev_del, false };
QMP_COMMAND_REGISTER(cmd_blockdev_del)

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        size_t ncap = *cap * 2 + (size_t)n;
        char *p = realloc(*buf, ncap);
        if (!p)
            return;
        *buf = p;
        *cap = ncap;
    }
}

static int hmp(json_object *args, json_object **ret)
{
    json_object *cl;
    json_object_object_get_ex(args, "command-line", &cl);
    const char *line = json_object_get_string(cl);
    while (*line == ' ')
        line++;
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out)
        return err_set(ENOMEM, "out of memory");
    out[0] = '\0';
    if (!strncmp(line, "info block", 10) && (line[10] == '\0' || line[10] == ' ')) {
        for (BlockNode *bs = blk_next_node(NULL); bs; bs = blk_next_node(bs)) {
            for (BlockChild *c = bs->parents; c; c = c->next_parent) {
                if (c->parent || strncmp(c->name, "/machine/", 9))
                    continue;
                const char *drive = drive_name_of(bs);
                append(&out, &len, &cap, "%s: %s (%s%s)\r\n", drive ? drive : bs->node_name,
                       bs->filename, bs->drv->name, bs->read_only ? ", read-only" : "");
                append(&out, &len, &cap, "    Attached to:      %s\r\n", c->name);
                append(&out, &len, &cap, "    Cache mode:       writeback\r\n");
                if (bs->backing_file[0])
                    append(&out, &len, &cap, "    Backing file:     %s\r\n", bs->backing_file);
                append(&out, &len, &cap, "\r\n");
            }
        }
    } else {
        char cmd[64];
        size_t n = strcspn(line, " ");
        snprintf(cmd, sizeof(cmd), "%.*s", (int)(n < 60 ? n : 60), line);
        append(&out, &len, &cap, "unknown command: '%s'\r\n", cmd);
    }
    *ret = json_object_new_string(out);
    free(out);
    return 0;
}
static const QmpCommand cmd_hmp = { "human-monitor-command", "command-line:s,?cpu-index:i",
                                    hmp, false };
QMP_COMMAND_REGISTER(cmd_hmp)
