/* Request validation and command dispatch, with QEMU 7.2's error texts so
 * clients that match on them keep working. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "monitor/qmp.h"
#include "util/error.h"

#define MAX_COMMANDS 256

static const QmpCommand *commands[MAX_COMMANDS];
static int ncommands;

void qmp_command_register(const QmpCommand *cmd)
{
    if (ncommands == MAX_COMMANDS)
        return;
    int i = ncommands++;
    while (i > 0 && strcmp(commands[i - 1]->name, cmd->name) > 0) {
        commands[i] = commands[i - 1];
        i--;
    }
    commands[i] = cmd;
}

const QmpCommand *qmp_command_find(const char *name)
{
    for (int i = 0; i < ncommands; i++)
        if (!strcmp(commands[i]->name, name))
            return commands[i];
    return NULL;
}

const QmpCommand *qmp_command_at(int i)
{
    return i >= 0 && i < ncommands ? commands[i] : NULL;
}

/* The reply being built on this thread (the monitor thread, or a test). */
static _Thread_local QmpErrorClass err_class;
static _Thread_local char err_desc[512];
static _Thread_local bool err_valid;

int qmp_error(QmpErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_desc, sizeof(err_desc), fmt, ap);
    va_end(ap);
    err_class = cls;
    err_valid = true;
    return -EINVAL;
}

const char *qmp_error_class_name(QmpErrorClass cls)
{
    switch (cls) {
    case QMP_ERR_COMMAND_NOT_FOUND: return "CommandNotFound";
    case QMP_ERR_DEVICE_NOT_ACTIVE: return "DeviceNotActive";
    case QMP_ERR_DEVICE_NOT_FOUND: return "DeviceNotFound";
    case QMP_ERR_KVM_MISSING_CAP: return "KVMMissingCap";
    default: return "GenericError";
    }
}

static json_object *error_reply(QmpErrorClass cls, const char *desc, json_object *id)
{
    json_object *e = json_object_new_object();
    json_object_object_add(e, "class", json_object_new_string(qmp_error_class_name(cls)));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    json_object *r = json_object_new_object();
    json_object_object_add(r, "error", e);
    if (id)
        json_object_object_add(r, "id", json_object_get(id));
    return r;
}

static const char *type_name(char t)
{
    switch (t) {
    case 's': return "string";
    case 'i': return "integer";
    case 'b': return "boolean";
    case 'n': return "number";
    case 'o': return "object";
    case 'a': return "array";
    default: return "any";
    }
}

static bool type_ok(char t, json_object *v)
{
    enum json_type jt = json_object_get_type(v);
    switch (t) {
    case 's': return jt == json_type_string;
    case 'i': return jt == json_type_int;
    case 'b': return jt == json_type_boolean;
    case 'n': return jt == json_type_int || jt == json_type_double;
    case 'o': return jt == json_type_object;
    case 'a': return jt == json_type_array;
    default: return true;
    }
}

/* Finds the declared parameter `name` in spec; returns its type char, or 0. */
static char param_type(const char *spec, const char *name, bool *optional)
{
    const char *p = spec;
    size_t nlen = strlen(name);
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool opt = *p == '?';
        const char *n = p + opt;
        const char *colon = memchr(n, ':', len - opt);
        size_t namelen = colon ? (size_t)(colon - n) : len - opt;
        if (namelen == nlen && !strncmp(n, name, nlen)) {
            *optional = opt;
            if (!colon)
                return '*';
            return strncmp(colon + 1, "any", 3) ? colon[1] : '*';
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static int check_args(const QmpCommand *cmd, json_object *args)
{
    const char *spec = cmd->params;
    json_object_object_foreach(args, key, val) {
        bool opt;
        char t = param_type(spec, key, &opt);
        if (!t)
            return qmp_error(QMP_ERR_GENERIC, "Parameter '%s' is unexpected", key);
        if (!type_ok(t, val))
            return qmp_error(QMP_ERR_GENERIC, "Invalid parameter type for '%s', expected: %s",
                             key, type_name(t));
    }
    /* Every mandatory parameter must be present. */
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (*p != '?') {
            const char *colon = memchr(p, ':', len);
            size_t namelen = colon ? (size_t)(colon - p) : len;
            char name[128];
            if (namelen >= sizeof(name))
                namelen = sizeof(name) - 1;
            memcpy(name, p, namelen);
            name[namelen] = '\0';
            if (!json_object_object_get_ex(args, name, NULL))
                return qmp_error(QMP_ERR_GENERIC, "Parameter '%s' is missing", name);
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

json_object *qmp_dispatch(json_object *req, bool *negotiated)
{
    if (!req || !json_object_is_type(req, json_type_object))
        return error_reply(QMP_ERR_GENERIC, "QMP input must be a JSON object", NULL);

    json_object *id = NULL, *exec = NULL, *args = NULL;
    json_object_object_get_ex(req, "id", &id);
    json_object_object_foreach(req, key, val) {
        if (!strcmp(key, "execute") || !strcmp(key, "exec-oob"))
            exec = val;
        else if (!strcmp(key, "arguments"))
            args = val;
        else if (strcmp(key, "id")) {
            char desc[160];
            snprintf(desc, sizeof(desc), "QMP input member '%s' is unexpected", key);
            return error_reply(QMP_ERR_GENERIC, desc, id);
        }
    }
    if (!exec)
        return error_reply(QMP_ERR_GENERIC, "QMP input lacks member 'execute'", id);
    if (!json_object_is_type(exec, json_type_string))
        return error_reply(QMP_ERR_GENERIC, "QMP input member 'execute' must be a string", id);
    if (args && !json_object_is_type(args, json_type_object))
        return error_reply(QMP_ERR_GENERIC, "QMP input member 'arguments' must be an object", id);

    const char *name = json_object_get_string(exec);
    const QmpCommand *cmd = qmp_command_find(name);
    if (!*negotiated && !(cmd && cmd->pre_negotiation))
        return error_reply(QMP_ERR_COMMAND_NOT_FOUND,
                           "Expecting capabilities negotiation with 'qmp_capabilities'", id);
    if (!cmd) {
        char desc[320];
        snprintf(desc, sizeof(desc), "The command %.256s has not been found", name);
        return error_reply(QMP_ERR_COMMAND_NOT_FOUND, desc, id);
    }
    if (cmd->pre_negotiation && *negotiated)
        return error_reply(QMP_ERR_COMMAND_NOT_FOUND,
                           "Capabilities negotiation is already complete, command ignored", id);

    json_object *empty = NULL;
    if (!args)
        args = empty = json_object_new_object();
    err_valid = false;
    json_object *ret = NULL;
    /* NULL params: the handler validates (e.g. blockdev-add's driver union). */
    int rc = cmd->params ? check_args(cmd, args) : 0;
    if (rc == 0)
        rc = cmd->handler(args, &ret);
    json_object_put(empty);
    if (rc < 0) {
        json_object_put(ret);
        if (!err_valid) {
            /* A handler that used the plain error convention. */
            qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
        }
        return error_reply(err_class, err_desc, id);
    }
    if (cmd->pre_negotiation)
        *negotiated = true;
    json_object *r = json_object_new_object();
    json_object_object_add(r, "return", ret ? ret : json_object_new_object());
    if (id)
        json_object_object_add(r, "id", json_object_get(id));
    return r;
}
