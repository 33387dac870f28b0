/* Throttle groups with QEMU's leaky-bucket semantics (util/throttle.c):
 * each limit is a bucket that drains at `avg` units per second; a request
 * may start when the bucket holds no more than avg/10 (or max * burst_length
 * with a burst limit, whose own bucket drains at `max`), and then adds its
 * bytes / operations.  Requests of all nodes in a group queue FIFO per
 * direction, so nodes sharing a group share its budget.  A request that
 * cannot start at once waits in the group's queue; one dispatcher thread per
 * group starts queued asynchronous requests when their turn comes, so no I/O
 * worker sleeps on a throttled node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "block/throttle.h"
#include "util/error.h"

#define THROTTLE_VALUE_MAX 1000000000000000LL

typedef struct Bucket {
    double level, burst_level;
} Bucket;

/* A request waiting for the group's budget: sync callers sleep until
 * `granted`, async ones are started by the dispatcher through `grant`. */
typedef struct Waiter {
    bool write, granted;
    uint64_t bytes;
    void (*grant)(void *opaque);
    void *opaque;
    struct Waiter *next;
} Waiter;

struct ThrottleGroup {
    char *id;
    Waiter *head[2], *tail[2];          /* FIFO per direction (0 read, 1 write) */
    pthread_cond_t kick;                /* wakes the dispatcher */
    pthread_t thread;
    bool thread_started, stopping;
    int refs;               /* nodes using it; the object itself holds one */
    bool deleted;
    ThrottleLimits lim;
    Bucket b[THR_BUCKETS];
    uint64_t last_ns;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ThrottleGroup *next;
};

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static ThrottleGroup *groups;

static const char *const names[THR_BUCKETS] = {
    "bps-total", "bps-read", "bps-write", "iops-total", "iops-read", "iops-write",
};

static int get_num(json_object *o, const char *key, bool *present, double *out)
{
    json_object *v;
    *present = json_object_object_get_ex(o, key, &v);
    if (!*present)
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        char *end;
        const char *s = json_object_get_string(v);
        long long n = strtoll(s, &end, 10);
        if (*end || end == s)
            return err_set(EINVAL, "Parameter '%s' expects an integer", key);
        *out = (double)n;
    } else if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
    } else {
        return err_set(EINVAL, "Invalid parameter type for '%s', expected: integer", key);
    }
    return 0;
}

int throttle_limits_parse(json_object *props, ThrottleLimits *l)
{
    memset(l, 0, sizeof(*l));
    json_object *lim = NULL;
    json_object_object_get_ex(props, "limits", &lim);
    for (int i = 0; i < THR_BUCKETS; i++) {
        l->burst_length[i] = 1;
        static const char *const sfx[] = { "", "-max", "-max-length" };
        for (int k = 0; k < 3; k++) {
            char key[64];
            double v = 0;
            bool p;
            snprintf(key, sizeof(key), "x-%s%s", names[i], sfx[k]);
            int ret = get_num(props, key, &p, &v);
            if (ret == 0 && !p && lim) {
                snprintf(key, sizeof(key), "%s%s", names[i], sfx[k]);
                ret = get_num(lim, key, &p, &v);
            }
            if (ret < 0)
                return ret;
            if (!p)
                continue;
            if (v < 0)
                return err_set(EINVAL, "Property values cannot be negative");
            if (v > THROTTLE_VALUE_MAX)
                return err_set(EINVAL, "bps/iops/max values must be within [0, %lld]",
                               THROTTLE_VALUE_MAX);
            if (k == 0)
                l->avg[i] = v;
            else if (k == 1)
                l->max[i] = v;
            else if (v < 1)
                return err_set(EINVAL, "the burst length cannot be 0");
            else
                l->burst_length[i] = (uint64_t)v;
        }
    }
    double v;
    bool p;
    int ret = get_num(props, "x-iops-size", &p, &v);
    if (ret == 0 && !p && lim)
        ret = get_num(lim, "iops-size", &p, &v);
    if (ret < 0)
        return ret;
    if (p)
        l->iops_size = (uint64_t)v;
    return throttle_limits_check(l);
}

int throttle_limits_check(const ThrottleLimits *l)
{
    for (int t = 0; t < 2; t++) {
        int base = t * 3;
        bool tot = l->avg[base] || l->max[base];
        bool rw = l->avg[base + 1] || l->avg[base + 2] || l->max[base + 1] || l->max[base + 2];
        if (tot && rw)
            return err_set(EINVAL, "bps/iops/max total values and read/write values cannot be "
                           "used at the same time");
    }
    for (int i = 0; i < THR_BUCKETS; i++) {
        if (l->max[i] && !l->avg[i])
            return err_set(EINVAL, "bps_max/iops_max require corresponding bps/iops values");
        if (l->burst_length[i] > 1 && !l->max[i])
            return err_set(EINVAL, "burst length set without burst rate");
        if (l->max[i] && l->max[i] < l->avg[i])
            return err_set(EINVAL, "bps_max/iops_max cannot be lower than bps/iops");
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void leak(ThrottleGroup *g)
{
    uint64_t now = now_ns();
    double dt = (double)(now - g->last_ns) / 1e9;
    g->last_ns = now;
    for (int i = 0; i < THR_BUCKETS; i++) {
        Bucket *b = &g->b[i];
        b->level = fmax(b->level - g->lim.avg[i] * dt, 0);
        if (g->lim.max[i])
            b->burst_level = fmax(b->burst_level - g->lim.max[i] * dt, 0);
    }
}

/* Seconds to wait before bucket i accepts another request (QEMU's
 * throttle_compute_wait). */
static double bucket_wait(ThrottleGroup *g, int i)
{
    double avg = g->lim.avg[i], max = g->lim.max[i];
    if (!avg)
        return 0;
    Bucket *b = &g->b[i];
    double size, burst_size;
    if (!max) {
        size = avg / 10;
        burst_size = 0;
    } else {
        size = max * (double)g->lim.burst_length[i];
        burst_size = max / 10;
    }
    double extra = b->level - size;
    if (extra > 0)
        return extra / avg;
    if (g->lim.burst_length[i] > 1) {
        extra = b->burst_level - burst_size;
        if (extra > 0)
            return extra / max;
    }
    return 0;
}

static double dir_wait(ThrottleGroup *g, int dir)
{
    int idx[4] = { THR_BPS_TOTAL, dir ? THR_BPS_WRITE : THR_BPS_READ, THR_OPS_TOTAL,
                   dir ? THR_OPS_WRITE : THR_OPS_READ };
    double w = 0;
    for (int k = 0; k < 4; k++)
        w = fmax(w, bucket_wait(g, idx[k]));
    return w;
}

static void account(ThrottleGroup *g, int dir, uint64_t bytes)
{
    int idx[4] = { THR_BPS_TOTAL, dir ? THR_BPS_WRITE : THR_BPS_READ, THR_OPS_TOTAL,
                   dir ? THR_OPS_WRITE : THR_OPS_READ };
    double units = 1;
    if (g->lim.iops_size && bytes > g->lim.iops_size)
        units = (double)bytes / (double)g->lim.iops_size;
    for (int k = 0; k < 4; k++) {
        double amount = k < 2 ? (double)bytes : units;
        g->b[idx[k]].level += amount;
        if (g->lim.max[idx[k]])
            g->b[idx[k]].burst_level += amount;
    }
}

static void deadline_in(struct timespec *ts, double secs)
{
    uint64_t ns = (uint64_t)(secs * 1e9) + 1;
    clock_gettime(CLOCK_REALTIME, ts);
    ns += (uint64_t)ts->tv_nsec;
    ts->tv_sec += (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* The dispatcher: grants queued requests in order as the buckets drain. */
static void *dispatcher(void *arg)
{
    ThrottleGroup *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        if (!g->head[0] && !g->head[1]) {
            pthread_cond_wait(&g->kick, &g->lock);
            continue;
        }
        leak(g);
        double next = 1.0;
        Waiter *go = NULL, **go_tail = &go;
        for (int dir = 0; dir < 2; dir++) {
            Waiter *w = g->head[dir];
            if (!w)
                continue;
            double t = dir_wait(g, dir);
            if (t > 0) {
                next = fmin(next, t);
                continue;
            }
            g->head[dir] = w->next;
            if (!g->head[dir])
                g->tail[dir] = NULL;
            account(g, dir, w->bytes);
            w->next = NULL;
            if (w->grant) {
                *go_tail = w;
                go_tail = &w->next;
            } else {
                w->granted = true;
                pthread_cond_broadcast(&g->cond);
            }
            next = 0;
        }
        if (go) {
            /* Start them without the lock: submission may complete inline. */
            pthread_mutex_unlock(&g->lock);
            while (go) {
                Waiter *w = go;
                go = w->next;
                w->grant(w->opaque);
                free(w);
            }
            pthread_mutex_lock(&g->lock);
            continue;
        }
        if (next > 0) {
            struct timespec ts;
            deadline_in(&ts, next);
            pthread_cond_timedwait(&g->kick, &g->lock, &ts);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* With g->lock held: queues w, starting the dispatcher on first use. */
static int enqueue(ThrottleGroup *g, Waiter *w)
{
    if (!g->thread_started) {
        if (pthread_create(&g->thread, NULL, dispatcher, g))
            return -EAGAIN;
        g->thread_started = true;
    }
    int dir = w->write;
    w->next = NULL;
    if (g->tail[dir])
        g->tail[dir]->next = w;
    else
        g->head[dir] = w;
    g->tail[dir] = w;
    pthread_cond_signal(&g->kick);
    return 0;
}

/* Fast path with g->lock held: nothing queued ahead and budget available. */
static bool admit_now(ThrottleGroup *g, int dir, uint64_t bytes)
{
    if (g->head[dir])
        return false;
    leak(g);
    if (dir_wait(g, dir) > 0)
        return false;
    account(g, dir, bytes);
    return true;
}

void throttle_group_wait(ThrottleGroup *g, bool write, uint64_t bytes)
{
    pthread_mutex_lock(&g->lock);
    if (!admit_now(g, write, bytes)) {
        Waiter w = { .write = write, .bytes = bytes };
        if (enqueue(g, &w) < 0) {
            /* No dispatcher thread: wait our turn ourselves. */
            for (;;) {
                leak(g);
                double t = dir_wait(g, write);
                if (t <= 0)
                    break;
                struct timespec ts;
                deadline_in(&ts, t);
                pthread_cond_timedwait(&g->cond, &g->lock, &ts);
            }
            account(g, write, bytes);
        } else {
            while (!w.granted)
                pthread_cond_wait(&g->cond, &g->lock);
        }
    }
    pthread_mutex_unlock(&g->lock);
}

int throttle_group_submit(ThrottleGroup *g, bool write, uint64_t bytes,
                          void (*grant)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&g->lock);
    bool now = admit_now(g, write, bytes);
    int ret = 0;
    if (!now) {
        Waiter *w = calloc(1, sizeof(*w));
        if (!w)
            ret = -ENOMEM;
        else {
            *w = (Waiter){ .write = write, .bytes = bytes, .grant = grant, .opaque = opaque };
            if ((ret = enqueue(g, w)) < 0)
                free(w);
        }
    }
    pthread_mutex_unlock(&g->lock);
    if (ret < 0)
        return ret;
    if (now)
        grant(opaque);
    return 0;
}

static ThrottleGroup *find(const char *id)
{
    for (ThrottleGroup *g = groups; g; g = g->next)
        if (!g->deleted && !strcmp(g->id, id))
            return g;
    return NULL;
}

int throttle_group_create(const char *id, const ThrottleLimits *l)
{
    pthread_mutex_lock(&groups_lock);
    if (find(id)) {
        pthread_mutex_unlock(&groups_lock);
        return err_set(EEXIST, "attempt to add duplicate property '%s' to object (type 'container')", id);
    }
    ThrottleGroup *g = calloc(1, sizeof(*g));
    if (!g || !(g->id = strdup(id))) {
        free(g);
        pthread_mutex_unlock(&groups_lock);
        return err_set(ENOMEM, "out of memory");
    }
    g->lim = *l;
    g->refs = 1;
    g->last_ns = now_ns();
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    pthread_cond_init(&g->kick, NULL);
    g->next = groups;
    groups = g;
    pthread_mutex_unlock(&groups_lock);
    return 0;
}

ThrottleGroup *throttle_group_get(const char *id)
{
    pthread_mutex_lock(&groups_lock);
    ThrottleGroup *g = find(id);
    if (g)
        g->refs++;
    pthread_mutex_unlock(&groups_lock);
    return g;
}

static void group_free_locked(ThrottleGroup *g)
{
    /* No node uses the group, so nothing is queued: stop the dispatcher. */
    if (g->thread_started) {
        pthread_mutex_lock(&g->lock);
        g->stopping = true;
        pthread_cond_signal(&g->kick);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    pthread_cond_destroy(&g->kick);
    for (ThrottleGroup **pp = &groups; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    free(g->id);
    free(g);
}

void throttle_group_put(ThrottleGroup *g)
{
    pthread_mutex_lock(&groups_lock);
    if (--g->refs == 0)
        group_free_locked(g);
    pthread_mutex_unlock(&groups_lock);
}

int throttle_group_delete(const char *id)
{
    pthread_mutex_lock(&groups_lock);
    ThrottleGroup *g = find(id);
    int ret = 0;
    if (!g)
        ret = err_set(ENOENT, "object '%s' not found", id);
    else if (g->refs > 1)
        ret = err_set(EBUSY, "object '%s' is in use, can not be deleted", id);
    else
        group_free_locked(g);
    pthread_mutex_unlock(&groups_lock);
    return ret;
}

void throttle_group_set_limits(ThrottleGroup *g, const ThrottleLimits *l)
{
    pthread_mutex_lock(&g->lock);
    g->lim = *l;
    memset(g->b, 0, sizeof(g->b));
    pthread_cond_broadcast(&g->cond);
    pthread_cond_signal(&g->kick);
    pthread_mutex_unlock(&g->lock);
}

void throttle_group_limits(ThrottleGroup *g, ThrottleLimits *out)
{
    pthread_mutex_lock(&g->lock);
    *out = g->lim;
    pthread_mutex_unlock(&g->lock);
}

int throttle_group_ensure(const char *id, const ThrottleLimits *l)
{
    ThrottleGroup *g = throttle_group_get(id);
    if (!g)
        return throttle_group_create(id, l);
    throttle_group_set_limits(g, l);
    throttle_group_put(g);
    return 0;
}
