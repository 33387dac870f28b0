/* quail backup serve: one disk of a backup, read-only over NBD. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/cmd_common.h"
#include "backup/commands.h"
#include "backup/repo_internal.h"
#include "block/nbd/server.h"
#include "util/error.h"

typedef struct ServeDisk {
    const DiskIndex *disk;
    DiskReader *reader;
} ServeDisk;

static int serve_pread(void *opaque, void *buf, uint32_t len, uint64_t offset)
{
    ServeDisk *sd = opaque;
    int ret = disk_reader_pread(sd->reader, buf, len, offset);
    if (ret < 0)
        fprintf(stderr, "quail backup serve: %s\n", err_msg());
    return ret < 0 ? -EIO : 0;
}

/* Zero chunks are holes that read as zeroes; everything else is data. */
static int serve_block_status(void *opaque, unsigned ctx, uint64_t offset, uint32_t len,
                              NbdExtent *ext, unsigned max)
{
    ServeDisk *sd = opaque;
    const DiskIndex *d = sd->disk;
    unsigned n = 0;
    uint64_t end = offset + len;
    while (offset < end && n < max) {
        uint64_t ci = offset / d->chunk_size;
        uint64_t cend = (ci + 1) * d->chunk_size;
        if (cend > end)
            cend = end;
        uint32_t flags = ctx == 0 && d->chunks[ci].zero ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0;
        if (n && ext[n - 1].flags == flags) {
            ext[n - 1].length += cend - offset;
        } else {
            ext[n].length = cend - offset;
            ext[n].flags = flags;
            n++;
        }
        offset = cend;
    }
    return (int)n;
}

static const NbdExportOps serve_ops = {
    .pread = serve_pread,
    .block_status = serve_block_status,
};

static NbdServer *volatile running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        nbd_server_stop(running);
}

int backup_cmd_serve(int argc, char **argv)
{
    const char *disk = NULL, *sock = NULL, *port = NULL;
    const CmdOpt opts[] = {
        { "disk", true, &disk }, { "socket", true, &sock }, { "port", true, &port },
        { NULL, false, NULL },
    };
    const char *usage = "serve REPO ID --disk NODE [--socket PATH | --port N]";
    CmdArgs a;
    if (cmd_parse(argc, argv, opts, usage, &a))
        return 2;
    uint64_t portnum = 10809;
    if (a.npos != 1 || (sock && port) ||
        (port && (cmd_parse_size(port, &portnum) < 0 || portnum > 65535))) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    Repo *r;
    Manifest *m = NULL;
    NbdServer *srv = NULL;
    ServeDisk sd = { 0 };
    int status = 0;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("serve");
    if (repo_load_manifest(r, a.pos[0], &m) < 0) {
        status = cmd_fail("serve");
        goto out;
    }
    sd.disk = disk ? manifest_disk(m, disk) : m->ndisks == 1 ? &m->disks[0] : NULL;
    if (!sd.disk) {
        fprintf(stderr, "quail backup serve: backup %s has no disk %s (use --disk)\n", m->id,
                disk ? disk : "");
        status = 1;
        goto out;
    }
    if (disk_reader_open(r, sd.disk, &sd.reader) < 0) {
        status = cmd_fail("serve");
        goto out;
    }
    NbdExport exp = {
        .name = sd.disk->name, .description = m->id, .size = sd.disk->size,
        .ops = &serve_ops, .opaque = &sd,
    };
    if (nbd_server_new(&exp, 1, &srv) < 0 ||
        (sock ? nbd_server_listen_unix(srv, sock) : nbd_server_listen_tcp(srv, (uint16_t)portnum)) < 0) {
        status = cmd_fail("serve");
        goto out;
    }
    running = srv;
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (sock)
        printf("serving disk %s of backup %s read-only at nbd+unix:///%s?socket=%s\n",
               sd.disk->name, m->id, sd.disk->name, sock);
    else
        printf("serving disk %s of backup %s read-only at nbd://127.0.0.1:%u/%s\n",
               sd.disk->name, m->id, nbd_server_port(srv), sd.disk->name);
    fflush(stdout);
    if (nbd_server_run(srv) < 0)
        status = cmd_fail("serve");
    running = NULL;
out:
    nbd_server_free(srv);
    disk_reader_close(sd.reader);
    manifest_free(m);
    repo_close(r);
    return status;
}
