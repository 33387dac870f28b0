/* blockdev-backup: a copy-before-write filter goes above the source for the
 * job's lifetime, the job copies every chunk still pending through it, and
 * the filter leaves the graph when the job ends.  Bitmap semantics follow
 * QEMU 7.2 (sync bitmap/incremental, bitmap-mode on-success/never/always).
 * Also the transaction action of the same name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/dirty_bitmap.h"
#include "block/job.h"
#include "block/node.h"
#include "monitor/qmp.h"
#include "util/error.h"

enum { MODE_ON_SUCCESS, MODE_NEVER, MODE_ALWAYS };
enum { SYNC_FULL, SYNC_TOP, SYNC_NONE, SYNC_BITMAP };

typedef struct Backup {
    char *id;
    BlockNode *source, *target, *filter;
    int sync, mode;
    bool auto_finalize, auto_dismiss;
    DirtyBitmap *user;          /* the bitmap argument, busy while we run */
    DirtyBitmap *snapshot;      /* its bits when the job started */
    bool inserted;
    uint64_t speed;
} Backup;

bool cbw_last_error_was_write(void);

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

static void remove_filter(Backup *b)
{
    if (!b->filter)
        return;
    if (b->inserted)
        blk_replace_node(b->filter, b->source);
    b->inserted = false;
    blk_unref(b->filter);
    b->filter = NULL;
}

/* What the user's bitmap holds afterwards (QEMU's bitmap-mode table). */
static void settle_bitmap(Backup *b, bool success)
{
    if (!b->user)
        return;
    dbm_lock();
    if (success && b->mode != MODE_NEVER) {
        /* Only what was written since the start remains. */
    } else if (!success && b->mode == MODE_ALWAYS && b->filter) {
        dbm_merge(b->user, cbw_pending(b->filter));
    } else {
        dbm_merge(b->user, b->snapshot);
    }
    b->user->busy--;
    dbm_unlock();
    dbm_free_detached(b->snapshot);
    b->snapshot = NULL;
    b->user = NULL;
}

static void backup_free_state(Backup *b)
{
    if (!b)
        return;
    free(b->id);
    free(b);
}

static int backup_run(Job *j)
{
    Backup *b = j->opaque;
    if (b->sync == SYNC_NONE) {
        job_sleep_until_cancelled(j);
        return 0;
    }
    DirtyBitmap *pending = cbw_pending(b->filter);
    uint64_t c = cbw_cluster_size(b->filter), size = pending->size, copied = 0;
    job_lock();
    j->speed = b->speed;
    job_unlock();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t o = 0; o < size; o += c) {
        if (job_yield(j))
            return -ECANCELED;
        /* speed: bytes per second the job itself copies (guest-triggered
         * copies are never held back). */
        while (j->speed && !j->cancelled) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
            double due = (double)copied / (double)j->speed;
            if (el >= due)
                break;
            double d = due - el > 0.05 ? 0.05 : due - el;
            struct timespec ts = { 0, (long)(d * 1e9) };
            nanosleep(&ts, NULL);
        }
        if (!dbm_get(pending, o))
            continue;
        int ret = cbw_copy_range(b->filter, o, c);
        if (ret < 0) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "device", json_object_new_string(j->id));
            json_object_object_add(d, "operation",
                                   json_object_new_string(cbw_last_error_was_write() ? "write" : "read"));
            json_object_object_add(d, "action", json_object_new_string("report"));
            qmp_event("BLOCK_JOB_ERROR", d);
            return err_set(-ret, "%s", strerror(-ret));
        }
        job_lock();
        j->progress_current += o + c > size ? size - o : c;
        job_unlock();
        copied += c;
    }
    int ret = blk_flush(b->target);
    return ret < 0 ? err_set(-ret, "%s", strerror(-ret)) : 0;
}

static void backup_commit(Job *j)
{
    Backup *b = j->opaque;
    settle_bitmap(b, true);
    remove_filter(b);
}

static void backup_abort(Job *j)
{
    Backup *b = j->opaque;
    settle_bitmap(b, false);
    remove_filter(b);
}

static void backup_free(Job *j)
{
    backup_free_state(j->opaque);
}

static const JobDriver backup_driver = {
    .type = "backup", .is_block_job = true, .run = backup_run, .commit = backup_commit,
    .abort = backup_abort, .free = backup_free,
};

/* Checks arguments, inserts the filter and freezes the bitmap; the job
 * starts at commit (so a transaction can still undo everything). */
static int backup_prepare(json_object *a, void **st)
{
    const char *id = sarg(a, "job-id"), *dev = sarg(a, "device"), *tgt = sarg(a, "target");
    const char *sync = sarg(a, "sync"), *bitmap = sarg(a, "bitmap"), *mode = sarg(a, "bitmap-mode");
    static const char *const syncs[] = { "full", "top", "none", "bitmap", "incremental" };
    int si = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(sync, syncs[i]))
            si = i;
    if (si < 0)
        return err_set(EINVAL, "Parameter 'sync' does not accept value '%s'", sync);
    int mi = MODE_ON_SUCCESS;
    if (mode) {
        if (!strcmp(mode, "on-success"))
            mi = MODE_ON_SUCCESS;
        else if (!strcmp(mode, "never"))
            mi = MODE_NEVER;
        else if (!strcmp(mode, "always"))
            mi = MODE_ALWAYS;
        else
            return err_set(EINVAL, "Parameter 'bitmap-mode' does not accept value '%s'", mode);
    }
    json_object *spv;
    if (json_object_object_get_ex(a, "speed", &spv) && json_object_get_int64(spv) < 0)
        return err_set(EINVAL, "Parameter 'speed' expects a non-negative value");
    const char *on_src = sarg(a, "on-source-error"), *on_tgt = sarg(a, "on-target-error");
    if ((on_src && strcmp(on_src, "report")) || (on_tgt && strcmp(on_tgt, "report")))
        return err_set(ENOTSUP, "Only on-source-error and on-target-error 'report' are supported");
    if (!id)
        id = dev;
    job_lock();
    bool dup = job_find(id) != NULL;
    job_unlock();
    if (dup)
        return err_set(EEXIST, "Job ID '%s' already in use", id);
    BlockNode *src = blk_lookup_bs(dev);
    if (!src)
        return -ENOENT;
    BlockNode *dst = blk_lookup_bs(tgt);
    if (!dst)
        return -ENOENT;
    if (src == dst)
        return err_set(EINVAL, "Source and target cannot be the same");
    bool needs_bitmap = si == SYNC_BITMAP || si == 4;
    if (needs_bitmap && !bitmap)
        return err_set(EINVAL, "must provide a valid bitmap name for '%s' sync mode", sync);
    DirtyBitmap *user = NULL;
    if (bitmap) {
        user = dbm_find(src, bitmap);
        if (!user)
            return err_set(ENOENT, "Bitmap '%s' could not be found", bitmap);
        if (!mode && si != 4)
            return err_set(EINVAL, "Bitmap sync mode must be given when providing a bitmap");
        if (user->busy)
            return err_set(EBUSY, "Bitmap '%s' is currently in use by another operation and "
                           "cannot be used", bitmap);
        if (user->inconsistent)
            return err_set(EINVAL, "Bitmap '%s' is inconsistent and cannot be used", bitmap);
        if (si == SYNC_NONE)
            return err_set(EINVAL, "sync mode 'none' does not produce meaningful bitmap outputs");
        if (si == 4 && mi != MODE_ON_SUCCESS)
            return err_set(EINVAL, "Bitmap sync mode must be 'on-success' when using sync mode "
                           "'incremental'");
        if (mi == MODE_NEVER && !needs_bitmap)
            return err_set(EINVAL, "Bitmap sync mode 'never' has no meaningful effect when "
                           "combined with sync mode '%s'", sync);
    } else if (mode) {
        return err_set(EINVAL, "Cannot specify bitmap sync mode without a bitmap");
    }
    int64_t ssize = blk_getlength(src), tsize = blk_getlength(dst);
    if (ssize < 0 || tsize < 0 || ssize != tsize)
        return err_set(EINVAL, "Source and target image have different sizes");

    Backup *b = calloc(1, sizeof(*b));
    if (!b || !(b->id = strdup(id))) {
        free(b);
        return err_set(ENOMEM, "out of memory");
    }
    b->source = src;
    b->target = dst;
    b->sync = si == 4 ? SYNC_BITMAP : si;
    b->mode = mi;
    b->auto_finalize = barg(a, "auto-finalize", true);
    b->auto_dismiss = barg(a, "auto-dismiss", true);

    json_object *fo = json_object_new_object();
    json_object_object_add(fo, "driver", json_object_new_string("copy-before-write"));
    if (sarg(a, "filter-node-name"))
        json_object_object_add(fo, "node-name", json_object_new_string(sarg(a, "filter-node-name")));
    json_object_object_add(fo, "file", json_object_new_string(src->node_name));
    json_object_object_add(fo, "target", json_object_new_string(dst->node_name));
    int ret = blk_open(fo, BLK_O_RDWR, &b->filter);
    json_object_put(fo);
    if (ret < 0) {
        backup_free_state(b);
        return ret;
    }
    /* What the job must copy. */
    DirtyBitmap *pending = cbw_pending(b->filter);
    if (user) {
        if ((ret = dbm_clone(user, &b->snapshot)) < 0) {
            remove_filter(b);
            backup_free_state(b);
            return ret;
        }
    }
    if (b->sync == SYNC_BITMAP) {
        cbw_set_pending(b->filter, user);
    } else if (b->sync == SYNC_TOP) {
        dbm_clear(pending);
        for (uint64_t o = 0; o < (uint64_t)ssize;) {
            uint64_t pnum, map;
            BlockNode *file;
            int st = blk_block_status(src, o, (uint64_t)ssize - o, &pnum, &map, &file);
            if (st < 0 || pnum == 0) {
                dbm_set_range(pending, o, (uint64_t)ssize - o);
                break;
            }
            if (st & BLK_STATUS_ALLOCATED)
                dbm_set_range(pending, o, pnum);
            o += pnum;
        }
    }
    if ((ret = blk_replace_node(src, b->filter)) < 0) {
        dbm_free_detached(b->snapshot);
        remove_filter(b);
        backup_free_state(b);
        return ret;
    }
    b->inserted = true;
    if (user) {
        /* From here the user's bitmap records only new writes. */
        dbm_lock();
        user->busy++;
        dbm_clear(user);
        dbm_unlock();
        b->user = user;
    }
    json_object *sp;
    b->speed = json_object_object_get_ex(a, "speed", &sp) ? (uint64_t)json_object_get_int64(sp) : 0;
    *st = b;
    return 0;
}

static void backup_txn_commit(void *st)
{
    Backup *b = st;
    Job *j;
    DirtyBitmap *pending = cbw_pending(b->filter);
    uint64_t total = b->sync == SYNC_NONE ? 0 : dbm_count(pending);
    if (total > pending->size)
        total = pending->size;
    if (job_start(b->id, &backup_driver, b, b->auto_finalize, b->auto_dismiss, b->source, &j) < 0) {
        settle_bitmap(b, false);
        remove_filter(b);
        backup_free_state(b);
        return;
    }
    job_lock();
    j->progress_total = total;
    j->speed = b->speed;
    job_unlock();
}

static void backup_txn_abort(void *st)
{
    Backup *b = st;
    settle_bitmap(b, false);
    remove_filter(b);
    backup_free_state(b);
}

static const TxnAction act_backup = {
    "blockdev-backup",
    "job-id:s,device:s,target:s,sync:s,?speed:i,?bitmap:s,?bitmap-mode:s,?compress:b,"
    "?on-source-error:s,?on-target-error:s,?auto-finalize:b,?auto-dismiss:b,"
    "?filter-node-name:s,?x-perf:o",
    backup_prepare, backup_txn_commit, backup_txn_abort, NULL };
TXN_ACTION_REGISTER(act_backup)

static int blockdev_backup(json_object *args, json_object **ret)
{
    *ret = NULL;
    if (txn_run_single(&act_backup, args) < 0)
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    return 0;
}
static const QmpCommand cmd_backup = { "blockdev-backup",
    "?job-id:s,device:s,target:s,sync:s,?speed:i,?bitmap:s,?bitmap-mode:s,?compress:b,"
    "?on-source-error:s,?on-target-error:s,?auto-finalize:b,?auto-dismiss:b,"
    "?filter-node-name:s,?x-perf:o", blockdev_backup, false };
QMP_COMMAND_REGISTER(cmd_backup)
