/* quail img io: a small qemu-io for tests and debugging.  Commands (given
 * with -c, or one per line on stdin):
 *   read [-P pat] OFF LEN       read, verifying every byte is pat
 *   write [-P pat] [-z [-u]] OFF LEN
 *   discard OFF LEN   flush   length
 *   aio-read [-P pat] OFF LEN   aio-write [-P pat] OFF LEN
 *                               (64 KiB requests, all in flight at once)
 *   wait                        block until stdin reaches EOF (holds the image open)
 */
#include "block/img.h"
#include "block/blockdev_opts.h"
#include "util/error.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define AIO_REQ (64u << 10)
#define MAX_ARGS 16

typedef struct AioWait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending, err;
} AioWait;

static void aio_done(void *opaque, int ret)
{
    AioWait *w = opaque;
    pthread_mutex_lock(&w->lock);
    if (ret < 0 && !w->err)
        w->err = ret;
    if (--w->pending == 0)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static int run_aio(BlockNode *bs, bool write, uint64_t off, uint8_t *buf, uint64_t len)
{
    uint64_t nreq = (len + AIO_REQ - 1) / AIO_REQ;
    struct iovec *iov = calloc(nreq ? nreq : 1, sizeof(*iov));
    if (!iov)
        return err_set(ENOMEM, "out of memory");
    AioWait w = { .pending = 1 };
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    int ret = 0;
    for (uint64_t i = 0; i < nreq && ret == 0; i++) {
        uint64_t o = i * AIO_REQ, n = len - o < AIO_REQ ? len - o : AIO_REQ;
        iov[i].iov_base = buf + o;
        iov[i].iov_len = n;
        pthread_mutex_lock(&w.lock);
        w.pending++;
        pthread_mutex_unlock(&w.lock);
        ret = write ? blk_aio_pwritev(bs, off + o, &iov[i], 1, aio_done, &w)
                    : blk_aio_preadv(bs, off + o, &iov[i], 1, aio_done, &w);
        if (ret < 0) {
            pthread_mutex_lock(&w.lock);
            w.pending--;
            pthread_mutex_unlock(&w.lock);
        }
    }
    pthread_mutex_lock(&w.lock);
    w.pending--;
    while (w.pending > 0)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    if (ret == 0 && w.err)
        ret = err_set(-w.err, "asynchronous %s failed", write ? "write" : "read");
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    free(iov);
    return ret;
}

static int run_cmd(BlockNode *bs, char *line)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    for (char *t = strtok(line, " \t\n"); t && argc < MAX_ARGS; t = strtok(NULL, " \t\n"))
        argv[argc++] = t;
    if (argc == 0)
        return 0;
    const char *cmd = argv[0];
    if (!strcmp(cmd, "flush"))
        return blk_flush(bs);
    if (!strcmp(cmd, "length")) {
        printf("%lld\n", (long long)blk_getlength(bs));
        return 0;
    }
    if (!strcmp(cmd, "wait")) {
        printf("waiting\n");
        fflush(stdout);
        char b[256];
        while (fgets(b, sizeof(b), stdin))
            ;
        return 0;
    }
    int pattern = -1;
    bool zero = false, unmap = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-P") && i + 1 < argc)
            pattern = (int)strtol(argv[++i], NULL, 0) & 0xff;
        else if (!strcmp(argv[i], "-z"))
            zero = true;
        else if (!strcmp(argv[i], "-u"))
            unmap = true;
        else
            return err_set(EINVAL, "%s: unknown option %s", cmd, argv[i]);
    }
    if (argc - i != 2)
        return err_set(EINVAL, "%s: expected OFFSET LENGTH", cmd);
    uint64_t off, len;
    if (parse_size(argv[i], &off) < 0 || parse_size(argv[i + 1], &len) < 0)
        return err_prefix(-EINVAL, "%s", cmd);
    if (len > (1ull << 30))
        return err_set(EINVAL, "%s: length too large", cmd);
    if (!strcmp(cmd, "discard")) {
        int ret = blk_discard(bs, off, len);
        if (ret == 0)
            printf("discard %llu/%llu bytes at offset %llu\n", (unsigned long long)len,
                   (unsigned long long)len, (unsigned long long)off);
        return ret;
    }
    bool write = !strcmp(cmd, "write") || !strcmp(cmd, "aio-write");
    bool aio = !strncmp(cmd, "aio-", 4);
    if (!write && strcmp(cmd, "read") && strcmp(cmd, "aio-read"))
        return err_set(EINVAL, "unknown command '%s'", cmd);
    if (write && zero) {
        int ret = blk_write_zeroes(bs, off, len, unmap ? BLK_ZERO_MAY_UNMAP : 0);
        if (ret == 0)
            printf("wrote %llu/%llu bytes at offset %llu\n", (unsigned long long)len,
                   (unsigned long long)len, (unsigned long long)off);
        return ret;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    memset(buf, write ? (pattern < 0 ? 0xcd : pattern) : 0, len);
    int ret = aio ? run_aio(bs, write, off, buf, len)
                  : write ? blk_pwrite(bs, off, buf, len) : blk_pread(bs, off, buf, len);
    if (ret == 0 && !write && pattern >= 0) {
        for (uint64_t k = 0; k < len; k++) {
            if (buf[k] != pattern) {
                ret = err_set(EILSEQ, "Pattern verification failed at offset %llu, %llu bytes",
                              (unsigned long long)(off + k), (unsigned long long)len);
                break;
            }
        }
    }
    if (ret == 0)
        printf("%s %llu/%llu bytes at offset %llu\n", write ? "wrote" : "read",
               (unsigned long long)len, (unsigned long long)len, (unsigned long long)off);
    free(buf);
    return ret;
}

int img_io_main(int argc, char **argv)
{
    const char *fmt = NULL;
    const char *cmds[256];
    int ncmds = 0;
    bool ro = false, image_opts = false, force_share = false;
    static const struct option longopts[] = {
        { "image-opts", no_argument, 0, 'I' },
        { "cmd", required_argument, 0, 'c' },
        { 0 },
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:c:rU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'r': ro = true; break;
        case 'U': force_share = true; ro = true; break;
        case 'I': image_opts = true; break;
        case 'c':
            if (ncmds == 256) {
                img_err("too many commands");
                return 1;
            }
            cmds[ncmds++] = optarg;
            break;
        default: return 1;
        }
    }
    if (optind != argc - 1) {
        img_err("Expecting one image file name");
        return 1;
    }
    int flags = (ro ? 0 : BLK_O_RDWR) | (force_share ? BLK_O_FORCE_SHARE : 0);
    BlockNode *bs;
    if (image_opts) {
        json_object *o;
        int ret = blockdev_opts_parse(argv[optind], &o);
        if (ret == 0) {
            ret = blk_open(o, flags, &bs);
            json_object_put(o);
        }
        if (ret < 0) {
            img_err("%s", err_msg());
            return 1;
        }
        if (img_adopt(argv[optind], flags, &bs) < 0)
            return 1;
    } else if (img_open(argv[optind], fmt, flags, &bs) < 0) {
        return 1;
    }
    int status = 0;
    char line[1024];
    for (int i = 0; i < ncmds || (ncmds == 0 && fgets(line, sizeof(line), stdin)); i++) {
        if (i < ncmds)
            snprintf(line, sizeof(line), "%s", cmds[i]);
        if (run_cmd(bs, line) < 0) {
            printf("%s\n", err_msg());
            status = 1;
            if (ncmds)
                break;
        }
        fflush(stdout);
    }
    img_close(bs);
    return status;
}
