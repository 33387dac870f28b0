/* Blockdev option strings shared by -blockdev, -drive and QMP blockdev-add.
 *
 * Both QEMU forms become one json-c object tree:
 *   dotted:  driver=qcow2,node-name=disk0,file.driver=file,file.filename=X
 *            (",," is a literal comma; "file=nodename" references a node;
 *             objects whose keys are 0,1,2... become arrays)
 *   JSON:    {"driver":"qcow2","file":{"driver":"file","filename":"X"}}
 * Values from the dotted form stay strings; the bopt_* readers accept either
 * strings or typed JSON, as QEMU's keyval visitor does.
 */
#ifndef QUAIL_BLOCK_BLOCKDEV_OPTS_H
#define QUAIL_BLOCK_BLOCKDEV_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

/* Parses either form (JSON when the string starts with '{'). */
int blockdev_opts_parse(const char *str, json_object **out);
/* Dotted key=value form only; implied_key names a leading value without '='. */
int keyval_parse(const char *str, const char *implied_key, json_object **out);

/* -drive shorthand (file=X,format=qcow2,if=none,id=ID,readonly=on,...).
 * *node gets blockdev options for the node tree; *drive gets the
 * drive-level options (id, if, index, media, serial, ...), strings. */
int blockdev_drive_parse(const char *str, json_object **node, json_object **drive);

/* Readers: 0 when present and valid, 1 when absent (default stored), <0 bad. */
const char *bopt_str(json_object *o, const char *key);
int bopt_u64(json_object *o, const char *key, uint64_t def, uint64_t *v);
int bopt_size(json_object *o, const char *key, uint64_t def, uint64_t *v);
int bopt_bool(json_object *o, const char *key, bool def, bool *v);

/* "1G", "512K", "10M", "4096", "1.5G": K/M/G/T/P/E binary suffixes, b/B = 1. */
int parse_size(const char *s, uint64_t *out);

#endif
