/* QMP's NBD server: nbd-server-start/-stop, block-export-add/-del,
 * nbd-server-add/-remove (the older spellings), query-block-exports and the
 * BLOCK_EXPORT_DELETED event, with QEMU 7.2's arguments and error texts.
 *
 * An export is a root user of its node; every request reads the edge's
 * current node, so a filter inserted above the node (blk_replace_node) is
 * seen by the export too.  Exported bitmaps are busy (frozen against user
 * changes) for the export's lifetime, as in QEMU. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/dirty_bitmap.h"
#include "block/job.h"
#include "block/nbd/server.h"
#include "block/node.h"
#include "monitor/qmp.h"
#include "util/error.h"

#define MAX_EXPORT_BITMAPS 8

typedef struct Export {
    char *id, *name;
    NbdExport nbd;
    BlockChild *root;
    bool writable;
    DirtyBitmap *bitmaps[MAX_EXPORT_BITMAPS];
    char *meta[MAX_EXPORT_BITMAPS];
    unsigned nbitmaps;
    struct Export *next;
} Export;

static NbdServer *server;
static pthread_t server_thread;
static Export *exports;

static BlockNode *node_of(Export *e) { return e->root->node; }

static int ex_pread(void *opaque, void *buf, uint32_t len, uint64_t off)
{
    return blk_pread(node_of(opaque), off, buf, len);
}

static int ex_pwrite(void *opaque, const void *buf, uint32_t len, uint64_t off, bool fua)
{
    Export *e = opaque;
    int ret = blk_pwrite(node_of(e), off, buf, len);
    if (ret >= 0 && fua)
        ret = blk_flush(node_of(e));
    return ret < 0 ? ret : 0;
}

static int ex_flush(void *opaque)
{
    return blk_flush(node_of(opaque));
}

static int ex_trim(void *opaque, uint32_t len, uint64_t off)
{
    return blk_discard(node_of(opaque), off, len);
}

static int ex_zeroes(void *opaque, uint32_t len, uint64_t off, bool may_trim)
{
    return blk_write_zeroes(node_of(opaque), off, len, may_trim ? BLK_ZERO_MAY_UNMAP : 0);
}

/* Status through the backing chain, as QEMU's bdrv_block_status_above. */
static int status_above(BlockNode *bs, uint64_t off, uint64_t len, uint64_t *pnum)
{
    for (int depth = 0; depth < 64; depth++) {
        uint64_t map;
        BlockNode *file;
        int64_t size = blk_getlength(bs);
        if (size >= 0 && off >= (uint64_t)size) {
            *pnum = len;
            return BLK_STATUS_ZERO;
        }
        int ret = blk_block_status(bs, off, len, pnum, &map, &file);
        if (ret < 0 || *pnum == 0)
            return ret < 0 ? ret : -EIO;
        if ((ret & BLK_STATUS_ALLOCATED) || !bs->backing)
            return ret;
        len = *pnum;
        bs = bs->backing->node;
    }
    return -ELOOP;
}

static int ex_block_status(void *opaque, unsigned ctx, uint64_t off, uint32_t len,
                           NbdExtent *ext, unsigned max)
{
    Export *e = opaque;
    unsigned n = 0;
    uint64_t done = 0;
    while (done < len && n < max) {
        uint64_t pnum;
        uint32_t flags;
        if (ctx == 0) {
            int ret = status_above(node_of(e), off + done, len - done, &pnum);
            if (ret < 0)
                return ret;
            flags = (ret & BLK_STATUS_DATA ? 0 : NBD_STATE_HOLE) |
                    (ret & BLK_STATUS_ZERO ? NBD_STATE_ZERO : 0);
        } else if (ctx <= e->nbitmaps) {
            flags = dbm_extent(e->bitmaps[ctx - 1], off + done, len - done, &pnum) ? 1 : 0;
        } else {
            return -EINVAL;
        }
        if (pnum > len - done)
            pnum = len - done;
        if (n && ext[n - 1].flags == flags)
            ext[n - 1].length += pnum;
        else
            ext[n++] = (NbdExtent){ pnum, flags };
        done += pnum;
    }
    return (int)n;
}

static const NbdExportOps ro_ops = { .pread = ex_pread, .flush = ex_flush,
                                     .block_status = ex_block_status };
static const NbdExportOps rw_ops = { .pread = ex_pread, .pwrite = ex_pwrite, .flush = ex_flush,
                                     .trim = ex_trim, .write_zeroes = ex_zeroes,
                                     .block_status = ex_block_status };

static void export_free(Export *e)
{
    dbm_lock();
    for (unsigned i = 0; i < e->nbitmaps; i++) {
        e->bitmaps[i]->busy--;
        free(e->meta[i]);
    }
    dbm_unlock();
    if (e->root)
        blk_root_detach(e->root);
    free(e->id);
    free(e->name);
    free(e);
}

static Export *find_by(const char *id, const char *name)
{
    for (Export *e = exports; e; e = e->next)
        if ((id && !strcmp(e->id, id)) || (name && !strcmp(e->name, name)))
            return e;
    return NULL;
}

/* Bitmaps on the node or along its filter/backing chain, as QEMU looks. */
static DirtyBitmap *find_bitmap(BlockNode *bs, const char *name)
{
    for (int depth = 0; bs && depth < 64; depth++) {
        DirtyBitmap *bm = dbm_find(bs, name);
        if (bm)
            return bm;
        if (bs->backing)
            bs = bs->backing->node;
        else if (!bs->drv->is_format && bs->file)
            bs = bs->file->node;   /* a filter passes through to its file child */
        else
            bs = NULL;
    }
    return NULL;
}

static int export_add(const char *id, const char *node, const char *name, bool writable,
                      json_object *bitmaps)
{
    if (!server)
        return qmp_error(QMP_ERR_GENERIC, "NBD server not running");
    if (find_by(id, NULL))
        return qmp_error(QMP_ERR_GENERIC, "Block export id '%s' is already in use", id);
    BlockNode *bs = blk_find_node(node);
    if (!bs)
        return qmp_error(QMP_ERR_GENERIC, "Cannot find device='' nor node-name='%s'", node);
    if (!name)
        name = node;
    if (strlen(name) > 4096)
        return qmp_error(QMP_ERR_GENERIC, "export name '%s' too long", name);
    if (find_by(NULL, name))
        return qmp_error(QMP_ERR_GENERIC, "NBD server already has export named '%s'", name);
    Export *e = calloc(1, sizeof(*e));
    if (!e || !(e->id = strdup(id)) || !(e->name = strdup(name))) {
        if (e)
            free(e->id);
        free(e);
        return qmp_error(QMP_ERR_GENERIC, "out of memory");
    }
    size_t nb = bitmaps ? json_object_array_length(bitmaps) : 0;
    if (nb > MAX_EXPORT_BITMAPS) {
        export_free(e);
        return qmp_error(QMP_ERR_GENERIC, "too many bitmaps for one export");
    }
    dbm_lock();
    for (size_t i = 0; i < nb; i++) {
        json_object *b = json_object_array_get_idx(bitmaps, i);
        const char *bn = json_object_get_string(b);
        DirtyBitmap *bm = json_object_is_type(b, json_type_string) ? find_bitmap(bs, bn) : NULL;
        int bad = 0;
        if (!bm)
            bad = qmp_error(QMP_ERR_GENERIC, "Bitmap '%s' is not found", bn ? bn : "");
        else if (bm->busy)
            bad = qmp_error(QMP_ERR_GENERIC, "Bitmap '%s' is currently in use by another "
                            "operation and cannot be used", bn);
        else if (bm->inconsistent)
            bad = qmp_error(QMP_ERR_GENERIC, "Bitmap '%s' is inconsistent and cannot be used", bn);
        else if (!writable && bm->enabled)
            bad = qmp_error(QMP_ERR_GENERIC, "Enabled bitmap '%s' incompatible with readonly "
                            "export", bn);
        size_t ml = strlen(bn) + 20;
        if (!bad && !(e->meta[e->nbitmaps] = malloc(ml)))
            bad = qmp_error(QMP_ERR_GENERIC, "out of memory");
        if (bad) {
            dbm_unlock();
            export_free(e);
            return bad;
        }
        snprintf(e->meta[e->nbitmaps], ml, "qemu:dirty-bitmap:%s", bn);
        bm->busy++;
        e->bitmaps[e->nbitmaps++] = bm;
    }
    dbm_unlock();
    unsigned perm = BLK_PERM_CONSISTENT_READ | (writable ? BLK_PERM_WRITE : 0);
    char user[160];
    snprintf(user, sizeof(user), "nbd-export:%s", id);
    if (blk_root_attach(bs, user, perm, BLK_PERM_ALL, &e->root) < 0) {
        e->root = NULL;
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        export_free(e);
        return qmp_error(QMP_ERR_GENERIC, "%s", msg);
    }
    int64_t size = blk_getlength(bs);
    e->writable = writable;
    e->nbd = (NbdExport){ .name = e->name, .size = size < 0 ? 0 : (uint64_t)size,
                          .ops = writable ? &rw_ops : &ro_ops, .opaque = e,
                          .meta_contexts = (const char *const *)e->meta,
                          .n_meta_contexts = e->nbitmaps };
    if (nbd_server_add_export(server, &e->nbd) < 0) {
        export_free(e);
        return qmp_error(QMP_ERR_GENERIC, "out of memory");
    }
    e->next = exports;          /* newest first, as QEMU lists them */
    exports = e;
    return 0;
}

static void unlink_export(Export *e)
{
    for (Export **pp = &exports; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
}

static int export_del(Export *e, bool hard)
{
    if (nbd_server_remove_export(server, &e->nbd, hard) == -EBUSY)
        return qmp_error(QMP_ERR_GENERIC, "export '%s' still in use", e->id);
    unlink_export(e);
    json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(e->id));
    export_free(e);
    qmp_event("BLOCK_EXPORT_DELETED", d);
    return 0;
}

static const char *sarg(json_object *a, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_string(v) : NULL;
}

static bool barg(json_object *a, const char *k, bool def)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_boolean(v) : def;
}

static void *serve(void *arg)
{
    nbd_server_run(arg);
    return NULL;
}

static int nbd_server_start_cmd(json_object *args, json_object **ret)
{
    if (server)
        return qmp_error(QMP_ERR_GENERIC, "NBD server already running");
    json_object *addr, *data;
    json_object_object_get_ex(args, "addr", &addr);
    const char *type = sarg(addr, "type");
    /* SocketAddressLegacy nests the members under "data"; accept the flat
     * SocketAddress spelling too. */
    if (!json_object_object_get_ex(addr, "data", &data))
        data = addr;
    if (!type)
        return qmp_error(QMP_ERR_GENERIC, "Parameter 'type' is missing");
    NbdServer *s;
    if (nbd_server_new(NULL, 0, &s) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    int r;
    if (!strcmp(type, "unix")) {
        const char *path = sarg(data, "path");
        if (!path) {
            nbd_server_free(s);
            return qmp_error(QMP_ERR_GENERIC, "Parameter 'path' is missing");
        }
        r = nbd_server_listen_unix(s, path);
    } else if (!strcmp(type, "inet")) {
        const char *host = sarg(data, "host"), *port = sarg(data, "port");
        if (!host || !port) {
            nbd_server_free(s);
            return qmp_error(QMP_ERR_GENERIC, "Parameter '%s' is missing", host ? "port" : "host");
        }
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || p < 0 || p > 65535) {
            nbd_server_free(s);
            return qmp_error(QMP_ERR_GENERIC, "Invalid port '%s'", port);
        }
        if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost")) {
            nbd_server_free(s);
            return qmp_error(QMP_ERR_GENERIC, "quail's NBD server listens on loopback only");
        }
        r = nbd_server_listen_tcp(s, (uint16_t)p);
    } else {
        nbd_server_free(s);
        return qmp_error(QMP_ERR_GENERIC, "Parameter 'type' does not accept value '%s'", type);
    }
    if (r < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        nbd_server_free(s);
        return qmp_error(QMP_ERR_GENERIC, "%s", msg);
    }
    if (pthread_create(&server_thread, NULL, serve, s)) {
        nbd_server_free(s);
        return qmp_error(QMP_ERR_GENERIC, "cannot start the NBD server thread");
    }
    server = s;
    *ret = NULL;
    return 0;
}
static const QmpCommand cmd_start = { "nbd-server-start",
    "addr:o,?tls-creds:s,?tls-authz:s,?max-connections:i", nbd_server_start_cmd, false };
QMP_COMMAND_REGISTER(cmd_start)

static int nbd_server_stop_cmd(json_object *args, json_object **ret)
{
    (void)args;
    if (!server)
        return qmp_error(QMP_ERR_GENERIC, "NBD server not running");
    while (exports)
        export_del(exports, true);
    nbd_server_stop(server);
    pthread_join(server_thread, NULL);
    nbd_server_free(server);
    server = NULL;
    *ret = NULL;
    return 0;
}
static const QmpCommand cmd_stop = { "nbd-server-stop", "", nbd_server_stop_cmd, false };
QMP_COMMAND_REGISTER(cmd_stop)

static int block_export_add(json_object *args, json_object **ret)
{
    const char *type = sarg(args, "type");
    if (strcmp(type, "nbd"))
        return qmp_error(QMP_ERR_GENERIC, "Parameter 'type' does not accept value '%s'", type);
    json_object *bitmaps = NULL;
    json_object_object_get_ex(args, "bitmaps", &bitmaps);
    *ret = NULL;
    return export_add(sarg(args, "id"), sarg(args, "node-name"), sarg(args, "name"),
                      barg(args, "writable", false), bitmaps);
}
static const QmpCommand cmd_bea = { "block-export-add",
    "type:s,id:s,node-name:s,?name:s,?description:s,?writable:b,?writethrough:b,?bitmaps:a,"
    "?allocation-depth:b,?fixed-iothread:b,?iothread:s", block_export_add, false };
QMP_COMMAND_REGISTER(cmd_bea)

static int nbd_server_add_cmd(json_object *args, json_object **ret)
{
    const char *dev = sarg(args, "device"), *name = sarg(args, "name"), *bm = sarg(args, "bitmap");
    json_object *bitmaps = NULL;
    if (bm) {
        bitmaps = json_object_new_array();
        json_object_array_add(bitmaps, json_object_new_string(bm));
    }
    int r = export_add(name ? name : dev, dev, name, barg(args, "writable", false), bitmaps);
    json_object_put(bitmaps);
    *ret = NULL;
    return r;
}
static const QmpCommand cmd_nsa = { "nbd-server-add",
    "device:s,?name:s,?description:s,?writable:b,?bitmap:s", nbd_server_add_cmd, false };
QMP_COMMAND_REGISTER(cmd_nsa)

static int del_common(const char *id, const char *mode, bool by_name)
{
    if (mode && strcmp(mode, "safe") && strcmp(mode, "hard"))
        return qmp_error(QMP_ERR_GENERIC, "Parameter 'mode' does not accept value '%s'", mode);
    Export *e = by_name ? find_by(NULL, id) : find_by(id, NULL);
    if (!e)
        return qmp_error(QMP_ERR_GENERIC, "Export '%s' is not found", id);
    return export_del(e, mode && !strcmp(mode, "hard"));
}

static int block_export_del(json_object *args, json_object **ret)
{
    *ret = NULL;
    return del_common(sarg(args, "id"), sarg(args, "mode"), false);
}
static const QmpCommand cmd_bed = { "block-export-del", "id:s,?mode:s", block_export_del, false };
QMP_COMMAND_REGISTER(cmd_bed)

static int nbd_server_remove_cmd(json_object *args, json_object **ret)
{
    *ret = NULL;
    if (!server)
        return qmp_error(QMP_ERR_GENERIC, "NBD server not running");
    return del_common(sarg(args, "name"), sarg(args, "mode"), true);
}
static const QmpCommand cmd_nsr = { "nbd-server-remove", "name:s,?mode:s",
                                    nbd_server_remove_cmd, false };
QMP_COMMAND_REGISTER(cmd_nsr)

static int query_block_exports(json_object *args, json_object **ret)
{
    (void)args;
    json_object *list = json_object_new_array();
    for (Export *e = exports; e; e = e->next) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(e->id));
        json_object_object_add(o, "type", json_object_new_string("nbd"));
        json_object_object_add(o, "node-name", json_object_new_string(node_of(e)->node_name));
        json_object_object_add(o, "shutting-down", json_object_new_boolean(0));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}
static const QmpCommand cmd_qbe = { "query-block-exports", "", query_block_exports, false };
QMP_COMMAND_REGISTER(cmd_qbe)
