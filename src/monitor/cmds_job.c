/* Job commands: query-jobs, query-block-jobs, job-* and block-job-* verbs,
 * and blockdev-create (a "create" job, as in QEMU).  Messages are QEMU 7.2's. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/job.h"
#include "block/node.h"
#include "monitor/qmp.h"
#include "util/error.h"

static const char *sarg(json_object *a, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(a, k, &v) ? json_object_get_string(v) : NULL;
}

static void add_job(Job *j, void *opaque)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(j->id));
    json_object_object_add(o, "type", json_object_new_string(j->drv->type));
    json_object_object_add(o, "status", json_object_new_string(job_status_name(j->status)));
    json_object_object_add(o, "current-progress", json_object_new_int64((int64_t)j->progress_current));
    json_object_object_add(o, "total-progress", json_object_new_int64((int64_t)j->progress_total));
    if (j->error)
        json_object_object_add(o, "error", json_object_new_string(j->error));
    json_object_array_add(opaque, o);
}

static int query_jobs(json_object *args, json_object **ret)
{
    (void)args;
    json_object *list = json_object_new_array();
    job_lock();
    job_for_each(add_job, list);
    job_unlock();
    *ret = list;
    return 0;
}
static const QmpCommand cmd_qj = { "query-jobs", "", query_jobs, false };
QMP_COMMAND_REGISTER(cmd_qj)

static void add_block_job(Job *j, void *opaque)
{
    if (!j->drv->is_block_job)
        return;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(j->drv->type));
    json_object_object_add(o, "device", json_object_new_string(j->id));
    json_object_object_add(o, "len", json_object_new_int64((int64_t)j->progress_total));
    json_object_object_add(o, "offset", json_object_new_int64((int64_t)j->progress_current));
    json_object_object_add(o, "busy", json_object_new_boolean(j->status == JOB_RUNNING));
    json_object_object_add(o, "paused", json_object_new_boolean(j->paused_by_user));
    json_object_object_add(o, "speed", json_object_new_int64((int64_t)j->speed));
    json_object_object_add(o, "io-status", json_object_new_string("ok"));
    json_object_object_add(o, "ready", json_object_new_boolean(j->status == JOB_READY));
    json_object_object_add(o, "status", json_object_new_string(job_status_name(j->status)));
    json_object_object_add(o, "auto-finalize", json_object_new_boolean(j->auto_finalize));
    json_object_object_add(o, "auto-dismiss", json_object_new_boolean(j->auto_dismiss));
    if (j->error)
        json_object_object_add(o, "error", json_object_new_string(j->error));
    json_object_array_add(opaque, o);
}

static int query_block_jobs(json_object *args, json_object **ret)
{
    (void)args;
    json_object *list = json_object_new_array();
    job_lock();
    job_for_each(add_block_job, list);
    job_unlock();
    *ret = list;
    return 0;
}
static const QmpCommand cmd_qbj = { "query-block-jobs", "", query_block_jobs, false };
QMP_COMMAND_REGISTER(cmd_qbj)

typedef int (*Verb)(Job *j);
static int cancel_verb(Job *j) { return job_user_cancel(j, false); }

static int run_verb(const char *id, bool block, Verb fn, json_object **ret)
{
    *ret = NULL;
    job_lock();
    Job *j = job_find(id);
    int r;
    if (!j || (block && !j->drv->is_block_job))
        r = block ? qmp_error(QMP_ERR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", id)
                  : qmp_error(QMP_ERR_GENERIC, "Job not found");
    else if ((r = fn(j)) < 0)
        r = qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    job_unlock();
    return r;
}

#define VERB_COMMANDS(verb, fn)                                                  \
    static int job_##verb(json_object *a, json_object **ret)                     \
    { return run_verb(sarg(a, "id"), false, fn, ret); }                          \
    static const QmpCommand cmd_job_##verb = { "job-" #verb, "id:s", job_##verb, false }; \
    QMP_COMMAND_REGISTER(cmd_job_##verb)                                         \
    static int block_job_##verb(json_object *a, json_object **ret)               \
    { return run_verb(sarg(a, "device"), true, fn, ret); }

VERB_COMMANDS(pause, job_user_pause)
VERB_COMMANDS(resume, job_user_resume)
VERB_COMMANDS(cancel, cancel_verb)
VERB_COMMANDS(complete, job_user_complete)
VERB_COMMANDS(finalize, job_user_finalize)
VERB_COMMANDS(dismiss, job_user_dismiss)

static const QmpCommand cmd_bj_pause = { "block-job-pause", "device:s", block_job_pause, false };
QMP_COMMAND_REGISTER(cmd_bj_pause)
static const QmpCommand cmd_bj_resume = { "block-job-resume", "device:s", block_job_resume, false };
QMP_COMMAND_REGISTER(cmd_bj_resume)
static const QmpCommand cmd_bj_cancel = { "block-job-cancel", "device:s,?force:b",
                                          block_job_cancel, false };
QMP_COMMAND_REGISTER(cmd_bj_cancel)
static const QmpCommand cmd_bj_complete = { "block-job-complete", "device:s",
                                            block_job_complete, false };
QMP_COMMAND_REGISTER(cmd_bj_complete)
static int block_job_finalize_id(json_object *a, json_object **ret)
{
    return run_verb(sarg(a, "id"), true, job_user_finalize, ret);
}
static const QmpCommand cmd_bj_finalize = { "block-job-finalize", "id:s",
                                            block_job_finalize_id, false };
QMP_COMMAND_REGISTER(cmd_bj_finalize)
static int block_job_dismiss_id(json_object *a, json_object **ret)
{
    return run_verb(sarg(a, "id"), true, job_user_dismiss, ret);
}
static const QmpCommand cmd_bj_dismiss = { "block-job-dismiss", "id:s",
                                           block_job_dismiss_id, false };
QMP_COMMAND_REGISTER(cmd_bj_dismiss)
/* block_job_finalize/dismiss (device-keyed) are unused: QEMU keys them by id. */
static void __attribute__((unused)) unused_verbs(void)
{
    (void)block_job_finalize;
    (void)block_job_dismiss;
}

static int block_job_set_speed(json_object *a, json_object **ret)
{
    *ret = NULL;
    json_object *v;
    json_object_object_get_ex(a, "speed", &v);
    int64_t speed = json_object_get_int64(v);
    const char *id = sarg(a, "device");
    job_lock();
    Job *j = job_find(id);
    int r = 0;
    if (!j || !j->drv->is_block_job)
        r = qmp_error(QMP_ERR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", id);
    else if (speed < 0)
        r = qmp_error(QMP_ERR_GENERIC, "Parameter 'speed' expects a non-negative value");
    else
        j->speed = (uint64_t)speed;
    job_unlock();
    return r;
}
static const QmpCommand cmd_bj_speed = { "block-job-set-speed", "device:s,speed:i",
                                         block_job_set_speed, false };
QMP_COMMAND_REGISTER(cmd_bj_speed)

/* ---- blockdev-create ---- */
typedef struct CreateJob {
    json_object *options;
} CreateJob;

static int create_run(Job *j)
{
    CreateJob *c = j->opaque;
    const char *drv = sarg(c->options, "driver");
    json_object *v;
    int64_t size = json_object_object_get_ex(c->options, "size", &v) ? json_object_get_int64(v) : -1;
    j->progress_total = 1;
    if (size < 0)
        return err_set(EINVAL, "Parameter 'size' is missing");
    if (!strcmp(drv, "file")) {
        const char *fn = sarg(c->options, "filename");
        if (!fn)
            return err_set(EINVAL, "Parameter 'filename' is missing");
        int fd = open(fn, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return err_set_errno(errno, "Could not create '%s'", fn);
        int r = ftruncate(fd, size);
        close(fd);
        if (r < 0)
            return err_set_errno(errno, "Could not resize file");
    } else if (!strcmp(drv, "qcow2") || !strcmp(drv, "raw")) {
        const char *fnode = sarg(c->options, "file");
        BlockNode *f = fnode ? blk_find_node(fnode) : NULL;
        if (!f)
            return err_set(ENOENT, "Cannot find device='%s' nor node-name='%s'",
                           fnode ? fnode : "", fnode ? fnode : "");
        BlockCreateOpts o = { .size = (uint64_t)size };
        if (json_object_object_get_ex(c->options, "cluster-size", &v))
            o.cluster_size = (uint32_t)json_object_get_int64(v);
        o.backing_file = sarg(c->options, "backing-file");
        o.backing_fmt = sarg(c->options, "backing-fmt");
        int r = blk_create(drv, f->filename, &o);
        if (r < 0)
            return r;
    } else {
        return err_set(ENOTSUP, "Driver '%s' does not support blockdev-create", drv);
    }
    j->progress_current = 1;
    return 0;
}

static void create_free(Job *j)
{
    CreateJob *c = j->opaque;
    json_object_put(c->options);
    free(c);
}

static const JobDriver create_driver = { .type = "create", .run = create_run,
                                         .free = create_free };

static int blockdev_create(json_object *args, json_object **ret)
{
    const char *id = sarg(args, "job-id");
    json_object *opts;
    json_object_object_get_ex(args, "options", &opts);
    if (!sarg(opts, "driver"))
        return qmp_error(QMP_ERR_GENERIC, "Parameter 'driver' is missing");
    job_lock();
    bool dup = job_find(id) != NULL;
    job_unlock();
    if (dup)
        return qmp_error(QMP_ERR_GENERIC, "Job ID '%s' already in use", id);
    CreateJob *c = calloc(1, sizeof(*c));
    if (!c)
        return qmp_error(QMP_ERR_GENERIC, "out of memory");
    c->options = json_object_get(opts);
    if (job_start(id, &create_driver, c, true, false, NULL, NULL) < 0) {
        json_object_put(c->options);
        free(c);
        return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    }
    *ret = NULL;
    return 0;
}
static const QmpCommand cmd_create = { "blockdev-create", "job-id:s,options:o",
                                       blockdev_create, false };
QMP_COMMAND_REGISTER(cmd_create)
