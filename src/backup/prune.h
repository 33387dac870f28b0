/* Retention: which backups prune keeps. */
#ifndef QUAIL_BACKUP_PRUNE_H
#define QUAIL_BACKUP_PRUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "backup/repo.h"

typedef struct PrunePolicy {
    unsigned keep_last, keep_daily, keep_weekly, keep_monthly;
} PrunePolicy;

enum { PRUNE_BY_LAST = 1, PRUNE_BY_DAILY = 2, PRUNE_BY_WEEKLY = 4, PRUNE_BY_MONTHLY = 8 };

/* For each backup, the rules that keep it (0: remove).  Rules apply per VM:
 * keep-last N keeps its N newest; keep-daily N keeps the newest backup of each
 * of the N newest UTC days that have one; weekly (ISO weeks) and monthly alike.
 * A backup kept by any rule survives.  info need not be sorted. */
int prune_plan(const BackupInfo *info, size_t n, const PrunePolicy *p, unsigned *keep);

/* Removes chunks no manifest references (and leftovers of interrupted writes):
 * packs without a chunk in use go, partly used packs are rewritten.
 * Needs the repository open for writing.  Refuses if any manifest cannot be read,
 * since its chunks would be lost. */
int repo_gc(Repo *repo, bool dry_run, uint64_t *removed, uint64_t *kept);

typedef struct GcStats {
    uint64_t chunks_removed, chunks_kept;
    uint64_t packs_removed;       /* no chunk in use, or nothing indexes them */
    uint64_t packs_rewritten;     /* partly used: their live chunks moved to new packs */
    uint64_t leftovers;           /* temporary files of interrupted writes */
} GcStats;
int repo_gc_ex(Repo *repo, bool dry_run, GcStats *out);

#endif
