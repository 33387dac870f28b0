/* quail backup init / list / show / stats. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/cmd_common.h"
#include "backup/commands.h"
#include "backup/manifest.h"
#include "backup/repo_internal.h"
#include "util/error.h"

const BackupCommand backup_repo_commands[] = {
    { "init", "init REPO [--chunk-size N]", backup_cmd_init },
    { "list", "list REPO [--json]", backup_cmd_list },
    { "show", "show REPO ID [--json]", backup_cmd_show },
    { "verify", "verify REPO [ID]", backup_cmd_verify },
    { "restore", "restore REPO ID --disk NODE --to FILE [--format raw|qcow2]", backup_cmd_restore },
    { "prune", "prune REPO [--keep-last N] [--keep-daily N] [--keep-weekly N] "
               "[--keep-monthly N] [--dry-run]", backup_cmd_prune },
    { "gc", "gc REPO [--dry-run]", backup_cmd_gc },
    { "serve", "serve REPO ID --disk NODE [--socket PATH | --port N]", backup_cmd_serve },
    { "stats", "stats REPO [--json]", backup_cmd_stats },
    { NULL, NULL, NULL },
};

int backup_cmd_init(int argc, char **argv)
{
    const char *cs = NULL;
    const CmdOpt opts[] = { { "chunk-size", true, &cs }, { NULL, false, NULL } };
    CmdArgs a;
    const char *usage = backup_repo_commands[0].usage;
    if (cmd_parse(argc, argv, opts, usage, &a))
        return 2;
    if (a.npos) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    uint64_t size = 0;
    if (cs && (cmd_parse_size(cs, &size) < 0 || size > UINT32_MAX)) {
        fprintf(stderr, "quail backup init: bad chunk size %s\n", cs);
        return 2;
    }
    if (repo_init(a.repo, (uint32_t)size) < 0)
        return cmd_fail("init");
    Repo *r;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("init");
    printf("created backup repository %s (format %d, chunk size %u, uuid %s)\n", a.repo,
           REPO_FORMAT_VERSION, repo_chunk_size(r), repo_uuid(r));
    repo_close(r);
    return 0;
}

int backup_cmd_list(int argc, char **argv)
{
    const char *json = NULL;
    const CmdOpt opts[] = { { "json", false, &json }, { NULL, false, NULL } };
    CmdArgs a;
    if (cmd_parse(argc, argv, opts, backup_repo_commands[1].usage, &a))
        return 2;
    Repo *r;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("list");
    BackupInfo *info;
    int damaged = 0;
    int n = repo_list_backups_ex(r, &info, &damaged);
    repo_close(r);
    if (n < 0)
        return cmd_fail("list");
    if (damaged)
        fprintf(stderr, "quail backup list: %d manifest(s) could not be read and are not "
                "listed; `quail backup verify` names them\n", damaged);
    if (json) {
        json_object *arr = json_object_new_array();
        for (int i = 0; arr && i < n; i++) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "id", json_object_new_string(info[i].id));
            json_object_object_add(o, "vm", json_object_new_string(info[i].vm_name));
            json_object_object_add(o, "time", json_object_new_int64(info[i].time));
            json_object_object_add(o, "type", json_object_new_string(backup_type_name(info[i].type)));
            json_object_object_add(o, "parent", info[i].parent[0] ?
                                   json_object_new_string(info[i].parent) : NULL);
            json_object_array_add(arr, o);
        }
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        json_object_put(arr);
    } else {
        printf("%-28s %-21s %-12s %-20s %s\n", "ID", "TIME (UTC)", "TYPE", "VM", "PARENT");
        for (int i = 0; i < n; i++) {
            char t[40];
            cmd_format_time(info[i].time, t, sizeof(t));
            printf("%-28s %-21s %-12s %-20s %s\n", info[i].id, t,
                   backup_type_name(info[i].type), info[i].vm_name,
                   info[i].parent[0] ? info[i].parent : "-");
        }
    }
    free(info);
    return damaged ? 1 : 0;
}

int backup_cmd_show(int argc, char **argv)
{
    const char *json = NULL;
    const CmdOpt opts[] = { { "json", false, &json }, { NULL, false, NULL } };
    CmdArgs a;
    const char *usage = backup_repo_commands[2].usage;
    if (cmd_parse(argc, argv, opts, usage, &a))
        return 2;
    if (a.npos != 1) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    Repo *r;
    Manifest *m;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("show");
    int ret = repo_load_manifest(r, a.pos[0], &m);
    repo_close(r);
    if (ret < 0)
        return cmd_fail("show");
    json_object *o = json_object_new_object(), *disks = json_object_new_array();
    json_object_object_add(o, "id", json_object_new_string(m->id));
    json_object_object_add(o, "vm", json_object_new_string(m->vm_name));
    json_object_object_add(o, "vm_uuid", m->vm_uuid ? json_object_new_string(m->vm_uuid) : NULL);
    json_object_object_add(o, "time", json_object_new_int64(m->time));
    json_object_object_add(o, "type", json_object_new_string(backup_type_name(m->type)));
    json_object_object_add(o, "parent", m->parent ? json_object_new_string(m->parent) : NULL);
    json_object_object_add(o, "chunk_size", json_object_new_int64(m->chunk_size));
    json_object_object_add(o, "disks", disks);
    char t[40];
    cmd_format_time(m->time, t, sizeof(t));
    if (!json)
        printf("backup   %s\nvm       %s%s%s\ntime     %s\ntype     %s\nparent   %s\n"
               "chunk    %u bytes\n", m->id, m->vm_name, m->vm_uuid ? " uuid " : "",
               m->vm_uuid ? m->vm_uuid : "", t, backup_type_name(m->type),
               m->parent ? m->parent : "-", m->chunk_size);
    for (size_t i = 0; i < m->ndisks; i++) {
        const DiskIndex *d = &m->disks[i];
        uint64_t zero = 0;
        for (uint64_t c = 0; c < d->nchunks; c++)
            zero += d->chunks[c].zero;
        json_object *jd = json_object_new_object();
        json_object_object_add(jd, "name", json_object_new_string(d->name));
        json_object_object_add(jd, "size", json_object_new_int64((int64_t)d->size));
        json_object_object_add(jd, "bitmap", d->bitmap ? json_object_new_string(d->bitmap) : NULL);
        json_object_object_add(jd, "chunks", json_object_new_int64((int64_t)d->nchunks));
        json_object_object_add(jd, "zero_chunks", json_object_new_int64((int64_t)zero));
        json_object_array_add(disks, jd);
        if (!json)
            printf("disk     %s: %llu bytes, %llu chunks (%llu zero), bitmap %s\n", d->name,
                   (unsigned long long)d->size, (unsigned long long)d->nchunks,
                   (unsigned long long)zero, d->bitmap ? d->bitmap : "-");
    }
    if (json)
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
    manifest_free(m);
    return 0;
}

int backup_cmd_stats(int argc, char **argv)
{
    const char *json = NULL;
    const CmdOpt opts[] = { { "json", false, &json }, { NULL, false, NULL } };
    CmdArgs a;
    const char *usage = "stats REPO [--json]";
    if (cmd_parse(argc, argv, opts, usage, &a))
        return 2;
    if (a.npos) {
        fprintf(stderr, "usage: quail backup %s\n", usage);
        return 2;
    }
    Repo *r;
    if (repo_open(a.repo, REPO_READ, &r) < 0)
        return cmd_fail("stats");
    char (*ids)[REPO_ID_MAX] = NULL;
    ChunkIndex *ix;
    int n = repo_list_backup_ids(r, &ids);
    free(ids);
    if (n < 0 || repo_index(r, &ix) < 0) {
        repo_close(r);
        return cmd_fail("stats");
    }
    uint64_t stored = 0;
    for (size_t i = 0; i < ix->cap; i++)
        stored += ix->slots[i].length;
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "backups", json_object_new_int(n));
        json_object_object_add(o, "chunks", json_object_new_int64((int64_t)ix->count));
        json_object_object_add(o, "packs", json_object_new_int64((int64_t)ix->npacks));
        json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)stored));
        json_object_object_add(o, "index_files", json_object_new_int64((int64_t)ix->nfiles));
        json_object_object_add(o, "damaged_index_files",
                               json_object_new_int64((int64_t)ix->ndamaged));
        printf("%s\n", o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "{}");
        json_object_put(o);
    } else {
        printf("backups: %d\nchunks: %zu in %zu pack(s), %llu bytes stored\n"
               "index files: %zu (%zu damaged)\n", n, ix->count, ix->npacks,
               (unsigned long long)stored, ix->nfiles, ix->ndamaged);
    }
    int bad = ix->ndamaged > 0;
    repo_close(r);
    return bad ? 3 : 0;
}
