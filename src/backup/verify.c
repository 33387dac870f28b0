/* quail backup verify: every chunk a manifest references is read, decompressed
 * and re-hashed once; damage is reported with the backups it affects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chunk.h"
#include "backup/chunkset.h"
#include "backup/cmd_common.h"
#include "backup/commands.h"
#include "backup/repo_internal.h"
#include "util/error.h"

typedef struct VerifyResult {
    int manifests_bad;
    size_t index_bad;
    uint64_t chunks_checked, chunks_bad;
} VerifyResult;

static int verify_run(Repo *r, const char *only_id, VerifyResult *res)
{
    char (*ids)[REPO_ID_MAX] = NULL;
    int n;
    if (only_id) {
        ids = malloc(sizeof(*ids));
        if (!ids)
            return err_set(ENOMEM, "out of memory");
        snprintf(ids[0], REPO_ID_MAX, "%s", only_id);
        n = 1;
    } else if ((n = repo_list_backup_ids(r, &ids)) < 0) {
        return n;
    }
    Manifest **ms = calloc(n ? n : 1, sizeof(*ms));
    ChunkSet all = { 0 }, bad = { 0 };
    uint8_t *buf = malloc(repo_chunk_size(r));
    int ret = 0;
    if (!ms || !buf) {
        ret = err_set(ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (repo_load_manifest(r, ids[i], &ms[i]) < 0) {
            printf("DAMAGED manifest: %s\n", err_msg());
            res->manifests_bad++;
            if (only_id)
                goto out;
            continue;
        }
        for (size_t d = 0; d < ms[i]->ndisks; d++)
            for (uint64_t c = 0; c < ms[i]->disks[d].nchunks; c++)
                if (!ms[i]->disks[d].chunks[c].zero &&
                    (ret = chunkset_add(&all, ms[i]->disks[d].chunks[c].hash)) < 0)
                    goto out;
    }
    ChunkIndex *ix;
    if ((ret = repo_index(r, &ix)) < 0)
        goto out;
    if (ix->ndamaged)
        printf("DAMAGED index: %zu index file(s) could not be read; the chunks they "
               "list show as missing below\n", ix->ndamaged);
    res->index_bad = ix->ndamaged;
    for (size_t i = 0; i < all.cap; i++) {
        const uint8_t *h = chunkset_at(&all, i);
        if (!h)
            continue;
        res->chunks_checked++;
        repo_touch_lock(r);
        if (repo_read_chunk(r, h, buf, repo_chunk_size(r)) < 0) {
            res->chunks_bad++;
            printf("DAMAGED %s\n", err_msg());
            if ((ret = chunkset_add(&bad, h)) < 0)
                goto out;
        }
    }
    ret = 0;
    /* Second pass: which backups (and disks) the damage reaches. */
    for (int i = 0; bad.count && i < n; i++) {
        if (!ms[i])
            continue;
        for (size_t d = 0; d < ms[i]->ndisks; d++) {
            uint64_t hits = 0;
            for (uint64_t c = 0; c < ms[i]->disks[d].nchunks; c++)
                hits += !ms[i]->disks[d].chunks[c].zero &&
                        chunkset_has(&bad, ms[i]->disks[d].chunks[c].hash);
            if (hits)
                printf("affected backup %s disk %s: %llu damaged chunk(s)\n", ms[i]->id,
                       ms[i]->disks[d].name, (unsigned long long)hits);
        }
    }
out:
    for (int i = 0; ms && i < n; i++)
        manifest_free(ms[i]);
    free(ms);
    free(ids);
    free(buf);
    chunkset_free(&all);
    chunkset_free(&bad);
    return ret;
}

int backup_cmd_verify(int argc, char **argv)
{
    CmdArgs a;
    const char *usage = "verify REPO [ID]";
    if (cmd_parse(argc, argv, NULL, usage, &a))
        return 2;
    if (a.npos > 1) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    Repo *r;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("verify");
    VerifyResult res = { 0 };
    int ret = verify_run(r, a.npos ? a.pos[0] : NULL, &res);
    repo_close(r);
    if (ret < 0)
        return cmd_fail("verify");
    printf("checked %llu chunk(s): %llu damaged or missing, %d damaged manifest(s)",
           (unsigned long long)res.chunks_checked, (unsigned long long)res.chunks_bad,
           res.manifests_bad);
    if (res.index_bad)
        printf(", %zu damaged index file(s)", res.index_bad);
    printf("\n");
    return res.chunks_bad || res.manifests_bad || res.index_bad ? 3 : 0;
}
