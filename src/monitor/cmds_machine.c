/* Run-state commands.  The machine installs its hooks with
 * qmp_set_machine_ops(); until it does (tools that embed the monitor without
 * a machine) these commands report that there is no machine. */
#include <stddef.h>

#include "monitor/qmp.h"

static const QmpMachineOps *machine;

void qmp_set_machine_ops(const QmpMachineOps *ops) { machine = ops; }
const QmpMachineOps *qmp_machine_ops(void) { return machine; }

static int no_machine(void)
{
    return qmp_error(QMP_ERR_GENERIC, "No machine is running");
}

static int query_status(json_object *args, json_object **ret)
{
    if (!machine)
        return no_machine();
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string(machine->status()));
    json_object_object_add(o, "singlestep", json_object_new_boolean(0));
    json_object_object_add(o, "running", json_object_new_boolean(machine->running()));
    *ret = o;
    return 0;
}
static const QmpCommand cmd_status = { "query-status", "", query_status, false };
QMP_COMMAND_REGISTER(cmd_status)

#define RUNSTATE_COMMAND(var, qname, hook)                             \
    static int var##_handler(json_object *args, json_object **ret)     \
    {                                                                  \
        if (!machine || !machine->hook)                                \
            return no_machine();                                       \
        *ret = NULL;                                                   \
        return machine->hook();                                        \
    }                                                                  \
    static const QmpCommand var = { qname, "", var##_handler, false }; \
    QMP_COMMAND_REGISTER(var)

RUNSTATE_COMMAND(cmd_stop, "stop", stop)
RUNSTATE_COMMAND(cmd_cont, "cont", cont)
RUNSTATE_COMMAND(cmd_reset, "system_reset", reset)
RUNSTATE_COMMAND(cmd_powerdown, "system_powerdown", powerdown)
RUNSTATE_COMMAND(cmd_quit, "quit", quit)
