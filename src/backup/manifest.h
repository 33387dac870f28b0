/* Backup manifests <-> JSON (format in docs/backup-repository.md). */
#ifndef QUAIL_BACKUP_MANIFEST_H
#define QUAIL_BACKUP_MANIFEST_H

#include <stddef.h>

#include "backup/repo.h"

#define MANIFEST_VERSION 1
/* Manifests larger than this are refused before parsing. */
#define MANIFEST_MAX_BYTES (1024u * 1024 * 1024)

/* Serializes m into a malloc'd NUL-terminated string. */
int manifest_to_json(const Manifest *m, char **out, size_t *len);
/* Parses and validates; name (the file name) is used in messages, and when
 * expect_id is non-NULL the manifest's id must equal it. */
int manifest_from_json(const char *text, size_t len, const char *name,
                       const char *expect_id, Manifest **out);
/* Backup ids are [A-Za-z0-9._-]{1,63}, not starting with '.', so an id is a
 * safe file name. */
bool manifest_id_valid(const char *id);
const char *backup_type_name(BackupType t);

#endif
