/* Reading a frozen disk from QEMU's NBD export into the repository: scan which
 * chunks matter (allocated ones for a full backup, dirty ones for an
 * incremental) with large batched block-status queries, then read just those
 * with a few pipelined requests and hand each chunk to the repository. */
#ifndef QUAIL_BACKUP_NBD_PULL_H
#define QUAIL_BACKUP_NBD_PULL_H

#include <signal.h>
#include <stdint.h>

#include "backup/repo.h"

typedef struct NbdPull NbdPull;

typedef struct PullStats {
    uint64_t bytes_planned;   /* what the scan says must be read */
    uint64_t bytes_read;      /* read over NBD so far */
    uint64_t chunks_read;
    uint64_t chunks_zero;     /* dirty chunks found zero without reading */
    uint64_t status_requests; /* block-status round trips */
} PullStats;

/* Connects to export_name on the unix socket and scans.  bitmap NULL: full
 * (every chunk not known to be zero is read); else only chunks the exported
 * bitmap "qemu:dirty-bitmap:<bitmap>" marks dirty. */
int nbd_pull_open(const char *socket, const char *export_name, const char *bitmap,
                  uint32_t chunk_size, NbdPull **out);
uint64_t nbd_pull_size(const NbdPull *p);

typedef void (*PullProgress)(void *opaque, uint64_t bytes_read);

/* Reads the planned chunks into dw.  Stops with -EINTR once *stop is set. */
int nbd_pull_run(NbdPull *p, DiskWriter *dw, PullProgress progress, void *opaque,
                 volatile sig_atomic_t *stop);
void nbd_pull_stats(const NbdPull *p, PullStats *out);
void nbd_pull_close(NbdPull *p);

#endif
