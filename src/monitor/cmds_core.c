/* Protocol-level commands: negotiation, version, introspection of commands. */
#include <string.h>

#include "monitor/qmp.h"

static int qmp_capabilities(json_object *args, json_object **ret)
{
    json_object *enable;
    /* We offer no optional capabilities (no out-of-band execution). */
    if (json_object_object_get_ex(args, "enable", &enable) && json_object_array_length(enable) > 0) {
        json_object *cap = json_object_array_get_idx(enable, 0);
        return qmp_error(QMP_ERR_GENERIC, "Capability '%s' not available",
                         json_object_get_string(cap));
    }
    *ret = NULL;
    return 0;
}
static const QmpCommand cmd_caps = { "qmp_capabilities", "?enable:a", qmp_capabilities, true };
QMP_COMMAND_REGISTER(cmd_caps)

static int query_version(json_object *args, json_object **ret)
{
    json_object *g = qmp_greeting();
    json_object *q, *v;
    json_object_object_get_ex(g, "QMP", &q);
    json_object_object_get_ex(q, "version", &v);
    *ret = json_object_get(v);
    json_object_put(g);
    return 0;
}
static const QmpCommand cmd_version = { "query-version", "", query_version, false };
QMP_COMMAND_REGISTER(cmd_version)

static int query_commands(json_object *args, json_object **ret)
{
    json_object *list = json_object_new_array();
    for (int i = 0; qmp_command_at(i); i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(qmp_command_at(i)->name));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}
static const QmpCommand cmd_commands = { "query-commands", "", query_commands, false };
QMP_COMMAND_REGISTER(cmd_commands)
