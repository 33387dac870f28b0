/* Repository unit tests: chunk store, manifests, locking, writer semantics,
 * prune retention and gc, all on a local repository in a temp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/chunk.h"
#include "backup/manifest.h"
#include "backup/prune.h"
#include "backup/repo.h"
#include "backup/repo_internal.h"
#include "backup/pack.h"
#include "util/error.h"

#define CS REPO_MIN_CHUNK_SIZE

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/quail-test-repo-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    strcat(dir, "/repo");
    return repo_init(dir, CS) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Counts files under dir/sub (recursively), and those whose name has needle. */
static int count_files(const char *sub, const char *needle, int *matching)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    DIR *d = opendir(path);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char child[600];
        snprintf(child, sizeof(child), "%s/%s", sub, de->d_name);
        char full[900];
        snprintf(full, sizeof(full), "%s/%s", dir, child);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            n += count_files(child, needle, matching);
        } else {
            n++;
            if (needle && matching && strstr(de->d_name, needle))
                (*matching)++;
        }
    }
    closedir(d);
    return n;
}

/* Chunks the repository's index knows, read afresh from disk. */
static int stored_chunks(void)
{
    Repo *r;
    ChunkIndex *ix;
    assert_int_equal(repo_open(dir, REPO_READ, &r), 0);
    assert_int_equal(repo_index(r, &ix), 0);
    assert_int_equal(ix->ndamaged, 0);
    int n = (int)ix->count;
    repo_close(r);
    return n;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* A backup of one disk whose chunks are given by seeds (0 = zero chunk). */
static void make_backup(Repo *r, const char *vm, int64_t time, const unsigned *seeds,
                        unsigned n, char id[REPO_ID_MAX])
{
    BackupWriter *w;
    DiskWriter *dw;
    BackupMeta meta = { .vm_name = vm, .time = time, .type = BACKUP_FULL };
    assert_int_equal(repo_backup_begin(r, &meta, &w), 0);
    assert_int_equal(backup_disk_begin(w, "drive0", (uint64_t)n * CS, NULL, NULL, &dw), 0);
    uint8_t *buf = calloc(1, CS);
    assert_non_null(buf);
    for (unsigned i = 0; i < n; i++) {
        memset(buf, 0, CS);
        if (seeds[i])
            fill(buf, CS, seeds[i]);
        assert_int_equal(disk_put_chunk(dw, (uint64_t)i * CS, buf, CS), 0);
    }
    free(buf);
    strcpy(id, backup_writer_id(w));
    assert_int_equal(backup_commit(w), 0);
}

static void dedup_and_zero(void **state)
{
    (void)state;
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    unsigned seeds[] = { 1, 1, 0, 2, 1 };
    char id[REPO_ID_MAX];
    make_backup(r, "vm1", 1000, seeds, 5, id);
    /* Two distinct non-zero contents: two chunks, nothing for zeroes. */
    assert_int_equal(stored_chunks(), 2);
    char id2[REPO_ID_MAX];
    make_backup(r, "vm2", 1001, seeds, 5, id2);     /* across VMs too */
    assert_int_equal(stored_chunks(), 2);
    int tmp = 0;
    count_files(".", ".tmp.", &tmp);
    assert_int_equal(tmp, 0);                       /* atomic writes left no temp */
    Manifest *m;
    assert_int_equal(repo_load_manifest(r, id, &m), 0);
    assert_int_equal(m->ndisks, 1);
    assert_int_equal(m->disks[0].nchunks, 5);
    assert_true(m->disks[0].chunks[2].zero);
    assert_false(m->disks[0].chunks[0].zero);
    assert_memory_equal(m->disks[0].chunks[0].hash, m->disks[0].chunks[1].hash, REPO_HASH_LEN);
    assert_memory_not_equal(m->disks[0].chunks[0].hash, m->disks[0].chunks[3].hash, REPO_HASH_LEN);
    /* Reading back across chunk boundaries. */
    DiskReader *rd;
    uint8_t *got = malloc(2 * CS), *want = malloc(CS);
    assert_int_equal(disk_reader_open(r, &m->disks[0], &rd), 0);
    assert_int_equal(disk_reader_pread(rd, got, 2 * CS, CS + CS / 2), 0);
    fill(want, CS, 1);
    assert_memory_equal(got, want + CS / 2, CS / 2);
    for (size_t i = CS / 2; i < CS + CS / 2; i++)
        assert_int_equal(got[i], 0);
    fill(want, CS, 2);
    assert_memory_equal(got + CS + CS / 2, want, CS / 2);
    assert_int_not_equal(disk_reader_pread(rd, got, 2, 5 * (uint64_t)CS - 1), 0);
    disk_reader_close(rd);
    free(got);
    free(want);
    manifest_free(m);
    repo_close(r);
}

static void corrupt_chunk_detected(void **state)
{
    (void)state;
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    unsigned seeds[] = { 7 };
    char id[REPO_ID_MAX];
    make_backup(r, "vm", 5, seeds, 1, id);
    Manifest *m;
    assert_int_equal(repo_load_manifest(r, id, &m), 0);
    /* Find the chunk's record in its pack. */
    ChunkIndex *ix;
    assert_int_equal(repo_index(r, &ix), 0);
    const IndexSlot *slot = chunk_index_find(ix, m->disks[0].chunks[0].hash);
    assert_non_null(slot);
    char rel[PACK_PATH_LEN], path[900], hex[2 * REPO_HASH_LEN + 1];
    pack_path(chunk_index_pack(ix, slot), rel);
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    repo_hash_to_hex(m->disks[0].chunks[0].hash, hex);
    uint64_t at = slot->offset + slot->length - 3;  /* in the payload */
    uint8_t *buf = malloc(CS);
    assert_int_equal(repo_read_chunk(r, m->disks[0].chunks[0].hash, buf, CS), CS);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    assert_int_equal(repo_read_chunk(r, m->disks[0].chunks[0].hash, buf, CS), -EBADMSG);
    assert_non_null(strstr(err_msg(), hex));       /* the message names the chunk */
    assert_non_null(strstr(err_msg(), rel));       /* and where it is */
    /* A pack cut short. */
    assert_int_equal(truncate(path, at), 0);
    assert_int_equal(repo_read_chunk(r, m->disks[0].chunks[0].hash, buf, CS), -EBADMSG);
    unlink(path);
    assert_int_equal(repo_read_chunk(r, m->disks[0].chunks[0].hash, buf, CS), -ENOENT);
    assert_non_null(strstr(err_msg(), "missing"));
    free(buf);
    manifest_free(m);
    repo_close(r);
}

static Manifest *sample_manifest(void)
{
    Manifest *m = calloc(1, sizeof(*m));
    m->version = 1;
    strcpy(m->id, "20250101T000000Z-0000abcd");
    m->vm_name = strdup("guest");
    m->vm_uuid = strdup("3c1e1c60-1111-4222-8333-444455556666");
    m->time = 1735689600;
    m->type = BACKUP_INCREMENTAL;
    m->parent = strdup("20241231T000000Z-00001234");
    m->chunk_size = CS;
    m->ndisks = 2;
    m->disks = calloc(2, sizeof(DiskIndex));
    for (int d = 0; d < 2; d++) {
        DiskIndex *di = &m->disks[d];
        di->name = strdup(d ? "virtio1" : "virtio0");
        di->bitmap = d ? NULL : strdup("quail-backup-x");
        di->chunk_size = CS;
        di->size = (uint64_t)CS * 6 + (d ? 512 : 0);
        di->nchunks = 6 + d;
        di->chunks = calloc(di->nchunks, sizeof(ChunkEntry));
        for (uint64_t i = 0; i < di->nchunks; i++) {
            di->chunks[i].zero = i == 1 || i == 2 || i == 5;
            if (!di->chunks[i].zero)
                chunk_hash(&i, sizeof(i), di->chunks[i].hash);
        }
    }
    return m;
}

static void manifest_round_trip_and_damage(void **state)
{
    (void)state;
    Manifest *m = sample_manifest(), *back;
    char *text;
    size_t len;
    assert_int_equal(manifest_to_json(m, &text, &len), 0);
    assert_int_equal(manifest_from_json(text, len, "t", m->id, &back), 0);
    assert_string_equal(back->vm_name, "guest");
    assert_string_equal(back->vm_uuid, m->vm_uuid);
    assert_string_equal(back->parent, m->parent);
    assert_int_equal(back->type, BACKUP_INCREMENTAL);
    assert_int_equal(back->time, m->time);
    assert_int_equal(back->ndisks, 2);
    for (int d = 0; d < 2; d++) {
        assert_string_equal(back->disks[d].name, m->disks[d].name);
        assert_int_equal(back->disks[d].size, m->disks[d].size);
        assert_int_equal(back->disks[d].nchunks, m->disks[d].nchunks);
        for (uint64_t i = 0; i < m->disks[d].nchunks; i++) {
            assert_int_equal(back->disks[d].chunks[i].zero, m->disks[d].chunks[i].zero);
            if (!m->disks[d].chunks[i].zero)
                assert_memory_equal(back->disks[d].chunks[i].hash, m->disks[d].chunks[i].hash,
                                    REPO_HASH_LEN);
        }
    }
    assert_null(back->disks[1].bitmap);
    manifest_free(back);
    /* A wrong id, a flipped hash digit, truncation, a newer version. */
    assert_int_equal(manifest_from_json(text, len, "t", "other", &back), -EBADMSG);
    char *hex = strstr(text, "\"chunks\":[\"");
    assert_non_null(hex);
    char *digit = hex + 12;
    char saved = *digit;
    *digit = saved == '0' ? '1' : '0';
    assert_int_equal(manifest_from_json(text, len, "t", NULL, &back), -EBADMSG);
    assert_non_null(strstr(err_msg(), "checksum"));
    *digit = saved;
    assert_int_equal(manifest_from_json(text, len / 2, "t", NULL, &back), -EBADMSG);
    char *ver = strstr(text, "\"version\":1");
    assert_non_null(ver);
    ver[10] = '2';
    assert_int_equal(manifest_from_json(text, len, "t", NULL, &back), -EPROTO);
    assert_non_null(strstr(err_msg(), "newer"));
    ver[10] = '1';
    /* Too many zero chunks in a run. */
    char *run = strstr(text, ",2,");
    assert_non_null(run);
    run[1] = '9';
    assert_int_equal(manifest_from_json(text, len, "t", NULL, &back), -EBADMSG);
    free(text);
    manifest_free(m);
}

static void damaged_manifest_in_repo(void **state)
{
    (void)state;
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    unsigned seeds[] = { 3, 0 };
    char id[REPO_ID_MAX];
    make_backup(r, "vm", 10, seeds, 2, id);
    char path[900];
    snprintf(path, sizeof(path), "%s/backups/%s.json", dir, id);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, 3, SEEK_SET);
    fputc('#', f);
    fclose(f);
    Manifest *m;
    assert_int_equal(repo_load_manifest(r, id, &m), -EBADMSG);
    assert_non_null(strstr(err_msg(), id));
    BackupInfo *info;
    assert_true(repo_list_backups(r, &info) < 0);
    /* gc must refuse: chunks of an unreadable manifest would be lost. */
    uint64_t removed = 0, kept = 0;
    assert_true(repo_gc(r, false, &removed, &kept) < 0);
    assert_int_equal(stored_chunks(), 1);
    repo_close(r);
}

static void newer_repository_refused(void **state)
{
    (void)state;
    char path[900], before[4096], after[4096];
    snprintf(path, sizeof(path), "%s/config", dir);
    FILE *f = fopen(path, "r");
    size_t n = fread(before, 1, sizeof(before) - 1, f);
    fclose(f);
    before[n] = '\0';
    char *v = strstr(before, "\"version\": 2");
    assert_non_null(v);
    v[11] = '9';
    f = fopen(path, "w");
    fputs(before, f);
    fclose(f);
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), -EPROTO);
    assert_non_null(strstr(err_msg(), "newer"));
    f = fopen(path, "r");
    n = fread(after, 1, sizeof(after) - 1, f);
    fclose(f);
    after[n] = '\0';
    assert_string_equal(before, after);            /* nothing changed */
    struct stat st;
    snprintf(path, sizeof(path), "%s/lock", dir);
    assert_int_not_equal(stat(path, &st), 0);      /* not even a lock file */
    assert_int_equal(repo_init(dir, 0), -EEXIST);
    /* Format 1 (a file per chunk) is refused with a message saying so. */
    snprintf(path, sizeof(path), "%s/config", dir);
    v[11] = '1';
    f = fopen(path, "w");
    fputs(before, f);
    fclose(f);
    assert_int_equal(repo_open(dir, REPO_READ, &r), -EPROTO);
    assert_non_null(strstr(err_msg(), "format version 1"));
}

static void lock_contention(void **state)
{
    (void)state;
    Repo *a, *b, *rd;
    assert_int_equal(repo_open(dir, REPO_WRITE, &a), 0);
    assert_int_equal(repo_open(dir, REPO_WRITE, &b), -EBUSY);
    assert_non_null(strstr(err_msg(), "locked by pid="));
    assert_int_equal(repo_open(dir, REPO_READ, &rd), 0);   /* readers are not blocked */
    repo_close(rd);
    repo_close(a);
    assert_int_equal(repo_open(dir, REPO_WRITE, &b), 0);
    repo_close(b);
    /* A lock file left by a dead writer on this host (as an SFTP writer leaves
     * it, without flock) is stale; one of a live process is not. */
    char path[900], host[256] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(path, sizeof(path), "%s/lock", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "pid=%d host=%s time=1 what=write\n", 0x3ffffff0, host);
    fclose(f);
    assert_int_equal(repo_open(dir, REPO_WRITE, &a), 0);
    repo_close(a);
    f = fopen(path, "w");
    fprintf(f, "pid=%d host=%s time=1 what=write\n", (int)getppid(), host);
    fclose(f);
    assert_int_equal(repo_open(dir, REPO_WRITE, &a), -EBUSY);
    unlink(path);
}

static void incremental_inherits(void **state)
{
    (void)state;
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    unsigned seeds[] = { 11, 12, 13 };
    char pid_[REPO_ID_MAX];
    make_backup(r, "vm", 100, seeds, 3, pid_);
    Manifest *parent;
    assert_int_equal(repo_load_manifest(r, pid_, &parent), 0);
    BackupWriter *w;
    DiskWriter *dw;
    BackupMeta meta = { .vm_name = "vm", .time = 200, .type = BACKUP_INCREMENTAL,
                        .parent_id = pid_ };
    assert_int_equal(repo_backup_begin(r, &meta, &w), 0);
    /* The disk grew by half a chunk: old full chunks are inherited. */
    assert_int_equal(backup_disk_begin(w, "drive0", 3 * (uint64_t)CS + CS / 2, "bm",
                                       manifest_disk(parent, "drive0"), &dw), 0);
    uint8_t *buf = malloc(CS);
    fill(buf, CS, 99);
    assert_int_equal(disk_put_chunk(dw, CS, buf, CS), 0);
    assert_int_equal(disk_put_chunk(dw, CS + 1, buf, CS), -EINVAL);    /* unaligned */
    assert_int_equal(disk_put_chunk(dw, 3 * (uint64_t)CS, buf, CS), -EINVAL); /* too long */
    assert_int_equal(disk_put_chunk(dw, 3 * (uint64_t)CS, buf, CS / 2), 0);
    assert_int_equal(disk_mark_zero(dw, 2 * (uint64_t)CS, CS), 0);
    BackupStats st;
    backup_writer_stats(w, &st);
    assert_int_equal(st.chunks_put, 2);
    char cid[REPO_ID_MAX];
    strcpy(cid, backup_writer_id(w));
    assert_int_equal(backup_commit(w), 0);
    Manifest *child;
    assert_int_equal(repo_load_manifest(r, cid, &child), 0);
    assert_string_equal(child->parent, pid_);
    const DiskIndex *c = manifest_disk(child, "drive0"), *p = manifest_disk(parent, "drive0");
    assert_int_equal(c->nchunks, 4);
    assert_memory_equal(c->chunks[0].hash, p->chunks[0].hash, REPO_HASH_LEN);
    assert_memory_not_equal(c->chunks[1].hash, p->chunks[1].hash, REPO_HASH_LEN);
    assert_true(c->chunks[2].zero);
    assert_false(c->chunks[3].zero);
    assert_string_equal(c->bitmap, "bm");
    char latest[REPO_ID_MAX];
    assert_int_equal(repo_latest_backup(r, "vm", latest), 0);
    assert_string_equal(latest, cid);
    assert_int_equal(repo_latest_backup(r, "nope", latest), -ENOENT);
    /* Missing parent. */
    meta.parent_id = "19700101T000000Z-deadbeef";
    assert_int_equal(repo_backup_begin(r, &meta, &w), -ENOENT);
    free(buf);
    manifest_free(parent);
    manifest_free(child);
    repo_close(r);
}

/* A resized disk: the old last chunk is carried over cut or zero-extended even
 * though nothing puts it (a dirty bitmap does not see a resize). */
static void resize_carries_last_chunk(void **state)
{
    (void)state;
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    uint8_t *img = malloc(3 * CS), *got = malloc(3 * CS);
    fill(img, 3 * CS, 5);
    BackupWriter *w;
    DiskWriter *dw;
    BackupMeta meta = { .vm_name = "vm", .time = 1, .type = BACKUP_FULL };
    uint64_t psize = 2 * (uint64_t)CS + CS / 2;
    assert_int_equal(repo_backup_begin(r, &meta, &w), 0);
    assert_int_equal(backup_disk_begin(w, "d", psize, NULL, NULL, &dw), 0);
    for (uint64_t off = 0; off < psize; off += CS)
        assert_int_equal(disk_put_chunk(dw, off, img + off, psize - off < CS ? psize - off : CS), 0);
    char pid_[REPO_ID_MAX];
    strcpy(pid_, backup_writer_id(w));
    assert_int_equal(backup_commit(w), 0);
    Manifest *pm;
    assert_int_equal(repo_load_manifest(r, pid_, &pm), 0);
    /* Grown to 3 chunks, shrunk to 1.25 chunks: nothing put in either. */
    const uint64_t sizes[2] = { 3 * (uint64_t)CS, CS + CS / 4 };
    for (int k = 0; k < 2; k++) {
        BackupMeta im = { .vm_name = "vm", .time = 2 + k, .type = BACKUP_INCREMENTAL,
                          .parent_id = pid_ };
        assert_int_equal(repo_backup_begin(r, &im, &w), 0);
        assert_int_equal(backup_disk_begin(w, "d", sizes[k], NULL, manifest_disk(pm, "d"), &dw), 0);
        char cid[REPO_ID_MAX];
        strcpy(cid, backup_writer_id(w));
        assert_int_equal(backup_commit(w), 0);
        Manifest *cm;
        DiskReader *rd;
        assert_int_equal(repo_load_manifest(r, cid, &cm), 0);
        assert_int_equal(disk_reader_open(r, manifest_disk(cm, "d"), &rd), 0);
        assert_int_equal(disk_reader_pread(rd, got, sizes[k], 0), 0);
        uint64_t common = sizes[k] < psize ? sizes[k] : psize;
        assert_memory_equal(got, img, common);
        for (uint64_t i = common; i < sizes[k]; i++)
            assert_int_equal(got[i], 0);
        disk_reader_close(rd);
        manifest_free(cm);
    }
    manifest_free(pm);
    free(img);
    free(got);
    repo_close(r);
}

static void prune_rules(void **state)
{
    (void)state;
    /* Backups of vm "a" every 6 hours over 20 days from 2025-01-01 00:00 UTC,
     * plus two of vm "b". */
    enum { N = 80 };
    BackupInfo info[N + 2];
    memset(info, 0, sizeof(info));
    const int64_t t0 = 1735689600;      /* Wed 2025-01-01 */
    for (int i = 0; i < N; i++) {
        snprintf(info[i].id, sizeof(info[i].id), "a%02d", i);
        strcpy(info[i].vm_name, "a");
        info[i].time = t0 + i * 6 * 3600;
    }
    strcpy(info[N].vm_name, "b");
    strcpy(info[N].id, "b0");
    info[N].time = t0;
    strcpy(info[N + 1].vm_name, "b");
    strcpy(info[N + 1].id, "b1");
    info[N + 1].time = t0 + 3600;
    unsigned keep[N + 2];
    PrunePolicy p = { .keep_last = 3, .keep_daily = 4, .keep_weekly = 2 };
    assert_int_equal(prune_plan(info, N + 2, &p, keep), 0);
    /* last 3: a79 a78 a77 */
    for (int i = 0; i < N; i++) {
        bool last = i >= N - 3;
        /* daily: the newest of each of the 4 newest days: days 19,18,17,16 ->
         * index 4*d+3 */
        bool daily = (i % 4 == 3) && i / 4 >= 16;
        /* weekly: ISO weeks: Jan 1-5 (W01), Jan 6-12 (W02), Jan 13-19 (W03), Jan 20 (W04);
         * the 2 newest weeks: newest of W04 (a79) and of W03 (Jan 19 18:00 = a75). */
        bool weekly = i == 79 || i == 75;
        assert_int_equal(!!(keep[i] & PRUNE_BY_LAST), last);
        assert_int_equal(!!(keep[i] & PRUNE_BY_DAILY), daily);
        assert_int_equal(!!(keep[i] & PRUNE_BY_WEEKLY), weekly);
    }
    /* vm b is judged on its own: both kept by last-3. */
    assert_true(keep[N] & PRUNE_BY_LAST);
    assert_true(keep[N + 1] & PRUNE_BY_LAST);
    PrunePolicy none = { 0 };
    assert_int_equal(prune_plan(info, N + 2, &none, keep), 0);
    for (int i = 0; i < N + 2; i++)
        assert_int_equal(keep[i], 0);
}

static void gc_removes_only_garbage(void **state)
{
    (void)state;
    Repo *r;
    assert_int_equal(repo_open(dir, REPO_WRITE, &r), 0);
    unsigned s1[] = { 21, 22 }, s2[] = { 22, 23 };
    char id1[REPO_ID_MAX], id2[REPO_ID_MAX];
    make_backup(r, "vm", 1, s1, 2, id1);
    make_backup(r, "vm", 2, s2, 2, id2);
    assert_int_equal(stored_chunks(), 3);
    /* Debris of an interrupted write. */
    char path[900];
    snprintf(path, sizeof(path), "%s/packs/x.tmp.1.2", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    int tmp = 0;
    count_files("packs", ".tmp.", &tmp);
    assert_int_equal(tmp, 1);
    snprintf(path, sizeof(path), "%s/backups/%s.json", dir, id1);
    assert_int_equal(unlink(path), 0);
    /* A reader (no lock) that read the index before gc moves chunks. */
    Repo *early;
    Manifest *m2;
    uint8_t *cbuf = malloc(CS);
    assert_int_equal(repo_open(dir, REPO_READ, &early), 0);
    assert_int_equal(repo_load_manifest(early, id2, &m2), 0);
    assert_int_equal(repo_read_chunk(early, m2->disks[0].chunks[0].hash, cbuf, CS), CS);
    uint64_t removed = 0, kept = 0;
    assert_int_equal(repo_gc(r, true, &removed, &kept), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(stored_chunks(), 3);   /* dry run */
    tmp = 0;
    count_files("packs", ".tmp.", &tmp);
    assert_int_equal(tmp, 1);
    assert_int_equal(repo_gc(r, false, &removed, &kept), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(kept, 2);
    assert_int_equal(stored_chunks(), 2);
    tmp = 0;
    count_files("packs", ".tmp.", &tmp);
    assert_int_equal(tmp, 0);
    /* One index file now; the first backup's pack (chunks 21 and 22) was
     * rewritten to hold 22 alone, the second's (23) is untouched. */
    assert_int_equal(count_files("index", NULL, NULL), 1);
    assert_int_equal(count_files("packs", NULL, NULL), 2);
    /* Chunk 22 moved to a new pack; the early reader finds it there. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(repo_read_chunk(early, m2->disks[0].chunks[i].hash, cbuf, CS), CS);
    manifest_free(m2);
    free(cbuf);
    repo_close(early);
    Manifest *m;
    assert_int_equal(repo_load_manifest(r, id2, &m), 0);
    uint8_t *buf = malloc(CS);
    for (int i = 0; i < 2; i++)
        assert_int_equal(repo_read_chunk(r, m->disks[0].chunks[i].hash, buf, CS), CS);
    free(buf);
    manifest_free(m);
    repo_close(r);
    Repo *ro;
    assert_int_equal(repo_open(dir, REPO_READ, &ro), 0);
    assert_int_equal(repo_gc(ro, false, &removed, &kept), -EPERM);
    repo_close(ro);
}

static void bad_init_and_urls(void **state)
{
    (void)state;
    assert_int_equal(repo_init("/tmp/x", 3000), -EINVAL);
    assert_int_equal(repo_init("ftp://x/y", 0), -EINVAL);
    Repo *r;
    assert_true(repo_open("ssh://nohost", REPO_READ, &r) < 0);
    assert_int_equal(repo_open("/nonexistent/quail-repo", REPO_READ, &r), -ENOENT);
    assert_true(chunk_is_zero("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 19));
    assert_false(chunk_is_zero("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 19));
    assert_false(manifest_id_valid("../etc"));
    assert_false(manifest_id_valid(".hidden"));
    assert_true(manifest_id_valid("20250101T000000Z-0000abcd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dedup_and_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_chunk_detected, setup, teardown),
        cmocka_unit_test(manifest_round_trip_and_damage),
        cmocka_unit_test_setup_teardown(damaged_manifest_in_repo, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_repository_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(lock_contention, setup, teardown),
        cmocka_unit_test_setup_teardown(incremental_inherits, setup, teardown),
        cmocka_unit_test_setup_teardown(resize_carries_last_chunk, setup, teardown),
        cmocka_unit_test(prune_rules),
        cmocka_unit_test_setup_teardown(gc_removes_only_garbage, setup, teardown),
        cmocka_unit_test(bad_init_and_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
