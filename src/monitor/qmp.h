/* QMP: QEMU's JSON machine protocol, spoken the way QEMU 7.2 speaks it so
 * existing clients (qmp-shell, libvirt-style scripts, our backup tool) work.
 *
 * Commands register from constructors in their own files with
 * QMP_COMMAND_REGISTER; the server knows none of them by name.  A handler gets
 * arguments already checked against its declared parameter list and returns 0
 * with *ret set (NULL means `{}`), or a negative errno after qmp_error().
 */
#ifndef QUAIL_MONITOR_QMP_H
#define QUAIL_MONITOR_QMP_H

#include <json-c/json.h>
#include <stdbool.h>

/* QEMU's error classes. */
typedef enum QmpErrorClass {
    QMP_ERR_GENERIC,            /* "GenericError" */
    QMP_ERR_COMMAND_NOT_FOUND,  /* "CommandNotFound" */
    QMP_ERR_DEVICE_NOT_ACTIVE,  /* "DeviceNotActive" */
    QMP_ERR_DEVICE_NOT_FOUND,   /* "DeviceNotFound" */
    QMP_ERR_KVM_MISSING_CAP,    /* "KVMMissingCap" */
} QmpErrorClass;

/* Sets the class and message of the reply to the command being run and
 * returns -EINVAL (or the errno given by qmp_error_errno). */
int qmp_error(QmpErrorClass cls, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *qmp_error_class_name(QmpErrorClass cls);

typedef struct QmpCommand {
    const char *name;
    /* Parameters as "name:type" separated by commas; a leading '?' marks an
     * optional one.  Types: s string, i integer, b bool, n number, o object,
     * a array, any.  e.g. "node-name:s,?force:b".  Unknown, missing and
     * mistyped arguments are rejected with QEMU's messages before the
     * handler runs. */
    const char *params;
    int (*handler)(json_object *args, json_object **ret);
    /* Allowed before capabilities negotiation (only qmp_capabilities). */
    bool pre_negotiation;
} QmpCommand;

void qmp_command_register(const QmpCommand *cmd);
const QmpCommand *qmp_command_find(const char *name);
const QmpCommand *qmp_command_at(int i);

#define QMP_COMMAND_REGISTER(var) \
    static void __attribute__((constructor)) qmp_cmd_reg_##var(void) \
    { qmp_command_register(&(var)); }

/* Runs one request (a parsed JSON value) and returns the reply object to send
 * (never NULL).  negotiated is the session's state and is updated. */
json_object *qmp_dispatch(json_object *req, bool *negotiated);

/* The greeting a new client receives. */
json_object *qmp_greeting(void);

/* Sends an event to every negotiated client of every server.  Takes ownership
 * of data (may be NULL).  Safe from any thread. */
void qmp_event(const char *name, json_object *data);

/* What the monitor needs from the machine it controls.  Handlers run on the
 * monitor thread; these hooks do their own locking against the harts. */
typedef struct QmpMachineOps {
    bool (*running)(void);
    const char *(*status)(void);        /* "running", "paused", "shutdown", ... */
    int (*stop)(void);
    int (*cont)(void);
    int (*reset)(void);
    int (*powerdown)(void);
    int (*quit)(void);                  /* asks main to end the process */
} QmpMachineOps;

void qmp_set_machine_ops(const QmpMachineOps *ops);
const QmpMachineOps *qmp_machine_ops(void);

/* Starts listening on a QEMU-style chardev spec:
 *   unix:PATH,server=on,wait=off     (socket mode 0600)
 *   tcp:HOST:PORT,server=on,wait=off
 * (`server`, `nowait`, `server=on`, `wait=off` spellings accepted; wait=on
 * waits for the first client before returning).  A background thread serves
 * any number of clients. */
int qmp_server_start(const char *spec);
void qmp_server_stop_all(void);

/* Streaming JSON reader: feeds bytes, yields complete top-level values.
 * Bounded in size and nesting like QEMU's (messages over the limit are
 * rejected and the reader resynchronises). */
typedef struct QmpReader QmpReader;
QmpReader *qmp_reader_new(void);
void qmp_reader_free(QmpReader *r);
/* Calls emit(value, NULL, opaque) for each complete value (value is NULL for
 * a JSON `null`) and emit(NULL, error text, opaque) for each parse error.  Returns 0, or -ENOMEM. */
int qmp_reader_feed(QmpReader *r, const char *data, size_t len,
                    void (*emit)(json_object *val, const char *err, void *opaque),
                    void *opaque);

#endif
