/* Progress of a backup run: a bar with rate and ETA when stderr is a terminal,
 * JSON lines on stdout with --json, nothing otherwise (cron, systemd). */
#ifndef QUAIL_BACKUP_PROGRESS_H
#define QUAIL_BACKUP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Progress {
    bool tty, json;
    uint64_t total, base, done;   /* base: bytes of disks already finished */
    int64_t start_ms, last_ms;
    const char *disk;
} Progress;

void progress_init(Progress *p, bool json, uint64_t total);
void progress_disk(Progress *p, const char *disk);
/* bytes: read so far on the current disk. */
void progress_update(Progress *p, uint64_t bytes);
void progress_disk_done(Progress *p, uint64_t bytes);
void progress_finish(Progress *p);

#endif
