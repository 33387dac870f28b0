/* quail img info: text and --output=json shaped like qemu-img 7.2. */
#include "block/img.h"
#include "util/error.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void full_backing(const char *filename, const char *backing, char *out, size_t cap)
{
    const char *slash = strrchr(filename, '/');
    if (backing[0] != '/' && slash)
        snprintf(out, cap, "%.*s/%s", (int)(slash - filename), filename, backing);
    else
        snprintf(out, cap, "%s", backing);
}

static json_object *image_info(BlockNode *bs, const char *filename)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    if (bs->backing_fmt[0])
        json_object_object_add(o, "backing-filename-format", json_object_new_string(bs->backing_fmt));
    json_object_object_add(o, "virtual-size", json_object_new_int64(blk_getlength(bs)));
    json_object_object_add(o, "filename", json_object_new_string(filename));
    json_object_object_add(o, "format", json_object_new_string(bs->drv->name));
    int64_t as = blk_allocated_size(bs);
    if (as >= 0)
        json_object_object_add(o, "actual-size", json_object_new_int64(as));
    if (bs->drv->get_info)
        bs->drv->get_info(bs, o);
    else
        json_object_object_add(o, "dirty-flag", json_object_new_boolean(0));
    if (bs->backing_file[0]) {
        char full[8192];
        full_backing(filename, bs->backing_file, full, sizeof(full));
        json_object_object_add(o, "full-backing-filename", json_object_new_string(full));
        json_object_object_add(o, "backing-filename", json_object_new_string(bs->backing_file));
    }
    return o;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void print_human(json_object *o)
{
    json_object *v;
    char buf[64];
    printf("image: %s\n", jstr(o, "filename"));
    printf("file format: %s\n", jstr(o, "format"));
    json_object_object_get_ex(o, "virtual-size", &v);
    uint64_t vs = (uint64_t)json_object_get_int64(v);
    img_size_str(vs, buf, sizeof(buf));
    printf("virtual size: %s (%llu bytes)\n", buf, (unsigned long long)vs);
    if (json_object_object_get_ex(o, "actual-size", &v)) {
        img_size_str((uint64_t)json_object_get_int64(v), buf, sizeof(buf));
        printf("disk size: %s\n", buf);
    }
    if (json_object_object_get_ex(o, "cluster-size", &v))
        printf("cluster_size: %lld\n", (long long)json_object_get_int64(v));
    if (jstr(o, "backing-filename")) {
        const char *b = jstr(o, "backing-filename"), *f = jstr(o, "full-backing-filename");
        if (strcmp(b, f))
            printf("backing file: %s (actual path: %s)\n", b, f);
        else
            printf("backing file: %s\n", b);
    }
    if (jstr(o, "backing-filename-format"))
        printf("backing file format: %s\n", jstr(o, "backing-filename-format"));
    json_object *snaps;
    if (json_object_object_get_ex(o, "snapshots", &snaps) && json_object_array_length(snaps)) {
        printf("Snapshot list:\n%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
               "VM CLOCK", "ICOUNT");
        for (size_t i = 0; i < json_object_array_length(snaps); i++) {
            json_object *e = json_object_array_get_idx(snaps, i), *x;
            char date[32] = "", size[32], clock[96], icount[32] = "";
            json_object_object_get_ex(e, "date-sec", &x);
            time_t t = (time_t)json_object_get_int64(x);
            struct tm tm;
            if (localtime_r(&t, &tm))
                strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
            json_object_object_get_ex(e, "vm-state-size", &x);
            img_size_str((uint64_t)json_object_get_int64(x), size, sizeof(size));
            json_object_object_get_ex(e, "vm-clock-sec", &x);
            int64_t secs = json_object_get_int64(x);
            json_object_object_get_ex(e, "vm-clock-nsec", &x);
            snprintf(clock, sizeof(clock), "%02lld:%02lld:%02lld.%03lld", (long long)(secs / 3600),
                     (long long)(secs / 60 % 60), (long long)(secs % 60),
                     (long long)(json_object_get_int64(x) / 1000000));
            if (json_object_object_get_ex(e, "icount", &x))
                snprintf(icount, sizeof(icount), "%lld", (long long)json_object_get_int64(x));
            printf("%-9s %-16s %8s %s %s%11s\n", jstr(e, "id"), jstr(e, "name"), size, date, clock,
                   icount);
        }
    }
    if (json_object_object_get_ex(o, "dirty-flag", &v) && json_object_get_boolean(v))
        printf("cleanly shut down: no\n");
    json_object *fs, *data;
    if (json_object_object_get_ex(o, "format-specific", &fs) &&
        json_object_object_get_ex(fs, "data", &data)) {
        printf("Format specific information:\n");
        json_object_object_foreach(data, k, val) {
            char key[64];
            snprintf(key, sizeof(key), "%s", k);
            for (char *p = key; *p; p++)
                if (*p == '-')
                    *p = ' ';
            printf("    %s: %s\n", key, json_object_get_string(val));
        }
    }
}

int img_info_main(int argc, char **argv)
{
    const char *fmt = NULL, *output = "human";
    bool chain = false, force_share = false;
    static const struct option longopts[] = {
        { "output", required_argument, 0, 'O' },
        { "backing-chain", no_argument, 0, 'B' },
        { "force-share", no_argument, 0, 'U' },
        { 0 },
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': output = optarg; break;
        case 'B': chain = true; break;
        case 'U': force_share = true; break;
        default: return 1;
        }
    }
    if (strcmp(output, "human") && strcmp(output, "json")) {
        img_err("--output must be used with human or json as argument.");
        return 1;
    }
    if (optind != argc - 1) {
        img_err("Expecting one image file name");
        return 1;
    }
    bool json = !strcmp(output, "json");
    json_object *arr = json_object_new_array();
    char *filename = strdup(argv[optind]);
    char *cur_fmt = fmt ? strdup(fmt) : NULL;
    int status = 0;
    struct { dev_t dev; ino_t ino; } seen[64];
    for (int depth = 0; filename && depth < 64; depth++) {
        struct stat st;
        if (stat(filename, &st) == 0) {
            for (int i = 0; i < depth; i++) {
                if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino) {
                    img_err("Backing file '%s' creates an infinite loop.", filename);
                    status = 1;
                    break;
                }
            }
            seen[depth].dev = st.st_dev;
            seen[depth].ino = st.st_ino;
        } else {
            seen[depth].dev = 0;
            seen[depth].ino = 0;
        }
        if (status)
            break;
        BlockNode *bs;
        int flags = BLK_O_NO_BACKING | (force_share ? BLK_O_FORCE_SHARE : 0);
        if (img_open(filename, cur_fmt, flags, &bs) < 0) {
            status = 1;
            break;
        }
        json_object *info = image_info(bs, filename);
        char *next = NULL, *next_fmt = NULL;
        if (chain && bs->backing_file[0]) {
            char full[8192];
            full_backing(filename, bs->backing_file, full, sizeof(full));
            next = strdup(full);
            next_fmt = bs->backing_fmt[0] ? strdup(bs->backing_fmt) : NULL;
        }
        img_close(bs);
        if (!info) {
            status = 1;
            break;
        }
        if (!json) {
            if (depth)
                printf("\n");
            print_human(info);
        }
        json_object_array_add(arr, info);
        free(filename);
        free(cur_fmt);
        filename = next;
        cur_fmt = next_fmt;
    }
    free(filename);
    free(cur_fmt);
    if (status == 0 && json) {
        json_object *out = chain ? arr : json_object_array_get_idx(arr, 0);
        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
                                                          JSON_C_TO_STRING_SPACED |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    json_object_put(arr);
    return status;
}
