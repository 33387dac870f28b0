/* `quail backup run`: one full or incremental backup of a running QEMU VM.
 *
 * The crash-consistent instant and the bitmap rotation are one QMP
 * `transaction`: per disk it adds the bitmap that will track changes from now
 * on, disables the bitmap being read (so it stops at exactly this instant) and
 * starts a `blockdev-backup sync=none` into a scratch qcow2 overlay whose
 * backing is the disk itself (QEMU's fleecing recipe).  A write either happened
 * before the transaction (in the old bitmap and in this backup) or after it (in
 * the new bitmap, next backup): it lands in exactly one.  The newer
 * copy-before-write + snapshot-access pair (QEMU >= 7.0) is not used because
 * inserting the filter above a device is a non-transactional graph change; the
 * sync=none job inserts its own filter atomically, on every QEMU we support.
 *
 * The chain only moves forward once the manifest is committed: the old bitmap
 * is removed after the commit; on failure the new bitmap is merged back into
 * the old one and the old one re-enabled, so no write is ever forgotten.  A run
 * killed at any point leaves objects named with the repository's prefix, which
 * the next run removes, and bitmaps that the next run reconciles the same way
 * (merging is always safe: a superset only makes an incremental larger).
 */
#include "backup/run.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/agent.h"
#include "backup/fleece.h"
#include "backup/nbd_pull.h"
#include "backup/progress.h"
#include "backup/qmp_client.h"
#include "backup/repo.h"
#include "util/error.h"

#define MAX_DISKS   64
#define EXIT_LOCKED 75   /* EX_TEMPFAIL: the repository is busy, try later */

typedef struct DiskPlan {
    VmDisk *d;
    bool incremental;
    char reason[320];
    const DiskIndex *parent;
    char old_bitmap[256];      /* bitmap of the parent backup, or "" */
    bool old_usable;           /* exists, consistent, reconciled */
    char new_bitmap[256];      /* created at this backup's instant, or "" */
    FleeceDisk f;
    NbdPull *pull;
    PullStats st;
} DiskPlan;

typedef struct Run {
    const char *qmp_path, *agent_path, *repo_url, *name, *scratch;
    const char *want[MAX_DISKS];
    int nwant;
    bool full, json;
    unsigned jobs;                 /* 0: online CPUs */
    QmpClient *qmp;
    Repo *repo;
    VmInfo vm;
    FleeceNames names;
    Manifest *parent;
    DiskPlan plan[MAX_DISKS];
    int nplan;
    BackupWriter *w;
    char id[REPO_ID_MAX];
    bool nbd_started, frozen_instant;
    GuestAgent *agent;
    Progress prog;
} Run;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Between steps: a SIGINT/SIGTERM received so far stops the run cleanly.
 * Test hooks: QUAIL_BACKUP_KILLPOINT=N kills the process at the Nth step, and
 * QUAIL_BACKUP_STOPPOINT=N sends it SIGTERM there, so the tests can prove any
 * interruption leaves a recoverable state. */
static int killpoint(void)
{
    static int count, kill_at = -1, stop_at = -1;
    if (kill_at < 0) {
        const char *e = getenv("QUAIL_BACKUP_KILLPOINT");
        kill_at = e ? atoi(e) : 0;
        e = getenv("QUAIL_BACKUP_STOPPOINT");
        stop_at = e ? atoi(e) : 0;
    }
    count++;
    if (kill_at > 0 && count == kill_at)
        raise(SIGKILL);
    if (stop_at > 0 && count == stop_at)
        raise(SIGTERM);
    if (stop_requested)
        return err_set(EINTR, "interrupted by a signal");
    return 0;
}

/* Inside the commit there is no stopping half-way, only being killed. */
static void commit_step(void)
{
    (void)killpoint();
}

static void say(Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(Run *r, const char *fmt, ...)
{
    if (r->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* Things the user should know even in --json mode (there as "warning"). */
static void note(Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Run *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!r->json) {
        printf("%s\n", msg);
        fflush(stdout);
        return;
    }
    json_object *o = json_object_new_object();
    qmp_arg_str(o, "event", "warning");
    qmp_arg_str(o, "message", msg);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(stdout);
    json_object_put(o);
}

static void json_event(Run *r, json_object *o)
{
    if (r->json) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        fflush(stdout);
    }
    json_object_put(o);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: quail backup run --qmp SOCKET [--disk NODE]... [--full]\n"
        "                        [--guest-agent SOCKET] [--name VM] [--scratch-dir DIR]\n"
        "                        [--jobs N] [--json] REPO\n"
        "Backs up a running QEMU VM: incremental when the dirty bitmap of the last\n"
        "backup is intact, full otherwise (the output says which and why).\n"
        "--jobs N: threads hashing and compressing chunks (default: online CPUs).\n"
        "Exit status: 0 done, 1 failed (no backup written), 2 usage, 75 repository busy.\n");
}

static int parse(Run *r, int argc, char **argv)
{
    static const struct option opts[] = {
        { "qmp", required_argument, NULL, 'q' },
        { "disk", required_argument, NULL, 'd' },
        { "full", no_argument, NULL, 'F' },
        { "guest-agent", required_argument, NULL, 'g' },
        { "name", required_argument, NULL, 'n' },
        { "scratch-dir", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "jobs", required_argument, NULL, 'J' },
        { "repo", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "q:d:Fg:n:s:jJ:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'q': r->qmp_path = optarg; break;
        case 'd':
            if (r->nwant == MAX_DISKS) {
                fprintf(stderr, "quail backup run: at most %d disks\n", MAX_DISKS);
                return 2;
            }
            r->want[r->nwant++] = optarg;
            break;
        case 'F': r->full = true; break;
        case 'g': r->agent_path = optarg; break;
        case 'n': r->name = optarg; break;
        case 's': r->scratch = optarg; break;
        case 'j': r->json = true; break;
        case 'J': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || n < 1 || n > 256) {
                fprintf(stderr, "quail backup run: --jobs wants a number from 1 to 256\n");
                return 2;
            }
            r->jobs = (unsigned)n;
            break;
        }
        case 'r': r->repo_url = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc && !r->repo_url)
        r->repo_url = argv[optind++];
    if (!r->repo_url)
        r->repo_url = getenv("QUAIL_BACKUP_REPO");
    if (optind < argc || !r->qmp_path || !r->repo_url) {
        usage(stderr);
        return 2;
    }
    if (!r->scratch)
        r->scratch = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    return -1;
}

static bool prefixed(const Run *r, const char *bitmap)
{
    return strncmp(bitmap, r->names.bitmap_prefix, strlen(r->names.bitmap_prefix)) == 0;
}

/* Brings our bitmaps on one disk back to "at most the parent's bitmap,
 * recording, covering every write since the parent's instant". */
static void reconcile(Run *r, DiskPlan *p)
{
    VmDisk *d = p->d;
    const VmBitmap *old = p->old_bitmap[0] ? vm_disk_bitmap(d, p->old_bitmap) : NULL;
    const char *others[64];
    int nothers = 0;
    for (int i = 0; i < d->nbitmaps && nothers < 64; i++)
        if (prefixed(r, d->bitmaps[i].name) && (!old || strcmp(d->bitmaps[i].name, old->name) != 0)
            && !d->bitmaps[i].inconsistent)
            others[nothers++] = d->bitmaps[i].name;
    p->old_usable = false;
    if (old && !old->inconsistent && !old->busy) {
        p->old_usable = true;
        /* Disabled: a run died after its transaction.  The bitmaps it added
         * hold the writes since; folding them in loses nothing. */
        if (!old->recording && bitmap_merge_enable(r->qmp, d->node, old->name, others, nothers) < 0) {
            note(r, "%s: could not restore bitmap %s (%s)", d->name, old->name, err_msg());
            p->old_usable = false;
        }
    }
    for (int i = 0; i < d->nbitmaps; i++) {
        const VmBitmap *b = &d->bitmaps[i];
        if (!prefixed(r, b->name) || (p->old_usable && b == old) || b->busy)
            continue;
        if (bitmap_remove(r->qmp, d->node, b->name) < 0)
            note(r, "%s: could not remove stale bitmap %s (%s)", d->name, b->name, err_msg());
    }
}

static void decide(Run *r, DiskPlan *p, const char *parent_id)
{
    VmDisk *d = p->d;
    const VmBitmap *old = p->old_bitmap[0] ? vm_disk_bitmap(d, p->old_bitmap) : NULL;
    p->incremental = false;
    char *why = p->reason;
    size_t n = sizeof(p->reason);
    if (r->full)
        snprintf(why, n, "full: --full was given");
    else if (!parent_id)
        snprintf(why, n, "full: no earlier backup of this VM in the repository");
    else if (!p->parent)
        snprintf(why, n, "full: backup %s has no disk %s", parent_id, d->name);
    else if (!d->can_persist)
        snprintf(why, n, "full: format '%s' cannot store a persistent dirty bitmap, "
                 "so every backup of this disk is full (use qcow2 for incrementals)", d->drv);
    else if (d->ro)
        snprintf(why, n, "full: read-only disk cannot carry a dirty bitmap");
    else if (!p->old_bitmap[0])
        snprintf(why, n, "full: backup %s recorded no dirty bitmap for this disk", parent_id);
    else if (!old)
        snprintf(why, n, "full: dirty bitmap %s is missing (QEMU was restarted without it, "
                 "or it was removed)", p->old_bitmap);
    else if (old->inconsistent)
        snprintf(why, n, "full: dirty bitmap %s is inconsistent (QEMU stopped uncleanly); removed",
                 p->old_bitmap);
    else if (old->busy)
        snprintf(why, n, "full: dirty bitmap %s is in use by another operation", p->old_bitmap);
    else if (!p->old_usable)
        snprintf(why, n, "full: dirty bitmap %s could not be restored after an interrupted run",
                 p->old_bitmap);
    else if (p->parent->size != d->size)
        snprintf(why, n, "full: disk size changed from %llu to %llu bytes",
                 (unsigned long long)p->parent->size, (unsigned long long)d->size);
    else if (p->parent->chunk_size != repo_chunk_size(r->repo))
        snprintf(why, n, "full: parent backup used another chunk size");
    else {
        p->incremental = true;
        snprintf(why, n, "incremental: changes since backup %s (bitmap %s)", parent_id, p->old_bitmap);
    }
}

static int select_disks(Run *r)
{
    r->nplan = 0;
    if (r->nwant) {
        for (int i = 0; i < r->nwant; i++) {
            VmDisk *d = vm_find_disk(&r->vm, r->want[i]);
            if (!d) {
                char list[1024] = "";
                for (int k = 0; k < r->vm.ndisks; k++) {
                    size_t len = strlen(list);
                    snprintf(list + len, sizeof(list) - len, "%s%s", k ? ", " : "", r->vm.disks[k].name);
                }
                return err_set(ENOENT, "the VM has no disk '%s' (disks: %s)", r->want[i],
                               list[0] ? list : "none");
            }
            for (int k = 0; k < r->nplan; k++)
                if (r->plan[k].d == d)
                    return err_set(EINVAL, "disk '%s' given twice", r->want[i]);
            r->plan[r->nplan++].d = d;
        }
    } else {
        for (int k = 0; k < r->vm.ndisks && r->nplan < MAX_DISKS; k++)
            if (!r->vm.disks[k].ro)
                r->plan[r->nplan++].d = &r->vm.disks[k];
    }
    if (!r->nplan)
        return err_set(ENOENT, "the VM has no writable disk to back up");
    return 0;
}

/* Re-reads the VM (after the leftover clean-up changed it) and re-points plans. */
static int requery(Run *r)
{
    char *names[MAX_DISKS];
    int n = r->nplan;
    for (int i = 0; i < n; i++)
        if (!(names[i] = strdup(r->plan[i].d->name))) {
            while (i--)
                free(names[i]);
            return err_set(ENOMEM, "out of memory");
        }
    vm_info_free(&r->vm);
    int ret = vm_query(r->qmp, &r->vm);
    for (int i = 0; i < n; i++) {
        if (ret == 0 && !(r->plan[i].d = vm_find_disk(&r->vm, names[i])))
            ret = err_set(ENOENT, "disk %s disappeared", names[i]);
        free(names[i]);
    }
    return ret;
}

static bool any_incremental(Run *r)
{
    for (int i = 0; i < r->nplan; i++)
        if (r->plan[i].incremental)
            return true;
    return false;
}

static int freeze_instant(Run *r)
{
    json_object *actions = json_object_new_array();
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        if (p->new_bitmap[0])
            json_object_array_add(actions, bitmap_action("block-dirty-bitmap-add", p->d->node,
                                  p->new_bitmap, true, repo_chunk_size(r->repo)));
        if (p->incremental)
            json_object_array_add(actions, bitmap_action("block-dirty-bitmap-disable", p->d->node,
                                  p->old_bitmap, false, 0));
        fleece_add_action(actions, &p->f);
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "actions", actions);
    if (r->agent_path) {
        int ret = agent_open(r->agent_path, 3000, &r->agent);
        if (ret < 0) {
            note(r, "guest agent not answering (%s): the backup is crash-consistent only", err_msg());
        } else if ((ret = agent_freeze(r->agent)) < 0) {
            note(r, "guest filesystems not frozen (%s): the backup is crash-consistent only", err_msg());
            agent_thaw(r->agent);
            agent_close(r->agent);
            r->agent = NULL;
        } else {
            note(r, "froze %d guest filesystem(s)", ret);
        }
    }
    int ret = qmp_execute(r->qmp, "transaction", args, NULL);
    if (r->agent) {
        if (agent_thaw(r->agent) < 0)
            note(r, "guest-fsfreeze-thaw failed: %s", err_msg());
        agent_close(r->agent);
        r->agent = NULL;
    }
    if (ret < 0)
        return err_prefix(ret, "freezing the backup instant");
    r->frozen_instant = true;
    for (int i = 0; i < r->nplan; i++)
        r->plan[i].f.job_started = true;
    return 0;
}

static void on_progress(void *opaque, uint64_t bytes)
{
    Run *r = opaque;
    (void)killpoint();   /* the read loop itself checks stop_requested */
    progress_update(&r->prog, bytes);
}

static int pull_all(Run *r)
{
    uint64_t total = 0;
    int ret;
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        if ((ret = fleece_export(r->qmp, &p->f, p->incremental ? p->old_bitmap : NULL)) < 0)
            return err_prefix(ret, "exporting %s", p->d->name);
        if ((ret = killpoint()) < 0)
            return ret;
        if ((ret = nbd_pull_open(r->names.nbd_socket, p->f.export_name,
                                 p->incremental ? p->old_bitmap : NULL,
                                 repo_chunk_size(r->repo), &p->pull)) < 0)
            return err_prefix(ret, "scanning %s", p->d->name);
        nbd_pull_stats(p->pull, &p->st);
        total += p->st.bytes_planned;
    }
    if ((ret = killpoint()) < 0)
        return ret;
    progress_init(&r->prog, r->json, total);
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        DiskWriter *dw;
        ret = backup_disk_begin(r->w, p->d->name, nbd_pull_size(p->pull),
                                p->new_bitmap[0] ? p->new_bitmap : NULL,
                                p->incremental ? p->parent : NULL, &dw);
        if (ret < 0)
            return err_prefix(ret, "%s", p->d->name);
        progress_disk(&r->prog, p->d->name);
        ret = nbd_pull_run(p->pull, dw, on_progress, r, &stop_requested);
        nbd_pull_stats(p->pull, &p->st);
        if (ret < 0)
            return err_prefix(ret, "reading %s", p->d->name);
        progress_disk_done(&r->prog, p->st.bytes_read);
        nbd_pull_close(p->pull);
        p->pull = NULL;
        /* This disk is read: stop paying copy-before-write for it now. */
        if ((ret = killpoint()) < 0)
            return ret;
        if ((ret = fleece_teardown(r->qmp, &p->f)) < 0)
            return err_prefix(ret, "tearing down %s", p->d->name);
        if ((ret = killpoint()) < 0)
            return ret;
    }
    progress_finish(&r->prog);
    return 0;
}

/* After a failure past the transaction: the new bitmaps go back into the old
 * ones, which record again, so the next incremental still sees every write. */
static void roll_back_bitmaps(Run *r)
{
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        if (!p->new_bitmap[0])
            continue;
        if (p->incremental) {
            const char *src[1] = { p->new_bitmap };
            if (bitmap_merge_enable(r->qmp, p->d->node, p->old_bitmap, src, 1) < 0) {
                fprintf(stderr, "quail backup run: %s: restoring bitmap: %s (the next run repairs it)\n",
                        p->d->name, err_msg());
                continue;
            }
        }
        if (bitmap_remove(r->qmp, p->d->node, p->new_bitmap) < 0)
            fprintf(stderr, "quail backup run: %s: removing bitmap: %s (the next run removes it)\n",
                    p->d->name, err_msg());
    }
}

static void teardown(Run *r)
{
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        nbd_pull_close(p->pull);
        p->pull = NULL;
        if (p->f.disk && fleece_teardown(r->qmp, &p->f) < 0)
            fprintf(stderr, "quail backup run: %s: %s (the next run removes it)\n", p->d->name, err_msg());
    }
    if (r->nbd_started) {
        fleece_nbd_stop(r->qmp, &r->names);
        r->nbd_started = false;
    }
}

static void report(Run *r, uint64_t bytes_read)
{
    json_object *o = json_object_new_object(), *disks = json_object_new_array();
    qmp_arg_str(o, "event", "done");
    qmp_arg_str(o, "id", r->id);
    qmp_arg_str(o, "type", any_incremental(r) ? "incremental" : "full");
    if (r->parent && any_incremental(r))
        qmp_arg_str(o, "parent", r->parent->id);
    qmp_arg_int(o, "bytes_read", (int64_t)bytes_read);
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        json_object *d = json_object_new_object();
        qmp_arg_str(d, "disk", p->d->name);
        qmp_arg_str(d, "mode", p->incremental ? "incremental" : "full");
        qmp_arg_str(d, "reason", p->reason);
        qmp_arg_int(d, "size", (int64_t)p->d->size);
        qmp_arg_int(d, "bytes_read", (int64_t)p->st.bytes_read);
        qmp_arg_int(d, "chunks_read", (int64_t)p->st.chunks_read);
        qmp_arg_int(d, "block_status_requests", (int64_t)p->st.status_requests);
        json_object_array_add(disks, d);
        say(r, "  %s: read %llu of %llu bytes in %llu chunks (%llu block-status requests)\n",
            p->d->name, (unsigned long long)p->st.bytes_read, (unsigned long long)p->d->size,
            (unsigned long long)p->st.chunks_read, (unsigned long long)p->st.status_requests);
    }
    json_object_object_add(o, "disks", disks);
    say(r, "backup %s done: %s, %llu bytes read\n", r->id, any_incremental(r) ? "incremental" : "full",
        (unsigned long long)bytes_read);
    json_event(r, o);
}

static int do_run(Run *r)
{
    int ret = qmp_connect(r->qmp_path, 10000, &r->qmp);
    if (ret < 0)
        return ret;
    if ((ret = repo_open(r->repo_url, REPO_WRITE, &r->repo)) < 0)
        return ret == -EBUSY ? -EBUSY : err_prefix(ret, "repository %s", r->repo_url);
    if ((ret = fleece_names_init(&r->names, repo_uuid(r->repo), r->scratch)) < 0)
        return ret;
    if ((ret = vm_query(r->qmp, &r->vm)) < 0)
        return ret;
    /* A run killed mid-backup leaves its copy-before-write filter on top of
     * a disk, hiding the disk's node name: clean up first in that case, so
     * --disk NODE still matches.  Otherwise check the disks before touching
     * anything. */
    bool hidden = false;
    for (int i = 0; i < r->vm.ndisks; i++)
        if (strncmp(r->vm.disks[i].node, r->names.prefix, strlen(r->names.prefix)) == 0)
            hidden = true;
    if (!hidden && (ret = select_disks(r)) < 0)
        return ret;
    /* Copied: requery() frees r->vm. */
    char vm_name[256];
    snprintf(vm_name, sizeof(vm_name), "%s", r->name ? r->name : r->vm.name ? r->vm.name : "vm");

    if ((ret = killpoint()) < 0)
        return ret;
    ret = fleece_cleanup_leftovers(r->qmp, &r->names);
    if (ret < 0)
        return ret;
    if (ret > 0)
        note(r, "removed %d leftover(s) of an interrupted earlier run", ret);
    if (hidden) {
        vm_info_free(&r->vm);
        if ((ret = vm_query(r->qmp, &r->vm)) < 0 || (ret = select_disks(r)) < 0)
            return ret;
    } else if ((ret = requery(r)) < 0) {
        return ret;
    }

    char parent_id[REPO_ID_MAX];
    ret = repo_latest_backup(r->repo, vm_name, parent_id);
    if (ret == 0) {
        if ((ret = repo_load_manifest(r->repo, parent_id, &r->parent)) < 0)
            return ret;
    } else if (ret != -ENOENT) {
        return ret;
    }
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        p->parent = r->parent ? manifest_disk(r->parent, p->d->name) : NULL;
        if (p->parent && p->parent->bitmap)
            snprintf(p->old_bitmap, sizeof(p->old_bitmap), "%s", p->parent->bitmap);
        reconcile(r, p);
    }
    /* Decided on the state found, not the reconciled one, so the reason
     * names what was wrong (an inconsistent bitmap is gone by now). */
    for (int i = 0; i < r->nplan; i++)
        decide(r, &r->plan[i], r->parent ? r->parent->id : NULL);
    if ((ret = killpoint()) < 0)
        return ret;

    bool inc = any_incremental(r);
    /* Backups are ordered by their time in seconds: a backup taken within the
     * same second as its predecessor must still sort after it, or the next run
     * would pick the wrong parent. */
    int64_t now = (int64_t)time(NULL);
    if (r->parent && now <= r->parent->time)
        now = r->parent->time + 1;
    BackupMeta meta = { .vm_name = vm_name, .vm_uuid = r->vm.uuid, .time = now,
                        .type = inc ? BACKUP_INCREMENTAL : BACKUP_FULL,
                        .parent_id = inc ? r->parent->id : NULL };
    if ((ret = repo_backup_begin(r->repo, &meta, &r->w)) < 0)
        return ret;
    backup_writer_set_jobs(r->w, r->jobs);
    backup_writer_set_step_hook(r->w, commit_step);
    snprintf(r->id, sizeof(r->id), "%s", backup_writer_id(r->w));
    say(r, "backup %s of VM %s: %s\n", r->id, vm_name,
        inc ? "incremental" : "full");
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        if (p->d->can_persist && !p->d->ro)
            snprintf(p->new_bitmap, sizeof(p->new_bitmap), "%s%s", r->names.bitmap_prefix, r->id);
        say(r, "  %s: %s\n", p->d->name, p->reason);
        json_object *o = json_object_new_object();
        qmp_arg_str(o, "event", "disk");
        qmp_arg_str(o, "disk", p->d->name);
        qmp_arg_str(o, "mode", p->incremental ? "incremental" : "full");
        qmp_arg_str(o, "reason", p->reason);
        json_event(r, o);
        p->f.disk = p->d;
        p->f.index = i;
        if ((ret = fleece_prepare(r->qmp, &r->names, &p->f)) < 0)
            return err_prefix(ret, "%s", p->d->name);
        if ((ret = killpoint()) < 0)
            return ret;
    }
    if ((ret = fleece_nbd_start(r->qmp, &r->names)) < 0)
        return ret;
    r->nbd_started = true;
    if ((ret = killpoint()) < 0)
        return ret;
    if ((ret = freeze_instant(r)) < 0)
        return ret;
    if ((ret = killpoint()) < 0)
        return ret;
    if ((ret = pull_all(r)) < 0)
        return ret;
    if ((ret = killpoint()) < 0)
        return ret;
    uint64_t bytes = 0;
    for (int i = 0; i < r->nplan; i++)
        bytes += r->plan[i].st.bytes_read;
    ret = backup_commit(r->w);
    r->w = NULL;
    if (ret < 0)
        return err_prefix(ret, "committing backup");
    r->frozen_instant = false;   /* committed: the chain moves on */
    (void)killpoint();           /* too late to stop: finish the clean-up */
    for (int i = 0; i < r->nplan; i++) {
        DiskPlan *p = &r->plan[i];
        if (p->old_usable && p->old_bitmap[0] && bitmap_remove(r->qmp, p->d->node, p->old_bitmap) < 0)
            note(r, "%s: old bitmap not removed (%s); the next run removes it", p->d->name, err_msg());
    }
    (void)killpoint();
    teardown(r);
    report(r, bytes);
    return 0;
}

int backup_cmd_run(int argc, char **argv)
{
    Run *r = calloc(1, sizeof(*r));
    if (!r) {
        fprintf(stderr, "quail backup run: out of memory\n");
        return 1;
    }
    int status = parse(r, argc, argv);
    if (status >= 0) {
        free(r);
        return status;
    }
    struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term, old_pipe;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* A reader of --json output going away must not kill the run midway. */
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigaction(SIGPIPE, &ign, &old_pipe);
    stop_requested = 0;

    int ret = do_run(r);
    if (ret < 0) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        /* Exported bitmaps are busy: tear down before rolling back. */
        if (r->qmp)
            teardown(r);
        if (r->frozen_instant)
            roll_back_bitmaps(r);
        if (r->w)
            backup_abort(r->w);
        if (r->json) {
            json_object *o = json_object_new_object();
            qmp_arg_str(o, "event", "error");
            qmp_arg_str(o, "message", msg);
            printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
            json_object_put(o);
        }
        fprintf(stderr, "quail backup run: %s\n", msg);
        status = ret == -EBUSY ? EXIT_LOCKED : 1;
    } else {
        status = 0;
    }
    if (r->parent)
        manifest_free(r->parent);
    vm_info_free(&r->vm);
    repo_close(r->repo);
    qmp_close(r->qmp);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    free(r);
    return status;
}
