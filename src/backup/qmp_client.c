#include "backup/qmp_client.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"

/* query-named-block-nodes on a VM with many disks runs to a few hundred KiB;
 * anything near this is not a QMP peer we want to talk to. */
#define QMP_MAX_MSG     (64u << 20)
/* Events nobody waits for (job status chatter) are dropped beyond this. */
#define QMP_MAX_EVENTS  256

struct QmpClient {
    int fd;
    int timeout_ms;
    char *buf;
    size_t len, cap;
    unsigned long next_id, idprefix;
    int ver[3];
    char errclass[64];
    json_object *events[QMP_MAX_EVENTS];
    int nevents;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void qmp_arg_str(json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val));
}

void qmp_arg_int(json_object *o, const char *key, int64_t val)
{
    json_object_object_add(o, key, json_object_new_int64(val));
}

void qmp_arg_bool(json_object *o, const char *key, bool val)
{
    json_object_object_add(o, key, json_object_new_boolean(val));
}

const char *qmp_get_str(json_object *o, const char *key, const char *def)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return def;
}

int64_t qmp_get_int(json_object *o, const char *key, int64_t def)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return def;
}

bool qmp_get_bool(json_object *o, const char *key, bool def)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean))
        return json_object_get_boolean(v);
    return def;
}

/* Reads one newline-terminated JSON message, waiting at most until deadline. */
static int read_msg(QmpClient *c, int64_t deadline, json_object **out)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t linelen = (size_t)(nl - c->buf);
            size_t k = 0;
            while (k < linelen && (c->buf[k] == ' ' || c->buf[k] == '\r' || c->buf[k] == '\t'))
                k++;
            if (k == linelen) {          /* blank line: tolerated, skipped */
                memmove(c->buf, nl + 1, c->len - linelen - 1);
                c->len -= linelen + 1;
                continue;
            }
            json_tokener *tok = json_tokener_new_ex(64);
            if (!tok)
                return err_set(ENOMEM, "out of memory");
            json_object *o = json_tokener_parse_ex(tok, c->buf, (int)linelen);
            enum json_tokener_error jerr = json_tokener_get_error(tok);
            json_tokener_free(tok);
            memmove(c->buf, nl + 1, c->len - linelen - 1);
            c->len -= linelen + 1;
            if (!o || jerr != json_tokener_success || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return err_set(EPROTO, "peer sent something that is not a QMP JSON object");
            }
            *out = o;
            return 0;
        }
        /* Every QMP message is a JSON object: anything else (an NBD or SSH
         * greeting, say) is refused at once instead of after the timeout. */
        size_t ws = 0;
        while (ws < c->len && (c->buf[ws] == ' ' || c->buf[ws] == '\r' || c->buf[ws] == '\t' ||
                               c->buf[ws] == '\n'))
            ws++;
        if (ws < c->len && c->buf[ws] != '{')
            return err_set(EPROTO, "peer sent something that is not QMP (first byte 0x%02x)",
                           (unsigned char)c->buf[ws]);
        if (c->len >= QMP_MAX_MSG)
            return err_set(EPROTO, "QMP message larger than %u bytes", QMP_MAX_MSG);
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return err_set(ETIMEDOUT, "timed out waiting for the QMP peer");
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int r = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return err_set_errno(errno, "poll on QMP socket");
        }
        if (r == 0)
            continue;
        if (c->cap - c->len < 65536) {
            size_t ncap = c->cap ? c->cap * 2 : 131072;
            char *nb = realloc(c->buf, ncap);
            if (!nb)
                return err_set(ENOMEM, "out of memory");
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return err_set_errno(errno, "reading QMP socket");
        }
        if (n == 0)
            return err_set(ECONNRESET, "QMP peer closed the connection");
        c->len += (size_t)n;
    }
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_set_errno(errno, "writing QMP socket");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void queue_event(QmpClient *c, json_object *ev)
{
    if (c->nevents == QMP_MAX_EVENTS) {
        json_object_put(c->events[0]);
        memmove(c->events, c->events + 1, sizeof(c->events[0]) * (QMP_MAX_EVENTS - 1));
        c->nevents--;
    }
    c->events[c->nevents++] = ev;
}

static int check_greeting(QmpClient *c, json_object *g)
{
    json_object *qmp, *ver, *qemu;
    if (!json_object_object_get_ex(g, "QMP", &qmp) ||
        !json_object_object_get_ex(qmp, "version", &ver) ||
        !json_object_object_get_ex(ver, "qemu", &qemu))
        return err_set(EPROTO, "the socket does not greet like a QEMU QMP monitor");
    c->ver[0] = (int)qmp_get_int(qemu, "major", -1);
    c->ver[1] = (int)qmp_get_int(qemu, "minor", -1);
    c->ver[2] = (int)qmp_get_int(qemu, "micro", -1);
    if (c->ver[0] < 0 || c->ver[1] < 0)
        return err_set(EPROTO, "QMP greeting has no QEMU version");
    return 0;
}

static int connect_socket(const char *path, int timeout_ms, QmpClient **out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_set(ENAMETOOLONG, "QMP socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    QmpClient *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(ENOMEM, "out of memory");
    c->timeout_ms = timeout_ms;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        int e = err_set_errno(errno, "socket");
        free(c);
        return e;
    }
    /* A random id prefix keeps a reply meant for an earlier client of the same
     * socket (the guest agent has no per-connection state) from matching. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->idprefix = ((unsigned long)getpid() << 20) ^ (unsigned long)ts.tv_nsec;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int ret = err_set_errno(errno, "connecting to socket %s", path);
        qmp_close(c);
        return ret;
    }
    *out = c;
    return 0;
}

int qmp_connect_plain(const char *path, int timeout_ms, QmpClient **out)
{
    return connect_socket(path, timeout_ms, out);
}

int qmp_connect(const char *path, int timeout_ms, QmpClient **out)
{
    QmpClient *c;
    int ret = connect_socket(path, timeout_ms, &c);
    if (ret < 0)
        return ret;
    json_object *g = NULL;
    ret = read_msg(c, now_ms() + timeout_ms, &g);
    if (ret < 0) {
        err_prefix(ret, "%s is not a QMP monitor (no greeting)", path);
        ret = -EPROTO;
        goto fail;
    }
    ret = check_greeting(c, g);
    json_object_put(g);
    if (ret < 0) {
        err_prefix(ret, "%s", path);
        goto fail;
    }
    ret = qmp_execute(c, "qmp_capabilities", NULL, NULL);
    if (ret < 0) {
        err_prefix(ret, "%s: qmp_capabilities", path);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    qmp_close(c);
    return ret;
}

void qmp_close(QmpClient *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    for (int i = 0; i < c->nevents; i++)
        json_object_put(c->events[i]);
    free(c->buf);
    free(c);
}

void qmp_version(const QmpClient *c, int *major, int *minor, int *micro)
{
    *major = c->ver[0];
    *minor = c->ver[1];
    *micro = c->ver[2];
}

const char *qmp_last_error_class(const QmpClient *c)
{
    return c->errclass;
}

int qmp_execute(QmpClient *c, const char *cmd, json_object *args, json_object **ret)
{
    char id[48];
    snprintf(id, sizeof(id), "q%lx-%lu", c->idprefix, ++c->next_id);
    c->errclass[0] = 0;
    json_object *req = json_object_new_object();
    if (!req) {
        json_object_put(args);
        return err_set(ENOMEM, "out of memory");
    }
    qmp_arg_str(req, "execute", cmd);
    if (args)
        json_object_object_add(req, "arguments", args);
    qmp_arg_str(req, "id", id);
    const char *txt = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    int r = write_all(c->fd, txt, strlen(txt));
    if (r == 0)
        r = write_all(c->fd, "\n", 1);
    json_object_put(req);
    if (r < 0)
        return err_prefix(r, "%s", cmd);
    int64_t deadline = now_ms() + c->timeout_ms;
    for (;;) {
        json_object *m;
        r = read_msg(c, deadline, &m);
        if (r < 0)
            return err_prefix(r, "%s", cmd);
        json_object *v;
        if (json_object_object_get_ex(m, "event", &v)) {
            queue_event(c, m);
            continue;
        }
        const char *mid = qmp_get_str(m, "id", NULL);
        if (!mid || strcmp(mid, id) != 0) {
            json_object_put(m);   /* a stale reply to an earlier, timed-out command */
            continue;
        }
        if (json_object_object_get_ex(m, "return", &v)) {
            if (ret)
                *ret = json_object_get(v);
            json_object_put(m);
            return 0;
        }
        if (json_object_object_get_ex(m, "error", &v)) {
            snprintf(c->errclass, sizeof(c->errclass), "%s",
                     qmp_get_str(v, "class", "GenericError"));
            r = err_set(EIO, "%s: %s", cmd, qmp_get_str(v, "desc", "unknown QMP error"));
            json_object_put(m);
            return r;
        }
        json_object_put(m);
        return err_set(EPROTO, "%s: reply has neither return nor error", cmd);
    }
}

int qmp_wait_event(QmpClient *c, const char *name,
                   bool (*match)(json_object *data, void *opaque), void *opaque,
                   int timeout_ms, json_object **data)
{
    int64_t deadline = now_ms() + timeout_ms;
    int scanned = 0;
    for (;;) {
        for (int i = scanned; i < c->nevents; i++) {
            json_object *ev = c->events[i], *d = NULL;
            if (strcmp(qmp_get_str(ev, "event", ""), name) != 0)
                continue;
            json_object_object_get_ex(ev, "data", &d);
            if (match && !match(d, opaque))
                continue;
            if (data)
                *data = d ? json_object_get(d) : NULL;
            json_object_put(ev);
            memmove(c->events + i, c->events + i + 1, sizeof(c->events[0]) * (size_t)(c->nevents - i - 1));
            c->nevents--;
            return 0;
        }
        scanned = c->nevents;
        json_object *m;
        int r = read_msg(c, deadline, &m);
        if (r < 0)
            return err_prefix(r, "waiting for event %s", name);
        json_object *v;
        if (json_object_object_get_ex(m, "event", &v)) {
            if (c->nevents == QMP_MAX_EVENTS)
                scanned = scanned > 0 ? scanned - 1 : 0;
            queue_event(c, m);
        } else {
            json_object_put(m);
        }
    }
}

void qmp_set_timeout(QmpClient *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms;
}
