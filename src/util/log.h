/* Diagnostics go to stderr with a "quail: " prefix so they never mix with the
 * guest's serial console on stdout. */
#ifndef QUAIL_UTIL_LOG_H
#define QUAIL_UTIL_LOG_H

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Guest-triggered problems: logged at most a few times per call site so a
 * misbehaving guest cannot flood the host's log. */
#define log_guest_error(...) do { \
        static int log_count_; \
        if (log_count_ < 8) { log_count_++; log_msg(__VA_ARGS__); } \
    } while (0)

#endif
