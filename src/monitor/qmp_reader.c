/* Streaming JSON reader for QMP connections.
 *
 * Clients may split a message across writes or send several back to back with
 * no separator, so parsing is incremental (json-c's tokener) rather than per
 * line.  Limits mirror QEMU's json-streamer: nesting depth and total message
 * size are bounded so one client cannot make us allocate without end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/qmp.h"

#define QMP_MAX_DEPTH 1024
#define QMP_MAX_MESSAGE (64u << 20)

struct QmpReader {
    json_tokener *tok;
    size_t pending;     /* bytes fed into the value being parsed */
};

QmpReader *qmp_reader_new(void)
{
    QmpReader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
    if (!r->tok) {
        free(r);
        return NULL;
    }
    return r;
}

void qmp_reader_free(QmpReader *r)
{
    if (!r)
        return;
    json_tokener_free(r->tok);
    free(r);
}

static bool only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", p[i]))
            return false;
    return true;
}

int qmp_reader_feed(QmpReader *r, const char *data, size_t len,
                    void (*emit)(json_object *val, const char *err, void *opaque),
                    void *opaque)
{
    while (len > 0) {
        /* Whitespace between messages must not start a "pending" value. */
        if (r->pending == 0) {
            size_t skip = 0;
            while (skip < len && strchr(" \t\r\n", data[skip]))
                skip++;
            data += skip;
            len -= skip;
            if (len == 0)
                break;
        }
        size_t chunk = len > (1u << 20) ? (1u << 20) : len;
        json_object *val = json_tokener_parse_ex(r->tok, data, (int)chunk);
        enum json_tokener_error jerr = json_tokener_get_error(r->tok);
        size_t used = json_tokener_get_parse_end(r->tok);
        if (used > chunk)
            used = chunk;
        if (jerr == json_tokener_success) {
            /* val is NULL for a literal `null`: still a complete value. */
            r->pending = 0;
            json_tokener_reset(r->tok);
            emit(val, NULL, opaque);
        } else if (jerr == json_tokener_continue) {
            r->pending += chunk;
            used = chunk;
            if (r->pending > QMP_MAX_MESSAGE) {
                json_tokener_reset(r->tok);
                r->pending = 0;
                emit(NULL, "JSON parse error, message too large", opaque);
            }
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "JSON parse error, %s", json_tokener_error_desc(jerr));
            json_tokener_reset(r->tok);
            r->pending = 0;
            emit(NULL, msg, opaque);
            /* parse_end points at the offending byte: drop it too. */
            used = used < chunk ? used + 1 : chunk;
        }
        data += used;
        len -= used;
        if (len && only_space(data, len))
            break;
    }
    return 0;
}
