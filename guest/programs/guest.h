/* Helpers shared by the guest programs: key=value argument parsing and a
 * uniform way to fail.  Guest programs are static, single-file tools; this
 * header keeps them from each growing their own argument parser. */
#ifndef QUAIL_GUEST_H
#define QUAIL_GUEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the value of "key=value" among argv[1..], or def. */
static inline const char *arg_str(int argc, char **argv, const char *key, const char *def)
{
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    }
    return def;
}

/* Numbers accept C prefixes (0x..) and K/M/G suffixes, so sizes read naturally
 * on the kernel command line (size=64M). */
static inline long long parse_num(const char *s, int *ok)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    *ok = errno == 0 && end != s;
    switch (*end) {
    case 'K': case 'k': v <<= 10; end++; break;
    case 'M': case 'm': v <<= 20; end++; break;
    case 'G': case 'g': v <<= 30; end++; break;
    default: break;
    }
    if (*end != '\0')
        *ok = 0;
    return v;
}

static inline long long arg_num(int argc, char **argv, const char *key, long long def)
{
    const char *s = arg_str(argc, argv, key, NULL);
    int ok;
    if (!s)
        return def;
    long long v = parse_num(s, &ok);
    if (!ok) {
        fprintf(stderr, "bad number for %s: %s\n", key, s);
        exit(2);
    }
    return v;
}

static inline void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

#endif
