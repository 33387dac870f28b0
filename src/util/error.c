#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MAX 1024

static _Thread_local char err_buf[ERR_MAX];

int err_set(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    va_end(ap);
    return -errnum;
}

int err_set_errno(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err_buf))
        snprintf(err_buf + n, sizeof(err_buf) - (size_t)n, ": %s", strerror(errnum));
    return -errnum;
}

int err_prefix(int ret, const char *fmt, ...)
{
    char old[ERR_MAX];
    memcpy(old, err_buf, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err_buf))
        snprintf(err_buf + n, sizeof(err_buf) - (size_t)n, ": %s", old);
    return ret;
}

const char *err_msg(void)
{
    return err_buf[0] ? err_buf : "unknown error";
}

void err_clear(void)
{
    err_buf[0] = '\0';
}
