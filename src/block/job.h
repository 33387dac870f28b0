/* Block jobs (QEMU's job state machine) and QMP transactions.
 *
 * A job runs its body on its own thread; status changes are reported with
 * JOB_STATUS_CHANGE events and visible in query-jobs.  Monitor commands
 * (pause, resume, cancel, finalize, dismiss) only set flags and wait; the
 * job thread acts on them at its next yield point.
 */
#ifndef QUAIL_BLOCK_JOB_H
#define QUAIL_BLOCK_JOB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#include "block/node.h"

typedef enum JobStatus {
    JOB_UNDEFINED, JOB_CREATED, JOB_RUNNING, JOB_PAUSED, JOB_READY, JOB_STANDBY,
    JOB_WAITING, JOB_PENDING, JOB_ABORTING, JOB_CONCLUDED, JOB_NULL,
} JobStatus;

typedef struct Job Job;

typedef struct JobDriver {
    const char *type;               /* "backup", "create" */
    bool is_block_job;              /* BLOCK_JOB_* events, query-block-jobs */
    /* The work; returns 0 or -errno (err_msg() then explains).  Calls
     * job_yield() between chunks. */
    int (*run)(Job *job);
    /* After success (or on abort), before concluding: graph changes. */
    void (*commit)(Job *job);
    void (*abort)(Job *job);
    void (*clean)(Job *job);
    void (*free)(Job *job);
} JobDriver;

struct Job {
    char *id;
    const JobDriver *drv;
    void *opaque;
    JobStatus status;
    bool auto_finalize, auto_dismiss;
    bool cancelled, force_cancel, pause_requested, finalize_requested, paused_by_user;
    int ret;
    char *error;
    uint64_t progress_current, progress_total;
    uint64_t speed;
    BlockNode *device;              /* block jobs: the device's node ("device" field) */
    const char *device_name;
    pthread_t thread;
    bool thread_started;
    int waiters;                    /* monitor threads waiting on it: not freed meanwhile */
    Job *next;
};

/* Creates the job and starts its thread (status created -> running). */
int job_start(const char *id, const JobDriver *drv, void *opaque, bool auto_finalize,
              bool auto_dismiss, BlockNode *device, Job **out);
Job *job_find(const char *id);
/* Yield point for run(): honours pause and returns true when cancelled. */
bool job_yield(Job *job);
const char *job_status_name(JobStatus s);
/* For run() of jobs that only end when cancelled (backup sync=none). */
void job_sleep_until_cancelled(Job *job);

/* Monitor-side operations (QEMU's error texts). */
int job_user_pause(Job *job);
int job_user_resume(Job *job);
int job_user_cancel(Job *job, bool force);
int job_user_complete(Job *job);
int job_user_finalize(Job *job);
int job_user_dismiss(Job *job);
void job_for_each(void (*fn)(Job *job, void *opaque), void *opaque);
/* Lock over the job list and statuses (for queries). */
void job_lock(void);
void job_unlock(void);

/* ---- transactions ---- */
typedef struct TxnAction {
    const char *type;               /* "block-dirty-bitmap-add", ... */
    const char *params;             /* as QmpCommand.params */
    /* Does the action (or reserves what it needs) and stores undo state. */
    int (*prepare)(json_object *data, void **state);
    void (*commit)(void *state);
    void (*abort)(void *state);
    void (*clean)(void *state);     /* after commit or abort; frees state */
} TxnAction;

void txn_action_register(const TxnAction *a);
/* Runs one action as a standalone command (prepare + commit or abort). */
int txn_run_single(const TxnAction *a, json_object *args);
/* Checks args against a params spec with the dispatcher's messages. */
int txn_check_args(const char *spec, json_object *args);

#define TXN_ACTION_REGISTER(var) \
    static void __attribute__((constructor)) txn_reg_##var(void) \
    { txn_action_register(&(var)); }

/* ---- copy-before-write filter (filter_cbw.c), used by backup and by
 * snapshot-access ---- */
/* Copies every still-pending chunk of [off, off+len) from the filter's file
 * to its target (what a guest write there would trigger).  0 or -errno. */
int cbw_copy_range(BlockNode *cbw, uint64_t off, uint64_t len);
/* The chunk size and the bitmap of chunks still to copy (owned by the filter). */
uint64_t cbw_cluster_size(BlockNode *cbw);
struct DirtyBitmap *cbw_pending(BlockNode *cbw);
/* Point-in-time read (snapshot-access): copied chunks from the target, the
 * rest from the file while no write can slip in. */
int cbw_snapshot_read(BlockNode *cbw, uint64_t off, uint64_t len, struct iovec *iov, int niov);
/* Sets which chunks to copy (NULL: all) before the first write; used by
 * backup for sync=top/bitmap. */
int cbw_set_pending(BlockNode *cbw, struct DirtyBitmap *from);
bool cbw_is_filter(BlockNode *bs);

/* Looks a node up by node-name or drive name with QEMU's message. */
BlockNode *blk_lookup_bs(const char *name);

#endif
