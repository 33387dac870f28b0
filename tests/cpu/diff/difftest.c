/* Differential test of quail's RV64GC hart against qemu-riscv64.
 *
 *   difftest --runner PATH [--qemu PATH] [--seed S] [--count N] [--batch K]
 *            [--first I] [--max-report R] [--qemu-twice] [--no-quail]
 *   difftest --dump I [--seed S]        print program I and its disassembly
 *
 * Programs S:first .. S:first+N-1 are generated, written in batches of K to a
 * temporary file, run by the riscv64 runner under qemu-riscv64 (one process
 * per batch, in the background) while quail runs the same batch in-process;
 * the final registers, fcsr and data buffer must be identical.
 */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen.h"
#include "quailrun.h"
#include "util/error.h"

extern char **environ;

typedef struct Opts {
    const char *runner, *qemu, *objdump;
    uint64_t seed, first, count, batch, max_report, max_insns;
    bool qemu_twice, no_quail, dump, keep, minimise;
    uint64_t dump_index;
} Opts;

static const char *const xname[32] = {
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
    "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
    "t3", "t4", "t5", "t6",
};

static char tmpdir[256];

static void usage(void)
{
    fprintf(stderr,
            "usage: difftest --runner DIFFRUNNER [--qemu qemu-riscv64] [--seed S] [--count N]\n"
            "                [--first I] [--batch K] [--max-report R] [--qemu-twice] [--no-quail] [--keep]\n"
            "                [--minimise]\n"
            "       difftest --dump I [--seed S]\n");
}

static int parse_opts(int argc, char **argv, Opts *o)
{
    *o = (Opts){ .qemu = "qemu-riscv64", .objdump = "riscv64-linux-gnu-objdump", .seed = 1,
                 .count = 10000, .batch = 1000, .max_report = 5, .max_insns = 200000 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--qemu-twice")) { o->qemu_twice = true; continue; }
        if (!strcmp(a, "--no-quail")) { o->no_quail = true; continue; }
        if (!strcmp(a, "--keep")) { o->keep = true; continue; }
        if (!strcmp(a, "--minimise")) { o->minimise = true; continue; }
        if (!v) { usage(); return -1; }
        i++;
        if (!strcmp(a, "--runner")) o->runner = v;
        else if (!strcmp(a, "--qemu")) o->qemu = v;
        else if (!strcmp(a, "--objdump")) o->objdump = v;
        else if (!strcmp(a, "--seed")) o->seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--first")) o->first = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--count")) o->count = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--batch")) o->batch = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--max-report")) o->max_report = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--dump")) { o->dump = true; o->dump_index = strtoull(v, NULL, 0); }
        else { usage(); return -1; }
    }
    if (!o->batch)
        o->batch = 1;
    if (!o->dump && !o->runner) {
        usage();
        return -1;
    }
    return 0;
}

static void disassemble(const Opts *o, const DiffProg *p)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/prog.bin", tmpdir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p->code, 1, p->hdr.code_len, f);
    fclose(f);
    char cmd[700];
    snprintf(cmd, sizeof(cmd),
             "%s -D -b binary -m riscv:rv64 --adjust-vma=0x%llx '%s' | tail -n +8",
             o->objdump, (unsigned long long)DIFF_CODE, path);
    fflush(stdout);
    if (system(cmd) != 0)
        printf("(objdump failed: %s)\n", cmd);
}

static void print_prog(const Opts *o, const DiffProg *p)
{
    const DiffProgHdr *h = &p->hdr;
    printf("  base register x%u (%s) = 0x%llx, code %u bytes at 0x%llx, fcsr 0x%llx\n",
           h->base_reg, xname[h->base_reg], (unsigned long long)DIFF_DATA_MID, h->code_len,
           (unsigned long long)DIFF_CODE, (unsigned long long)h->fcsr);
    printf("  initial x:");
    for (unsigned i = 1; i < 32; i++)
        printf("%s x%u=%llx", i % 4 == 0 ? "\n   " : "", i, (unsigned long long)h->x[i]);
    printf("\n  initial f:");
    for (unsigned i = 0; i < 32; i++)
        printf("%s f%u=%llx", i % 4 == 0 ? "\n   " : "", i, (unsigned long long)h->f[i]);
    printf("\n");
    disassemble(o, p);
}

/* Prints the differences; returns true when the records match. */
static bool compare(const DiffRecord *q, const DiffRecord *r, bool print)
{
    bool same = true;
    if (r->status != DIFF_OK) {
        if (print) {
            if (r->status == DIFF_TRAPPED)
                printf("  quail trapped: mcause %llu at mepc 0x%llx\n",
                       (unsigned long long)(r->aux & 0xff), (unsigned long long)(r->aux >> 8));
            else if (r->status == DIFF_WRONG_PRIV)
                printf("  quail ended in the wrong privilege level (%llu)\n",
                       (unsigned long long)r->aux);
            else
                printf("  quail did not reach the end (pc 0x%llx)\n",
                       (unsigned long long)r->aux);
        }
        same = false;
    }
    for (unsigned i = 1; i < 32; i++) {
        if (q->x[i] != r->x[i]) {
            same = false;
            if (print)
                printf("  x%-2u %-4s qemu 0x%016llx quail 0x%016llx\n", i, xname[i],
                       (unsigned long long)q->x[i], (unsigned long long)r->x[i]);
        }
    }
    for (unsigned i = 0; i < 32; i++) {
        if (q->f[i] != r->f[i]) {
            same = false;
            if (print)
                printf("  f%-2u      qemu 0x%016llx quail 0x%016llx\n", i,
                       (unsigned long long)q->f[i], (unsigned long long)r->f[i]);
        }
    }
    if (q->fcsr != r->fcsr) {
        same = false;
        if (print)
            printf("  fcsr     qemu 0x%02llx quail 0x%02llx (fflags NV DZ OF UF NX = bits 4..0)\n",
                   (unsigned long long)q->fcsr, (unsigned long long)r->fcsr);
    }
    if (q->csum != r->csum) {
        same = false;
        if (print) {
            printf("  data checksum qemu %016llx quail %016llx\n", (unsigned long long)q->csum,
                   (unsigned long long)r->csum);
            unsigned shown = 0;
            for (unsigned i = 0; i < DIFF_DATA_SIZE && shown < 16; i += 8) {
                if (memcmp(q->data + i, r->data + i, 8)) {
                    uint64_t a, b;
                    memcpy(&a, q->data + i, 8);
                    memcpy(&b, r->data + i, 8);
                    printf("  mem[0x%llx] qemu 0x%016llx quail 0x%016llx\n",
                           (unsigned long long)(DIFF_DATA + i), (unsigned long long)a,
                           (unsigned long long)b);
                    shown++;
                }
            }
        }
    }
    return same;
}

static bool write_prog(FILE *f, const DiffProg *p)
{
    static const uint8_t zeros[8];
    uint32_t pad = ((p->hdr.code_len + 7) & ~7u) - p->hdr.code_len;
    return fwrite(&p->hdr, sizeof(p->hdr), 1, f) == 1 &&
           fwrite(p->code, 1, p->hdr.code_len, f) == p->hdr.code_len &&
           fwrite(zeros, 1, pad, f) == pad;
}

static int write_batch(const char *path, uint64_t seed, uint64_t first, uint64_t n, DiffProg *p)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return err_set_errno(errno, "difftest: %s", path);
    for (uint64_t i = 0; i < n; i++) {
        diff_gen(seed, first + i, p);
        if (!write_prog(f, p)) {
            fclose(f);
            return err_set_errno(EIO, "difftest: writing %s", path);
        }
    }
    if (fclose(f))
        return err_set_errno(errno, "difftest: %s", path);
    return 0;
}

static int spawn_runner(const Opts *o, const char *batch, const char *out, pid_t *pid)
{
    char *argv[] = { (char *)o->qemu, (char *)o->runner, (char *)batch, (char *)out, NULL };
    int rc = posix_spawnp(pid, o->qemu, NULL, NULL, argv, environ);
    if (rc)
        return err_set_errno(rc, "difftest: cannot start %s", o->qemu);
    return 0;
}

/* Reads up to n records; returns how many the runner completed. */
static uint64_t read_records(const char *path, DiffRecord *recs, uint64_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t got = fread(recs, sizeof(*recs), n, f);
    fclose(f);
    return got;
}

static int wait_runner(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void cleanup_tmp(void)
{
    if (!tmpdir[0])
        return;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "difftest: could not remove %s\n", tmpdir);
}

/* Runs explicit programs on both sides; returns a bitmap (in fail[]) of the
 * ones that differ.  Programs after a runner crash count as not failing. */
/* Every program also runs under paging, in U- or S-mode, taking turns. */
static int paged_mode(uint64_t index)
{
    static const int modes[] = { QR_U_SV39_4K, QR_U_SV39_1G, QR_S_SV39_2M };
    return modes[index % 3];
}

/* What kind of failure a record shows, so minimising keeps the same bug. */
static uint64_t failure_kind(const DiffRecord *r)
{
    return r->status == DIFF_TRAPPED ? 0x100 | (r->aux & 0xff) : r->status;
}

static int run_both(const Opts *o, QuailRunner *qr, DiffProg *const *progs, unsigned n,
                    bool *fail, uint64_t kind, int mode)
{
    char bpath[300], opath[300];
    snprintf(bpath, sizeof(bpath), "%s/min-batch.bin", tmpdir);
    snprintf(opath, sizeof(opath), "%s/min-qemu.bin", tmpdir);
    FILE *f = fopen(bpath, "wb");
    if (!f)
        return -1;
    for (unsigned i = 0; i < n; i++)
        write_prog(f, progs[i]);
    if (fclose(f))
        return -1;
    DiffRecord *q = calloc(n, sizeof(*q)), *r = malloc(sizeof(*r));
    pid_t pid;
    if (!q || !r || spawn_runner(o, bpath, opath, &pid) < 0) {
        free(q);
        free(r);
        return -1;
    }
    wait_runner(pid);
    uint64_t got = read_records(opath, q, n);
    for (unsigned i = 0; i < n; i++) {
        fail[i] = false;
        if (i >= got)
            continue;
        quailrun_prog(qr, &progs[i]->hdr, progs[i]->code, mode, o->max_insns, r);
        fail[i] = !compare(&q[i], r, false) && failure_kind(r) == kind;
    }
    free(q);
    free(r);
    return 0;
}

/* Delta debugging over the top-level items of a failing program: drops
 * chunks of items while the program still fails.  Leaves the result in
 * drop[] (nitems entries). */
static void minimise(const Opts *o, QuailRunner *qr, uint64_t seed, uint64_t index,
                     uint8_t *drop, unsigned nitems, uint64_t kind, int mode)
{
    enum { MAXC = 64 };
    DiffProg **cand = calloc(MAXC, sizeof(*cand));
    uint8_t (*masks)[256] = calloc(MAXC, 256);
    bool fail[MAXC];
    if (!cand || !masks)
        goto out;
    for (unsigned i = 0; i < MAXC; i++)
        if (!(cand[i] = malloc(sizeof(DiffProg))))
            goto out;
    unsigned chunk = nitems / 2 ? nitems / 2 : 1;
    for (unsigned rounds = 0; rounds < 400; rounds++) {
        unsigned live[256], nlive = 0;
        for (unsigned i = 0; i < nitems; i++)
            if (!drop[i])
                live[nlive++] = i;
        if (!nlive)
            break;
        if (chunk > nlive)
            chunk = nlive;
        unsigned nc = 0;
        for (unsigned s = 0; s < nlive && nc < MAXC; s += chunk, nc++) {
            memcpy(masks[nc], drop, nitems);
            for (unsigned k = s; k < s + chunk && k < nlive; k++)
                masks[nc][live[k]] = 1;
            diff_gen_ex(seed, index, cand[nc], masks[nc], nitems);
        }
        if (run_both(o, qr, cand, nc, fail, kind, mode) < 0)
            break;
        unsigned hit = nc;
        for (unsigned c = 0; c < nc; c++)
            if (fail[c]) {
                hit = c;
                break;
            }
        if (hit < nc) {
            memcpy(drop, masks[hit], nitems);
            continue;
        }
        if (chunk == 1)
            break;
        chunk /= 2;
    }
out:
    if (cand)
        for (unsigned i = 0; i < MAXC; i++)
            free(cand[i]);
    free(cand);
    free(masks);
}

/* Runs one program on QEMU and on quail in mode; prints the differences. */
static void show_diff(const Opts *o, QuailRunner *qr, DiffProg *prog, int mode)
{
    DiffRecord *q = calloc(1, sizeof(*q)), *r = calloc(1, sizeof(*r));
    char bpath[300], opath[300];
    snprintf(bpath, sizeof(bpath), "%s/one.bin", tmpdir);
    snprintf(opath, sizeof(opath), "%s/one-qemu.bin", tmpdir);
    FILE *f = q && r ? fopen(bpath, "wb") : NULL;
    if (f) {
        bool ok = write_prog(f, prog);
        pid_t pid;
        if (fclose(f) == 0 && ok && spawn_runner(o, bpath, opath, &pid) == 0) {
            wait_runner(pid);
            if (read_records(opath, q, 1) == 1) {
                quailrun_prog(qr, &prog->hdr, prog->code, mode, o->max_insns, r);
                compare(q, r, true);
            }
        }
    }
    free(q);
    free(r);
}

/* Reports a mismatch, minimised when asked to. */
static void report(const Opts *o, QuailRunner *qr, uint64_t seed, uint64_t index,
                   const DiffRecord *q, const DiffRecord *r, DiffProg *prog, int mode)
{
    printf("MISMATCH (quail in %s) seed %llu program %llu\n"
           "  reproduce: difftest --runner DIFFRUNNER --seed %llu --first %llu --count 1 "
           "--minimise\n", quailrun_mode_name[mode], (unsigned long long)seed,
           (unsigned long long)index, (unsigned long long)seed, (unsigned long long)index);
    compare(q, r, true);
    uint8_t drop[256] = { 0 };
    unsigned nitems = diff_gen_ex(seed, index, prog, NULL, 0);
    if (o->minimise && nitems <= sizeof(drop)) {
        minimise(o, qr, seed, index, drop, nitems, failure_kind(r), mode);
        DiffProg *cand[1] = { prog };
        bool fail[1] = { false };
        diff_gen_ex(seed, index, prog, drop, nitems);
        if (run_both(o, qr, cand, 1, fail, failure_kind(r), mode) == 0 && fail[0]) {
            printf("  minimised to top-level items");
            for (unsigned i = 0; i < nitems; i++)
                if (!drop[i])
                    printf(" %u", i);
            printf(" of %u:\n", nitems);
            show_diff(o, qr, prog, mode);
        } else {
            diff_gen(seed, index, prog);
        }
    }
    print_prog(o, prog);
}

int main(int argc, char **argv)
{
    Opts o;
    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    const char *tbase = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/quail-difftest-XXXXXX", tbase);
    if (!mkdtemp(tmpdir)) {
        perror("difftest: mkdtemp");
        return 1;
    }
    if (o.keep)
        printf("difftest: keeping batch and records in %s\n", tmpdir);
    else
        atexit(cleanup_tmp);

    DiffProg *prog = malloc(sizeof(*prog));
    DiffRecord *qrec = calloc(o.batch, sizeof(*qrec));
    DiffRecord *qrec2 = o.qemu_twice ? calloc(o.batch, sizeof(*qrec2)) : NULL;
    QuailRunner *qr = NULL;
    DiffRecord *mine = NULL;
    int status = 1;
    if (!prog || !qrec || (o.qemu_twice && !qrec2)) {
        fprintf(stderr, "difftest: out of memory\n");
        goto out;
    }
    if (o.dump) {
        diff_gen(o.seed, o.dump_index, prog);
        printf("program %llu of seed %llu\n", (unsigned long long)o.dump_index,
               (unsigned long long)o.seed);
        print_prog(&o, prog);
        status = 0;
        goto out;
    }
    if (!o.no_quail && !(qr = quailrun_new())) {
        fprintf(stderr, "difftest: %s\n", err_msg());
        goto out;
    }

    char bpath[300], opath[300], opath2[300];
    snprintf(bpath, sizeof(bpath), "%s/batch.bin", tmpdir);
    snprintf(opath, sizeof(opath), "%s/qemu.bin", tmpdir);
    snprintf(opath2, sizeof(opath2), "%s/qemu2.bin", tmpdir);
    uint64_t done = 0, fails = 0, reported = 0;
    for (uint64_t start = o.first; start < o.first + o.count; start += o.batch) {
        uint64_t n = o.first + o.count - start < o.batch ? o.first + o.count - start : o.batch;
        pid_t pid, pid2 = 0;
        if (write_batch(bpath, o.seed, start, n, prog) < 0 ||
            spawn_runner(&o, bpath, opath, &pid) < 0 ||
            (o.qemu_twice && spawn_runner(&o, bpath, opath2, &pid2) < 0)) {
            fprintf(stderr, "difftest: %s\n", err_msg());
            goto out;
        }
        /* quail runs while QEMU works on the same batch */
        if (qr) {
            mine = calloc(2 * n, sizeof(*mine));
            if (!mine) {
                fprintf(stderr, "difftest: out of memory\n");
                wait_runner(pid);
                if (pid2)
                    wait_runner(pid2);
                goto out;
            }
            for (uint64_t i = 0; i < n; i++) {
                diff_gen(o.seed, start + i, prog);
                quailrun_prog(qr, &prog->hdr, prog->code, QR_M_BARE, o.max_insns, &mine[2 * i]);
                quailrun_prog(qr, &prog->hdr, prog->code, paged_mode(start + i), o.max_insns,
                              &mine[2 * i + 1]);
            }
        }
        int rc = wait_runner(pid);
        uint64_t got = read_records(opath, qrec, n);
        if (rc != 0 || got != n) {
            printf("FAIL seed %llu program %llu: the qemu runner stopped (status %d) after %llu "
                   "of %llu programs\n", (unsigned long long)o.seed,
                   (unsigned long long)(start + got), rc, (unsigned long long)got,
                   (unsigned long long)n);
            diff_gen(o.seed, start + got, prog);
            print_prog(&o, prog);
            if (pid2)
                wait_runner(pid2);
            goto out;
        }
        if (o.qemu_twice) {
            int rc2 = wait_runner(pid2);
            uint64_t got2 = read_records(opath2, qrec2, n);
            if (rc2 != 0 || got2 != n || memcmp(qrec, qrec2, n * sizeof(*qrec))) {
                printf("FAIL: two qemu runs of the batch at %llu differ\n",
                       (unsigned long long)start);
                fails++;
            }
        }
        for (uint64_t i = 0; qr && i < n; i++) {
            int bad = -1;
            if (!compare(&qrec[i], &mine[2 * i], false))
                bad = QR_M_BARE;
            else if (!compare(&qrec[i], &mine[2 * i + 1], false))
                bad = paged_mode(start + i);
            if (bad < 0)
                continue;
            fails++;
            if (reported < o.max_report) {
                reported++;
                report(&o, qr, o.seed, start + i, &qrec[i],
                       &mine[2 * i + (bad != QR_M_BARE)], prog, bad);
            }
        }
        free(mine);
        mine = NULL;
        done += n;
    }
    printf("difftest: seed %llu, %llu programs, %llu mismatches%s\n", (unsigned long long)o.seed,
           (unsigned long long)done, (unsigned long long)fails,
           qr ? "" : " (qemu only, quail not run)");
    status = fails ? 1 : 0;
out:
    free(mine);
    quailrun_free(qr);
    free(prog);
    free(qrec);
    free(qrec2);
    return status;
}
