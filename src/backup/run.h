/* `quail backup run` (see run.c and docs/backup.md). */
#ifndef QUAIL_BACKUP_RUN_H
#define QUAIL_BACKUP_RUN_H

int backup_cmd_run(int argc, char **argv);
/* `quail backup qmp`: one QMP command from a script (qmp_tool.c). */
int backup_cmd_qmp(int argc, char **argv);

#endif
