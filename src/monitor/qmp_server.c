/* QMP sockets: listeners from -qmp specs, any number of clients, one thread.
 *
 * Replies and events go through a per-client output buffer flushed when the
 * socket is writable, so a client that stops reading can only stall itself;
 * it is dropped once its buffer passes a bound. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "monitor/qmp.h"
#include "util/error.h"
#include "util/log.h"

#define MAX_LISTENERS 4
#define MAX_CLIENTS 64
#define MAX_OUTBUF (16u << 20)

typedef struct Client {
    int fd;
    bool negotiated;
    bool closing;
    QmpReader *reader;
    char *out;
    size_t out_len, out_cap;
} Client;

static struct {
    pthread_mutex_t lock;       /* guards clients' output buffers and the lists */
    pthread_t thread;
    bool running;
    int wake_fd;
    int listeners[MAX_LISTENERS];
    char *unix_paths[MAX_LISTENERS];
    int nlisteners;
    Client *clients[MAX_CLIENTS];
    int nclients;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1 };

static void wake(void)
{
    uint64_t one = 1;
    if (srv.wake_fd >= 0 && write(srv.wake_fd, &one, sizeof(one)) < 0) {
        /* The counter can only saturate; the loop wakes anyway. */
    }
}

/* Appends one JSON message plus CRLF, as QEMU terminates them.  Caller holds lock. */
static void client_queue(Client *c, json_object *msg)
{
    const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);
    if (c->closing)
        return;
    if (c->out_len + n + 2 > MAX_OUTBUF) {
        log_msg("QMP client not reading its replies; dropping it");
        c->closing = true;
        return;
    }
    if (c->out_len + n + 2 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n + 2)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            c->closing = true;
            return;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    memcpy(c->out + c->out_len + n, "\r\n", 2);
    c->out_len += n + 2;
}

void qmp_event(const char *name, json_object *data)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_object *ts = json_object_new_object();
    json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
    json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "event", json_object_new_string(name));
    if (data)   /* QEMU omits "data" for events that carry none */
        json_object_object_add(ev, "data", data);
    json_object_object_add(ev, "timestamp", ts);
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.nclients; i++)
        if (srv.clients[i]->negotiated)
            client_queue(srv.clients[i], ev);
    pthread_mutex_unlock(&srv.lock);
    json_object_put(ev);
    wake();
}

json_object *qmp_greeting(void)
{
    json_object *qemu = json_object_new_object();
    /* The QMP dialect we follow is QEMU 7.2's; the package names quail. */
    json_object_object_add(qemu, "micro", json_object_new_int(0));
    json_object_object_add(qemu, "minor", json_object_new_int(2));
    json_object_object_add(qemu, "major", json_object_new_int(7));
    json_object *ver = json_object_new_object();
    json_object_object_add(ver, "qemu", qemu);
    json_object_object_add(ver, "package", json_object_new_string("quail " QUAIL_VERSION));
    json_object *q = json_object_new_object();
    json_object_object_add(q, "version", ver);
    json_object_object_add(q, "capabilities", json_object_new_array());
    json_object *g = json_object_new_object();
    json_object_object_add(g, "QMP", q);
    return g;
}

static void emit_request(json_object *val, const char *err, void *opaque)
{
    Client *c = opaque;
    json_object *reply;
    if (err) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "class", json_object_new_string("GenericError"));
        json_object_object_add(e, "desc", json_object_new_string(err));
        reply = json_object_new_object();
        json_object_object_add(reply, "error", e);
    } else {
        /* The handler runs without srv.lock: it may emit events itself. */
        bool neg = c->negotiated;
        reply = qmp_dispatch(val, &neg);
        pthread_mutex_lock(&srv.lock);
        c->negotiated = neg;
        pthread_mutex_unlock(&srv.lock);
        json_object_put(val);
    }
    pthread_mutex_lock(&srv.lock);
    client_queue(c, reply);
    pthread_mutex_unlock(&srv.lock);
    json_object_put(reply);
}

static void client_add(int fd)
{
    Client *c = calloc(1, sizeof(*c));
    if (!c || !(c->reader = qmp_reader_new())) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    json_object *g = qmp_greeting();
    pthread_mutex_lock(&srv.lock);
    if (srv.nclients == MAX_CLIENTS) {
        pthread_mutex_unlock(&srv.lock);
        log_msg("too many QMP clients; refusing one");
        json_object_put(g);
        qmp_reader_free(c->reader);
        free(c);
        close(fd);
        return;
    }
    client_queue(c, g);
    srv.clients[srv.nclients++] = c;
    pthread_mutex_unlock(&srv.lock);
    json_object_put(g);
}

/* Caller holds lock. */
static void client_remove(int i)
{
    Client *c = srv.clients[i];
    close(c->fd);
    qmp_reader_free(c->reader);
    free(c->out);
    free(c);
    srv.clients[i] = srv.clients[--srv.nclients];
}

static void client_flush(Client *c)
{
    while (c->out_len) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->closing = true;
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
}

static void *server_thread(void *arg)
{
    (void)arg;
    struct pollfd pfd[1 + MAX_LISTENERS + MAX_CLIENTS];
    Client *polled[MAX_CLIENTS];
    for (;;) {
        int n = 0;
        pfd[n++] = (struct pollfd){ .fd = srv.wake_fd, .events = POLLIN };
        pthread_mutex_lock(&srv.lock);
        if (!srv.running) {
            pthread_mutex_unlock(&srv.lock);
            break;
        }
        for (int i = 0; i < srv.nlisteners; i++)
            pfd[n++] = (struct pollfd){ .fd = srv.listeners[i], .events = POLLIN };
        int first_client = n;
        for (int i = 0; i < srv.nclients; i++) {
            Client *c = srv.clients[i];
            polled[i] = c;
            pfd[n++] = (struct pollfd){ .fd = c->fd,
                .events = (short)(POLLIN | (c->out_len ? POLLOUT : 0)) };
        }
        int nclients = srv.nclients;
        pthread_mutex_unlock(&srv.lock);

        if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            if (read(srv.wake_fd, &v, sizeof(v)) < 0) {
                /* spurious wake-up: nothing to drain */
            }
        }
        for (int i = 1; i < first_client; i++) {
            if (pfd[i].revents & POLLIN) {
                int fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    client_add(fd);
            }
        }
        for (int i = 0; i < nclients; i++) {
            Client *c = polled[i];
            short re = pfd[first_client + i].revents;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                char buf[65536];
                ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
                if (r > 0)
                    qmp_reader_feed(c->reader, buf, (size_t)r, emit_request, c);
                else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                    c->closing = true;
            }
        }
        pthread_mutex_lock(&srv.lock);
        for (int i = srv.nclients - 1; i >= 0; i--) {
            client_flush(srv.clients[i]);
            if (srv.clients[i]->closing)
                client_remove(i);
        }
        pthread_mutex_unlock(&srv.lock);
    }
    return NULL;
}

/* Parses "unix:PATH,..." / "tcp:HOST:PORT,..." and returns a listening socket. */
static int listen_spec(const char *spec, char **unix_path, bool *wait)
{
    char *copy = strdup(spec);
    if (!copy)
        return err_set(ENOMEM, "out of memory");
    *wait = true;   /* QEMU's default for server sockets */
    bool server = false;
    char *opts = strchr(copy, ',');
    if (opts)
        *opts++ = '\0';
    for (char *o = opts, *next; o && *o; o = next) {
        next = strchr(o, ',');
        if (next)
            *next++ = '\0';
        if (!strcmp(o, "server") || !strcmp(o, "server=on"))
            server = true;
        else if (!strcmp(o, "nowait") || !strcmp(o, "wait=off"))
            *wait = false;
        else if (!strcmp(o, "wait=on"))
            *wait = true;
        else if (!strcmp(o, "server=off"))
            server = false;
        else {
            int r = err_set(EINVAL, "-qmp %s: unsupported option '%s'", spec, o);
            free(copy);
            return r;
        }
    }
    int fd = -1, ret;
    if (!server) {
        ret = err_set(EINVAL, "-qmp %s: only server sockets are supported (add server=on)", spec);
        goto out;
    }
    if (!strncmp(copy, "unix:", 5)) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = copy + 5;
        if (strlen(path) >= sizeof(sa.sun_path)) {
            ret = err_set(ENAMETOOLONG, "-qmp: socket path too long: %s", path);
            goto out;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            ret = err_set_errno(errno, "socket");
            goto out;
        }
        unlink(path);
        /* Owner-only from the first instant the path exists. */
        mode_t old = umask(0177);
        int b = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (b < 0 || listen(fd, 8) < 0) {
            ret = err_set_errno(errno, "-qmp: cannot listen on %s", path);
            goto out;
        }
        *unix_path = strdup(path);
    } else if (!strncmp(copy, "tcp:", 4)) {
        char *host = copy + 4, *port = strrchr(host, ':');
        if (!port) {
            ret = err_set(EINVAL, "-qmp %s: expected tcp:HOST:PORT", spec);
            goto out;
        }
        *port++ = '\0';
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE }, *ai;
        int g = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
        if (g) {
            ret = err_set(EINVAL, "-qmp %s: %s", spec, gai_strerror(g));
            goto out;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0) {
            ret = err_set_errno(errno, "-qmp: cannot listen on %s:%s", host, port);
            freeaddrinfo(ai);
            goto out;
        }
        freeaddrinfo(ai);
    } else {
        ret = err_set(EINVAL, "-qmp %s: expected unix:PATH or tcp:HOST:PORT", spec);
        goto out;
    }
    free(copy);
    return fd;
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return ret;
}

int qmp_server_start(const char *spec)
{
    char *path = NULL;
    bool wait = false;
    int fd = listen_spec(spec, &path, &wait);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&srv.lock);
    if (srv.nlisteners == MAX_LISTENERS) {
        pthread_mutex_unlock(&srv.lock);
        close(fd);
        free(path);
        return err_set(ENOSPC, "too many -qmp sockets");
    }
    srv.unix_paths[srv.nlisteners] = path;
    srv.listeners[srv.nlisteners++] = fd;
    bool start = !srv.running;
    if (start) {
        srv.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        srv.running = true;
    }
    pthread_mutex_unlock(&srv.lock);
    if (wait) {
        /* wait=on: like QEMU, do not start the machine before a client is there. */
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            client_add(c);
    }
    if (start && pthread_create(&srv.thread, NULL, server_thread, NULL)) {
        srv.running = false;
        return err_set(EAGAIN, "cannot start the QMP thread");
    }
    wake();
    return 0;
}

void qmp_server_stop_all(void)
{
    pthread_mutex_lock(&srv.lock);
    bool was = srv.running;
    srv.running = false;
    pthread_mutex_unlock(&srv.lock);
    if (!was)
        return;
    wake();
    pthread_join(srv.thread, NULL);
    pthread_mutex_lock(&srv.lock);
    /* Deliver what is queued (the reply to `quit`, SHUTDOWN) before closing. */
    for (int i = srv.nclients - 1; i >= 0; i--) {
        Client *c = srv.clients[i];
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
        if (c->out_len && send(c->fd, c->out, c->out_len, MSG_NOSIGNAL) < 0) {
            /* the client is gone; nothing to deliver */
        }
        client_remove(i);
    }
    for (int i = 0; i < srv.nlisteners; i++) {
        close(srv.listeners[i]);
        if (srv.unix_paths[i]) {
            unlink(srv.unix_paths[i]);
            free(srv.unix_paths[i]);
        }
    }
    srv.nlisteners = 0;
    close(srv.wake_fd);
    srv.wake_fd = -1;
    pthread_mutex_unlock(&srv.lock);
}
