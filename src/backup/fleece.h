/* The QEMU side of a backup: finding the disks, reconciling our dirty
 * bitmaps, freezing a point in time (fleecing) and exporting it over NBD, and
 * removing every trace again, including what a killed earlier run left.
 *
 * Everything we create in QEMU is named with a prefix derived from the
 * repository UUID ("qbk-<16 hex>-..." for nodes, jobs and exports, which QEMU
 * limits to 31 characters; "quail-backup-<uuid>-<backup id>" for bitmaps), so
 * two repositories never touch each other's objects and leftovers are
 * recognisable.
 */
#ifndef QUAIL_BACKUP_FLEECE_H
#define QUAIL_BACKUP_FLEECE_H

#include <stdbool.h>
#include <stdint.h>

#include "backup/qmp_client.h"

typedef struct VmBitmap {
    char *name;
    bool recording, busy, persistent, inconsistent;
    uint64_t granularity;
} VmBitmap;

typedef struct VmDisk {
    char *name;          /* identity in the repository: device, qdev id or node */
    char *device;        /* BlockBackend name ("" for -blockdev) */
    char *qdev;          /* short qdev id or "" */
    char *node;          /* format node: bitmaps live here, fleecing source */
    char *drv;           /* format driver of node */
    uint64_t size;
    bool ro;
    bool can_persist;    /* format can store persistent bitmaps (qcow2) */
    int nbitmaps;
    VmBitmap *bitmaps;
} VmDisk;

typedef struct VmInfo {
    char *name;          /* -name, or NULL */
    char *uuid;          /* -uuid, or NULL when all zero */
    int ndisks;
    VmDisk *disks;
} VmInfo;

/* Names derived from the repository UUID. */
typedef struct FleeceNames {
    char prefix[32];         /* "qbk-<16 hex>" */
    char bitmap_prefix[96];  /* "quail-backup-<uuid>-" */
    char scratch_dir[512];
    char nbd_socket[600];
} FleeceNames;

int fleece_names_init(FleeceNames *n, const char *repo_uuid, const char *scratch_dir);

/* query-name/-uuid/-block/-named-block-nodes.  Disks without a medium are left
 * out; read-only ones are kept but flagged. */
int vm_query(QmpClient *c, VmInfo *out);
void vm_info_free(VmInfo *vm);
/* The disk matching name as device, node or qdev id, or NULL. */
VmDisk *vm_find_disk(VmInfo *vm, const char *name);
const VmBitmap *vm_disk_bitmap(const VmDisk *d, const char *name);

/* Removes our exports, jobs, nodes, NBD server and scratch files left by a run
 * that died.  Returns the number of objects removed. */
int fleece_cleanup_leftovers(QmpClient *c, const FleeceNames *n);

/* One disk being fleeced. */
typedef struct FleeceDisk {
    VmDisk *disk;
    int index;
    char scratch_file[700];
    char file_node[48], scratch_node[48], job[48], filter[48], export_name[48];
    bool file_created, file_added, scratch_added, job_started, exported;
} FleeceDisk;

/* Creates disk's qcow2 scratch overlay (backing = the disk's node) in QEMU. */
int fleece_prepare(QmpClient *c, const FleeceNames *n, FleeceDisk *f);
/* Appends this disk's blockdev-backup sync=none action to a transaction. */
void fleece_add_action(json_object *actions, FleeceDisk *f);
int fleece_nbd_start(QmpClient *c, const FleeceNames *n);
/* Exports the frozen view; bitmap (may be NULL) is exported alongside. */
int fleece_export(QmpClient *c, FleeceDisk *f, const char *bitmap);
/* Tears down what fleece_prepare/_export/the transaction created; keeps going
 * past errors, returns the first. */
int fleece_teardown(QmpClient *c, FleeceDisk *f);
int fleece_nbd_stop(QmpClient *c, const FleeceNames *n);

/* Bitmap helpers (transaction actions and direct commands). */
json_object *bitmap_action(const char *type, const char *node, const char *name,
                           bool persistent, uint64_t granularity);
int bitmap_remove(QmpClient *c, const char *node, const char *name);
/* Merges sources into target, then enables target. */
int bitmap_merge_enable(QmpClient *c, const char *node, const char *target,
                        const char *const *sources, int nsources);

#endif
