/* A small synchronous QMP client over a unix socket.
 *
 * It checks that the peer greets like QEMU (or quail, which speaks the same
 * protocol) before negotiating capabilities, matches each reply to its command
 * by id and queues asynchronous events so a caller can wait for, say, a job's
 * completion after the command that started it returned.  Everything coming
 * from the socket is treated as untrusted: messages are size-bounded and every
 * wait has a timeout.
 */
#ifndef QUAIL_BACKUP_QMP_CLIENT_H
#define QUAIL_BACKUP_QMP_CLIENT_H

#include <stdbool.h>
#include <json-c/json.h>

typedef struct QmpClient QmpClient;

/* Connects, reads the greeting, verifies it is a QMP greeting with a QEMU
 * version and sends qmp_capabilities.  timeout_ms bounds each wait for the
 * peer.  Fails with -EPROTO and a clear message if the peer is not QMP. */
int qmp_connect(const char *path, int timeout_ms, QmpClient **out);
/* Connects without expecting a greeting (qemu-guest-agent speaks the same
 * framing but never greets). */
int qmp_connect_plain(const char *path, int timeout_ms, QmpClient **out);
void qmp_close(QmpClient *c);
/* Changes the per-wait timeout (guest-fsfreeze-freeze may take long). */
void qmp_set_timeout(QmpClient *c, int timeout_ms);

/* QEMU version from the greeting. */
void qmp_version(const QmpClient *c, int *major, int *minor, int *micro);

/* Executes a command.  args is consumed (may be NULL).  On success *ret (if
 * ret is non-NULL) receives the "return" value, owned by the caller (put it
 * with json_object_put).  A QMP error fails with -EIO and the server's
 * "desc" as message; the error class is kept for qmp_last_error_class(). */
int qmp_execute(QmpClient *c, const char *cmd, json_object *args, json_object **ret);
const char *qmp_last_error_class(const QmpClient *c);

/* Waits for an event named name for which match(data, opaque) returns true
 * (match may be NULL).  Events already queued are considered first; a matched
 * event is removed from the queue and its "data" returned in *data (caller
 * puts it; data may be NULL).  -ETIMEDOUT after timeout_ms. */
int qmp_wait_event(QmpClient *c, const char *name,
                   bool (*match)(json_object *data, void *opaque), void *opaque,
                   int timeout_ms, json_object **data);

/* Small helpers to build arguments: json_object_new_object() plus these. */
void qmp_arg_str(json_object *o, const char *key, const char *val);
void qmp_arg_int(json_object *o, const char *key, int64_t val);
void qmp_arg_bool(json_object *o, const char *key, bool val);

/* Field access that tolerates absent/mistyped fields (returns def). */
const char *qmp_get_str(json_object *o, const char *key, const char *def);
int64_t qmp_get_int(json_object *o, const char *key, int64_t def);
bool qmp_get_bool(json_object *o, const char *key, bool def);

#endif
