#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

void log_msg(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "quail: %s\n", buf);
}
