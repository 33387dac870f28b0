/* Throttle groups (QEMU's throttle-group object and leaky buckets) shared by
 * throttle filter nodes (filter_throttle.c). */
#ifndef QUAIL_BLOCK_THROTTLE_H
#define QUAIL_BLOCK_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

enum { THR_BPS_TOTAL, THR_BPS_READ, THR_BPS_WRITE, THR_OPS_TOTAL, THR_OPS_READ,
       THR_OPS_WRITE, THR_BUCKETS };

typedef struct ThrottleLimits {
    double avg[THR_BUCKETS], max[THR_BUCKETS];
    uint64_t burst_length[THR_BUCKETS];     /* seconds, >= 1 */
    uint64_t iops_size;
} ThrottleLimits;

typedef struct ThrottleGroup ThrottleGroup;

/* Parses QEMU's properties: flat x-bps-total, x-iops-read-max,
 * x-bps-write-max-length, x-iops-size ... (strings or numbers) or a nested
 * "limits" object with the same names without "x-".  QEMU's checks. */
int throttle_limits_parse(json_object *props, ThrottleLimits *out);
int throttle_limits_check(const ThrottleLimits *l);

int throttle_group_create(const char *id, const ThrottleLimits *l);
ThrottleGroup *throttle_group_get(const char *id);     /* takes a reference */
void throttle_group_put(ThrottleGroup *g);
/* object-del: fails while nodes use it. */
int throttle_group_delete(const char *id);
void throttle_group_set_limits(ThrottleGroup *g, const ThrottleLimits *l);
void throttle_group_limits(ThrottleGroup *g, ThrottleLimits *out);
/* Blocks until the group's budget allows the request, then accounts it. */
void throttle_group_wait(ThrottleGroup *g, bool write, uint64_t bytes);
/* Asynchronous form: grant(opaque) runs (possibly on this thread, before
 * this returns) once the request may start.  0 or -errno. */
int throttle_group_submit(ThrottleGroup *g, bool write, uint64_t bytes,
                          void (*grant)(void *opaque), void *opaque);
/* Creates a private group named id (block_set_io_throttle) or updates it. */
int throttle_group_ensure(const char *id, const ThrottleLimits *l);

/* The limits of a throttle node's group (false if bs is no throttle node). */
#include "block/node.h"
bool throttle_node_limits(BlockNode *bs, ThrottleLimits *out);

#endif
