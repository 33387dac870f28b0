/* Test helper: backs up a raw image file into a repository through the writer
 * API, as the data path does, and prints the new backup id.
 *   repo_mkbackup [--accept-new-host] REPO IMAGE [--vm NAME] [--disk NAME]
 *                 [--parent ID] [--time UNIX] [--pack-size BYTES]
 * With --parent only chunks that differ from the parent are put, like a backup
 * driven by a dirty bitmap. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/chunk.h"
#include "backup/repo.h"
#include "util/error.h"

static int die(const char *what)
{
    fprintf(stderr, "repo_mkbackup: %s: %s\n", what, err_msg());
    return 1;
}

int main(int argc, char **argv)
{
    const char *repo = NULL, *image = NULL, *vm = "testvm", *disk = "drive0", *parent = NULL;
    int64_t t = 0;
    size_t pack_size = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--accept-new-host"))
            repo_ssh_accept_new_hosts(true);
        else if (!strcmp(argv[i], "--vm") && i + 1 < argc)
            vm = argv[++i];
        else if (!strcmp(argv[i], "--disk") && i + 1 < argc)
            disk = argv[++i];
        else if (!strcmp(argv[i], "--parent") && i + 1 < argc)
            parent = argv[++i];
        else if (!strcmp(argv[i], "--time") && i + 1 < argc)
            t = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--pack-size") && i + 1 < argc)
            pack_size = (size_t)atoll(argv[++i]);
        else if (!repo)
            repo = argv[i];
        else if (!image)
            image = argv[i];
        else
            return fprintf(stderr, "repo_mkbackup: unexpected %s\n", argv[i]), 2;
    }
    if (!repo || !image)
        return fprintf(stderr, "usage: repo_mkbackup REPO IMAGE [options]\n"), 2;
    int fd = open(image, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return perror(image), 1;
    Repo *r;
    if (repo_open(repo, REPO_WRITE, &r) < 0)
        return die("open");
    Manifest *pm = NULL;
    if (parent && repo_load_manifest(r, parent, &pm) < 0)
        return die("parent");
    BackupMeta meta = { .vm_name = vm, .time = t,
                        .type = parent ? BACKUP_INCREMENTAL : BACKUP_FULL, .parent_id = parent };
    BackupWriter *w;
    DiskWriter *dw;
    const DiskIndex *pd = pm ? manifest_disk(pm, disk) : NULL;
    if (repo_backup_begin(r, &meta, &w) < 0)
        return die("begin");
    if (backup_disk_begin(w, disk, st.st_size, repo_bitmap_name(r), pd, &dw) < 0)
        return die("disk");
    backup_writer_set_pack_size(w, pack_size);
    uint32_t cs = repo_chunk_size(r);
    uint8_t *buf = malloc(cs);
    for (uint64_t off = 0; off < (uint64_t)st.st_size; off += cs) {
        size_t len = st.st_size - off < cs ? st.st_size - off : cs;
        if (pread(fd, buf, len, off) != (ssize_t)len)
            return perror("read"), 1;
        if (pd && off / cs < pd->nchunks) {
            const ChunkEntry *e = &pd->chunks[off / cs];
            uint8_t h[REPO_HASH_LEN];
            bool zero = chunk_is_zero(buf, len);
            chunk_name(repo_hash_piece(r), buf, len, h);
            if ((zero && e->zero) || (!zero && !e->zero && !memcmp(h, e->hash, REPO_HASH_LEN)))
                continue;       /* unchanged: the bitmap would not have it dirty */
        }
        if (disk_put_chunk(dw, off, buf, len) < 0)
            return die("put");
    }
    char id[REPO_ID_MAX];
    strcpy(id, backup_writer_id(w));
    if (backup_commit(w) < 0)
        return die("commit");
    printf("%s\n", id);
    free(buf);
    manifest_free(pm);
    repo_close(r);
    close(fd);
    return 0;
}
