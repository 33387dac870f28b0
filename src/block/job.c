/* The job state machine (QEMU's JobStatus and verbs), one thread per job.
 *
 * Status changes happen on the job thread under job_lock; monitor verbs set
 * request flags under the same lock and wake the thread.  Events carry
 * QEMU 7.2's data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/job.h"
#include "monitor/qmp.h"
#include "util/error.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static Job *jobs;

void job_lock(void) { pthread_mutex_lock(&lock); }
void job_unlock(void) { pthread_mutex_unlock(&lock); }

static const char *const names[] = {
    "undefined", "created", "running", "paused", "ready", "standby", "waiting", "pending",
    "aborting", "concluded", "null",
};

const char *job_status_name(JobStatus s)
{
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "undefined";
}

static void set_status(Job *j, JobStatus s)
{
    if (j->status == s)
        return;
    j->status = s;
    json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(j->id));
    json_object_object_add(d, "status", json_object_new_string(job_status_name(s)));
    qmp_event("JOB_STATUS_CHANGE", d);
    pthread_cond_broadcast(&cond);
}

Job *job_find(const char *id)
{
    for (Job *j = jobs; j; j = j->next)
        if (!strcmp(j->id, id))
            return j;
    return NULL;
}

static json_object *block_job_data(Job *j)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "device", json_object_new_string(j->id));
    json_object_object_add(d, "len", json_object_new_int64((int64_t)j->progress_total));
    json_object_object_add(d, "offset", json_object_new_int64((int64_t)j->progress_current));
    json_object_object_add(d, "speed", json_object_new_int64((int64_t)j->speed));
    json_object_object_add(d, "type", json_object_new_string(j->drv->type));
    return d;
}

bool job_yield(Job *j)
{
    pthread_mutex_lock(&lock);
    while (j->pause_requested && !j->cancelled) {
        set_status(j, JOB_PAUSED);
        pthread_cond_wait(&cond, &lock);
    }
    if (j->status == JOB_PAUSED)
        set_status(j, JOB_RUNNING);
    bool c = j->cancelled;
    pthread_mutex_unlock(&lock);
    return c;
}

static void unlink_job(Job *j)
{
    for (Job **pp = &jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
}

static void *job_thread(void *arg)
{
    Job *j = arg;
    int ret = j->drv->run(j);
    char msg[512] = "";
    if (ret < 0)
        snprintf(msg, sizeof(msg), "%s", err_msg());
    pthread_mutex_lock(&lock);
    if (j->cancelled)
        ret = -ECANCELED;
    if (ret == 0) {
        set_status(j, JOB_WAITING);
        set_status(j, JOB_PENDING);
        if (j->drv->is_block_job) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "type", json_object_new_string(j->drv->type));
            json_object_object_add(d, "id", json_object_new_string(j->id));
            qmp_event("BLOCK_JOB_PENDING", d);
        }
        while (!j->auto_finalize && !j->finalize_requested && !j->cancelled)
            pthread_cond_wait(&cond, &lock);
        if (j->cancelled)
            ret = -ECANCELED;
    }
    if (ret < 0)
        set_status(j, JOB_ABORTING);
    j->ret = ret;
    if (ret < 0 && ret != -ECANCELED)
        j->error = strdup(msg[0] ? msg : strerror(-ret));
    pthread_mutex_unlock(&lock);

    /* Graph changes run without the job lock: they may wait for I/O. */
    if (ret == 0 && j->drv->commit)
        j->drv->commit(j);
    if (ret < 0 && j->drv->abort)
        j->drv->abort(j);
    if (j->drv->clean)
        j->drv->clean(j);

    pthread_mutex_lock(&lock);
    if (j->drv->is_block_job) {
        json_object *d = block_job_data(j);
        if (ret == -ECANCELED) {
            qmp_event("BLOCK_JOB_CANCELLED", d);
        } else {
            if (j->error)
                json_object_object_add(d, "error", json_object_new_string(j->error));
            qmp_event("BLOCK_JOB_COMPLETED", d);
        }
    }
    set_status(j, JOB_CONCLUDED);
    while (!j->auto_dismiss && j->status != JOB_NULL)
        pthread_cond_wait(&cond, &lock);
    set_status(j, JOB_NULL);
    while (j->waiters)
        pthread_cond_wait(&cond, &lock);
    unlink_job(j);
    pthread_mutex_unlock(&lock);
    if (j->drv->free)
        j->drv->free(j);
    free(j->error);
    free(j->id);
    free(j);
    return NULL;
}

int job_start(const char *id, const JobDriver *drv, void *opaque, bool auto_finalize,
              bool auto_dismiss, BlockNode *device, Job **out)
{
    Job *j = calloc(1, sizeof(*j));
    if (!j || !(j->id = strdup(id))) {
        free(j);
        return err_set(ENOMEM, "out of memory");
    }
    j->drv = drv;
    j->opaque = opaque;
    j->auto_finalize = auto_finalize;
    j->auto_dismiss = auto_dismiss;
    j->device = device;
    pthread_mutex_lock(&lock);
    j->next = jobs;
    jobs = j;
    set_status(j, JOB_CREATED);
    set_status(j, JOB_RUNNING);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&j->thread, &a, job_thread, j);
    pthread_attr_destroy(&a);
    if (e) {
        unlink_job(j);
        pthread_mutex_unlock(&lock);
        free(j->id);
        free(j);
        return err_set_errno(e, "cannot start job thread");
    }
    if (out)
        *out = j;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* QEMU's verb table, reduced to the states we use. */
static int verb_error(Job *j, const char *verb)
{
    return err_set(EINVAL, "Job '%s' in state '%s' cannot accept command verb '%s'", j->id,
                   job_status_name(j->status), verb);
}

int job_user_pause(Job *j)
{
    if (j->status != JOB_RUNNING && j->status != JOB_READY && j->status != JOB_CREATED &&
        j->status != JOB_PAUSED && j->status != JOB_STANDBY)
        return verb_error(j, "pause");
    if (j->paused_by_user)
        return err_set(EINVAL, "Job is already paused");
    j->paused_by_user = j->pause_requested = true;
    pthread_cond_broadcast(&cond);      /* a sleeping job reports "paused" */
    return 0;
}

int job_user_resume(Job *j)
{
    if (j->status != JOB_RUNNING && j->status != JOB_PAUSED && j->status != JOB_READY)
        return verb_error(j, "resume");
    if (!j->paused_by_user)
        return err_set(EINVAL, "Can't resume a job that was not paused");
    j->paused_by_user = j->pause_requested = false;
    pthread_cond_broadcast(&cond);
    return 0;
}

int job_user_cancel(Job *j, bool force)
{
    if (j->status == JOB_CONCLUDED || j->status == JOB_NULL || j->status == JOB_ABORTING)
        return verb_error(j, "cancel");
    (void)force;
    j->cancelled = true;
    pthread_cond_broadcast(&cond);
    return 0;
}

int job_user_complete(Job *j)
{
    if (j->status != JOB_READY)
        return verb_error(j, "complete");
    return err_set(ENOTSUP, "The active block job '%s' cannot be completed", j->id);
}

int job_user_finalize(Job *j)
{
    if (j->status != JOB_PENDING)
        return verb_error(j, "finalize");
    j->finalize_requested = true;
    pthread_cond_broadcast(&cond);
    /* Return once finalized, as QEMU does (events already out). */
    j->waiters++;
    while (j->status == JOB_PENDING || j->status == JOB_ABORTING)
        pthread_cond_wait(&cond, &lock);
    j->waiters--;
    pthread_cond_broadcast(&cond);
    return 0;
}

int job_user_dismiss(Job *j)
{
    if (j->status != JOB_CONCLUDED)
        return verb_error(j, "dismiss");
    j->auto_dismiss = true;
    set_status(j, JOB_NULL);
    return 0;
}

void job_for_each(void (*fn)(Job *job, void *opaque), void *opaque)
{
    /* Oldest first, like QEMU's job list. */
    Job *v[256];
    int n = 0;
    for (Job *j = jobs; j && n < 256; j = j->next)
        v[n++] = j;
    while (n > 0)
        fn(v[--n], opaque);
}

void job_sleep_until_cancelled(Job *j)
{
    pthread_mutex_lock(&lock);
    while (!j->cancelled) {
        if (j->pause_requested)
            set_status(j, JOB_PAUSED);
        else if (j->status == JOB_PAUSED)
            set_status(j, JOB_RUNNING);
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
}
