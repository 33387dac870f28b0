#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/cmd_common.h"
#include "util/error.h"

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "quail backup: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: quail backup %s\n", usage);
    return 2;
}

int cmd_parse(int argc, char **argv, const CmdOpt *opts, const char *usage, CmdArgs *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            printf("usage: quail backup %s\n", usage);
            return 2;
        }
        if (!strcmp(arg, "-r") || !strcmp(arg, "--repo")) {
            if (++i >= argc)
                return usage_error(usage, "%s needs a value", arg);
            a->repo = argv[i];
            continue;
        }
        if (!strncmp(arg, "--repo=", 7)) {
            a->repo = arg + 7;
            continue;
        }
        if (!strcmp(arg, "--accept-new-host")) {
            repo_ssh_accept_new_hosts(true);
            continue;
        }
        if (!strncmp(arg, "--", 2) && arg[2]) {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            const CmdOpt *o = opts;
            while (o && o->name && (strlen(o->name) != n || strncmp(o->name, name, n)))
                o++;
            if (!o || !o->name)
                return usage_error(usage, "unknown option %s", arg);
            if (!o->has_arg) {
                if (eq)
                    return usage_error(usage, "%s takes no value", arg);
                *o->value = "1";
            } else if (eq) {
                *o->value = eq + 1;
            } else {
                if (++i >= argc)
                    return usage_error(usage, "%s needs a value", arg);
                *o->value = argv[i];
            }
            continue;
        }
        if (a->npos >= CMD_MAX_POS)
            return usage_error(usage, "unexpected argument %s", arg);
        a->pos[a->npos++] = arg;
    }
    if (!a->repo)
        a->repo = getenv("QUAIL_BACKUP_REPO");
    if (!a->repo || !a->repo[0]) {
        if (!a->npos)
            return usage_error(usage, "%s", "no repository given");
        a->repo = a->pos[0];
        memmove(a->pos, a->pos + 1, sizeof(a->pos[0]) * (CMD_MAX_POS - 1));
        a->npos--;
    }
    return 0;
}

int cmd_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (*end == 'i' && shift)
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

int cmd_fail(const char *name)
{
    fprintf(stderr, "quail backup %s: %s\n", name, err_msg());
    return 1;
}

void cmd_format_time(int64_t t, char *buf, unsigned len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm))
        snprintf(buf, len, "%lld", (long long)t);
}
