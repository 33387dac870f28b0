#include "hw/drive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/blockdev_opts.h"
#include "hw/device.h"
#include "hw/options.h"
#include "hw/virt.h"
#include "util/error.h"

#define MAX_DRIVES 32

static struct {
    char id[64];
    char serial[32];
    BlockNode *node;
} drives[MAX_DRIVES];
static int ndrives;

BlockNode *drive_lookup(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < ndrives; i++)
        if (!strcmp(drives[i].id, name))
            return drives[i].node;
    return blk_find_node(name);
}

const char *drive_serial(const char *name)
{
    for (int i = 0; name && i < ndrives; i++)
        if (!strcmp(drives[i].id, name))
            return drives[i].serial[0] ? drives[i].serial : NULL;
    return NULL;
}

const char *drive_name_of(const BlockNode *bs)
{
    for (int i = 0; i < ndrives; i++)
        if (drives[i].node == bs)
            return drives[i].id;
    return NULL;
}

static void drives_cleanup(VirtMachine *m, void *opaque)
{
    for (int i = 0; i < ndrives; i++)
        blk_unref(drives[i].node);
    ndrives = 0;
}

static int blockdev_apply(VirtMachine *m, const char *arg, void *opaque)
{
    json_object *opts = NULL;
    int r = blockdev_opts_parse(arg, &opts);
    if (r < 0)
        return err_prefix(r, "-blockdev %s", arg);
    if (!bopt_str(opts, "node-name")) {
        json_object_put(opts);
        return err_set(EINVAL, "-blockdev %s: node-name is required at the top level", arg);
    }
    BlockNode *bs;
    bool ro = false;
    bopt_bool(opts, "read-only", false, &ro);
    r = blk_open(opts, ro ? 0 : BLK_O_RDWR, &bs);
    json_object_put(opts);
    if (r < 0)
        return err_prefix(r, "-blockdev %s", arg);
    bs->monitor_owned = true;
    return 0;
}

static int drive_apply(VirtMachine *m, const char *arg, void *opaque)
{
    json_object *node = NULL, *drive = NULL;
    int r = blockdev_drive_parse(arg, &node, &drive);
    if (r < 0)
        return err_prefix(r, "-drive %s", arg);
    if (ndrives == MAX_DRIVES) {
        r = err_set(ENOSPC, "too many -drive options");
        goto out;
    }
    const char *id = bopt_str(drive, "id");
    const char *iface = bopt_str(drive, "if");
    const char *serial = bopt_str(drive, "serial");
    char auto_id[32];
    if (!id) {
        snprintf(auto_id, sizeof(auto_id), "drive%d", ndrives);
        id = auto_id;
    }
    if (iface && strcmp(iface, "none") && strcmp(iface, "virtio")) {
        r = err_set(EINVAL, "-drive %s: if=%s is not supported (none, virtio)", arg, iface);
        goto out;
    }
    bool ro = false;
    bopt_bool(node, "read-only", false, &ro);
    BlockNode *bs;
    if ((r = blk_open(node, ro ? 0 : BLK_O_RDWR, &bs)) < 0) {
        err_prefix(r, "-drive %s", arg);
        goto out;
    }
    snprintf(drives[ndrives].id, sizeof(drives[ndrives].id), "%s", id);
    snprintf(drives[ndrives].serial, sizeof(drives[ndrives].serial), "%s", serial ? serial : "");
    drives[ndrives].node = bs;
    if (ndrives++ == 0)
        machine_add_cleanup_hook(m, drives_cleanup, NULL);
    /* The virt machine's default interface is virtio (as QEMU's riscv virt). */
    if (!iface || !strcmp(iface, "virtio")) {
        char spec[128];
        snprintf(spec, sizeof(spec), "virtio-blk-pci,drive=%s", id);
        r = device_create_from_string(m, spec);
    }
out:
    json_object_put(node);
    json_object_put(drive);
    return r;
}

static int parse_blockdev(RunConfig *cfg, const char *arg)
{
    return run_config_defer(cfg, RUN_PHASE_BACKEND, blockdev_apply, arg, NULL);
}

static int parse_drive(RunConfig *cfg, const char *arg)
{
    return run_config_defer(cfg, RUN_PHASE_BACKEND, drive_apply, arg, NULL);
}

static const RunOption o_blockdev = { "blockdev", "OPTIONS", "add a block node (QEMU syntax)",
                                      parse_blockdev };
static const RunOption o_drive = { "drive", "OPTIONS", "add a drive (file=,format=,if=,id=)",
                                   parse_drive };
RUN_OPTION_REGISTER(o_blockdev)
RUN_OPTION_REGISTER(o_drive)
