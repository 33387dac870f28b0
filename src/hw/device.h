/* Device types that `-device NAME,key=value,...` can create (kvmtool-like
 * registry): each device file registers a DeviceType from a constructor, and
 * the -device option looks the name up, so new devices never touch run.c. */
#ifndef QUAIL_HW_DEVICE_H
#define QUAIL_HW_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct VirtMachine VirtMachine;

#define KV_MAX 32

/* A parsed "a=b,c=d" list (QEMU's ",," escapes a comma inside a value). */
typedef struct KvList {
    int n;
    struct { char *key, *val; } kv[KV_MAX];
} KvList;

/* implied_key names a leading bare word ("virtio-blk-pci,drive=d0" with
 * implied_key "driver" gives driver=virtio-blk-pci).  A bare word elsewhere
 * is a flag with value "on".  Caller frees with kv_free(). */
int kv_parse(const char *s, const char *implied_key, KvList *out);
void kv_free(KvList *l);
const char *kv_get(const KvList *l, const char *key);
/* Numbers with optional K/M/G suffix; -ENOENT when absent, -EINVAL when bad. */
int kv_get_u64(const KvList *l, const char *key, uint64_t *out);
/* on/off/true/false/yes/no; -ENOENT when absent. */
int kv_get_bool(const KvList *l, const char *key, bool *out);
/* Fails naming the first key not in the NULL-terminated allowed list. */
int kv_check_keys(const KvList *l, const char *const *allowed);

typedef struct DeviceType {
    const char *name;       /* "virtio-blk-pci" */
    const char *help;
    /* opts holds every key including driver=NAME and id=... when given. */
    int (*create)(VirtMachine *m, const KvList *opts);
} DeviceType;

void device_type_register(const DeviceType *t);
const DeviceType *device_type_find(const char *name);
const DeviceType *device_type_at(int i);

#define DEVICE_TYPE_REGISTER(var) \
    static void __attribute__((constructor)) device_type_reg_##var(void) \
    { device_type_register(&(var)); }

/* Parses "NAME,key=val,..." and creates the device (what -device does). */
int device_create_from_string(VirtMachine *m, const char *spec);

#endif
