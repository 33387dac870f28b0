/* -blockdev and -drive for `quail run`, and what `drive=` of a device names:
 * a -drive id (its top node) or any node-name. */
#ifndef QUAIL_HW_DRIVE_H
#define QUAIL_HW_DRIVE_H

#include "block/node.h"

/* The node a device's drive= refers to, or NULL. */
BlockNode *drive_lookup(const char *name);
/* The -drive serial= of that drive, if any. */
const char *drive_serial(const char *name);
/* The -drive id whose top node is bs, or NULL (QMP query-block's "device"). */
const char *drive_name_of(const BlockNode *bs);

#endif
