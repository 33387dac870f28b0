/* Entry points of the repository-side `quail backup` subcommands, called by the
 * dispatcher in cli.c.  argv[0] is the subcommand name ("init", "list", ...),
 * the rest its arguments; each returns the process exit status (0 ok, 1 error,
 * 2 usage error; verify returns 3 when it found damage).
 *
 * REPO is given as `--repo URL` (or -r URL), else $QUAIL_BACKUP_REPO, else as
 * the first positional argument (as written below). */
#ifndef QUAIL_BACKUP_COMMANDS_H
#define QUAIL_BACKUP_COMMANDS_H

int backup_cmd_init(int argc, char **argv);     /* init REPO [--chunk-size N] */
int backup_cmd_list(int argc, char **argv);     /* list REPO [--json] */
int backup_cmd_show(int argc, char **argv);     /* show REPO ID [--json] */
int backup_cmd_verify(int argc, char **argv);   /* verify REPO [ID] */
int backup_cmd_restore(int argc, char **argv);  /* restore REPO ID --disk NODE --to FILE [--format raw|qcow2] */
int backup_cmd_prune(int argc, char **argv);    /* prune REPO --keep-last N --keep-daily N --keep-weekly N [--dry-run] */
int backup_cmd_gc(int argc, char **argv);       /* gc REPO [--dry-run] */
int backup_cmd_stats(int argc, char **argv);    /* stats REPO [--json] */
int backup_cmd_serve(int argc, char **argv);    /* serve REPO ID --disk NODE [--socket PATH | --port N] */

/* One line per command for the dispatcher's usage text. */
typedef struct BackupCommand {
    const char *name;
    const char *usage;
    int (*main)(int argc, char **argv);
} BackupCommand;

/* The commands above, ending with a {NULL} entry. */
extern const BackupCommand backup_repo_commands[];

#endif
