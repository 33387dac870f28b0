/* `quail backup qmp SOCKET COMMAND [JSON-ARGS]` and
 * `quail backup qmp SOCKET --hmp "COMMAND LINE"`: one QMP command from a
 * script (tests, timers), through the same client the backup uses.  Prints
 * the "return" value as JSON (HMP: its text output). */
#include <stdio.h>
#include <string.h>

#include "backup/qmp_client.h"
#include "backup/run.h"
#include "util/error.h"

int backup_cmd_qmp(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: quail backup qmp SOCKET COMMAND [JSON-ARGS]\n"
                        "       quail backup qmp SOCKET --hmp \"COMMAND LINE\"\n");
        return 2;
    }
    bool hmp = strcmp(argv[2], "--hmp") == 0;
    json_object *args = NULL;
    if (hmp) {
        if (argc != 4) {
            fprintf(stderr, "quail backup qmp: --hmp needs a command line\n");
            return 2;
        }
        args = json_object_new_object();
        qmp_arg_str(args, "command-line", argv[3]);
    } else if (argc == 4) {
        args = json_tokener_parse(argv[3]);
        if (!args || !json_object_is_type(args, json_type_object)) {
            fprintf(stderr, "quail backup qmp: arguments are not a JSON object\n");
            json_object_put(args);
            return 2;
        }
    }
    QmpClient *c;
    if (qmp_connect(argv[1], 30000, &c) < 0) {
        json_object_put(args);
        fprintf(stderr, "quail backup qmp: %s\n", err_msg());
        return 1;
    }
    json_object *ret = NULL;
    int r = qmp_execute(c, hmp ? "human-monitor-command" : argv[2], args, &ret);
    qmp_close(c);
    if (r < 0) {
        fprintf(stderr, "quail backup qmp: %s\n", err_msg());
        return 1;
    }
    if (hmp) {
        const char *txt = json_object_get_string(ret);
        fputs(txt ? txt : "", stdout);
        /* HMP reports failures as text; qemu-io's start with these words. */
        bool failed = txt && (strstr(txt, "Error") || strstr(txt, "error") || strstr(txt, "failed"));
        json_object_put(ret);
        return failed ? 1 : 0;
    }
    printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
    json_object_put(ret);
    return 0;
}
