/* The QMP client against scripted fake peers on a unix socket: it must accept
 * only a QEMU greeting, match replies by id (skipping stale ones), queue
 * events for later waits, report QMP errors with their class, and refuse
 * garbage quickly and without reading unbounded data. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "backup/qmp_client.h"
#include "util/error.h"

typedef struct Peer {
    char path[108];
    int lfd;
    const char *greeting;          /* sent on accept (NULL: nothing) */
    /* For each request line received, the peer answers with the reply
     * template; "%ID%" becomes the request's id. */
    const char *const *replies;
    int nreplies;
    pthread_t thread;
} Peer;

static void write_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void *peer_main(void *opaque)
{
    Peer *p = opaque;
    int fd = accept(p->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (p->greeting)
        write_str(fd, p->greeting);
    char buf[4096];
    size_t len = 0;
    for (int i = 0; i < p->nreplies;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
        char *nl;
        while (i < p->nreplies && (nl = strchr(buf, '\n'))) {
            *nl = 0;
            char id[64] = "";
            char *q = strstr(buf, "\"id\":\"");
            if (q)
                sscanf(q + 6, "%63[^\"]", id);
            char out[2048];
            const char *t = p->replies[i++];
            const char *m = strstr(t, "%ID%");
            if (m)
                snprintf(out, sizeof(out), "%.*s%s%s", (int)(m - t), t, id, m + 4);
            else
                snprintf(out, sizeof(out), "%s", t);
            write_str(fd, out);
            memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
            len -= (size_t)(nl + 1 - buf);
        }
    }
    /* Hold the connection until the client closes it. */
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    return NULL;
}

static void peer_start(Peer *p, const char *greeting, const char *const *replies, int n)
{
    memset(p->path, 0, sizeof(p->path));
    snprintf(p->path, sizeof(p->path), "/tmp/quail-qmp-test-%d-%p.sock", getpid(), (void *)p);
    unlink(p->path);
    p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, p->path);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(p->lfd, 1), 0);
    p->greeting = greeting;
    p->replies = replies;
    p->nreplies = n;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void peer_stop(Peer *p)
{
    pthread_join(p->thread, NULL);
    close(p->lfd);
    unlink(p->path);
}

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
                 "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define OK_REPLY "{\"return\": {}, \"id\": \"%ID%\"}\r\n"

static void greets_and_executes(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "\r\n" OK_REPLY,      /* a blank line is tolerated */
        /* An event, a stale reply for another id, then ours. */
        "{\"event\": \"JOB_STATUS_CHANGE\", \"data\": {\"id\": \"j1\", \"status\": \"concluded\"}}\r\n"
        "{\"return\": 42, \"id\": \"stale\"}\r\n"
        "{\"return\": {\"name\": \"vm1\"}, \"id\": \"%ID%\"}\r\n",
        "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no such node\"}, \"id\": \"%ID%\"}\r\n",
    };
    Peer p;
    peer_start(&p, GREETING, replies, 3);
    QmpClient *c;
    assert_int_equal(qmp_connect(p.path, 2000, &c), 0);
    int a, b, m;
    qmp_version(c, &a, &b, &m);
    assert_int_equal(a, 7);
    assert_int_equal(b, 2);
    assert_int_equal(m, 22);
    json_object *ret = NULL;
    assert_int_equal(qmp_execute(c, "query-name", NULL, &ret), 0);
    assert_string_equal(qmp_get_str(ret, "name", ""), "vm1");
    json_object_put(ret);
    json_object *args = json_object_new_object();
    qmp_arg_str(args, "node", "x");
    assert_int_equal(qmp_execute(c, "block-dirty-bitmap-remove", args, NULL), -EIO);
    assert_string_equal(qmp_last_error_class(c), "DeviceNotFound");
    assert_non_null(strstr(err_msg(), "no such node"));
    /* The event that arrived during query-name was queued. */
    json_object *data = NULL;
    assert_int_equal(qmp_wait_event(c, "JOB_STATUS_CHANGE", NULL, NULL, 100, &data), 0);
    assert_string_equal(qmp_get_str(data, "status", ""), "concluded");
    json_object_put(data);
    assert_int_equal(qmp_wait_event(c, "JOB_STATUS_CHANGE", NULL, NULL, 50, NULL), -ETIMEDOUT);
    qmp_close(c);
    peer_stop(&p);
}

static void refuses_non_qemu(void **state)
{
    (void)state;
    Peer p;
    /* An NBD server's greeting: refused at once, not after the timeout. */
    peer_start(&p, "NBDMAGICIHAVEOPT\0\3", NULL, 0);
    QmpClient *c = NULL;
    assert_int_equal(qmp_connect(p.path, 60000, &c), -EPROTO);
    assert_null(c);
    assert_non_null(strstr(err_msg(), "not a QMP monitor"));
    peer_stop(&p);

    /* JSON, but not a QMP greeting. */
    peer_start(&p, "{\"hello\": 1}\n", NULL, 0);
    assert_int_equal(qmp_connect(p.path, 2000, &c), -EPROTO);
    assert_non_null(strstr(err_msg(), "QEMU"));
    peer_stop(&p);

    /* QMP without a QEMU version. */
    peer_start(&p, "{\"QMP\": {\"capabilities\": []}}\n", NULL, 0);
    assert_int_equal(qmp_connect(p.path, 2000, &c), -EPROTO);
    peer_stop(&p);

    /* Silence: bounded wait. */
    peer_start(&p, NULL, NULL, 0);
    assert_int_equal(qmp_connect(p.path, 200, &c), -EPROTO);
    assert_non_null(strstr(err_msg(), "timed out"));
    peer_stop(&p);

    assert_true(qmp_connect("/nonexistent/quail-test.sock", 200, &c) < 0);
}

static void rejects_bad_replies(void **state)
{
    (void)state;
    static const char *const replies[] = {
        OK_REPLY,
        "{\"neither\": true, \"id\": \"%ID%\"}\r\n",
        "[1, 2, 3]\r\n",
    };
    Peer p;
    peer_start(&p, GREETING, replies, 3);
    QmpClient *c;
    assert_int_equal(qmp_connect(p.path, 2000, &c), 0);
    assert_int_equal(qmp_execute(c, "x", NULL, NULL), -EPROTO);
    assert_int_equal(qmp_execute(c, "y", NULL, NULL), -EPROTO);
    qmp_close(c);
    peer_stop(&p);
}

static void plain_connection_for_agent(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "{\"return\": 1234, \"id\": \"%ID%\"}\n",
    };
    Peer p;
    peer_start(&p, NULL, replies, 1);
    QmpClient *c;
    assert_int_equal(qmp_connect_plain(p.path, 2000, &c), 0);
    json_object *ret = NULL;
    assert_int_equal(qmp_execute(c, "guest-sync", NULL, &ret), 0);
    assert_int_equal(json_object_get_int(ret), 1234);
    json_object_put(ret);
    qmp_close(c);
    peer_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greets_and_executes),
        cmocka_unit_test(refuses_non_qemu),
        cmocka_unit_test(rejects_bad_replies),
        cmocka_unit_test(plain_connection_for_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
