#include "hw/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hw/options.h"
#include "util/error.h"
#include "util/log.h"

#define MAX_DEVICE_TYPES 64
static const DeviceType *types[MAX_DEVICE_TYPES];
static int ntypes;

void device_type_register(const DeviceType *t)
{
    int i = 0;
    while (i < ntypes && strcmp(types[i]->name, t->name) < 0)
        i++;
    if ((i < ntypes && !strcmp(types[i]->name, t->name)) || ntypes == MAX_DEVICE_TYPES) {
        log_msg("device type %s registered twice or too many types; ignored", t->name);
        return;
    }
    memmove(&types[i + 1], &types[i], (size_t)(ntypes - i) * sizeof(types[0]));
    types[i] = t;
    ntypes++;
}

const DeviceType *device_type_find(const char *name)
{
    for (int i = 0; i < ntypes; i++)
        if (!strcmp(types[i]->name, name))
            return types[i];
    return NULL;
}

const DeviceType *device_type_at(int i)
{
    return i >= 0 && i < ntypes ? types[i] : NULL;
}

void kv_free(KvList *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->kv[i].key);
        free(l->kv[i].val);
    }
    l->n = 0;
}

/* Copies one comma-terminated field, turning ",," into ",". */
static char *take_field(const char **pp)
{
    const char *p = *pp;
    size_t cap = strlen(p) + 1, o = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (*p) {
        if (*p == ',') {
            if (p[1] == ',') {
                out[o++] = ',';
                p += 2;
                continue;
            }
            p++;
            break;
        }
        out[o++] = *p++;
    }
    out[o] = 0;
    *pp = p;
    return out;
}

int kv_parse(const char *s, const char *implied_key, KvList *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = s;
    bool first = true;
    while (*p) {
        char *field = take_field(&p);
        if (!field) {
            kv_free(out);
            return err_set(ENOMEM, "out of memory");
        }
        if (!*field) {
            free(field);
            kv_free(out);
            return err_set(EINVAL, "empty field in '%s'", s);
        }
        if (out->n == KV_MAX) {
            free(field);
            kv_free(out);
            return err_set(E2BIG, "too many options in '%s'", s);
        }
        char *eq = strchr(field, '=');
        char *key, *val;
        if (eq) {
            *eq = 0;
            key = strdup(field);
            val = strdup(eq + 1);
        } else if (first && implied_key) {
            key = strdup(implied_key);
            val = strdup(field);
        } else {
            key = strdup(field);
            val = strdup("on");
        }
        free(field);
        if (!key || !val) {
            free(key);
            free(val);
            kv_free(out);
            return err_set(ENOMEM, "out of memory");
        }
        out->kv[out->n].key = key;
        out->kv[out->n].val = val;
        out->n++;
        first = false;
    }
    return 0;
}

const char *kv_get(const KvList *l, const char *key)
{
    /* QEMU lets a later key=value override an earlier one. */
    for (int i = l->n - 1; i >= 0; i--)
        if (!strcmp(l->kv[i].key, key))
            return l->kv[i].val;
    return NULL;
}

int kv_get_u64(const KvList *l, const char *key, uint64_t *out)
{
    const char *v = kv_get(l, key);
    if (!v)
        return -ENOENT;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 0);
    if (end == v || errno || *v == '-')
        return err_set(EINVAL, "%s: invalid number '%s'", key, v);
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (*end || (shift && n > (UINT64_MAX >> shift)))
        return err_set(EINVAL, "%s: invalid number '%s'", key, v);
    *out = (uint64_t)n << shift;
    return 0;
}

int kv_get_bool(const KvList *l, const char *key, bool *out)
{
    const char *v = kv_get(l, key);
    if (!v)
        return -ENOENT;
    if (!strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
        *out = true;
    else if (!strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
        *out = false;
    else
        return err_set(EINVAL, "%s: expected on or off, not '%s'", key, v);
    return 0;
}

int kv_check_keys(const KvList *l, const char *const *allowed)
{
    for (int i = 0; i < l->n; i++) {
        bool ok = false;
        for (int j = 0; allowed[j] && !ok; j++)
            ok = !strcmp(l->kv[i].key, allowed[j]);
        if (!ok)
            return err_set(EINVAL, "unknown property '%s'", l->kv[i].key);
    }
    return 0;
}

int device_create_from_string(VirtMachine *m, const char *spec)
{
    KvList l;
    int ret = kv_parse(spec, "driver", &l);
    if (ret < 0)
        return ret;
    const char *driver = kv_get(&l, "driver");
    const DeviceType *t = driver ? device_type_find(driver) : NULL;
    if (!t) {
        ret = err_set(EINVAL, "'%s' is not a valid device model name", driver ? driver : "");
    } else {
        ret = t->create(m, &l);
        if (ret < 0)
            ret = err_prefix(ret, "-device %s", driver);
    }
    kv_free(&l);
    return ret;
}

static int defer_device(VirtMachine *m, const char *arg, void *opaque)
{
    return device_create_from_string(m, arg);
}

static int opt_device(RunConfig *cfg, const char *arg)
{
    return run_config_defer(cfg, RUN_PHASE_DEVICE, defer_device, arg, NULL);
}

static const RunOption o_device = { "device", "DRIVER[,PROP=VALUE...]",
                                    "add a device (types listed below)",
                                    opt_device };
RUN_OPTION_REGISTER(o_device)
