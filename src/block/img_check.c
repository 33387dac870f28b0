/* quail img check: qemu-img's messages and exit codes (0 clean, 1 check
 * failed, 2 corruptions, 3 leaks only, 63 format without checks). */
#include "block/img.h"
#include "util/error.h"

#include <getopt.h>
#include <string.h>

static void report(const BlockCheckResult *r, bool quiet)
{
    if (r->corruptions == 0 && r->leaks == 0 && r->check_errors == 0) {
        if (!quiet)
            printf("No errors were found on the image.\n");
    } else if (!quiet) {
        if (r->corruptions)
            printf("\n%lld errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image may corrupt it.\n",
                   (long long)r->corruptions);
        if (r->leaks)
            printf("\n%lld leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n", (long long)r->leaks);
        if (r->check_errors)
            printf("\n%lld internal errors have occurred during the check.\n",
                   (long long)r->check_errors);
    }
    if (!quiet && r->total_clusters && r->allocated_clusters)
        printf("%lld/%lld = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters\n",
               (long long)r->allocated_clusters, (long long)r->total_clusters,
               r->allocated_clusters * 100.0 / r->total_clusters,
               r->fragmented_clusters * 100.0 / r->allocated_clusters,
               r->compressed_clusters * 100.0 / r->allocated_clusters);
    if (!quiet && r->image_end_offset > 0)
        printf("Image end offset: %lld\n", (long long)r->image_end_offset);
}

int img_check_main(int argc, char **argv)
{
    const char *fmt = NULL, *output = "human";
    int fix = 0;
    bool quiet = false, force_share = false;
    static const struct option longopts[] = {
        { "output", required_argument, 0, 'O' },
        { "repair", required_argument, 0, 'r' },
        { "force-share", no_argument, 0, 'U' },
        { 0 },
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:r:qU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': output = optarg; break;
        case 'q': quiet = true; break;
        case 'U': force_share = true; break;
        case 'r':
            if (!strcmp(optarg, "leaks"))
                fix = BLK_FIX_LEAKS;
            else if (!strcmp(optarg, "all"))
                fix = BLK_FIX_LEAKS | BLK_FIX_ERRORS;
            else {
                img_err("Unknown option value for -r (expecting 'leaks' or 'all'): %s", optarg);
                return 1;
            }
            break;
        default: return 1;
        }
    }
    if (optind != argc - 1) {
        img_err("Expecting one image file name");
        return 1;
    }
    bool json = !strcmp(output, "json");
    BlockNode *bs;
    int flags = (fix ? BLK_O_RDWR : 0) | BLK_O_NO_BACKING | (force_share && !fix ? BLK_O_FORCE_SHARE : 0);
    if (img_open(argv[optind], fmt, flags, &bs) < 0)
        return 1;
    if (!bs->drv->check) {
        img_err("This image format does not support checks");
        img_close(bs);
        return 63;
    }
    BlockCheckResult r;
    char fmt_name[32];
    snprintf(fmt_name, sizeof(fmt_name), "%s", bs->drv->name);
    int ret = bs->drv->check(bs, &r, fix);
    if (ret == 0 && fix && (r.leaks_fixed || r.corruptions_fixed)) {
        if (!quiet && !json)
            printf("The following inconsistencies were found and repaired:\n\n"
                   "    %lld leaked clusters\n    %lld corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   (long long)r.leaks_fixed, (long long)r.corruptions_fixed);
        ret = bs->drv->check(bs, &r, 0);
    }
    img_close(bs);
    if (ret < 0) {
        img_err("Check failed: %s", err_msg());
        return 1;
    }
    if (json) {
        /* Members as qemu-img: counts appear only when non-zero. */
        json_object *o = json_object_new_object();
        struct { const char *k; int64_t v; } m[] = {
            { "image-end-offset", r.image_end_offset }, { "total-clusters", r.total_clusters },
            { "allocated-clusters", r.allocated_clusters },
            { "fragmented-clusters", r.fragmented_clusters },
            { "compressed-clusters", r.compressed_clusters }, { "leaks", r.leaks },
            { "corruptions", r.corruptions }, { "leaks-fixed", r.leaks_fixed },
            { "corruptions-fixed", r.corruptions_fixed },
        };
        json_object_object_add(o, "check-errors", json_object_new_int64(r.check_errors));
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
            if (m[i].v)
                json_object_object_add(o, m[i].k, json_object_new_int64(m[i].v));
        json_object_object_add(o, "filename", json_object_new_string(argv[optind]));
        json_object_object_add(o, "format", json_object_new_string(fmt_name));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
        json_object_put(o);
    } else {
        report(&r, quiet);
    }
    if (r.check_errors)
        return 1;
    if (r.corruptions)
        return 2;
    if (r.leaks)
        return 3;
    return 0;
}
