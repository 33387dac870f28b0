/* Repository internals shared by repo*.c and the subcommands. */
#ifndef QUAIL_BACKUP_REPO_INTERNAL_H
#define QUAIL_BACKUP_REPO_INTERNAL_H

#include "backup/repo.h"
#include "backup/pack.h"
#include "backup/store.h"

#define REPO_CONFIG_MAX (64 * 1024)

struct Repo {
    Store *store;
    RepoMode mode;
    uint32_t chunk_size;
    uint32_t hash_piece;          /* chunk names: chunk_name() piece size */
    int version;
    char uuid[37];
    char bitmap[64];
    int64_t lock_refreshed;
    ChunkIndex index;             /* loaded by repo_index() on first use */
    bool index_loaded;
    void (*step_hook)(void);      /* tests: between the steps of gc */
};

/* The repository's chunk index, read on first use (and kept up to date by a
 * committed backup). */
int repo_index(Repo *repo, ChunkIndex **out);

/* Keeps a held remote lock fresh during long operations (cheap to call often). */
void repo_touch_lock(Repo *repo);

/* The SSH new-host policy set by repo_ssh_accept_new_hosts() or the environment. */
bool repo_ssh_accepts_new_hosts(void);
/* Ids of all manifests in backups/ (unsorted, unvalidated content); malloc'd. */
int repo_list_backup_ids(Repo *repo, char (**ids)[REPO_ID_MAX]);

/* Like repo_list_backups(), but skips manifests that cannot be read and counts
 * them in *damaged (when damaged is non-NULL). */
int repo_list_backups_ex(Repo *repo, BackupInfo **out, int *damaged);

#endif
