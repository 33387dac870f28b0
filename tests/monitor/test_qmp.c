/* QMP reader, dispatcher and socket server, without a machine. */
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

#include "monitor/qmp.h"

typedef struct Got {
    int values, errors, nulls;
    char last[256];
} Got;

static void collect(json_object *val, const char *err, void *opaque)
{
    Got *g = opaque;
    if (err) {
        g->errors++;
        snprintf(g->last, sizeof(g->last), "%s", err);
    } else if (!val) {
        g->nulls++;
    } else {
        g->values++;
        snprintf(g->last, sizeof(g->last), "%s", json_object_to_json_string(val));
        json_object_put(val);
    }
}

static void reader_split_and_concatenated(void **state)
{
    QmpReader *r = qmp_reader_new();
    Got g = { 0 };
    const char *a = "{\"execute\": \"qmp_";
    const char *b = "capabilities\"}{\"execute\":\"x\"}\r\n  {\"a\":[1,2";
    qmp_reader_feed(r, a, strlen(a), collect, &g);
    assert_int_equal(g.values, 0);
    qmp_reader_feed(r, b, strlen(b), collect, &g);
    assert_int_equal(g.values, 2);
    qmp_reader_feed(r, "]}", 2, collect, &g);
    assert_int_equal(g.values, 3);
    assert_int_equal(g.errors, 0);
    qmp_reader_free(r);
}

static void reader_recovers_after_garbage(void **state)
{
    QmpReader *r = qmp_reader_new();
    Got g = { 0 };
    const char *s = "}{\"ok\":1} null ";
    qmp_reader_feed(r, s, strlen(s), collect, &g);
    assert_true(g.errors >= 1);
    assert_int_equal(g.values, 1);
    assert_int_equal(g.nulls, 1);
    qmp_reader_free(r);
}

static void reader_bounds_nesting(void **state)
{
    QmpReader *r = qmp_reader_new();
    Got g = { 0 };
    size_t n = 5000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    qmp_reader_feed(r, deep, n, collect, &g);
    assert_true(g.errors >= 1);
    assert_int_equal(g.values, 0);
    /* A byte that cannot start JSON resets the reader (QEMU's 0xff trick);
     * the next message then parses. */
    qmp_reader_feed(r, "\xff{\"x\":1}", 8, collect, &g);
    assert_int_equal(g.values, 1);
    free(deep);
    qmp_reader_free(r);
}

static json_object *run(const char *req, bool *neg)
{
    json_object *j = json_tokener_parse(req);
    json_object *reply = qmp_dispatch(j, neg);
    json_object_put(j);
    return reply;
}

static void expect_error(const char *req, bool *neg, const char *cls, const char *desc)
{
    json_object *reply = run(req, neg);
    json_object *e, *c, *d;
    assert_true(json_object_object_get_ex(reply, "error", &e));
    assert_true(json_object_object_get_ex(e, "class", &c));
    assert_true(json_object_object_get_ex(e, "desc", &d));
    assert_string_equal(json_object_get_string(c), cls);
    assert_string_equal(json_object_get_string(d), desc);
    json_object_put(reply);
}

static void dispatch_follows_qemu(void **state)
{
    bool neg = false;
    expect_error("{\"execute\":\"query-version\"}", &neg, "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    json_object *r = run("{\"execute\":\"qmp_capabilities\",\"id\":\"a1\"}", &neg);
    assert_true(neg);
    json_object *id;
    assert_true(json_object_object_get_ex(r, "id", &id));
    assert_string_equal(json_object_get_string(id), "a1");
    json_object_put(r);
    expect_error("{\"execute\":\"qmp_capabilities\"}", &neg, "CommandNotFound",
                 "Capabilities negotiation is already complete, command ignored");
    expect_error("{\"execute\":\"no-such\"}", &neg, "CommandNotFound",
                 "The command no-such has not been found");
    expect_error("[1]", &neg, "GenericError", "QMP input must be a JSON object");
    expect_error("{\"arguments\":{}}", &neg, "GenericError", "QMP input lacks member 'execute'");
    expect_error("{\"execute\":\"query-version\",\"foo\":1}", &neg, "GenericError",
                 "QMP input member 'foo' is unexpected");
    expect_error("{\"execute\":\"query-version\",\"arguments\":{\"x\":1}}", &neg, "GenericError",
                 "Parameter 'x' is unexpected");
    expect_error("{\"execute\":\"query-version\",\"arguments\":[]}", &neg, "GenericError",
                 "QMP input member 'arguments' must be an object");
    r = run("{\"execute\":\"query-version\"}", &neg);
    json_object *ret, *q, *maj;
    assert_true(json_object_object_get_ex(r, "return", &ret));
    assert_true(json_object_object_get_ex(ret, "qemu", &q));
    assert_true(json_object_object_get_ex(q, "major", &maj));
    json_object_put(r);
}

static int typed_handler(json_object *args, json_object **ret) { *ret = NULL; return 0; }
static const QmpCommand typed = { "x-test-typed", "node-name:s,?force:b", typed_handler, false };

static void dispatch_checks_types(void **state)
{
    qmp_command_register(&typed);
    bool neg = true;
    expect_error("{\"execute\":\"x-test-typed\"}", &neg, "GenericError",
                 "Parameter 'node-name' is missing");
    expect_error("{\"execute\":\"x-test-typed\",\"arguments\":{\"node-name\":1}}", &neg,
                 "GenericError", "Invalid parameter type for 'node-name', expected: string");
    expect_error("{\"execute\":\"x-test-typed\",\"arguments\":{\"node-name\":\"a\",\"force\":\"y\"}}",
                 &neg, "GenericError", "Invalid parameter type for 'force', expected: boolean");
    json_object *r = run("{\"execute\":\"x-test-typed\",\"arguments\":{\"node-name\":\"a\"}}", &neg);
    assert_true(json_object_object_get_ex(r, "return", NULL));
    json_object_put(r);
}

static ssize_t read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

static void server_socket_roundtrip(void **state)
{
    char dir[] = "/tmp/quail-qmp-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], spec[160];
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    snprintf(spec, sizeof(spec), "unix:%s,server=on,wait=off", path);
    assert_int_equal(qmp_server_start(spec), 0);

    int fds[2];
    for (int k = 0; k < 2; k++) {
        fds[k] = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(fds[k], (struct sockaddr *)&sa, sizeof(sa)), 0);
        char line[4096];
        assert_true(read_line(fds[k], line, sizeof(line)) > 0);
        assert_non_null(strstr(line, "\"QMP\""));
        const char *caps = "{\"execute\":\"qmp_capabilities\"}\n";
        assert_int_equal(write(fds[k], caps, strlen(caps)), (ssize_t)strlen(caps));
        assert_true(read_line(fds[k], line, sizeof(line)) > 0);
        assert_string_equal(line, "{\"return\":{}}\r\n");
    }
    /* Malformed input gets an error and the connection lives on. */
    const char *bad = "{\"execute\":}\n{\"execute\":\"query-version\"}\n";
    assert_int_equal(write(fds[0], bad, strlen(bad)), (ssize_t)strlen(bad));
    char line[4096];
    assert_true(read_line(fds[0], line, sizeof(line)) > 0);
    assert_non_null(strstr(line, "GenericError"));
    assert_true(read_line(fds[0], line, sizeof(line)) > 0);
    assert_non_null(strstr(line, "\"return\""));
    /* Events reach every negotiated client. */
    qmp_event("STOP", NULL);
    for (int k = 0; k < 2; k++) {
        assert_true(read_line(fds[k], line, sizeof(line)) > 0);
        assert_non_null(strstr(line, "\"event\":\"STOP\""));
        assert_non_null(strstr(line, "\"timestamp\""));
        close(fds[k]);
    }
    qmp_server_stop_all();
    assert_int_not_equal(access(path, F_OK), 0);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_split_and_concatenated),
        cmocka_unit_test(reader_recovers_after_garbage),
        cmocka_unit_test(reader_bounds_nesting),
        cmocka_unit_test(dispatch_follows_qemu),
        cmocka_unit_test(dispatch_checks_types),
        cmocka_unit_test(server_socket_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
