/* quail's one error convention.
 *
 * A function that can fail returns 0 (or a non-negative count) on success and a
 * negative errno on failure.  Before returning the error it records a message with
 * err_set(), which the caller may show with err_msg() or extend with err_prefix().
 * The message is per thread, so vCPU threads, I/O threads and the monitor never
 * trample each other's text.  Nothing below main() calls exit().
 */
#ifndef QUAIL_UTIL_ERROR_H
#define QUAIL_UTIL_ERROR_H

#include <errno.h>

/* Records a printf-style message and returns -errnum (errnum is a positive errno). */
int err_set(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set() but appends ": strerror(errnum)". */
int err_set_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends context to the current message ("opening disk0: <old message>").
 * Returns ret unchanged so it can be used as `return err_prefix(ret, "...")`. */
int err_prefix(int ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message set on this thread; never NULL. */
const char *err_msg(void);

void err_clear(void);

#endif
