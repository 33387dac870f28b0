#include "backup/fleece.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

#define JOB_TIMEOUT_MS 60000

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

int fleece_names_init(FleeceNames *n, const char *repo_uuid, const char *scratch_dir)
{
    char hex[17];
    int k = 0;
    for (const char *p = repo_uuid; *p && k < 16; p++)
        if (*p != '-')
            hex[k++] = *p;
    hex[k] = 0;
    if (k < 16)
        return err_set(EINVAL, "repository UUID '%s' too short", repo_uuid);
    snprintf(n->prefix, sizeof(n->prefix), "qbk-%s", hex);
    snprintf(n->bitmap_prefix, sizeof(n->bitmap_prefix), "quail-backup-%s-", repo_uuid);
    if (strlen(scratch_dir) >= sizeof(n->scratch_dir) - 40)
        return err_set(ENAMETOOLONG, "scratch directory path too long");
    snprintf(n->scratch_dir, sizeof(n->scratch_dir), "%s", scratch_dir);
    snprintf(n->nbd_socket, sizeof(n->nbd_socket), "%s/%s.nbd", scratch_dir, n->prefix);
    if (strlen(n->nbd_socket) >= 108)
        return err_set(ENAMETOOLONG, "NBD socket path %s too long for a unix socket", n->nbd_socket);
    return 0;
}

/* ---- discovery ---------------------------------------------------------- */

static void disk_free(VmDisk *d)
{
    free(d->name);
    free(d->device);
    free(d->qdev);
    free(d->node);
    free(d->drv);
    for (int i = 0; i < d->nbitmaps; i++)
        free(d->bitmaps[i].name);
    free(d->bitmaps);
}

void vm_info_free(VmInfo *vm)
{
    for (int i = 0; i < vm->ndisks; i++)
        disk_free(&vm->disks[i]);
    free(vm->disks);
    free(vm->name);
    free(vm->uuid);
    memset(vm, 0, sizeof(*vm));
}

/* "/machine/peripheral/vda/virtio-backend" -> "vda"; "" when anonymous. */
static char *short_qdev(const char *qdev)
{
    const char *pfx = "/machine/peripheral/";
    if (strncmp(qdev, pfx, strlen(pfx)) != 0)
        return strdup(qdev[0] == '/' ? "" : qdev);
    const char *s = qdev + strlen(pfx);
    size_t len = strcspn(s, "/");
    return strndup(s, len);
}

static int read_bitmaps(json_object *node, VmDisk *d)
{
    json_object *arr;
    if (!json_object_object_get_ex(node, "dirty-bitmaps", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return 0;
    size_t n = json_object_array_length(arr);
    if (n > 4096)
        return err_set(EPROTO, "implausible number of bitmaps on %s", d->node);
    d->bitmaps = calloc(n ? n : 1, sizeof(*d->bitmaps));
    if (!d->bitmaps)
        return err_set(ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(arr, i);
        const char *name = qmp_get_str(b, "name", NULL);
        if (!name)
            continue;    /* anonymous: QEMU-internal (e.g. a running backup job) */
        VmBitmap *bm = &d->bitmaps[d->nbitmaps];
        bm->name = strdup(name);
        if (!bm->name)
            return err_set(ENOMEM, "out of memory");
        bm->recording = qmp_get_bool(b, "recording", false);
        bm->busy = qmp_get_bool(b, "busy", false);
        bm->persistent = qmp_get_bool(b, "persistent", false);
        bm->inconsistent = qmp_get_bool(b, "inconsistent", false);
        bm->granularity = (uint64_t)qmp_get_int(b, "granularity", 0);
        d->nbitmaps++;
    }
    return 0;
}

static json_object *find_node(json_object *nodes, const char *name)
{
    size_t n = json_object_array_length(nodes);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(nodes, i);
        if (strcmp(qmp_get_str(o, "node-name", ""), name) == 0)
            return o;
    }
    return NULL;
}

int vm_query(QmpClient *c, VmInfo *vm)
{
    memset(vm, 0, sizeof(*vm));
    json_object *r = NULL, *blocks = NULL, *nodes = NULL;
    int ret = qmp_execute(c, "query-name", NULL, &r);
    if (ret == 0 && qmp_get_str(r, "name", NULL))
        vm->name = strdup(qmp_get_str(r, "name", NULL));
    json_object_put(r);
    r = NULL;
    ret = qmp_execute(c, "query-uuid", NULL, &r);
    const char *u = ret == 0 ? qmp_get_str(r, "UUID", NULL) : NULL;
    if (u && strcmp(u, "00000000-0000-0000-0000-000000000000") != 0)
        vm->uuid = strdup(u);
    json_object_put(r);

    ret = qmp_execute(c, "query-block", NULL, &blocks);
    if (ret < 0)
        goto out;
    json_object *args = json_object_new_object();
    qmp_arg_bool(args, "flat", true);
    ret = qmp_execute(c, "query-named-block-nodes", args, &nodes);
    if (ret < 0)
        goto out;
    if (!json_object_is_type(blocks, json_type_array) || !json_object_is_type(nodes, json_type_array)) {
        ret = err_set(EPROTO, "query-block returned no list");
        goto out;
    }
    size_t n = json_object_array_length(blocks);
    if (n > 1024) {
        ret = err_set(EPROTO, "implausible number of block devices");
        goto out;
    }
    vm->disks = calloc(n ? n : 1, sizeof(*vm->disks));
    if (!vm->disks) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(blocks, i), *ins, *img;
        if (!json_object_object_get_ex(b, "inserted", &ins))
            continue;   /* empty CD-ROM and the like */
        VmDisk *d = &vm->disks[vm->ndisks];
        d->device = xstrdup(qmp_get_str(b, "device", ""));
        d->qdev = short_qdev(qmp_get_str(b, "qdev", ""));
        d->node = xstrdup(qmp_get_str(ins, "node-name", ""));
        d->drv = xstrdup(qmp_get_str(ins, "drv", ""));
        d->ro = qmp_get_bool(ins, "ro", false);
        if (json_object_object_get_ex(ins, "image", &img))
            d->size = (uint64_t)qmp_get_int(img, "virtual-size", 0);
        if (!d->device || !d->qdev || !d->node || !d->drv) {
            ret = err_set(ENOMEM, "out of memory");
            goto out;
        }
        vm->ndisks++;
        d->name = strdup(d->device[0] ? d->device : d->qdev[0] ? d->qdev : d->node);
        if (!d->name) {
            ret = err_set(ENOMEM, "out of memory");
            goto out;
        }
        d->can_persist = strcmp(d->drv, "qcow2") == 0;
        json_object *node = find_node(nodes, d->node);
        if (node && (ret = read_bitmaps(node, d)) < 0)
            goto out;
    }
    ret = 0;
out:
    json_object_put(blocks);
    json_object_put(nodes);
    if (ret < 0)
        vm_info_free(vm);
    return ret;
}

VmDisk *vm_find_disk(VmInfo *vm, const char *name)
{
    for (int i = 0; i < vm->ndisks; i++) {
        VmDisk *d = &vm->disks[i];
        if (strcmp(d->name, name) == 0 || strcmp(d->device, name) == 0 ||
            strcmp(d->node, name) == 0 || strcmp(d->qdev, name) == 0)
            return d;
    }
    return NULL;
}

const VmBitmap *vm_disk_bitmap(const VmDisk *d, const char *name)
{
    for (int i = 0; i < d->nbitmaps; i++)
        if (strcmp(d->bitmaps[i].name, name) == 0)
            return &d->bitmaps[i];
    return NULL;
}

/* ---- jobs --------------------------------------------------------------- */

typedef struct JobWait {
    const char *id, *status;
} JobWait;

static bool job_reached(json_object *data, void *opaque)
{
    const JobWait *w = opaque;
    return strcmp(qmp_get_str(data, "id", ""), w->id) == 0 &&
           strcmp(qmp_get_str(data, "status", ""), w->status) == 0;
}

/* Runs an already-started create job to its end and dismisses it, reporting
 * the job's own error text. */
static int finish_job(QmpClient *c, const char *id)
{
    JobWait w = { id, "concluded" };
    int ret = qmp_wait_event(c, "JOB_STATUS_CHANGE", job_reached, &w, JOB_TIMEOUT_MS, NULL);
    if (ret < 0)
        return ret;
    json_object *jobs = NULL;
    const char *jerr = NULL;
    char msg[512] = "";
    if (qmp_execute(c, "query-jobs", NULL, &jobs) == 0 && json_object_is_type(jobs, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
            json_object *j = json_object_array_get_idx(jobs, i);
            if (strcmp(qmp_get_str(j, "id", ""), id) == 0)
                jerr = qmp_get_str(j, "error", NULL);
        }
        if (jerr)
            snprintf(msg, sizeof(msg), "%s", jerr);
    }
    json_object_put(jobs);
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "id", id);
    qmp_execute(c, "job-dismiss", args, NULL);
    if (msg[0])
        return err_set(EIO, "job %s: %s", id, msg);
    return 0;
}

static int blockdev_create(QmpClient *c, const char *job, json_object *options)
{
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "job-id", job);
    json_object_object_add(args, "options", options);
    int ret = qmp_execute(c, "blockdev-create", args, NULL);
    if (ret < 0)
        return ret;
    return finish_job(c, job);
}

static int blockdev_del(QmpClient *c, const char *node)
{
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "node-name", node);
    return qmp_execute(c, "blockdev-del", args, NULL);
}

static bool export_deleted(json_object *data, void *opaque)
{
    return strcmp(qmp_get_str(data, "id", ""), (const char *)opaque) == 0;
}

static int export_del(QmpClient *c, const char *id)
{
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "id", id);
    qmp_arg_str(args, "mode", "hard");
    int ret = qmp_execute(c, "block-export-del", args, NULL);
    if (ret < 0)
        return ret;
    /* The node stays in use until the export is really gone. */
    return qmp_wait_event(c, "BLOCK_EXPORT_DELETED", export_deleted, (void *)id, JOB_TIMEOUT_MS, NULL);
}

static int job_cancel(QmpClient *c, const char *id, const char *status)
{
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "id", id);
    if (strcmp(status, "concluded") == 0)
        return qmp_execute(c, "job-dismiss", args, NULL);
    qmp_arg_str(args, "id", id);
    int ret = qmp_execute(c, "job-cancel", args, NULL);
    if (ret < 0)
        return ret;
    /* Backup jobs auto-dismiss (status null); a create job stops at concluded. */
    JobWait w = { id, "concluded" };
    ret = qmp_wait_event(c, "JOB_STATUS_CHANGE", job_reached, &w, JOB_TIMEOUT_MS, NULL);
    if (ret < 0)
        return ret;
    /* Backup jobs auto-dismiss; a create job left concluded does not. */
    args = json_object_new_object();
    qmp_arg_str(args, "id", id);
    json_object *jobs = NULL;
    if (qmp_execute(c, "query-jobs", NULL, &jobs) == 0 && json_object_is_type(jobs, json_type_array))
        for (size_t i = 0; i < json_object_array_length(jobs); i++)
            if (strcmp(qmp_get_str(json_object_array_get_idx(jobs, i), "id", ""), id) == 0) {
                qmp_execute(c, "job-dismiss", json_object_get(args), NULL);
                break;
            }
    json_object_put(jobs);
    json_object_put(args);
    return 0;
}

/* ---- leftovers ---------------------------------------------------------- */

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

int fleece_cleanup_leftovers(QmpClient *c, const FleeceNames *n)
{
    int removed = 0, first = 0, ret;
    json_object *r = NULL;
    if (qmp_execute(c, "query-block-exports", NULL, &r) == 0 && json_object_is_type(r, json_type_array))
        for (size_t i = 0; i < json_object_array_length(r); i++) {
            const char *id = qmp_get_str(json_object_array_get_idx(r, i), "id", "");
            if (has_prefix(id, n->prefix)) {
                if ((ret = export_del(c, id)) < 0 && !first)
                    first = ret;
                removed++;
            }
        }
    json_object_put(r);
    r = NULL;
    if (qmp_execute(c, "query-jobs", NULL, &r) == 0 && json_object_is_type(r, json_type_array))
        for (size_t i = 0; i < json_object_array_length(r); i++) {
            json_object *j = json_object_array_get_idx(r, i);
            const char *id = qmp_get_str(j, "id", "");
            if (has_prefix(id, n->prefix)) {
                if ((ret = job_cancel(c, id, qmp_get_str(j, "status", ""))) < 0 && !first)
                    first = ret;
                removed++;
            }
        }
    json_object_put(r);
    r = NULL;
    /* Overlays ("-s") hold their file nodes ("-f"): delete in two passes. */
    for (int pass = 0; pass < 2; pass++) {
        json_object *args = json_object_new_object();
        qmp_arg_bool(args, "flat", true);
        if (qmp_execute(c, "query-named-block-nodes", args, &r) == 0 && json_object_is_type(r, json_type_array))
            for (size_t i = 0; i < json_object_array_length(r); i++) {
                const char *node = qmp_get_str(json_object_array_get_idx(r, i), "node-name", "");
                if (!has_prefix(node, n->prefix))
                    continue;
                bool file = strstr(node + strlen(n->prefix), "-f") != NULL;
                if (file != (pass == 1))
                    continue;
                if ((ret = blockdev_del(c, node)) < 0 && !first)
                    first = ret;
                removed++;
            }
        json_object_put(r);
        r = NULL;
    }
    if (access(n->nbd_socket, F_OK) == 0) {
        /* Only an NBD server on our socket is ours to stop. */
        qmp_execute(c, "nbd-server-stop", NULL, NULL);
        unlink(n->nbd_socket);
        removed++;
    }
    DIR *dir = opendir(n->scratch_dir);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!has_prefix(e->d_name, n->prefix) || !strstr(e->d_name, ".qcow2"))
                continue;
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", n->scratch_dir, e->d_name);
            if (unlink(path) == 0)
                removed++;
        }
        closedir(dir);
    }
    if (first)
        return err_prefix(first, "removing leftovers of an earlier run");
    return removed;
}

/* ---- fleecing ----------------------------------------------------------- */

int fleece_prepare(QmpClient *c, const FleeceNames *n, FleeceDisk *f)
{
    int i = f->index;
    snprintf(f->scratch_file, sizeof(f->scratch_file), "%s/%s-%d.qcow2", n->scratch_dir, n->prefix, i);
    snprintf(f->file_node, sizeof(f->file_node), "%s-f%d", n->prefix, i);
    snprintf(f->scratch_node, sizeof(f->scratch_node), "%s-s%d", n->prefix, i);
    snprintf(f->job, sizeof(f->job), "%s-j%d", n->prefix, i);
    snprintf(f->filter, sizeof(f->filter), "%s-t%d", n->prefix, i);
    snprintf(f->export_name, sizeof(f->export_name), "%s-e%d", n->prefix, i);
    /* Two create jobs, two ids: a stale status event of the first must not
     * be taken for the second's. */
    char cjob[48], qjob[48];
    snprintf(cjob, sizeof(cjob), "%s-c%d", n->prefix, i);
    snprintf(qjob, sizeof(qjob), "%s-q%d", n->prefix, i);

    json_object *o = json_object_new_object();
    qmp_arg_str(o, "driver", "file");
    qmp_arg_str(o, "filename", f->scratch_file);
    qmp_arg_int(o, "size", 0);
    int ret = blockdev_create(c, cjob, o);
    if (ret < 0)
        return err_prefix(ret, "creating scratch file %s", f->scratch_file);
    f->file_created = true;

    json_object *args = json_object_new_object();
    qmp_arg_str(args, "driver", "file");
    qmp_arg_str(args, "node-name", f->file_node);
    qmp_arg_str(args, "filename", f->scratch_file);
    if ((ret = qmp_execute(c, "blockdev-add", args, NULL)) < 0)
        return ret;
    f->file_added = true;

    o = json_object_new_object();
    qmp_arg_str(o, "driver", "qcow2");
    qmp_arg_str(o, "file", f->file_node);
    qmp_arg_int(o, "size", (int64_t)f->disk->size);
    if ((ret = blockdev_create(c, qjob, o)) < 0)
        return err_prefix(ret, "formatting scratch overlay");

    /* The overlay's backing is the live disk itself: what the copy-before-write
     * of the sync=none job has not saved into the overlay is unchanged on the
     * disk, so reading the overlay yields the disk as of the freeze. */
    args = json_object_new_object();
    qmp_arg_str(args, "driver", "qcow2");
    qmp_arg_str(args, "node-name", f->scratch_node);
    qmp_arg_str(args, "file", f->file_node);
    qmp_arg_str(args, "backing", f->disk->node);
    if ((ret = qmp_execute(c, "blockdev-add", args, NULL)) < 0)
        return ret;
    f->scratch_added = true;
    return 0;
}

void fleece_add_action(json_object *actions, FleeceDisk *f)
{
    json_object *a = json_object_new_object(), *d = json_object_new_object();
    qmp_arg_str(d, "job-id", f->job);
    qmp_arg_str(d, "device", f->disk->node);
    qmp_arg_str(d, "target", f->scratch_node);
    qmp_arg_str(d, "sync", "none");
    qmp_arg_str(d, "filter-node-name", f->filter);
    qmp_arg_str(a, "type", "blockdev-backup");
    json_object_object_add(a, "data", d);
    json_object_array_add(actions, a);
}

int fleece_nbd_start(QmpClient *c, const FleeceNames *n)
{
    json_object *args = json_object_new_object(), *addr = json_object_new_object(),
                *data = json_object_new_object();
    qmp_arg_str(data, "path", n->nbd_socket);
    qmp_arg_str(addr, "type", "unix");
    json_object_object_add(addr, "data", data);
    json_object_object_add(args, "addr", addr);
    int ret = qmp_execute(c, "nbd-server-start", args, NULL);
    if (ret < 0)
        return err_prefix(ret, "QEMU's NBD server is needed for the backup (only one can run; "
                          "is another tool using it?)");
    return 0;
}

int fleece_nbd_stop(QmpClient *c, const FleeceNames *n)
{
    int ret = qmp_execute(c, "nbd-server-stop", NULL, NULL);
    unlink(n->nbd_socket);
    return ret;
}

int fleece_export(QmpClient *c, FleeceDisk *f, const char *bitmap)
{
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "type", "nbd");
    qmp_arg_str(args, "id", f->export_name);
    qmp_arg_str(args, "node-name", f->scratch_node);
    qmp_arg_str(args, "name", f->export_name);
    qmp_arg_bool(args, "writable", false);
    if (bitmap) {
        /* QEMU looks the bitmap up along the exported node's backing chain,
         * where it sits on the disk node under our overlay. */
        json_object *bms = json_object_new_array();
        json_object_array_add(bms, json_object_new_string(bitmap));
        json_object_object_add(args, "bitmaps", bms);
    }
    int ret = qmp_execute(c, "block-export-add", args, NULL);
    if (ret < 0)
        return ret;
    f->exported = true;
    return 0;
}

int fleece_teardown(QmpClient *c, FleeceDisk *f)
{
    int first = 0, ret;
#define KEEP(x) do { if ((ret = (x)) < 0 && !first) first = ret; } while (0)
    if (f->exported) {
        KEEP(export_del(c, f->export_name));
        f->exported = false;
    }
    if (f->job_started) {
        KEEP(job_cancel(c, f->job, "running"));
        f->job_started = false;
    }
    if (f->scratch_added) {
        KEEP(blockdev_del(c, f->scratch_node));
        f->scratch_added = false;
    }
    if (f->file_added) {
        KEEP(blockdev_del(c, f->file_node));
        f->file_added = false;
    }
    if (f->file_created) {
        if (unlink(f->scratch_file) < 0 && !first)
            first = err_set_errno(errno, "removing %s", f->scratch_file);
        f->file_created = false;
    }
#undef KEEP
    return first;
}

/* ---- bitmaps ------------------------------------------------------------ */

json_object *bitmap_action(const char *type, const char *node, const char *name,
                           bool persistent, uint64_t granularity)
{
    json_object *a = json_object_new_object(), *d = json_object_new_object();
    qmp_arg_str(d, "node", node);
    qmp_arg_str(d, "name", name);
    if (strcmp(type, "block-dirty-bitmap-add") == 0) {
        qmp_arg_bool(d, "persistent", persistent);
        if (granularity)
            qmp_arg_int(d, "granularity", (int64_t)granularity);
    }
    qmp_arg_str(a, "type", type);
    json_object_object_add(a, "data", d);
    return a;
}

int bitmap_remove(QmpClient *c, const char *node, const char *name)
{
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "node", node);
    qmp_arg_str(args, "name", name);
    return qmp_execute(c, "block-dirty-bitmap-remove", args, NULL);
}

int bitmap_merge_enable(QmpClient *c, const char *node, const char *target,
                        const char *const *sources, int nsources)
{
    /* One transaction: the target never records while only partly merged. */
    json_object *actions = json_object_new_array();
    if (nsources > 0) {
        json_object *a = json_object_new_object(), *d = json_object_new_object(),
                    *srcs = json_object_new_array();
        for (int i = 0; i < nsources; i++)
            json_object_array_add(srcs, json_object_new_string(sources[i]));
        qmp_arg_str(d, "node", node);
        qmp_arg_str(d, "target", target);
        json_object_object_add(d, "bitmaps", srcs);
        qmp_arg_str(a, "type", "block-dirty-bitmap-merge");
        json_object_object_add(a, "data", d);
        json_object_array_add(actions, a);
    }
    json_object_array_add(actions, bitmap_action("block-dirty-bitmap-enable", node, target, false, 0));
    json_object *args = json_object_new_object();
    json_object_object_add(args, "actions", actions);
    return qmp_execute(c, "transaction", args, NULL);
}
