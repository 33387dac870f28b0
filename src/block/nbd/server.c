/* NBD server: handshake and transmission (see server.h). */
#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "block/nbd/server.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/log.h"

#define NBD_MAGIC            0x4e42444d41474943ull
#define NBD_IHAVEOPT         0x49484156454f5054ull
#define NBD_REP_MAGIC        0x3e889045565a9ull
#define NBD_REQUEST_MAGIC    0x25609513u
#define NBD_SIMPLE_MAGIC     0x67446698u
#define NBD_STRUCT_MAGIC     0x668e33efu

#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES      2u

enum {
    OPT_EXPORT_NAME = 1, OPT_ABORT = 2, OPT_LIST = 3, OPT_STARTTLS = 5, OPT_INFO = 6,
    OPT_GO = 7, OPT_STRUCTURED_REPLY = 8, OPT_LIST_META_CONTEXT = 9,
    OPT_SET_META_CONTEXT = 10,
};
#define REP_ACK          1u
#define REP_SERVER       2u
#define REP_INFO         3u
#define REP_META_CONTEXT 4u
#define REP_ERR(n)       (0x80000000u | (n))
#define REP_ERR_UNSUP    REP_ERR(1)
#define REP_ERR_INVALID  REP_ERR(3)
#define REP_ERR_UNKNOWN  REP_ERR(6)
#define REP_ERR_TOO_BIG  REP_ERR(9)

enum { INFO_EXPORT = 0, INFO_NAME = 1, INFO_DESCRIPTION = 2, INFO_BLOCK_SIZE = 3 };

enum {
    TF_HAS_FLAGS = 1 << 0, TF_READ_ONLY = 1 << 1, TF_SEND_FLUSH = 1 << 2, TF_SEND_FUA = 1 << 3,
    TF_SEND_TRIM = 1 << 5, TF_SEND_WRITE_ZEROES = 1 << 6, TF_SEND_DF = 1 << 7,
    TF_CAN_MULTI_CONN = 1 << 8,
};
enum { CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_WRITE_ZEROES,
       CMD_BLOCK_STATUS };
enum { CF_FUA = 1, CF_NO_HOLE = 2, CF_DF = 4, CF_REQ_ONE = 8, CF_FAST_ZERO = 16 };
#define CF_KNOWN 0x1fu
#define REPLY_FLAG_DONE 1u
enum { RT_NONE = 0, RT_OFFSET_DATA = 1, RT_BLOCK_STATUS = 5, RT_ERROR = 0x8001 };

enum { E_PERM = 1, E_IO = 5, E_NOMEM = 12, E_INVAL = 22, E_NOSPC = 28, E_OVERFLOW = 75,
       E_NOTSUP = 95 };

#define OPT_MAX_LEN      (64u * 1024)      /* option data we read */
#define OPT_SKIP_MAX     (1u * 1024 * 1024) /* larger ones are refused by dropping */
#define MAX_OPTIONS      4096
#define MAX_STRING       4096
#define MAX_META         63
#define MAX_CLIENTS      16

struct NbdServer {
    /* Exports can come and go at run time (QMP block-export-add/-del);
     * the array and client_exp[] are under `lock`. */
    const NbdExport **exports;
    unsigned nexports, exports_cap;
    int listen_fd;
    char *unix_path;
    uint16_t port;
    int stop_pipe[2];
    pthread_mutex_t lock;          /* clients[], nclients */
    pthread_cond_t idle;
    int clients[MAX_CLIENTS];
    const NbdExport *client_exp[MAX_CLIENTS];  /* set once a client picked one */
    unsigned nclients;
    pthread_mutex_t op_lock;       /* serializes export callbacks */
};

typedef struct Client {
    NbdServer *srv;
    int fd;
    bool no_zeroes, structured;
    const NbdExport *exp;
    uint64_t meta_mask;            /* bit i: context i selected (0 = base:allocation) */
    const NbdExport *meta_exp;
    void *buf;                     /* grown to the largest request seen */
    size_t buf_len;
} Client;

static int ensure_buf(Client *c, size_t len)
{
    if (len <= c->buf_len)
        return 0;
    void *p = realloc(c->buf, len);
    if (!p)
        return -1;
    c->buf = p;
    c->buf_len = len;
    return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
    char *b = buf;
    while (len) {
        ssize_t n = recv(fd, b, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const char *b = buf;
    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= n;
    }
    return 0;
}

static int skip(int fd, uint64_t len)
{
    char tmp[4096];
    while (len) {
        size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
        if (read_full(fd, tmp, n) < 0)
            return -1;
        len -= n;
    }
    return 0;
}

static int opt_reply(Client *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
    uint8_t h[20];
    put_be64(h, NBD_REP_MAGIC);
    put_be32(h + 8, opt);
    put_be32(h + 12, type);
    put_be32(h + 16, len);
    if (write_full(c->fd, h, sizeof(h)) < 0 || (len && write_full(c->fd, data, len) < 0))
        return -1;
    return 0;
}

static int opt_error(Client *c, uint32_t opt, uint32_t type, const char *msg)
{
    return opt_reply(c, opt, type, msg, (uint32_t)strlen(msg));
}

static const NbdExport *find_export(NbdServer *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    const NbdExport *e = NULL;
    for (unsigned i = 0; i < s->nexports && !e; i++)
        if (!strcmp(s->exports[i]->name, name))
            e = s->exports[i];
    if (!e && !name[0] && s->nexports)
        e = s->exports[0];
    pthread_mutex_unlock(&s->lock);
    return e;
}

/* Records which export the client on fd uses, unless it went away during
 * the handshake; removal waits for these to clear. */
static bool claim_export(NbdServer *s, int fd, const NbdExport *e)
{
    pthread_mutex_lock(&s->lock);
    bool live = false;
    for (unsigned i = 0; i < s->nexports; i++)
        live |= s->exports[i] == e;
    for (unsigned i = 0; live && i < s->nclients; i++)
        if (s->clients[i] == fd)
            s->client_exp[i] = e;
    pthread_mutex_unlock(&s->lock);
    return live;
}

static uint16_t tx_flags(const Client *c, const NbdExport *e)
{
    uint16_t f = TF_HAS_FLAGS | TF_SEND_FLUSH;
    if (c->structured)
        f |= TF_SEND_DF;
    if (e->ops->pwrite)
        f |= TF_SEND_FUA | TF_SEND_TRIM | TF_SEND_WRITE_ZEROES;
    else
        f |= TF_READ_ONLY | TF_CAN_MULTI_CONN;
    return f;
}

static const char *meta_name(const NbdExport *e, unsigned i)
{
    return i == 0 ? "base:allocation" : e->meta_contexts[i - 1];
}

static unsigned meta_count(const NbdExport *e)
{
    unsigned n = e->n_meta_contexts < MAX_META ? e->n_meta_contexts : MAX_META;
    return n + 1;
}

/* Copies a length-prefixed string out of option data; -1 if malformed. */
static int take_string(const uint8_t *data, uint32_t len, uint32_t *pos, char *out)
{
    if (len - *pos < 4)
        return -1;
    uint32_t n = get_be32(data + *pos);
    *pos += 4;
    if (n > MAX_STRING || n > len - *pos || memchr(data + *pos, '\0', n))
        return -1;
    memcpy(out, data + *pos, n);
    out[n] = '\0';
    *pos += n;
    return 0;
}

static int handle_meta(Client *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
    bool set = opt == OPT_SET_META_CONTEXT;
    if (!c->structured)
        return opt_error(c, opt, REP_ERR_INVALID, "structured replies not negotiated");
    char name[MAX_STRING + 1], q[MAX_STRING + 1];
    uint32_t pos = 0;
    if (take_string(data, len, &pos, name) < 0 || len - pos < 4)
        return opt_error(c, opt, REP_ERR_INVALID, "malformed request");
    uint32_t nq = get_be32(data + pos);
    pos += 4;
    const NbdExport *e = find_export(c->srv, name);
    if (!e)
        return opt_error(c, opt, REP_ERR_UNKNOWN, "no such export");
    uint64_t mask = 0;
    unsigned n = meta_count(e);
    if (nq == 0 && !set)
        mask = n >= 64 ? ~0ull : (1ull << n) - 1;
    for (uint32_t i = 0; i < nq; i++) {
        if (take_string(data, len, &pos, q) < 0)
            return opt_error(c, opt, REP_ERR_INVALID, "malformed query");
        size_t ql = strlen(q);
        for (unsigned k = 0; k < n; k++) {
            const char *m = meta_name(e, k);
            if (!strcmp(q, m) || (!set && ql && q[ql - 1] == ':' && !strncmp(m, q, ql)))
                mask |= 1ull << k;
        }
    }
    if (pos != len)
        return opt_error(c, opt, REP_ERR_INVALID, "trailing data");
    for (unsigned k = 0; k < n; k++) {
        if (!(mask & (1ull << k)))
            continue;
        const char *m = meta_name(e, k);
        size_t ml = strlen(m);
        uint8_t buf[4 + MAX_STRING];
        if (ml > MAX_STRING)
            continue;
        put_be32(buf, set ? k + 1 : 0);
        memcpy(buf + 4, m, ml);
        if (opt_reply(c, opt, REP_META_CONTEXT, buf, 4 + (uint32_t)ml) < 0)
            return -1;
    }
    if (set) {
        c->meta_mask = mask;
        c->meta_exp = e;
    }
    return opt_reply(c, opt, REP_ACK, NULL, 0);
}

/* Returns 1 to enter transmission, 0 to go on haggling, -1 to drop. */
static int handle_info_go(Client *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
    char name[MAX_STRING + 1];
    uint32_t pos = 0;
    if (take_string(data, len, &pos, name) < 0 || len - pos < 2)
        return opt_error(c, opt, REP_ERR_INVALID, "malformed request");
    uint16_t ninfo = get_be16(data + pos);
    pos += 2;
    if (len - pos != 2u * ninfo)
        return opt_error(c, opt, REP_ERR_INVALID, "malformed information requests");
    const NbdExport *e = find_export(c->srv, name);
    if (!e)
        return opt_error(c, opt, REP_ERR_UNKNOWN, "no such export");
    uint8_t b[4 + MAX_STRING];
    put_be16(b, INFO_EXPORT);
    put_be64(b + 2, e->size);
    put_be16(b + 10, tx_flags(c, e));
    if (opt_reply(c, opt, REP_INFO, b, 12) < 0)
        return -1;
    for (uint16_t i = 0; i < ninfo; i++) {
        uint16_t t = get_be16(data + pos + 2 * i);
        const char *s = t == INFO_NAME ? e->name : t == INFO_DESCRIPTION ? e->description : NULL;
        if (!s || strlen(s) > MAX_STRING)
            continue;
        put_be16(b, t);
        memcpy(b + 2, s, strlen(s));
        if (opt_reply(c, opt, REP_INFO, b, 2 + (uint32_t)strlen(s)) < 0)
            return -1;
    }
    put_be16(b, INFO_BLOCK_SIZE);
    put_be32(b + 2, 1);
    put_be32(b + 6, 4096);
    put_be32(b + 10, NBD_SERVER_MAX_PAYLOAD);
    if (opt_reply(c, opt, REP_INFO, b, 14) < 0 || opt_reply(c, opt, REP_ACK, NULL, 0) < 0)
        return -1;
    if (opt == OPT_INFO)
        return 0;
    c->exp = e;
    return 1;
}

static int handshake(Client *c)
{
    uint8_t h[18];
    put_be64(h, NBD_MAGIC);
    put_be64(h + 8, NBD_IHAVEOPT);
    put_be16(h + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    uint32_t cflags;
    if (write_full(c->fd, h, sizeof(h)) < 0 || read_full(c->fd, &cflags, 4) < 0)
        return -1;
    cflags = be32toh(cflags);
    if (cflags & ~(uint32_t)(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES))
        return -1;          /* the spec says: close on unknown client flags */
    c->no_zeroes = cflags & NBD_FLAG_NO_ZEROES;
    uint8_t *data = malloc(OPT_MAX_LEN);
    if (!data)
        return -1;
    int ret = -1;
    for (int count = 0; count < MAX_OPTIONS; count++) {
        uint8_t oh[16];
        if (read_full(c->fd, oh, sizeof(oh)) < 0 || get_be64(oh) != NBD_IHAVEOPT)
            break;
        uint32_t opt = get_be32(oh + 8), len = get_be32(oh + 12);
        if (len > OPT_MAX_LEN) {
            if (len > OPT_SKIP_MAX || skip(c->fd, len) < 0 ||
                opt_error(c, opt, REP_ERR_TOO_BIG, "option too large") < 0)
                break;
            continue;
        }
        if (read_full(c->fd, data, len) < 0)
            break;
        int r = 0;
        switch (opt) {
        case OPT_EXPORT_NAME: {
            char name[MAX_STRING + 1];
            if (len > MAX_STRING || memchr(data, '\0', len))
                goto out;
            memcpy(name, data, len);
            name[len] = '\0';
            const NbdExport *e = find_export(c->srv, name);
            if (!e)
                goto out;   /* this option has no error reply: the spec says disconnect */
            uint8_t b[10 + 124] = { 0 };
            put_be64(b, e->size);
            put_be16(b + 8, tx_flags(c, e));
            if (write_full(c->fd, b, c->no_zeroes ? 10 : sizeof(b)) < 0)
                goto out;
            c->exp = e;
            ret = 0;
            goto out;
        }
        case OPT_ABORT:
            opt_reply(c, opt, REP_ACK, NULL, 0);
            goto out;
        case OPT_LIST:
            if (len) {
                r = opt_error(c, opt, REP_ERR_INVALID, "LIST takes no data");
                break;
            }
            pthread_mutex_lock(&c->srv->lock);
            unsigned nexp = c->srv->nexports;
            char **names = calloc(nexp ? nexp : 1, sizeof(char *));
            for (unsigned i = 0; names && i < nexp; i++)
                names[i] = strdup(c->srv->exports[i]->name);
            pthread_mutex_unlock(&c->srv->lock);
            if (!names)
                goto out;
            for (unsigned i = 0; i < nexp && r == 0; i++) {
                const char *n = names[i];
                size_t nl = n ? strlen(n) : MAX_STRING + 1;
                uint8_t b[4 + MAX_STRING];
                if (nl > MAX_STRING)
                    continue;
                put_be32(b, (uint32_t)nl);
                memcpy(b + 4, n, nl);
                r = opt_reply(c, opt, REP_SERVER, b, 4 + (uint32_t)nl);
            }
            for (unsigned i = 0; i < nexp; i++)
                free(names[i]);
            free(names);
            if (r == 0)
                r = opt_reply(c, opt, REP_ACK, NULL, 0);
            break;
        case OPT_STRUCTURED_REPLY:
            if (len) {
                r = opt_error(c, opt, REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                break;
            }
            c->structured = true;
            r = opt_reply(c, opt, REP_ACK, NULL, 0);
            break;
        case OPT_LIST_META_CONTEXT:
        case OPT_SET_META_CONTEXT:
            r = handle_meta(c, opt, data, len);
            break;
        case OPT_INFO:
        case OPT_GO:
            r = handle_info_go(c, opt, data, len);
            if (r == 1) {
                ret = 0;
                goto out;
            }
            break;
        default:
            r = opt_error(c, opt, REP_ERR_UNSUP, "unsupported option");
            break;
        }
        if (r < 0)
            break;
    }
out:
    free(data);
    if (ret == 0 && c->meta_exp != c->exp)
        c->meta_mask = 0;     /* contexts were chosen for another export */
    return ret;
}

static int simple_reply(Client *c, uint64_t cookie, uint32_t err, const void *data, uint32_t len)
{
    uint8_t h[16];
    put_be32(h, NBD_SIMPLE_MAGIC);
    put_be32(h + 4, err);
    put_be64(h + 8, cookie);
    if (write_full(c->fd, h, sizeof(h)) < 0 || (len && write_full(c->fd, data, len) < 0))
        return -1;
    return 0;
}

static int chunk_header(Client *c, uint64_t cookie, uint16_t flags, uint16_t type, uint32_t len)
{
    uint8_t h[20];
    put_be32(h, NBD_STRUCT_MAGIC);
    put_be16(h + 4, flags);
    put_be16(h + 6, type);
    put_be64(h + 8, cookie);
    put_be32(h + 16, len);
    return write_full(c->fd, h, sizeof(h));
}

static int error_reply(Client *c, uint64_t cookie, uint32_t err, const char *msg)
{
    if (!c->structured)
        return simple_reply(c, cookie, err, NULL, 0);
    uint8_t b[6 + 128];
    size_t ml = strlen(msg) < 128 ? strlen(msg) : 128;
    put_be32(b, err);
    put_be16(b + 4, (uint16_t)ml);
    memcpy(b + 6, msg, ml);
    if (chunk_header(c, cookie, REPLY_FLAG_DONE, RT_ERROR, 6 + (uint32_t)ml) < 0)
        return -1;
    return write_full(c->fd, b, 6 + ml);
}

static int ok_reply(Client *c, uint64_t cookie)
{
    if (!c->structured)
        return simple_reply(c, cookie, 0, NULL, 0);
    return chunk_header(c, cookie, REPLY_FLAG_DONE, RT_NONE, 0);
}

static uint32_t to_nbd_errno(int err)
{
    switch (-err) {
    case EPERM: case EROFS: return E_PERM;
    case ENOMEM: return E_NOMEM;
    case EINVAL: return E_INVAL;
    case ENOSPC: return E_NOSPC;
    case EOVERFLOW: return E_OVERFLOW;
    case ENOTSUP: return E_NOTSUP;
    default: return E_IO;
    }
}

static int do_read(Client *c, uint64_t cookie, uint64_t off, uint32_t len)
{
    const NbdExport *e = c->exp;
    pthread_mutex_lock(&c->srv->op_lock);
    int r = e->ops->pread(e->opaque, c->buf, len, off);
    pthread_mutex_unlock(&c->srv->op_lock);
    if (r < 0)
        return error_reply(c, cookie, to_nbd_errno(r), "read failed");
    if (!c->structured)
        return simple_reply(c, cookie, 0, c->buf, len);
    uint8_t o[8];
    put_be64(o, off);
    if (chunk_header(c, cookie, REPLY_FLAG_DONE, RT_OFFSET_DATA, 8 + len) < 0 ||
        write_full(c->fd, o, 8) < 0)
        return -1;
    return write_full(c->fd, c->buf, len);
}

static int do_block_status(Client *c, uint64_t cookie, uint16_t flags, uint64_t off, uint32_t len)
{
    const NbdExport *e = c->exp;
    if (!c->structured || !c->meta_mask)
        return error_reply(c, cookie, E_INVAL, "no metadata context negotiated");
    unsigned n = meta_count(e), last = 0;
    for (unsigned k = 0; k < n; k++)
        if (c->meta_mask & (1ull << k))
            last = k;
    NbdExtent *ext = calloc(NBD_SERVER_MAX_EXTENTS, sizeof(*ext));
    uint8_t *out = malloc(4 + 8 * NBD_SERVER_MAX_EXTENTS);
    int ret = 0;
    if (!ext || !out) {
        ret = error_reply(c, cookie, E_NOMEM, "out of memory");
        goto done;
    }
    for (unsigned k = 0; k < n; k++) {
        if (!(c->meta_mask & (1ull << k)))
            continue;
        unsigned max = flags & CF_REQ_ONE ? 1 : NBD_SERVER_MAX_EXTENTS;
        int got;
        if (e->ops->block_status) {
            pthread_mutex_lock(&c->srv->op_lock);
            got = e->ops->block_status(e->opaque, k, off, len, ext, max);
            pthread_mutex_unlock(&c->srv->op_lock);
        } else {
            ext[0].length = len;
            ext[0].flags = 0;
            got = 1;
        }
        if (got < 0) {
            ret = error_reply(c, cookie, to_nbd_errno(got), "block status failed");
            goto done;
        }
        /* Trust the callback no more than the client: clip to the request. */
        uint32_t cnt = 0;
        uint64_t covered = 0;
        for (int i = 0; i < got && (unsigned)i < max && covered < len; i++) {
            uint64_t l = ext[i].length;
            if (!l)
                continue;
            if (l > len - covered)
                l = len - covered;
            put_be32(out + 4 + 8 * cnt, (uint32_t)l);
            put_be32(out + 8 + 8 * cnt, ext[i].flags);
            cnt++;
            covered += l;
        }
        if (!cnt) {
            ret = error_reply(c, cookie, E_IO, "block status returned nothing");
            goto done;
        }
        put_be32(out, k + 1);
        if (chunk_header(c, cookie, k == last ? REPLY_FLAG_DONE : 0, RT_BLOCK_STATUS,
                         4 + 8 * cnt) < 0 || write_full(c->fd, out, 4 + 8 * cnt) < 0) {
            ret = -1;
            goto done;
        }
    }
done:
    free(ext);
    free(out);
    return ret;
}

static int do_write_zeroes(Client *c, const NbdExport *e, uint64_t off, uint32_t len, bool trim)
{
    if (e->ops->write_zeroes)
        return e->ops->write_zeroes(e->opaque, len, off, trim);
    if (ensure_buf(c, len) < 0)
        return -ENOMEM;
    memset(c->buf, 0, len);
    return e->ops->pwrite(e->opaque, c->buf, len, off, false);
}

static int transmission(Client *c)
{
    const NbdExport *e = c->exp;
    bool writable = e->ops->pwrite != NULL;
    for (;;) {
        uint8_t h[28];
        if (read_full(c->fd, h, sizeof(h)) < 0 || get_be32(h) != NBD_REQUEST_MAGIC)
            return -1;
        uint16_t flags = get_be16(h + 4), type = get_be16(h + 6);
        uint64_t cookie = get_be64(h + 8), off = get_be64(h + 16);
        uint32_t len = get_be32(h + 24);
        bool in_range = off <= e->size && len <= e->size - off;
        int r;
        if (type == CMD_WRITE) {
            /* The payload follows whatever we think of the request. */
            if (len > NBD_SERVER_MAX_PAYLOAD || ensure_buf(c, len) < 0 ||
                read_full(c->fd, c->buf, len) < 0)
                return -1;
        }
        if (flags & ~CF_KNOWN) {
            r = error_reply(c, cookie, E_INVAL, "unknown command flags");
        } else switch (type) {
        case CMD_READ:
            if (!len || len > NBD_SERVER_MAX_PAYLOAD)
                r = error_reply(c, cookie, len ? E_OVERFLOW : E_INVAL, "bad read length");
            else if (!in_range)
                r = error_reply(c, cookie, E_INVAL, "read beyond the end");
            else if (ensure_buf(c, len) < 0)
                r = error_reply(c, cookie, E_NOMEM, "out of memory");
            else
                r = do_read(c, cookie, off, len);
            break;
        case CMD_WRITE:
        case CMD_TRIM:
        case CMD_WRITE_ZEROES:
            if (!writable) {
                r = error_reply(c, cookie, E_PERM, "read-only export");
                break;
            }
            if (!in_range) {
                r = error_reply(c, cookie, E_NOSPC, "beyond the end");
                break;
            }
            if (type == CMD_WRITE_ZEROES && len > NBD_SERVER_MAX_PAYLOAD &&
                !e->ops->write_zeroes) {
                r = error_reply(c, cookie, E_INVAL, "too long");
                break;
            }
            pthread_mutex_lock(&c->srv->op_lock);
            int res = 0;
            if (type == CMD_WRITE)
                res = len ? e->ops->pwrite(e->opaque, c->buf, len, off, flags & CF_FUA) : 0;
            else if (type == CMD_TRIM)
                res = e->ops->trim && len ? e->ops->trim(e->opaque, len, off) : 0;
            else if (len)
                res = do_write_zeroes(c, e, off, len, !(flags & CF_NO_HOLE));
            if (res == 0 && (flags & CF_FUA) && e->ops->flush)
                res = e->ops->flush(e->opaque);
            pthread_mutex_unlock(&c->srv->op_lock);
            r = res < 0 ? error_reply(c, cookie, to_nbd_errno(res), "write failed")
                        : ok_reply(c, cookie);
            break;
        case CMD_DISC:
            return 0;
        case CMD_FLUSH: {
            int res = 0;
            if (e->ops->flush) {
                pthread_mutex_lock(&c->srv->op_lock);
                res = e->ops->flush(e->opaque);
                pthread_mutex_unlock(&c->srv->op_lock);
            }
            r = res < 0 ? error_reply(c, cookie, to_nbd_errno(res), "flush failed")
                        : ok_reply(c, cookie);
            break;
        }
        case CMD_BLOCK_STATUS:
            if (!len || !in_range)
                r = error_reply(c, cookie, E_INVAL, "bad block status range");
            else
                r = do_block_status(c, cookie, flags, off, len);
            break;
        default:
            r = error_reply(c, cookie, E_INVAL, "unsupported command");
            break;
        }
        if (r < 0)
            return -1;
    }
}

int nbd_server_serve_fd(NbdServer *s, int fd)
{
    Client c = { .srv = s, .fd = fd };
    int ret = -EPROTO;
    if (handshake(&c) == 0 && c.exp && claim_export(s, fd, c.exp)) {
        ret = transmission(&c) == 0 ? 0 : -EPROTO;
        free(c.buf);
    }
    close(fd);
    return ret;
}

static void *client_thread(void *arg)
{
    NbdServer *s = ((void **)arg)[0];
    int fd = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    nbd_server_serve_fd(s, fd);
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nclients; i++)
        if (s->clients[i] == fd) {
            s->nclients--;
            s->clients[i] = s->clients[s->nclients];
            s->client_exp[i] = s->client_exp[s->nclients];
            break;
        }
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int nbd_server_new(const NbdExport *exports, unsigned n, NbdServer **out)
{
    NbdServer *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->listen_fd = -1;
    if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(s);
        return err_set_errno(errno, "pipe");
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->op_lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    for (unsigned i = 0; i < n; i++) {
        if (nbd_server_add_export(s, &exports[i]) < 0) {
            nbd_server_free(s);
            return -ENOMEM;
        }
    }
    *out = s;
    return 0;
}

int nbd_server_listen_unix(NbdServer *s, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_set(ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set_errno(errno, "socket");
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return err_set_errno(e, "listening on %s", path);
    }
    s->listen_fd = fd;
    s->unix_path = strdup(path);
    return 0;
}

int nbd_server_listen_tcp(NbdServer *s, uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return err_set_errno(errno, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t sl = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;
        close(fd);
        return err_set_errno(e, "listening on 127.0.0.1:%u", port);
    }
    s->listen_fd = fd;
    s->port = ntohs(sa.sin_port);
    return 0;
}

uint16_t nbd_server_port(const NbdServer *s)
{
    return s->port;
}

int nbd_server_run(NbdServer *s)
{
    if (s->listen_fd < 0)
        return err_set(EINVAL, "NBD server is not listening");
    int ret = 0;
    for (;;) {
        struct pollfd p[2] = { { s->listen_fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            ret = err_set_errno(errno, "poll");
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_mutex_lock(&s->lock);
        void **arg = s->nclients < MAX_CLIENTS ? malloc(2 * sizeof(void *)) : NULL;
        pthread_t t;
        if (arg) {
            arg[0] = s;
            arg[1] = (void *)(intptr_t)fd;
            s->client_exp[s->nclients] = NULL;
            s->clients[s->nclients++] = fd;
            if (pthread_create(&t, NULL, client_thread, arg) == 0) {
                pthread_detach(t);
            } else {
                s->nclients--;
                free(arg);
                arg = NULL;
            }
        }
        pthread_mutex_unlock(&s->lock);
        if (!arg) {
            log_msg("NBD server: refusing a client (too many)");
            close(fd);
        }
    }
    /* Wake every client thread by shutting its socket, then wait for them. */
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nclients; i++)
        shutdown(s->clients[i], SHUT_RDWR);
    while (s->nclients)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return ret;
}

void nbd_server_stop(NbdServer *s)
{
    char b = 1;
    ssize_t r = write(s->stop_pipe[1], &b, 1);
    (void)r;
}

void nbd_server_free(NbdServer *s)
{
    if (!s)
        return;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->unix_path) {
        unlink(s->unix_path);
        free(s->unix_path);
    }
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->op_lock);
    pthread_cond_destroy(&s->idle);
    free(s->exports);
    free(s);
}

int nbd_server_add_export(NbdServer *s, const NbdExport *e)
{
    pthread_mutex_lock(&s->lock);
    if (s->nexports == s->exports_cap) {
        unsigned cap = s->exports_cap ? 2 * s->exports_cap : 8;
        const NbdExport **p = realloc(s->exports, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&s->lock);
            return err_set(ENOMEM, "out of memory");
        }
        s->exports = p;
        s->exports_cap = cap;
    }
    s->exports[s->nexports++] = e;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int nbd_server_remove_export(NbdServer *s, const NbdExport *e, bool hard)
{
    pthread_mutex_lock(&s->lock);
    unsigned users = 0;
    for (unsigned i = 0; i < s->nclients; i++)
        users += s->client_exp[i] == e;
    if (users && !hard) {
        pthread_mutex_unlock(&s->lock);
        return -EBUSY;
    }
    for (unsigned i = 0; i < s->nexports; i++)
        if (s->exports[i] == e) {
            memmove(&s->exports[i], &s->exports[i + 1], (s->nexports - i - 1) * sizeof(*s->exports));
            s->nexports--;
            break;
        }
    /* Disconnect its clients and wait until none is inside a callback. */
    for (;;) {
        users = 0;
        for (unsigned i = 0; i < s->nclients; i++)
            if (s->client_exp[i] == e) {
                shutdown(s->clients[i], SHUT_RDWR);
                users++;
            }
        if (!users)
            break;
        pthread_cond_wait(&s->idle, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

unsigned nbd_server_export_clients(NbdServer *s, const NbdExport *e)
{
    pthread_mutex_lock(&s->lock);
    unsigned users = 0;
    for (unsigned i = 0; i < s->nclients; i++)
        users += s->client_exp[i] == e;
    pthread_mutex_unlock(&s->lock);
    return users;
}
