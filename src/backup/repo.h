/* The backup repository: content-addressed, deduplicated, compressed chunks plus
 * one self-contained JSON manifest per backup.  The on-disk format is described
 * in docs/backup-repository.md; this is the API the data path (quail backup run)
 * and the repository subcommands use.
 *
 * All functions follow the error convention (0 or a count, else -errno with a
 * message in err_msg()).  A Repo and its writers/readers are not thread-safe:
 * use each from one thread at a time (a BackupWriter runs worker threads of
 * its own, see "the parallel path").
 */
#ifndef QUAIL_BACKUP_REPO_H
#define QUAIL_BACKUP_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPO_FORMAT_VERSION      2
#define REPO_HASH_LEN            32              /* SHA-256 */
#define REPO_DEFAULT_CHUNK_SIZE  (256u * 1024)
/* Chunk sizes are powers of two in this range, so a chunk always equals a whole
 * number of QEMU dirty-bitmap granules when the granularity is the chunk size. */
#define REPO_MIN_CHUNK_SIZE      (64u * 1024)
#define REPO_MAX_CHUNK_SIZE      (16u * 1024 * 1024)
#define REPO_ID_MAX              64              /* backup ids, with the NUL */

typedef struct Repo Repo;
typedef struct BackupWriter BackupWriter;
typedef struct DiskWriter DiskWriter;
typedef struct DiskReader DiskReader;

typedef enum RepoMode {
    REPO_READ,      /* shared: no lock taken */
    REPO_WRITE,     /* exclusive: takes the repository lock, fails with -EBUSY if held */
} RepoMode;

/* ---- opening -------------------------------------------------------------
 * url: a local directory path, or ssh://user@host[:port]/path (SFTP).  Over SSH,
 * authentication uses ssh-agent or the default keys; the host key must be in
 * known_hosts unless repo_ssh_accept_new_hosts(true) was called (or the
 * environment has QUAIL_SSH_ACCEPT_NEW=1), in which case an unknown host is
 * added (a *changed* host key is always refused).  QUAIL_SSH_DIR overrides the
 * directory holding the keys and known_hosts (default ~/.ssh). */

/* Creates a new empty repository.  chunk_size 0 picks REPO_DEFAULT_CHUNK_SIZE;
 * otherwise a power of two in [REPO_MIN_CHUNK_SIZE, REPO_MAX_CHUNK_SIZE].
 * Fails with -EEXIST if url already holds a repository. */
int repo_init(const char *url, uint32_t chunk_size);
int repo_open(const char *url, RepoMode mode, Repo **out);
void repo_close(Repo *repo);      /* releases the lock; NULL is fine */
/* Test hook: called between the steps of gc, so the kill-point tests can
 * SIGKILL the process inside it. */
void repo_set_step_hook(Repo *repo, void (*hook)(void));

void repo_ssh_accept_new_hosts(bool accept);

uint32_t repo_chunk_size(const Repo *repo);
/* Piece size of the repository's chunk names (chunk_name() in chunk.h). */
uint32_t repo_hash_piece(const Repo *repo);
const char *repo_uuid(const Repo *repo);          /* 36-char text UUID */
/* Name of the persistent QEMU dirty bitmap that tracks changes since this
 * repository's last backup: "quail-backup-<repo uuid>".  Tying it to the
 * repository means two repositories never share (and so never corrupt) a bitmap. */
const char *repo_bitmap_name(const Repo *repo);

/* ---- manifests (what a backup is) ---------------------------------------- */

typedef enum BackupType { BACKUP_FULL, BACKUP_INCREMENTAL } BackupType;

typedef struct ChunkEntry {
    uint8_t hash[REPO_HASH_LEN];
    bool zero;                    /* all-zero chunk: hash unused, nothing stored */
} ChunkEntry;

/* One disk of a backup.  Chunk i covers [i*chunk_size, min(size, (i+1)*chunk_size)). */
typedef struct DiskIndex {
    char *name;                   /* QEMU node / device name */
    uint64_t size;                /* bytes */
    char *bitmap;                 /* dirty bitmap used, or NULL */
    uint32_t chunk_size;
    uint64_t nchunks;             /* ceil(size / chunk_size) */
    ChunkEntry *chunks;           /* nchunks entries */
} DiskIndex;

typedef struct Manifest {
    int version;                  /* manifest format version */
    char id[REPO_ID_MAX];
    char *vm_name;
    char *vm_uuid;                /* may be NULL */
    int64_t time;                 /* unix seconds (UTC) */
    BackupType type;
    char *parent;                 /* parent backup id, NULL for full backups */
    uint32_t chunk_size;
    size_t ndisks;
    DiskIndex *disks;
} Manifest;

/* Loads and validates backups/<id>.json.  A damaged manifest fails with
 * -EBADMSG and a message naming it; a newer manifest version with -EPROTO. */
int repo_load_manifest(Repo *repo, const char *id, Manifest **out);
void manifest_free(Manifest *m);
/* The disk named name, or NULL. */
const DiskIndex *manifest_disk(const Manifest *m, const char *name);

/* Summary of a backup, as listed. */
typedef struct BackupInfo {
    char id[REPO_ID_MAX];
    char vm_name[128];
    int64_t time;
    BackupType type;
    char parent[REPO_ID_MAX];     /* "" for full */
} BackupInfo;

/* All backups, oldest first (by time, then id).  *out is malloc'd (free() it);
 * returns the count.  Unreadable manifests are reported and make it fail. */
int repo_list_backups(Repo *repo, BackupInfo **out);
/* Id of the newest backup of vm_name (any type) into id_out; -ENOENT if none. */
int repo_latest_backup(Repo *repo, const char *vm_name, char id_out[REPO_ID_MAX]);

/* ---- writing a backup (needs REPO_WRITE) ----------------------------------
 *   repo_backup_begin -> backup_disk_begin (per disk) -> disk_put_chunk /
 *   disk_mark_zero ... -> backup_commit (or backup_abort).
 * Chunks reach the repository as they are put (on a local repository under a
 * temporary name, unsynced, until commit); the manifest is written last,
 * atomically, so a backup exists only once backup_commit() returned 0.  An
 * aborted backup removes what it staged; a killed one leaves temporary files
 * for `quail backup gc`. */

typedef struct BackupMeta {
    const char *vm_name;          /* required */
    const char *vm_uuid;          /* optional */
    int64_t time;                 /* unix seconds; 0 means now */
    BackupType type;
    const char *parent_id;        /* required for BACKUP_INCREMENTAL, else NULL */
} BackupMeta;

int repo_backup_begin(Repo *repo, const BackupMeta *meta, BackupWriter **out);
/* The new backup's id (valid until commit/abort frees the writer). */
const char *backup_writer_id(const BackupWriter *w);

/* parent: the same disk's index in the parent backup (manifest_disk() of the
 * loaded parent manifest), or NULL.  Chunks never put keep the parent's entry
 * (so an incremental only puts dirty chunks); without a parent, or beyond the
 * parent's size, they are zero.  The DiskWriter belongs to w. */
int backup_disk_begin(BackupWriter *w, const char *disk_name, uint64_t size,
                      const char *bitmap_name, const DiskIndex *parent,
                      DiskWriter **out);
/* offset must be chunk aligned; len is chunk_size, or less only for the disk's
 * last chunk.  An all-zero chunk stores nothing and is recorded as zero;
 * otherwise the chunk is hashed and written unless the repository has it. */
int disk_put_chunk(DiskWriter *dw, uint64_t offset, const void *data, size_t len);
/* Records [offset, offset+len) as zeroes; offset and len chunk aligned (len may
 * end at the disk's end instead). */
int disk_mark_zero(DiskWriter *dw, uint64_t offset, uint64_t len);

/* ---- the parallel path (quail backup run) ---------------------------------
 * Worker threads hash, compress and store chunks while the caller keeps reading.
 * The caller borrows a buffer, fills it (e.g. an NBD read straight into it) and
 * hands it back with disk_put_buffer(); the workers return it to the pool.  The
 * pool (started by the first disk_get_buffer()) holds a fixed number of
 * buffers, so memory stays bounded; the manifest is the same whatever order the
 * chunks finish in.  These functions are for the writer's owning thread. */

/* Number of worker threads; 0 (the default) is the number of online CPUs.
 * Only before the first disk_get_buffer(). */
void backup_writer_set_jobs(BackupWriter *w, unsigned jobs);
/* Size at which a pack is written out (0: the default, 16 MiB); tests use
 * small packs to get many.  Only before the first chunk is put. */
void backup_writer_set_pack_size(BackupWriter *w, size_t bytes);
/* A free buffer of at least size bytes (the first call fixes the size).  With
 * wait false, -EAGAIN when none is free; a worker's failure is returned here. */
int disk_get_buffer(DiskWriter *dw, size_t size, bool wait, void **out);
/* Hands buf, holding [offset, offset+len) of the disk (chunk aligned, as for
 * disk_mark_zero()), to the workers.  Takes buf back even on failure. */
int disk_put_buffer(DiskWriter *dw, uint64_t offset, void *buf, size_t len);
/* Returns an unused buffer to the pool. */
void disk_release_buffer(DiskWriter *dw, void *buf);
/* Waits until every chunk handed over so far is stored; the first failure. */
int disk_writer_drain(DiskWriter *dw);

/* Makes the new chunks durable and visible (see "Durability" in
 * docs/backup-repository.md), then writes the manifest (temp file, fsync,
 * rename, fsync dir) and frees w.  On failure w is freed too and no backup
 * exists. */
int backup_commit(BackupWriter *w);
/* Test hook: called between the durability steps of backup_commit(), so the
 * kill-point tests can SIGKILL the process inside it. */
void backup_writer_set_step_hook(BackupWriter *w, void (*hook)(void));
void backup_abort(BackupWriter *w);

/* Statistics of a writer so far (for progress output). */
typedef struct BackupStats {
    uint64_t chunks_put;          /* disk_put_chunk calls */
    uint64_t chunks_zero;         /* of those, all-zero */
    uint64_t chunks_new;          /* actually stored (not deduplicated) */
    uint64_t bytes_in;            /* data passed to disk_put_chunk */
    uint64_t bytes_stored;        /* compressed bytes written */
} BackupStats;
void backup_writer_stats(const BackupWriter *w, BackupStats *out);

/* ---- reading ------------------------------------------------------------- */

/* Reads, decompresses and verifies one chunk into buf (buflen >= its length);
 * returns the uncompressed length.  Damage fails with -EBADMSG naming the chunk. */
int repo_read_chunk(Repo *repo, const uint8_t hash[REPO_HASH_LEN], void *buf, size_t buflen);
bool repo_has_chunk(Repo *repo, const uint8_t hash[REPO_HASH_LEN]);

/* Random access to one disk of a backup (zero chunks read as zeroes).  The
 * reader keeps a reference to disk; keep the manifest alive while it is open. */
int disk_reader_open(Repo *repo, const DiskIndex *disk, DiskReader **out);
int disk_reader_pread(DiskReader *r, void *buf, size_t len, uint64_t offset);
void disk_reader_close(DiskReader *r);

/* Hex helpers (hex needs 2*REPO_HASH_LEN+1 bytes). */
void repo_hash_to_hex(const uint8_t hash[REPO_HASH_LEN], char *hex);
int repo_hash_from_hex(const char *hex, uint8_t hash[REPO_HASH_LEN]);

#endif
