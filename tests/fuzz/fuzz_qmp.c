/* libFuzzer target: QMP bytes from a client through the streaming reader and
 * the dispatcher (no machine attached, so only protocol-level commands run). */
#include <stddef.h>
#include <stdint.h>

#include "monitor/qmp.h"

static void emit(json_object *val, const char *err, void *opaque)
{
    bool *neg = opaque;
    if (err)
        return;
    json_object *reply = qmp_dispatch(val, neg);
    json_object_put(reply);
    json_object_put(val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    QmpReader *r = qmp_reader_new();
    bool negotiated = size > 0 && (data[0] & 1);
    /* Feed in two pieces so split messages are exercised too. */
    size_t half = size / 2;
    qmp_reader_feed(r, (const char *)data, half, emit, &negotiated);
    qmp_reader_feed(r, (const char *)data + half, size - half, emit, &negotiated);
    qmp_reader_free(r);
    return 0;
}
