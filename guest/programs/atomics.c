/* atomics: one thread pinned to every online hart hammers
 *   - a shared counter with amoadd.d,
 *   - a spinlock built from lr.w/sc.w guarding a plain (non-atomic) counter,
 *   - a lock-free multi-producer/multi-consumer ring (Vyukov's bounded queue)
 *     whose compare-and-swap is written with lr.d/sc.d,
 * then checks exact totals and that every queued value came out exactly once.
 * Lost updates here mean broken AMOs, LR/SC reservations or memory ordering in
 * the emulator.  Arguments: iters=N (per thread, default 20000). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "guest.h"

#define QCAP 64 /* power of two, larger than any hart count */
#define MAX_THREADS 64

struct cell { long seq; long data; };

static struct {
    long amo_counter;
    int lock;
    long plain_counter; /* deliberately not atomic: only the lock protects it */
    long enq_pos __attribute__((aligned(64)));
    long deq_pos __attribute__((aligned(64)));
    struct cell cells[QCAP];
} g __attribute__((aligned(64)));

static long iters, q_items, nthreads;
static uint32_t *seen;
static pthread_barrier_t start_barrier;

static inline void amoadd(long *p, long v)
{
    __asm__ volatile("amoadd.d zero, %1, %0" : "+A"(*p) : "r"(v) : "memory");
}

static inline void spin_lock(int *l)
{
    int tmp;
    __asm__ volatile("1: lr.w.aq %0, %1\n"
                     "   bnez %0, 1b\n"
                     "   sc.w %0, %2, %1\n"
                     "   bnez %0, 1b\n"
                     : "=&r"(tmp), "+A"(*l)
                     : "r"(1)
                     : "memory");
}

static inline void spin_unlock(int *l)
{
    __asm__ volatile("amoswap.w.rl zero, zero, %0" : "+A"(*l) : : "memory");
}

/* Returns 1 if *p was old and is now new. */
static inline int cas(long *p, long old, long new)
{
    long prev, failed;
    __asm__ volatile("1: lr.d.aqrl %0, %2\n"
                     "   bne %0, %3, 2f\n"
                     "   sc.d.rl %1, %4, %2\n"
                     "   bnez %1, 1b\n"
                     "2:\n"
                     : "=&r"(prev), "=&r"(failed), "+A"(*p)
                     : "r"(old), "r"(new)
                     : "memory");
    return prev == old;
}

static int enqueue(long v)
{
    long pos = __atomic_load_n(&g.enq_pos, __ATOMIC_RELAXED);
    struct cell *c;
    for (;;) {
        c = &g.cells[pos & (QCAP - 1)];
        long dif = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) - pos;
        if (dif == 0 && cas(&g.enq_pos, pos, pos + 1))
            break;
        if (dif < 0)
            return 0; /* full */
        pos = __atomic_load_n(&g.enq_pos, __ATOMIC_RELAXED);
    }
    c->data = v;
    __atomic_store_n(&c->seq, pos + 1, __ATOMIC_RELEASE);
    return 1;
}

static int dequeue(long *v)
{
    long pos = __atomic_load_n(&g.deq_pos, __ATOMIC_RELAXED);
    struct cell *c;
    for (;;) {
        c = &g.cells[pos & (QCAP - 1)];
        long dif = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) - (pos + 1);
        if (dif == 0 && cas(&g.deq_pos, pos, pos + 1))
            break;
        if (dif < 0)
            return 0; /* empty, or the producer of this slot has not published yet */
        pos = __atomic_load_n(&g.deq_pos, __ATOMIC_RELAXED);
    }
    *v = c->data;
    __atomic_store_n(&c->seq, pos + QCAP, __ATOMIC_RELEASE);
    return 1;
}

struct worker { pthread_t tid; long idx; int cpu_seen; long popped_sum; long pushed_sum; };

static void *work(void *arg)
{
    struct worker *w = arg;
    w->cpu_seen = sched_getcpu();
    pthread_barrier_wait(&start_barrier);

    for (long i = 0; i < iters; i++)
        amoadd(&g.amo_counter, 1);
    for (long i = 0; i < iters; i++) {
        spin_lock(&g.lock);
        g.plain_counter = g.plain_counter + 1;
        spin_unlock(&g.lock);
    }
    /* Push one, pop one: each thread's pops never exceed its pushes, so the
     * ring never holds more than nthreads items and cannot fill up. */
    for (long i = 0; i < q_items; i++) {
        long v = w->idx * q_items + i + 1;
        long spins = 0;
        while (!enqueue(v)) {
            if (++spins > 100000000)
                fail("thread %ld: enqueue never found room", w->idx);
        }
        w->pushed_sum += v;
        long out;
        spins = 0;
        while (!dequeue(&out)) {
            if (++spins % 1024 == 0)
                sched_yield();
            if (spins > 100000000)
                fail("thread %ld: dequeue never found an item", w->idx);
        }
        if (out < 1 || out > nthreads * q_items)
            fail("thread %ld: dequeued out-of-range value %ld", w->idx, out);
        __atomic_fetch_add(&seen[out - 1], 1, __ATOMIC_RELAXED);
        w->popped_sum += out;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1 || nthreads > MAX_THREADS)
        fail("unsupported hart count %ld", nthreads);
    iters = arg_num(argc, argv, "iters", 20000);
    if (iters < 1 || iters > 100000000)
        fail("iters out of range");
    q_items = iters / 4 + 1;
    seen = calloc((size_t)(nthreads * q_items), sizeof *seen);
    if (!seen)
        fail("out of memory");
    for (long i = 0; i < QCAP; i++)
        g.cells[i].seq = i;

    /* Pin to the harts actually online (our inherited mask), not 0..N-1:
     * if a hart failed to start its id is missing from the set. */
    cpu_set_t online;
    if (sched_getaffinity(0, sizeof online, &online) < 0)
        fail("sched_getaffinity: %s", strerror(errno));
    if (CPU_COUNT(&online) != nthreads)
        fail("%d harts in our affinity mask but %ld online", CPU_COUNT(&online), nthreads);
    int cpus[MAX_THREADS], ncpu = 0;
    for (int c = 0; c < CPU_SETSIZE && ncpu < nthreads; c++)
        if (CPU_ISSET(c, &online))
            cpus[ncpu++] = c;

    static struct worker w[MAX_THREADS];
    pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads);
    for (long i = 0; i < nthreads; i++) {
        pthread_attr_t attr;
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus[i], &set);
        pthread_attr_init(&attr);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
        w[i].idx = i;
        int rc = pthread_create(&w[i].tid, &attr, work, &w[i]);
        if (rc != 0)
            fail("pthread_create for hart %d: %s", cpus[i], strerror(rc));
        pthread_attr_destroy(&attr);
    }
    long pushed = 0, popped = 0;
    int bad = 0;
    for (long i = 0; i < nthreads; i++) {
        pthread_join(w[i].tid, NULL);
        pushed += w[i].pushed_sum;
        popped += w[i].popped_sum;
        if (w[i].cpu_seen != cpus[i]) {
            fprintf(stderr, "thread %ld ran on hart %d, not %d\n", i, w[i].cpu_seen, cpus[i]);
            bad = 1;
        }
    }
    long want = nthreads * iters;
    printf("atomics: harts=%ld iters=%ld amoadd=%ld/%ld lrsc-lock=%ld/%ld queue-sum=%ld/%ld\n",
           nthreads, iters, g.amo_counter, want, g.plain_counter, want, popped, pushed);
    if (g.amo_counter != want) {
        fprintf(stderr, "amoadd counter lost updates\n");
        bad = 1;
    }
    if (g.plain_counter != want) {
        fprintf(stderr, "lr/sc spinlock let updates through concurrently\n");
        bad = 1;
    }
    if (popped != pushed) {
        fprintf(stderr, "queue sums differ\n");
        bad = 1;
    }
    for (long v = 0; v < nthreads * q_items; v++) {
        if (seen[v] != 1) {
            fprintf(stderr, "queue value %ld came out %u times\n", v + 1, seen[v]);
            bad = 1;
            break;
        }
    }
    if (g.enq_pos != g.deq_pos || g.enq_pos != nthreads * q_items) {
        fprintf(stderr, "queue positions enq=%ld deq=%ld\n", g.enq_pos, g.deq_pos);
        bad = 1;
    }
    return bad;
}
