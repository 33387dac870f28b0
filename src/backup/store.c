/* Backend selection and the lock-file conventions shared by the backends. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/store.h"
#include "util/error.h"

bool store_url_is_ssh(const char *url)
{
    return !strncmp(url, "ssh://", 6) || !strncmp(url, "sftp://", 7);
}

int store_open(const char *url, Store **out)
{
    if (!url || !url[0])
        return err_set(EINVAL, "empty repository location");
    if (store_url_is_ssh(url))
        return store_sftp_open(url, out);
    if (strstr(url, "://"))
        return err_set(EINVAL, "%s: unsupported repository URL (use a path or ssh://)", url);
    return store_local_open(url, out);
}

int store_lock_owner_text(char *buf, size_t len, const char *what)
{
    char host[256] = "unknown";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    return snprintf(buf, len, "pid=%d host=%s time=%lld what=%s\n", (int)getpid(), host,
                    (long long)time(NULL), what);
}

bool store_lock_is_stale(const char *text, int64_t mtime)
{
    if (time(NULL) - mtime > STORE_LOCK_STALE_SECS)
        return true;
    const char *p = strstr(text, "pid="), *h = strstr(text, "host=");
    if (!p || !h)
        return false;
    long pid = strtol(p + 4, NULL, 10);
    char host[256] = "", lhost[256] = "";
    size_t n = strcspn(h + 5, " \n");
    if (n >= sizeof(host))
        return false;
    memcpy(host, h + 5, n);
    gethostname(lhost, sizeof(lhost) - 1);
    if (strcmp(host, lhost) || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}
