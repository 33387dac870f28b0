/* quail backup prune and gc (the collection itself is gc.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/cmd_common.h"
#include "backup/commands.h"
#include "backup/prune.h"
#include "backup/repo_internal.h"
#include "util/error.h"

typedef struct Ref { const BackupInfo *b; size_t idx; } Ref;

static int ref_newest_first(const void *x, const void *y)
{
    const Ref *a = x, *b = y;
    int c = strcmp(a->b->vm_name, b->b->vm_name);
    if (c)
        return c;
    if (a->b->time != b->b->time)
        return a->b->time > b->b->time ? -1 : 1;
    return strcmp(b->b->id, a->b->id);
}

static void bucket(int64_t t, int rule, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(buf, len, "?%lld", (long long)t);
        return;
    }
    const char *fmt = rule == PRUNE_BY_DAILY ? "%Y-%m-%d" : rule == PRUNE_BY_WEEKLY ? "%G-W%V" : "%Y-%m";
    strftime(buf, len, fmt, &tm);
}

int prune_plan(const BackupInfo *info, size_t n, const PrunePolicy *p, unsigned *keep)
{
    Ref *refs = calloc(n ? n : 1, sizeof(*refs));
    if (!refs)
        return err_set(ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        refs[i].b = &info[i];
        refs[i].idx = i;
        keep[i] = 0;
    }
    qsort(refs, n, sizeof(*refs), ref_newest_first);
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && !strcmp(refs[end].b->vm_name, refs[start].b->vm_name))
            end++;
        for (size_t i = start; i < end && i - start < p->keep_last; i++)
            keep[refs[i].idx] |= PRUNE_BY_LAST;
        const struct { int rule; unsigned count; } rules[] = {
            { PRUNE_BY_DAILY, p->keep_daily }, { PRUNE_BY_WEEKLY, p->keep_weekly },
            { PRUNE_BY_MONTHLY, p->keep_monthly },
        };
        for (size_t r = 0; r < 3; r++) {
            char last[32] = "", cur[32];
            unsigned kept = 0;
            for (size_t i = start; i < end && kept < rules[r].count; i++) {
                bucket(refs[i].b->time, rules[r].rule, cur, sizeof(cur));
                if (!strcmp(cur, last))
                    continue;       /* an older backup of a bucket already kept */
                strcpy(last, cur);
                keep[refs[i].idx] |= rules[r].rule;
                kept++;
            }
        }
        start = end;
    }
    free(refs);
    return 0;
}

/* Test hook: QUAIL_BACKUP_KILLPOINT=N kills gc (also prune's) at its Nth
 * step, so the tests can prove an interruption leaves a usable repository. */
static void gc_killpoint(void)
{
    static int count, at = -1;
    if (at < 0) {
        const char *e = getenv("QUAIL_BACKUP_KILLPOINT");
        at = e ? atoi(e) : 0;
    }
    if (at > 0 && ++count == at)
        raise(SIGKILL);
}

static int run_gc(Repo *r, bool dry_run)
{
    GcStats st = { 0 };
    repo_set_step_hook(r, gc_killpoint);
    if (repo_gc_ex(r, dry_run, &st) < 0)
        return cmd_fail("gc");
    printf("gc: %s %llu unreferenced chunk(s), %llu chunk(s) in use\n",
           dry_run ? "would remove" : "removed", (unsigned long long)st.chunks_removed,
           (unsigned long long)st.chunks_kept);
    printf("gc: %s %llu pack(s), %s %llu partly used pack(s), %llu leftover file(s)\n",
           dry_run ? "would remove" : "removed", (unsigned long long)st.packs_removed,
           dry_run ? "would rewrite" : "rewrote", (unsigned long long)st.packs_rewritten,
           (unsigned long long)st.leftovers);
    return 0;
}

int backup_cmd_gc(int argc, char **argv)
{
    const char *dry = NULL;
    const CmdOpt opts[] = { { "dry-run", false, &dry }, { NULL, false, NULL } };
    CmdArgs a;
    if (cmd_parse(argc, argv, opts, "gc REPO [--dry-run]", &a))
        return 2;
    Repo *r;
    if (repo_open(a.repo, dry ? REPO_READ : REPO_WRITE, &r) < 0)
        return cmd_fail("gc");
    /* A dry run only lists, so it need not lock; repo_gc insists on a write
     * handle, which a read-only handle pretends to be for counting. */
    RepoMode mode = r->mode;
    r->mode = REPO_WRITE;
    int ret = run_gc(r, dry != NULL);
    r->mode = mode;
    repo_close(r);
    return ret;
}

static int parse_count(const char *s, unsigned *out)
{
    uint64_t v;
    if (!s)
        return 0;
    if (cmd_parse_size(s, &v) < 0 || v > 1000000)
        return -1;
    *out = (unsigned)v;
    return 1;
}

int backup_cmd_prune(int argc, char **argv)
{
    const char *last = NULL, *daily = NULL, *weekly = NULL, *monthly = NULL, *dry = NULL;
    const CmdOpt opts[] = {
        { "keep-last", true, &last }, { "keep-daily", true, &daily },
        { "keep-weekly", true, &weekly }, { "keep-monthly", true, &monthly },
        { "dry-run", false, &dry }, { NULL, false, NULL },
    };
    const char *usage = "prune REPO [--keep-last N] [--keep-daily N] [--keep-weekly N] "
                        "[--keep-monthly N] [--dry-run]";
    CmdArgs a;
    if (cmd_parse(argc, argv, opts, usage, &a))
        return 2;
    PrunePolicy p = { 0 };
    int a1 = parse_count(last, &p.keep_last), a2 = parse_count(daily, &p.keep_daily);
    int a3 = parse_count(weekly, &p.keep_weekly), a4 = parse_count(monthly, &p.keep_monthly);
    if (a1 < 0 || a2 < 0 || a3 < 0 || a4 < 0 || a.npos) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    if (!p.keep_last && !p.keep_daily && !p.keep_weekly && !p.keep_monthly) {
        fprintf(stderr, "quail backup prune: no --keep-* rule keeps anything; refusing to "
                "remove every backup\n");
        return 2;
    }
    Repo *r;
    if (repo_open(a.repo, dry ? REPO_READ : REPO_WRITE, &r) < 0)
        return cmd_fail("prune");
    BackupInfo *info = NULL;
    unsigned *keep = NULL;
    int status = 0;
    int n = repo_list_backups(r, &info);
    if (n < 0 || !(keep = calloc(n ? n : 1, sizeof(*keep))) || prune_plan(info, n, &p, keep) < 0) {
        status = cmd_fail("prune");
        goto out;
    }
    int removed = 0, doomed = 0;
    for (int i = 0; i < n; i++) {
        char t[40], why[64] = "";
        cmd_format_time(info[i].time, t, sizeof(t));
        if (keep[i])
            snprintf(why, sizeof(why), "  (%s%s%s%s)", keep[i] & PRUNE_BY_LAST ? "last " : "",
                     keep[i] & PRUNE_BY_DAILY ? "daily " : "",
                     keep[i] & PRUNE_BY_WEEKLY ? "weekly " : "",
                     keep[i] & PRUNE_BY_MONTHLY ? "monthly " : "");
        char *sp = strstr(why, " )");
        if (sp)
            memmove(sp, sp + 1, strlen(sp));
        printf("%-6s %s  %s  %s%s\n", keep[i] ? "keep" : "remove", info[i].id, t,
               info[i].vm_name, why);
        if (keep[i])
            continue;
        doomed++;
        if (dry)
            continue;
        char path[REPO_ID_MAX + 16];
        snprintf(path, sizeof(path), "backups/%s.json", info[i].id);
        if (r->store->ops->remove(r->store, path) < 0) {
            status = cmd_fail("prune");
            goto out;
        }
        removed++;
    }
    printf("prune: %s %d of %d backup(s)\n", dry ? "would remove" : "removed",
           dry ? doomed : removed, n);
    if (!dry)
        status = run_gc(r, false);
out:
    free(keep);
    free(info);
    repo_close(r);
    return status;
}
