#include "backup/agent.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backup/qmp_client.h"
#include "util/error.h"

struct GuestAgent {
    QmpClient *c;
};

int agent_open(const char *path, int timeout_ms, GuestAgent **out)
{
    GuestAgent *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(ENOMEM, "out of memory");
    int ret = qmp_connect_plain(path, timeout_ms, &a->c);
    if (ret < 0)
        goto fail;
    /* guest-sync with a fresh token flushes whatever an earlier, dead client
     * left in the agent's pipe: only the reply carrying our token counts. */
    int64_t token = ((int64_t)getpid() << 16) ^ (int64_t)time(NULL);
    token &= 0x7fffffff;
    json_object *args = json_object_new_object(), *r = NULL;
    qmp_arg_int(args, "id", token);
    ret = qmp_execute(a->c, "guest-sync", args, &r);
    if (ret < 0)
        goto fail;
    bool ok = json_object_is_type(r, json_type_int) && json_object_get_int64(r) == token;
    json_object_put(r);
    if (!ok) {
        ret = err_set(EPROTO, "guest agent answered guest-sync with a wrong token");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    err_prefix(ret, "guest agent %s", path);
    agent_close(a);
    return ret;
}

int agent_freeze(GuestAgent *a)
{
    json_object *r = NULL;
    /* Freezing flushes every guest filesystem; give it time. */
    qmp_set_timeout(a->c, 120000);
    int ret = qmp_execute(a->c, "guest-fsfreeze-freeze", NULL, &r);
    qmp_set_timeout(a->c, 10000);
    if (ret < 0)
        return ret;
    int n = json_object_is_type(r, json_type_int) ? json_object_get_int(r) : 0;
    json_object_put(r);
    return n < 0 ? 0 : n;
}

int agent_thaw(GuestAgent *a)
{
    json_object *r = NULL;
    int ret = qmp_execute(a->c, "guest-fsfreeze-thaw", NULL, &r);
    json_object_put(r);
    return ret;
}

void agent_close(GuestAgent *a)
{
    if (!a)
        return;
    qmp_close(a->c);
    free(a);
}
