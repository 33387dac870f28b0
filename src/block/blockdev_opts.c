#include "block/blockdev_opts.h"
#include "util/error.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 256

int parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return err_set(EINVAL, "empty size");
    char *end;
    errno = 0;
    double d = 0;
    unsigned long long v = strtoull(s, &end, 10);
    bool frac = (*end == '.');
    if (frac) {
        d = strtod(s, &end);
        if (d < 0)
            return err_set(EINVAL, "invalid size '%s'", s);
    }
    if (end == s || errno || *s == '-')
        return err_set(EINVAL, "invalid size '%s'", s);
    int shift = 0;
    switch (*end) {
    case '\0': break;
    case 'b': case 'B': shift = 0; end++; break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    case 'p': case 'P': shift = 50; end++; break;
    case 'e': case 'E': shift = 60; end++; break;
    default: return err_set(EINVAL, "invalid size suffix in '%s'", s);
    }
    if (*end)
        return err_set(EINVAL, "invalid size '%s'", s);
    if (frac) {
        double r = d * (double)(1ULL << shift);
        if (r >= 18446744073709549568.0)
            return err_set(ERANGE, "size '%s' too large", s);
        *out = (uint64_t)r;
        return 0;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return err_set(ERANGE, "size '%s' too large", s);
    *out = (uint64_t)v << shift;
    return 0;
}

static bool all_index_keys(json_object *o)
{
    int n = json_object_object_length(o);
    if (n == 0)
        return false;
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%d", i);
        if (!json_object_object_get_ex(o, k, NULL))
            return false;
    }
    return true;
}

/* Objects keyed 0..n-1 become arrays, recursively (QEMU keyval lists). */
static json_object *listify(json_object *o)
{
    if (!json_object_is_type(o, json_type_object))
        return o;
    json_object_object_foreach(o, k, v) {
        json_object *nv = listify(v);
        if (nv != v)
            json_object_object_add(o, k, nv);
    }
    if (!all_index_keys(o))
        return o;
    int n = json_object_object_length(o);
    json_object *arr = json_object_new_array();
    if (!arr)
        return o;
    for (int i = 0; i < n; i++) {
        char k[16];
        json_object *v;
        snprintf(k, sizeof(k), "%d", i);
        json_object_object_get_ex(o, k, &v);
        json_object_array_add(arr, json_object_get(v));
    }
    return arr;     /* the caller drops o */
}

/* Reads up to the next unescaped ',' ("",," is a literal comma) into buf. */
static const char *read_value(const char *p, char *buf, size_t cap, int *err)
{
    size_t n = 0;
    while (*p) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++;
        }
        if (n + 1 >= cap) {
            *err = err_set(E2BIG, "option value too long");
            return p;
        }
        buf[n++] = *p++;
    }
    buf[n] = '\0';
    return p;
}

static int keyval_put(json_object *root, const char *key, const char *val)
{
    char path[KEY_MAX];
    if (strlen(key) >= sizeof(path) || !*key)
        return err_set(EINVAL, "invalid parameter name '%s'", key);
    strcpy(path, key);
    json_object *cur = root;
    char *seg = path;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot)
            *dot = '\0';
        if (!*seg)
            return err_set(EINVAL, "invalid parameter name '%s'", key);
        json_object *next;
        bool have = json_object_object_get_ex(cur, seg, &next);
        if (!dot) {
            if (have)
                return err_set(EINVAL, "Parameter '%s' is set more than once or used inconsistently", key);
            json_object *s = json_object_new_string(val);
            if (!s)
                return err_set(ENOMEM, "out of memory");
            json_object_object_add(cur, seg, s);
            return 0;
        }
        if (have) {
            if (!json_object_is_type(next, json_type_object))
                return err_set(EINVAL, "Parameters '%.*s.*' used inconsistently",
                               (int)(dot - path), key);
        } else {
            next = json_object_new_object();
            if (!next)
                return err_set(ENOMEM, "out of memory");
            json_object_object_add(cur, seg, next);
        }
        cur = next;
        seg = dot + 1;
    }
}

int keyval_parse(const char *str, const char *implied_key, json_object **out)
{
    json_object *root = json_object_new_object();
    if (!root)
        return err_set(ENOMEM, "out of memory");
    const char *p = str;
    bool first = true;
    int ret = 0;
    while (*p) {
        char key[KEY_MAX], val[8192];
        const char *eq = p;
        while (*eq && *eq != '=' && *eq != ',')
            eq++;
        if (*eq != '=') {
            if (!(first && implied_key)) {
                ret = err_set(EINVAL, "Expected '=' after parameter '%.*s'", (int)(eq - p), p);
                break;
            }
            snprintf(key, sizeof(key), "%s", implied_key);
        } else {
            if ((size_t)(eq - p) >= sizeof(key)) {
                ret = err_set(EINVAL, "parameter name too long");
                break;
            }
            memcpy(key, p, (size_t)(eq - p));
            key[eq - p] = '\0';
            p = eq + 1;
        }
        p = read_value(p, val, sizeof(val), &ret);
        if (ret < 0)
            break;
        ret = keyval_put(root, key, val);
        if (ret < 0)
            break;
        first = false;
        if (*p == ',')
            p++;
    }
    if (ret < 0) {
        json_object_put(root);
        return ret;
    }
    json_object *l = listify(root);
    if (l != root)
        json_object_put(root);
    *out = l;
    return 0;
}

int blockdev_opts_parse(const char *str, json_object **out)
{
    while (isspace((unsigned char)*str))
        str++;
    if (*str != '{')
        return keyval_parse(str, NULL, out);
    enum json_tokener_error jerr;
    json_object *o = json_tokener_parse_verbose(str, &jerr);
    if (!o)
        return err_set(EINVAL, "invalid JSON: %s", json_tokener_error_desc(jerr));
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return err_set(EINVAL, "blockdev options must be a JSON object");
    }
    *out = o;
    return 0;
}

static const char *const drive_keys[] = {
    "id", "if", "index", "bus", "unit", "media", "serial", "snapshot", "werror",
    "rerror", "copy-on-read", "boot", "addr", NULL,
};

static bool is_drive_key(const char *k)
{
    for (int i = 0; drive_keys[i]; i++)
        if (!strcmp(k, drive_keys[i]))
            return true;
    return false;
}

int blockdev_drive_parse(const char *str, json_object **node, json_object **drive)
{
    json_object *kv;
    int ret = keyval_parse(str, "file", &kv);
    if (ret < 0)
        return ret;
    json_object *n = json_object_new_object(), *d = json_object_new_object();
    json_object *file = json_object_new_object();
    if (!n || !d || !file) {
        ret = err_set(ENOMEM, "out of memory");
        goto fail;
    }
    json_object_object_foreach(kv, k, v) {
        if (is_drive_key(k)) {
            json_object_object_add(d, k, json_object_get(v));
        } else if (!strcmp(k, "format")) {
            json_object_object_add(n, "driver", json_object_get(v));
        } else if (!strcmp(k, "readonly")) {
            json_object_object_add(n, "read-only", json_object_get(v));
        } else if (!strcmp(k, "file")) {
            if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, fk, fv)
                    json_object_object_add(file, fk, json_object_get(fv));
            } else {
                json_object_object_add(file, "filename", json_object_get(v));
            }
        } else if (!strcmp(k, "aio") || !strcmp(k, "locking")) {
            json_object_object_add(file, k, json_object_get(v));
        } else if (!strcmp(k, "cache")) {
            const char *c = json_object_get_string(v);
            if (!strcmp(c, "none") || !strcmp(c, "directsync"))
                json_object_object_add(file, "direct", json_object_new_string("on"));
        } else {
            json_object_object_add(n, k, json_object_get(v));
        }
    }
    if (!json_object_object_get_ex(file, "filename", NULL)) {
        ret = err_set(EINVAL, "-drive needs file=FILENAME");
        goto fail;
    }
    if (!json_object_object_get_ex(file, "driver", NULL))
        json_object_object_add(file, "driver", json_object_new_string("file"));
    if (!json_object_object_get_ex(n, "driver", NULL))
        json_object_object_add(n, "driver", json_object_new_string("probe"));
    json_object_object_add(n, "file", file);
    json_object_put(kv);
    *node = n;
    *drive = d;
    return 0;
fail:
    json_object_put(kv);
    json_object_put(n);
    json_object_put(d);
    json_object_put(file);
    return ret;
}

const char *bopt_str(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return NULL;
    if (!json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int get_u64(json_object *o, const char *key, uint64_t def, uint64_t *out, bool size)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v)) {
        *out = def;
        return 1;
    }
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        if (i < 0)
            return err_set(EINVAL, "Parameter '%s' expects a non-negative number", key);
        *out = (uint64_t)i;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return err_set(EINVAL, "Parameter '%s' expects a number", key);
    const char *s = json_object_get_string(v);
    if (size) {
        if (parse_size(s, out) < 0)
            return err_prefix(-EINVAL, "Parameter '%s'", key);
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (!*s || *end || errno || *s == '-')
        return err_set(EINVAL, "Parameter '%s' expects a number", key);
    *out = x;
    return 0;
}

int bopt_u64(json_object *o, const char *key, uint64_t def, uint64_t *v)
{
    return get_u64(o, key, def, v, false);
}

int bopt_size(json_object *o, const char *key, uint64_t def, uint64_t *v)
{
    return get_u64(o, key, def, v, true);
}

int bopt_bool(json_object *o, const char *key, bool def, bool *out)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v)) {
        *out = def;
        return 1;
    }
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v);
        return 0;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no")) {
        *out = false;
        return 0;
    }
    return err_set(EINVAL, "Parameter '%s' expects 'on' or 'off'", key);
}
