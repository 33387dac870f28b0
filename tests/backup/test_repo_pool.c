/* The parallel write path (disk_get_buffer/disk_put_buffer with worker
 * threads): the same manifest as one-chunk-at-a-time puts whatever the number
 * of workers, every pack published under its name at commit, nothing staged
 * left behind by a commit or an abort, and bounded buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/chunk.h"
#include "backup/repo.h"
#include "backup/repo_internal.h"
#include "util/error.h"

#define CS REPO_MIN_CHUNK_SIZE
#define PIECE (4 * CS)
#define NCHUNKS 61                 /* not a multiple of the piece: a short tail */
#define DISK ((uint64_t)NCHUNKS * CS - 4096)   /* and a short last chunk */

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/quail-test-pool-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    strcat(dir, "/repo");
    return repo_init(dir, CS) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    *strrchr(dir, '/') = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Chunks the repository's index lists (read afresh), and how many pack files
 * are staged (".tmp.") into *staged. */
static int count_chunks(int *staged)
{
    char path[600];
    *staged = 0;
    snprintf(path, sizeof(path), "%s/packs", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp."))
            (*staged)++;
    closedir(d);
    Repo *r;
    ChunkIndex *ix;
    assert_int_equal(repo_open(dir, REPO_READ, &r), 0);
    assert_int_equal(repo_index(r, &ix), 0);
    int n = (int)ix->count;
    repo_close(r);
    return n;
}

/* Chunk i: zero every 5th, repeated content every 7th, else distinct; some
 * compressible, some not. */
static void disk_content(uint8_t *img)
{
    memset(img, 0, NCHUNKS * (size_t)CS);
    uint32_t x = 12345;
    for (unsigned i = 0; i < NCHUNKS; i++) {
        uint8_t *c = img + (size_t)i * CS;
        if (i % 5 == 0)
            continue;
        unsigned seed = i % 7 == 0 ? 7 : i;
        for (size_t k = 0; k < CS; k++) {
            if (seed % 2) {
                x = x * 1103515245 + 12345 + seed;
                c[k] = (uint8_t)(x >> 16);
            } else {
                c[k] = (uint8_t)(seed + k / 100);
            }
        }
    }
}

static Manifest *backup_with(Repo *r, uint8_t *img, int jobs, int64_t t)
{
    BackupWriter *w;
    DiskWriter *dw;
    BackupMeta meta = { .vm_name = "vm", .time = t, .type = BACKUP_FULL };
    assert_int_equal(repo_backup_begin(r, &meta, &w), 0);
    assert_int_equal(backup_disk_begin(w, "d0", DISK, NULL, NULL, &dw), 0);
    backup_writer_set_pack_size(w, 3 * CS);     /* several packs per worker */
    char id[REPO_ID_MAX];
    strcpy(id, backup_writer_id(w));
    if (jobs == 0) {
        for (uint64_t off = 0; off < DISK; off += CS)
            assert_int_equal(disk_put_chunk(dw, off, img + off, DISK - off < CS ? DISK - off : CS), 0);
    } else {
        backup_writer_set_jobs(w, (unsigned)jobs);
        void *held[64];
        int nheld = 0;
        for (uint64_t off = 0; off < DISK; off += PIECE) {
            void *buf;
            assert_int_equal(disk_get_buffer(dw, PIECE, true, &buf), 0);
            size_t len = DISK - off < PIECE ? DISK - off : PIECE;
            memcpy(buf, img + off, len);
            assert_int_equal(disk_put_buffer(dw, off, buf, len), 0);
        }
        /* The pool is bounded: borrowing without returning runs dry. */
        assert_int_equal(disk_writer_drain(dw), 0);
        void *b;
        while (nheld < 64 && disk_get_buffer(dw, PIECE, false, &b) == 0)
            held[nheld++] = b;
        assert_true(nheld > 0 && nheld < 64);
        for (int i = 0; i < nheld; i++)
            disk_release_buffer(dw, held[i]);
        /* Not chunk aligned: refused, and the buffer goes back to the pool. */
        assert_int_equal(disk_get_buffer(dw, PIECE, true, &b), 0);
        assert_int_equal(disk_put_buffer(dw, 100, b, CS), -EINVAL);
    }
    assert_int_equal(backup_commit(w), 0);
    Manifest *m;
    assert_int_equal(repo_load_manifest(r, id, &m), 0);
    return m;
}

static void same_manifest_any_jobs(void **state)
{
    (void)state;
    uint8_t *img = malloc(NCHUNKS * (size_t)CS), *back = malloc(CS);
    assert_non_null(img);
    assert_non_null(back);
    disk_content(img);
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    Manifest *ref = backup_with(r, img, 0, 1000);
    int staged, total = count_chunks(&staged);
    assert_int_equal(staged, 0);
    /* zero, duplicate and distinct chunks: fewer files than non-zero chunks */
    assert_true(total > 0 && total < NCHUNKS - NCHUNKS / 5);
    for (int jobs = 1; jobs <= 4; jobs += 3) {
        /* An empty repository each time, so the workers store every chunk. */
        repo_close(r);
        char cmd[1000];
        snprintf(cmd, sizeof(cmd), "rm -f '%s/packs'/* '%s/index'/* '%s/backups'/*", dir, dir, dir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
        Manifest *m = backup_with(r, img, jobs, 2000 + jobs);
        assert_int_equal(count_chunks(&staged), total);
        assert_int_equal(staged, 0);
        assert_int_equal(m->disks[0].nchunks, ref->disks[0].nchunks);
        for (uint64_t i = 0; i < m->disks[0].nchunks; i++) {
            const ChunkEntry *a = &m->disks[0].chunks[i], *b = &ref->disks[0].chunks[i];
            assert_int_equal(a->zero, b->zero);
            assert_int_equal(a->zero, i % 5 == 0);
            if (a->zero)
                continue;
            assert_memory_equal(a->hash, b->hash, REPO_HASH_LEN);
            uint64_t off = i * CS;
            size_t len = DISK - off < CS ? DISK - off : CS;
            assert_int_equal(repo_read_chunk(r, a->hash, back, CS), (int)len);
            assert_memory_equal(back, img + off, len);
        }
        manifest_free(m);
    }
    manifest_free(ref);
    repo_close(r);
    free(img);
    free(back);
}

static void abort_removes_staged(void **state)
{
    (void)state;
    uint8_t *img = malloc(NCHUNKS * (size_t)CS);
    assert_non_null(img);
    disk_content(img);
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    BackupWriter *w;
    DiskWriter *dw;
    BackupMeta meta = { .vm_name = "vm", .time = 5000, .type = BACKUP_FULL };
    assert_int_equal(repo_backup_begin(r, &meta, &w), 0);
    assert_int_equal(backup_disk_begin(w, "d0", DISK, NULL, NULL, &dw), 0);
    backup_writer_set_jobs(w, 2);
    backup_writer_set_pack_size(w, 2 * CS);     /* many packs from little data */
    for (uint64_t off = 0; off + PIECE <= DISK; off += PIECE) {
        void *buf;
        assert_int_equal(disk_get_buffer(dw, PIECE, true, &buf), 0);
        memcpy(buf, img + off, PIECE);
        assert_int_equal(disk_put_buffer(dw, off, buf, PIECE), 0);
    }
    assert_int_equal(disk_writer_drain(dw), 0);
    int staged, n = count_chunks(&staged);
    /* Until commit, full packs exist only under their temporary names and no
     * index lists their chunks. */
    assert_int_equal(n, 0);
    assert_true(staged > 2);
    backup_abort(w);
    assert_int_equal(count_chunks(&staged), 0);
    assert_int_equal(staged, 0);
    BackupInfo *list;
    assert_int_equal(repo_list_backups(r, &list), 0);
    free(list);
    repo_close(r);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_manifest_any_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_removes_staged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
