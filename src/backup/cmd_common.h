/* Argument handling shared by the repository subcommands. */
#ifndef QUAIL_BACKUP_CMD_COMMON_H
#define QUAIL_BACKUP_CMD_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "backup/repo.h"

#define CMD_MAX_POS 4

typedef struct CmdOpt {
    const char *name;           /* long name without "--" */
    bool has_arg;
    const char **value;         /* set to the argument, or to "1" for flags */
} CmdOpt;

typedef struct CmdArgs {
    const char *repo;
    const char *pos[CMD_MAX_POS];
    int npos;
} CmdArgs;

/* Parses argv[1..]: "--repo URL"/"-r URL", "--accept-new-host", the options in
 * opts (NULL-name terminated), "--name=value" too, and positionals; takes REPO
 * from --repo, $QUAIL_BACKUP_REPO or the first positional.  Returns 0, or 2
 * after printing the usage. */
int cmd_parse(int argc, char **argv, const CmdOpt *opts, const char *usage, CmdArgs *a);
/* Parses an unsigned number with an optional K/M/G suffix (powers of 1024). */
int cmd_parse_size(const char *s, uint64_t *out);
/* Prints "quail backup NAME: <err_msg()>" and returns 1. */
int cmd_fail(const char *name);
void cmd_format_time(int64_t t, char *buf, unsigned len);

#endif
