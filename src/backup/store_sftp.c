/* SFTP storage backend (libssh): ssh://[user@]host[:port]/path.  The repository
 * format is the same as on a local disk; only directory fsync is impossible
 * over SFTP (the server's rename is durable as its filesystem makes it). */
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backup/repo_internal.h"
#include "backup/store.h"
#include "util/error.h"

typedef struct SftpStore {
    Store s;
    ssh_session ssh;
    sftp_session sftp;
    char *root;
    bool can_fsync;
    bool locked;
} SftpStore;

static char *spath(SftpStore *ss, const char *rel)
{
    char *p;
    if (!strcmp(rel, "."))
        return strdup(ss->root);
    if (asprintf(&p, "%s/%s", ss->root, rel) < 0)
        return NULL;
    return p;
}

static int sftp_err(SftpStore *ss, const char *what, const char *path)
{
    int code = sftp_get_error(ss->sftp);
    switch (code) {
    case SSH_FX_NO_SUCH_FILE:
        err_set(ENOENT, "%s %s: no such file", what, path);
        return -ENOENT;
    case SSH_FX_PERMISSION_DENIED:
        return err_set(EACCES, "%s %s: permission denied", what, path);
    case SSH_FX_FILE_ALREADY_EXISTS:
        err_set(EEXIST, "%s %s: exists", what, path);
        return -EEXIST;
    default:
        return err_set(EIO, "%s %s: SFTP error %d (%s)", what, path, code,
                       ssh_get_error(ss->ssh));
    }
}

static int sftp_store_read(Store *s, const char *path, void **buf, size_t *len, size_t max)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    char *data = NULL;
    sftp_file f = sftp_open(ss->sftp, p, O_RDONLY, 0);
    if (!f) {
        ret = sftp_err(ss, "opening", p);
        goto out;
    }
    sftp_attributes a = sftp_fstat(f);
    if (!a) {
        ret = sftp_err(ss, "stat of", p);
        goto out;
    }
    uint64_t size = a->size;
    sftp_attributes_free(a);
    if (size > max) {
        ret = err_set(EFBIG, "%s: %llu bytes, more than the %zu allowed", p,
                      (unsigned long long)size, max);
        goto out;
    }
    data = malloc(size ? size : 1);
    if (!data) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = sftp_read(f, data + done, size - done);
        if (n < 0) {
            ret = sftp_err(ss, "reading", p);
            goto out;
        }
        if (n == 0)
            break;
        done += n;
    }
    *buf = data;
    *len = done;
    data = NULL;
out:
    if (f)
        sftp_close(f);
    free(data);
    free(p);
    return ret;
}

static int sftp_store_read_range(Store *s, const char *path, uint64_t offset, void *buf,
                                 size_t len)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    sftp_file f = sftp_open(ss->sftp, p, O_RDONLY, 0);
    if (!f) {
        ret = sftp_err(ss, "opening", p);
        free(p);
        return ret;
    }
    if (sftp_seek64(f, offset) < 0)
        ret = sftp_err(ss, "seeking in", p);
    size_t done = 0;
    while (ret == 0 && done < len) {
        ssize_t n = sftp_read(f, (char *)buf + done, len - done);
        if (n < 0)
            ret = sftp_err(ss, "reading", p);
        else if (n == 0)
            ret = err_set(ENODATA, "%s ends before %llu", p, (unsigned long long)(offset + len));
        else
            done += n;
    }
    sftp_close(f);
    free(p);
    return ret;
}

static int sftp_store_stat(Store *s, const char *path, uint64_t *size)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    sftp_attributes a = sftp_stat(ss->sftp, p);
    int ret = 0;
    if (!a) {
        ret = sftp_err(ss, "stat of", p);
    } else {
        if (size)
            *size = a->size;
        sftp_attributes_free(a);
    }
    free(p);
    return ret;
}

static int write_file(SftpStore *ss, const char *p, const void *buf, size_t len, int flags)
{
    sftp_file f = sftp_open(ss->sftp, p, O_WRONLY | O_CREAT | flags, 0600);
    if (!f)
        return sftp_err(ss, "creating", p);
    const char *b = buf;
    int ret = 0;
    while (len) {
        size_t want = len > 65536 ? 65536 : len;
        ssize_t n = sftp_write(f, b, want);
        if (n <= 0) {
            ret = sftp_err(ss, "writing", p);
            break;
        }
        b += n;
        len -= n;
    }
    if (!ret && ss->can_fsync && sftp_fsync(f) < 0)
        ret = sftp_err(ss, "syncing", p);
    if (sftp_close(f) < 0 && !ret)
        ret = sftp_err(ss, "closing", p);
    return ret;
}

static int sftp_store_write_atomic(Store *s, const char *path, const void *buf, size_t len,
                                   bool exclusive)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, path), *tmp = NULL;
    uint32_t rnd = 0;
    getrandom(&rnd, sizeof(rnd), 0);
    if (!p || asprintf(&tmp, "%s.tmp.%d.%08x", p, (int)getpid(), rnd) < 0) {
        free(p);
        return err_set(ENOMEM, "out of memory");
    }
    int ret = write_file(ss, tmp, buf, len, O_EXCL);
    if (ret < 0)
        goto fail;
    /* SFTPv3 rename never replaces an existing file (OpenSSH links then
     * unlinks), which is exactly the exclusive semantics. */
    if (!exclusive)
        sftp_unlink(ss->sftp, p);
    if (sftp_rename(ss->sftp, tmp, p) < 0) {
        sftp_attributes a = sftp_stat(ss->sftp, p);
        if (a) {
            sftp_attributes_free(a);
            err_set(EEXIST, "%s exists", p);
            ret = -EEXIST;
        } else {
            ret = sftp_err(ss, "renaming", tmp);
        }
        goto fail;
    }
    free(tmp);
    free(p);
    return 0;
fail:
    sftp_unlink(ss->sftp, tmp);
    free(tmp);
    free(p);
    return ret;
}

static int sftp_store_list(Store *s, const char *dir, int (*cb)(void *, const char *), void *opaque)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, dir);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    sftp_dir d = sftp_opendir(ss->sftp, p);
    if (!d) {
        int ret = sftp_err(ss, "listing", p);
        free(p);
        return ret;
    }
    int ret = 0;
    sftp_attributes a;
    while ((a = sftp_readdir(ss->sftp, d))) {
        if (strcmp(a->name, ".") && strcmp(a->name, ".."))
            ret = cb(opaque, a->name);
        sftp_attributes_free(a);
        if (ret)
            break;
    }
    if (!ret && !sftp_dir_eof(d))
        ret = sftp_err(ss, "listing", p);
    sftp_closedir(d);
    free(p);
    return ret;
}

static int sftp_store_mkdir(Store *s, const char *path)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    if (sftp_mkdir(ss->sftp, p, 0700) < 0) {
        /* Servers answer "failure" rather than "exists" for an existing dir. */
        sftp_attributes a = sftp_stat(ss->sftp, p);
        if (a && a->type == SSH_FILEXFER_TYPE_DIRECTORY)
            ret = 0;
        else
            ret = sftp_err(ss, "creating", p);
        sftp_attributes_free(a);
    }
    free(p);
    return ret;
}

static int sftp_store_remove(Store *s, const char *path)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, path);
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = sftp_unlink(ss->sftp, p) < 0 ? sftp_err(ss, "removing", p) : 0;
    free(p);
    return ret;
}

/* Over SFTP there is no flock: the lock is a file created exclusively, holding
 * its owner; a holder that died on this host, or that stopped refreshing it,
 * may be broken. */
static int sftp_store_lock(Store *s, const char *owner)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, "lock");
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int ret = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        ret = write_file(ss, p, owner, strlen(owner), O_EXCL);
        if (ret < 0 && ret != -EEXIST) {
            /* SFTPv3 servers report an exclusive create of an existing file
             * as a plain failure. */
            sftp_attributes ex = sftp_stat(ss->sftp, p);
            if (ex)
                ret = -EEXIST;
            sftp_attributes_free(ex);
        }
        if (ret != -EEXIST)
            break;
        void *text = NULL;
        size_t len = 0;
        sftp_attributes a = sftp_stat(ss->sftp, p);
        int64_t mtime = a ? (int64_t)a->mtime : (int64_t)time(NULL);
        sftp_attributes_free(a);
        if (sftp_store_read(s, "lock", &text, &len, 4096) < 0) {
            continue;      /* vanished meanwhile: try again */
        }
        char *t = realloc(text, len + 1);
        if (!t) {
            free(text);
            ret = err_set(ENOMEM, "out of memory");
            break;
        }
        t[len] = '\0';
        if (attempt == 0 && store_lock_is_stale(t, mtime)) {
            free(t);
            sftp_unlink(ss->sftp, p);
            continue;
        }
        t[strcspn(t, "\n")] = '\0';
        ret = err_set(EBUSY, "repository %s is locked by %s (if that process is gone, remove "
                      "%s)", ss->s.url, t, p);
        free(t);
        break;
    }
    if (ret == 0)
        ss->locked = true;
    free(p);
    return ret;
}

static void sftp_store_lock_refresh(Store *s)
{
    SftpStore *ss = (SftpStore *)s;
    char *p = spath(ss, "lock");
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[1] = tv[0];
    if (p && ss->locked)
        sftp_utimes(ss->sftp, p, tv);
    free(p);
}

static void sftp_store_unlock(Store *s)
{
    SftpStore *ss = (SftpStore *)s;
    if (!ss->locked)
        return;
    char *p = spath(ss, "lock");
    if (p)
        sftp_unlink(ss->sftp, p);
    free(p);
    ss->locked = false;
}

static void sftp_store_close(Store *s)
{
    SftpStore *ss = (SftpStore *)s;
    sftp_store_unlock(s);
    if (ss->sftp)
        sftp_free(ss->sftp);
    if (ss->ssh) {
        ssh_disconnect(ss->ssh);
        ssh_free(ss->ssh);
    }
    free(ss->root);
    free(ss->s.url);
    free(ss);
}

static const StoreOps sftp_ops = {
    .name = "sftp",
    .read = sftp_store_read,
    .read_range = sftp_store_read_range,
    .write_atomic = sftp_store_write_atomic,
    .stat = sftp_store_stat,
    .list = sftp_store_list,
    .mkdir = sftp_store_mkdir,
    .remove = sftp_store_remove,
    .lock = sftp_store_lock,
    .lock_refresh = sftp_store_lock_refresh,
    .unlock = sftp_store_unlock,
    .close = sftp_store_close,
};

typedef struct SshUrl {
    char user[128], host[256], path[4096];
    unsigned port;
} SshUrl;

static int parse_url(const char *url, SshUrl *u)
{
    memset(u, 0, sizeof(*u));
    const char *p = strstr(url, "://") + 3;
    const char *slash = strchr(p, '/');
    if (!slash || !slash[1])
        return err_set(EINVAL, "%s: expected ssh://[user@]host[:port]/path", url);
    const char *at = memchr(p, '@', slash - p);
    if (at) {
        if ((size_t)(at - p) >= sizeof(u->user) || at == p)
            return err_set(EINVAL, "%s: bad user", url);
        memcpy(u->user, p, at - p);
        p = at + 1;
    }
    const char *hend;
    if (*p == '[') {                       /* [IPv6]:port */
        hend = memchr(p, ']', slash - p);
        if (!hend)
            return err_set(EINVAL, "%s: bad host", url);
        p++;
    } else {
        hend = memchr(p, ':', slash - p);
        if (!hend)
            hend = slash;
    }
    if (hend == p || (size_t)(hend - p) >= sizeof(u->host))
        return err_set(EINVAL, "%s: bad host", url);
    memcpy(u->host, p, hend - p);
    const char *colon = memchr(hend, ':', slash - hend);
    if (colon) {
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (end != slash || port == 0 || port > 65535)
            return err_set(EINVAL, "%s: bad port", url);
        u->port = (unsigned)port;
    }
    /* "/~/dir" is relative to the login directory, like scp's. */
    const char *path = !strncmp(slash, "/~/", 3) ? slash + 3 : slash;
    if (strlen(path) >= sizeof(u->path))
        return err_set(EINVAL, "%s: path too long", url);
    strcpy(u->path, path);
    size_t n = strlen(u->path);
    while (n > 1 && u->path[n - 1] == '/')
        u->path[--n] = '\0';
    return 0;
}

static int check_host(SftpStore *ss, const SshUrl *u)
{
    enum ssh_known_hosts_e known = ssh_session_is_known_server(ss->ssh);
    switch (known) {
    case SSH_KNOWN_HOSTS_OK:
        return 0;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        return err_set(EACCES, "host key of %s has CHANGED (or is of another type than the "
                       "one in known_hosts): refusing to connect; someone may be "
                       "intercepting the connection", u->host);
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
        if (!repo_ssh_accepts_new_hosts())
            return err_set(EACCES, "host %s is not in known_hosts; verify its key and add it "
                           "(ssh-keyscan), or pass --accept-new-host / set "
                           "QUAIL_SSH_ACCEPT_NEW=1 to trust it on first use", u->host);
        if (ssh_session_update_known_hosts(ss->ssh) != SSH_OK)
            return err_set(EIO, "adding %s to known_hosts: %s", u->host, ssh_get_error(ss->ssh));
        return 0;
    default:
        return err_set(EIO, "checking host key of %s: %s", u->host, ssh_get_error(ss->ssh));
    }
}

int store_sftp_open(const char *url, Store **out)
{
    SshUrl u;
    int ret = parse_url(url, &u);
    if (ret < 0)
        return ret;
    SftpStore *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return err_set(ENOMEM, "out of memory");
    ss->s.ops = &sftp_ops;
    ss->s.url = strdup(url);
    ss->root = strdup(u.path);
    ss->ssh = ssh_new();
    if (!ss->s.url || !ss->root || !ss->ssh) {
        ret = err_set(ENOMEM, "out of memory");
        goto fail;
    }
    const char *dir = getenv("QUAIL_SSH_DIR");
    ssh_options_set(ss->ssh, SSH_OPTIONS_HOST, u.host);
    if (dir) {
        char *kh = NULL;
        ssh_options_set(ss->ssh, SSH_OPTIONS_SSH_DIR, dir);
        if (asprintf(&kh, "%s/known_hosts", dir) >= 0)
            ssh_options_set(ss->ssh, SSH_OPTIONS_KNOWNHOSTS, kh);
        free(kh);
    }
    ssh_options_parse_config(ss->ssh, NULL);
    if (u.user[0])
        ssh_options_set(ss->ssh, SSH_OPTIONS_USER, u.user);
    if (u.port)
        ssh_options_set(ss->ssh, SSH_OPTIONS_PORT, &u.port);
    if (ssh_connect(ss->ssh) != SSH_OK) {
        ret = err_set(ECONNREFUSED, "connecting to %s: %s", u.host, ssh_get_error(ss->ssh));
        goto fail;
    }
    if ((ret = check_host(ss, &u)) < 0)
        goto fail;
    if (ssh_userauth_publickey_auto(ss->ssh, NULL, NULL) != SSH_AUTH_SUCCESS) {
        ret = err_set(EACCES, "authenticating to %s: no ssh-agent key or default key was "
                      "accepted (%s)", u.host, ssh_get_error(ss->ssh));
        goto fail;
    }
    ss->sftp = sftp_new(ss->ssh);
    if (!ss->sftp || sftp_init(ss->sftp) != SSH_OK) {
        ret = err_set(EIO, "starting SFTP on %s: %s", u.host, ssh_get_error(ss->ssh));
        goto fail;
    }
    ss->can_fsync = sftp_extension_supported(ss->sftp, "fsync@openssh.com", "1");
    *out = &ss->s;
    return 0;
fail:
    sftp_store_close(&ss->s);
    return ret;
}
