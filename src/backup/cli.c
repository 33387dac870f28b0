/* `quail backup SUBCOMMAND`: dispatches to the data path (run) and to the
 * repository commands (commands.h). */
#include <stdio.h>
#include <string.h>

#include "backup/commands.h"
#include "backup/run.h"
#include "util/subcommand.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: quail backup COMMAND [ARGS...]\n"
        "Full and incremental backups of running QEMU VMs over QMP and NBD.\n\n"
        "  run --qmp SOCKET [--disk NODE]... [--full] [--guest-agent SOCKET] [--json] REPO\n"
        "        back up a running VM (incremental when possible, says why not)\n"
        "  qmp SOCKET COMMAND [JSON-ARGS] | qmp SOCKET --hmp LINE\n"
        "        send one QMP command (for scripts and tests)\n");
    for (const BackupCommand *c = backup_repo_commands; c->name; c++)
        fprintf(f, "  %s\n", c->usage);
    fprintf(f, "\n`quail backup COMMAND --help` shows a command's options; "
               "see quail-backup(1) and docs/backup.md.\n");
}

static int backup_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return backup_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "qmp"))
        return backup_cmd_qmp(argc - 1, argv + 1);
    for (const BackupCommand *c = backup_repo_commands; c->name; c++)
        if (!strcmp(cmd, c->name))
            return c->main(argc - 1, argv + 1);
    fprintf(stderr, "quail backup: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

static const Subcommand backup_subcommand = {
    "backup", "full and incremental backups of running VMs", backup_main,
};
SUBCOMMAND_REGISTER(backup_subcommand);
