/* PCI hot-plug over QMP: device_add, device_del, query-pci, and the
 * DEVICE_DELETED event once the guest has released a device.
 *
 * device_add creates the device through the same registry -device uses,
 * with attaches marked as hot plugs, then tells the slot (root port or
 * SHPC).  Whatever the device registered for machine teardown (its cleanup
 * hooks) is moved into a record here, so a device the guest ejects is freed
 * then, not at exit, and repeated plug/unplug does not grow the machine's
 * hook table.  The freeing runs on a short-lived thread without the bus
 * lock: a block device drains its in-flight requests, whose completions take
 * that lock.  DEVICE_DELETED follows the freeing, as in QEMU. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/device.h"
#include "hw/pci/pci_host.h"
#include "hw/virt.h"
#include "monitor/qmp.h"
#include "util/error.h"
#include "util/log.h"

#define MAX_RECORD_HOOKS 8

typedef struct HotRecord {
    struct HotRecord *next;
    PciDevice *dev;             /* NULL once ejected */
    char id[64];
    MachineHook hooks[MAX_RECORD_HOOKS];
    int nhooks;
} HotRecord;

/* All under the bus io_lock except the reaper count (reap_lock). */
static HotRecord *records;
static VirtMachine *records_machine;
static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_cond = PTHREAD_COND_INITIALIZER;
static int reapers;

static void run_hooks(VirtMachine *m, MachineHook *h, int n)
{
    for (int i = n - 1; i >= 0; i--)
        ((MachineCleanupFn)h[i].fn)(m, h[i].opaque);
}

static void send_deleted(const char *id)
{
    if (!id[0])
        return;
    json_object *data = json_object_new_object();
    char path[128];
    snprintf(path, sizeof(path), "/machine/peripheral/%s", id);
    json_object_object_add(data, "device", json_object_new_string(id));
    json_object_object_add(data, "path", json_object_new_string(path));
    qmp_event("DEVICE_DELETED", data);
}

typedef struct Reap {
    VirtMachine *m;
    HotRecord *recs;            /* chain through next, freeing order */
    int nids;
    char (*ids)[64];            /* DEVICE_DELETED after freeing */
} Reap;

static void *reaper(void *opaque)
{
    Reap *r = opaque;
    for (HotRecord *rec = r->recs, *next; rec; rec = next) {
        next = rec->next;
        run_hooks(r->m, rec->hooks, rec->nhooks);
        free(rec);
    }
    for (int i = 0; i < r->nids; i++)
        send_deleted(r->ids[i]);
    free(r->ids);
    free(r);
    pthread_mutex_lock(&reap_lock);
    reapers--;
    pthread_cond_broadcast(&reap_cond);
    pthread_mutex_unlock(&reap_lock);
    return NULL;
}

typedef struct EjectList {
    PciDevice *devs[256];
    int n;
} EjectList;

static void collect(PciDevice *d, void *opaque)
{
    EjectList *l = opaque;
    if (l->n < 256)
        l->devs[l->n++] = d;
}

static HotRecord *take_record(PciDevice *d)
{
    for (HotRecord **p = &records; *p; p = &(*p)->next) {
        if ((*p)->dev == d) {
            HotRecord *r = *p;
            *p = r->next;
            r->next = NULL;
            return r;
        }
    }
    return NULL;
}

void pci_device_ejected(PciDevice *d)
{
    /* Children first, then d: each lowers its INTx while still routed. */
    EjectList l = { .n = 0 };
    if (d->sec_bus)
        pci_bus_walk(d->sec_bus, true, collect, &l);
    collect(d, &l);
    Reap *r = calloc(1, sizeof(*r));
    char (*ids)[64] = calloc((size_t)l.n, sizeof(*ids));
    HotRecord *chain = NULL, **tail = &chain;
    VirtMachine *m = d->bus && d->bus->host ? d->bus->host->m : NULL;
    int nids = 0;
    for (int i = 0; i < l.n; i++) {
        PciDevice *x = l.devs[i];
        if (ids)
            snprintf(ids[nids++], sizeof(ids[0]), "%s", x->id);
        pci_bus_detach(x);
        x->unplug_pending = false;
        HotRecord *rec = take_record(x);
        if (rec) {
            rec->dev = NULL;
            *tail = rec;
            tail = &rec->next;
        }
    }
    /* Cold-plugged devices stay allocated until the machine's own teardown
     * (their cleanup hooks are still registered there); they are detached
     * and unreachable. */
    pthread_t t;
    pthread_attr_t attr;
    if (r && ids && m) {
        *r = (Reap){ m, chain, nids, ids };
        pthread_mutex_lock(&reap_lock);
        reapers++;
        pthread_mutex_unlock(&reap_lock);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&t, &attr, reaper, r);
        pthread_attr_destroy(&attr);
        if (e == 0)
            return;
        pthread_mutex_lock(&reap_lock);
        reapers--;
        pthread_mutex_unlock(&reap_lock);
    }
    /* No thread: keep the records (freed at teardown) and report now. */
    log_msg("pci: freeing ejected devices deferred to exit (out of resources)");
    for (HotRecord *rec = chain, *next; rec; rec = next) {
        next = rec->next;
        rec->next = records;
        records = rec;
    }
    for (int i = 0; ids && i < nids; i++)
        send_deleted(ids[i]);
    free(ids);
    free(r);
}

/* Machine teardown: wait for reapers, then free what is still plugged in
 * (newest first, so devices go before the bridges they sit behind). */
static void records_cleanup(VirtMachine *m, void *opaque)
{
    pthread_mutex_lock(&reap_lock);
    while (reapers > 0)
        pthread_cond_wait(&reap_cond, &reap_lock);
    pthread_mutex_unlock(&reap_lock);
    while (records) {
        HotRecord *r = records;
        records = r->next;
        run_hooks(m, r->hooks, r->nhooks);
        free(r);
    }
    records_machine = NULL;
}

static VirtMachine *machine_or_error(PciHost **hp)
{
    PciHost *h = pci_host_any();
    if (!h) {
        qmp_error(QMP_ERR_GENERIC, "No PCI host bridge (the machine has no PCI devices)");
        return NULL;
    }
    *hp = h;
    return h->m;
}

/* QMP values to a -device string, with QEMU's ",," escaping. */
static int args_to_spec(json_object *args, char *buf, size_t len)
{
    size_t n = 0;
    json_object *drv;
    json_object_object_get_ex(args, "driver", &drv);
    n += (size_t)snprintf(buf, len, "%s", json_object_get_string(drv));
    json_object_object_foreach(args, key, val) {
        if (!strcmp(key, "driver"))
            continue;
        const char *v;
        char num[32];
        if (json_object_is_type(val, json_type_boolean)) {
            v = json_object_get_boolean(val) ? "on" : "off";
        } else if (json_object_is_type(val, json_type_int)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(val));
            v = num;
        } else if (json_object_is_type(val, json_type_string)) {
            v = json_object_get_string(val);
        } else {
            return qmp_error(QMP_ERR_GENERIC, "Invalid parameter type for '%s'", key);
        }
        if (n + strlen(key) + 2 >= len)
            return qmp_error(QMP_ERR_GENERIC, "device_add arguments too long");
        n += (size_t)snprintf(buf + n, len - n, ",%s=", key);
        for (const char *p = v; *p; p++) {
            if (n + 3 >= len)
                return qmp_error(QMP_ERR_GENERIC, "device_add arguments too long");
            buf[n++] = *p;
            if (*p == ',')
                buf[n++] = ',';
        }
        buf[n] = '\0';
    }
    return 0;
}

static PciDevice *new_device_on(PciBus *bus, PciDevice *const before[256])
{
    for (int i = 0; i < 256; i++)
        if (bus->devs[i] && bus->devs[i] != before[i])
            return bus->devs[i];
    return NULL;
}

static int device_add(json_object *args, json_object **ret)
{
    PciHost *h;
    VirtMachine *m = machine_or_error(&h);
    if (!m)
        return -EINVAL;
    const char *driver = json_object_get_string(json_object_object_get(args, "driver"));
    json_object *jid = json_object_object_get(args, "id"), *jbus = json_object_object_get(args, "bus");
    const char *id = jid ? json_object_get_string(jid) : NULL;
    const char *busname = jbus ? json_object_get_string(jbus) : "pcie.0";
    if (!device_type_find(driver))
        return qmp_error(QMP_ERR_GENERIC, "'%s' is not a valid device model name", driver);
    /* Only PCI functions can be plugged at run time (a virtio-mmio slot or
     * a board device could not be taken back out). */
    if (!strstr(driver, "pci"))
        return qmp_error(QMP_ERR_GENERIC, "Parameter 'driver' expects pluggable device type");
    char spec[1024];
    int r = args_to_spec(args, spec, sizeof(spec));
    if (r < 0)
        return r;
    pthread_mutex_lock(&m->bus.io_lock);
    PciBus *bus = pci_host_find_bus(h, busname);
    if (!bus) {
        pthread_mutex_unlock(&m->bus.io_lock);
        return qmp_error(QMP_ERR_GENERIC, "Bus '%s' not found", busname);
    }
    if (!bus->hotplug) {
        pthread_mutex_unlock(&m->bus.io_lock);
        return qmp_error(QMP_ERR_GENERIC, "Bus '%s' does not support hotplugging", busname);
    }
    if (id && pci_host_find_device(h, id)) {
        pthread_mutex_unlock(&m->bus.io_lock);
        return qmp_error(QMP_ERR_GENERIC, "Duplicate device ID '%s'", id);
    }
    if (records_machine != m) {
        if ((r = machine_add_cleanup_hook(m, records_cleanup, NULL)) < 0) {
            pthread_mutex_unlock(&m->bus.io_lock);
            return qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
        }
        records_machine = m;
    }
    PciDevice *before[256];
    memcpy(before, bus->devs, sizeof(before));
    int first_hook = m->ncleanup_hooks;
    pci_set_hotplugging(true);
    r = device_create_from_string(m, spec);
    pci_set_hotplugging(false);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", r < 0 ? err_msg() : "");
    PciDevice *d = r < 0 ? NULL : new_device_on(bus, before);
    if (r >= 0 && !d)
        snprintf(msg, sizeof(msg), "'%s' is not a PCI device that bus '%s' can take", driver,
                 busname);
    int nhooks = m->ncleanup_hooks - first_hook;
    HotRecord *rec = calloc(1, sizeof(*rec));
    if (d && (!rec || nhooks > MAX_RECORD_HOOKS)) {
        snprintf(msg, sizeof(msg), "out of memory");
        d = NULL;
    }
    if (d && (r = bus->hotplug->plug(bus, d)) < 0) {
        snprintf(msg, sizeof(msg), "%s", err_msg());
        d = NULL;
    }
    /* Everything the creation registered leaves the machine's list: it is
     * run now on failure, or when the device goes away. */
    MachineHook hooks[MAX_RECORD_HOOKS];
    int nh = nhooks < MAX_RECORD_HOOKS ? nhooks : MAX_RECORD_HOOKS;
    memcpy(hooks, m->cleanup_hooks + first_hook, sizeof(hooks[0]) * (size_t)nh);
    if (d || nhooks <= MAX_RECORD_HOOKS)
        m->ncleanup_hooks = first_hook;
    if (d) {
        rec->dev = d;
        snprintf(rec->id, sizeof(rec->id), "%s", d->id);
        memcpy(rec->hooks, hooks, sizeof(hooks[0]) * (size_t)nh);
        rec->nhooks = nh;
        rec->next = records;
        records = rec;
        pthread_mutex_unlock(&m->bus.io_lock);
        *ret = NULL;
        return 0;
    }
    free(rec);
    /* Failed: take the half-made device out again (its cleanup hooks detach
     * it from the bus and free it). */
    pthread_mutex_unlock(&m->bus.io_lock);
    if (nhooks <= MAX_RECORD_HOOKS)
        run_hooks(m, hooks, nh);
    return qmp_error(QMP_ERR_GENERIC, "%s", msg);
}

static const QmpCommand cmd_device_add = {
    "device_add",
    "driver:s,?id:s,?bus:s,?addr:any,?drive:s,?serial:s,?chassis:any,?slot:any,?port:any,"
    "?bus-reserve:any,?msi:any,?num-queues:any,?queue-size:any",
    device_add, false,
};
QMP_COMMAND_REGISTER(cmd_device_add)

static int device_del(json_object *args, json_object **ret)
{
    PciHost *h;
    VirtMachine *m = machine_or_error(&h);
    if (!m)
        return -EINVAL;
    const char *id = json_object_get_string(json_object_object_get(args, "id"));
    pthread_mutex_lock(&m->bus.io_lock);
    PciDevice *d = pci_host_find_device(h, id);
    int r = 0;
    if (!d) {
        pthread_mutex_unlock(&m->bus.io_lock);
        return qmp_error(QMP_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", id);
    }
    if (!d->bus->hotplug) {
        r = qmp_error(QMP_ERR_GENERIC, "Bus '%s' does not support hotplugging",
                      d->bus->bridge ? d->bus->bridge->id : "pcie.0");
    } else if (d->unplug_pending) {
        r = qmp_error(QMP_ERR_GENERIC, "Device %s is already in the process of unplug", id);
    } else if ((r = d->bus->hotplug->unplug_request(d->bus, d)) < 0) {
        r = qmp_error(QMP_ERR_GENERIC, "%s", err_msg());
    } else {
        d->unplug_pending = true;
    }
    pthread_mutex_unlock(&m->bus.io_lock);
    *ret = NULL;
    return r;
}

static const QmpCommand cmd_device_del = { "device_del", "id:s", device_del, false };
QMP_COMMAND_REGISTER(cmd_device_del)

static json_object *range(uint64_t base, uint64_t limit)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "base", json_object_new_int64((int64_t)base));
    json_object_object_add(o, "limit", json_object_new_int64((int64_t)limit));
    return o;
}

static json_object *bus_devices(PciBus *bus, int depth);

static json_object *device_info(PciDevice *d, int depth)
{
    const uint8_t *c = d->config;
    json_object *o = json_object_new_object();
    unsigned busnr = d->bus->bridge ? d->bus->bridge->config[PCI_SECONDARY_BUS] : 0;
    json_object_object_add(o, "bus", json_object_new_int((int)busnr));
    json_object_object_add(o, "slot", json_object_new_int(PCI_SLOT(d->devfn)));
    json_object_object_add(o, "function", json_object_new_int(d->devfn & 7));
    json_object *ci = json_object_new_object();
    json_object_object_add(ci, "class", json_object_new_int(pci_get_word(c + PCI_CLASS_DEVICE)));
    json_object_object_add(o, "class_info", ci);
    json_object *idj = json_object_new_object();
    json_object_object_add(idj, "device", json_object_new_int(pci_get_word(c + PCI_DEVICE_ID)));
    json_object_object_add(idj, "vendor", json_object_new_int(pci_get_word(c + PCI_VENDOR_ID)));
    if (!d->sec_bus) {
        json_object_object_add(idj, "subsystem",
                               json_object_new_int(pci_get_word(c + PCI_SUBSYSTEM_ID)));
        json_object_object_add(idj, "subsystem-vendor",
                               json_object_new_int(pci_get_word(c + PCI_SUBSYSTEM_VENDOR_ID)));
    }
    json_object_object_add(o, "id", idj);
    if (c[PCI_INTERRUPT_PIN]) {
        json_object_object_add(o, "irq", json_object_new_int(c[PCI_INTERRUPT_LINE]));
        json_object_object_add(o, "irq_pin", json_object_new_int(c[PCI_INTERRUPT_PIN]));
    } else {
        json_object_object_add(o, "irq_pin", json_object_new_int(0));
    }
    json_object_object_add(o, "qdev_id", json_object_new_string(d->id));
    json_object *regions = json_object_new_array();
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &d->bars[i];
        if (!b->size)
            continue;
        uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;
        uint64_t a = pci_get_long(c + off) & ~0xfULL;
        if (b->flags & PCI_BAR_MEM64)
            a |= (uint64_t)pci_get_long(c + off + 4) << 32;
        json_object *r = json_object_new_object();
        json_object_object_add(r, "bar", json_object_new_int(i));
        json_object_object_add(r, "type", json_object_new_string("memory"));
        json_object_object_add(r, "address", json_object_new_int64((int64_t)a));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)b->size));
        json_object_object_add(r, "prefetch", json_object_new_boolean(b->flags & PCI_BAR_PREFETCH));
        json_object_object_add(r, "mem_type_64", json_object_new_boolean(b->flags & PCI_BAR_MEM64));
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    if (d->sec_bus) {
        json_object *br = json_object_new_object(), *bi = json_object_new_object();
        json_object_object_add(bi, "number", json_object_new_int(c[PCI_PRIMARY_BUS]));
        json_object_object_add(bi, "secondary", json_object_new_int(c[PCI_SECONDARY_BUS]));
        json_object_object_add(bi, "subordinate", json_object_new_int(c[PCI_SUBORDINATE_BUS]));
        json_object_object_add(bi, "io_range", range(0, 0));
        uint64_t mb = (uint64_t)(pci_get_word(c + PCI_MEMORY_BASE) & 0xfff0) << 16;
        uint64_t ml = (uint64_t)(pci_get_word(c + PCI_MEMORY_LIMIT) & 0xfff0) << 16 | 0xfffff;
        json_object_object_add(bi, "memory_range", range(mb, ml));
        uint64_t pb = (uint64_t)(pci_get_word(c + PCI_PREF_MEMORY_BASE) & 0xfff0) << 16 |
                      (uint64_t)pci_get_long(c + PCI_PREF_BASE_UPPER32) << 32;
        uint64_t pl = ((uint64_t)(pci_get_word(c + PCI_PREF_MEMORY_LIMIT) & 0xfff0) << 16 |
                       0xfffff) | (uint64_t)pci_get_long(c + PCI_PREF_LIMIT_UPPER32) << 32;
        json_object_object_add(bi, "prefetchable_range", range(pb, pl));
        json_object_object_add(br, "bus", bi);
        json_object_object_add(br, "devices", bus_devices(d->sec_bus, depth + 1));
        json_object_object_add(o, "pci_bridge", br);
    }
    return o;
}

static json_object *bus_devices(PciBus *bus, int depth)
{
    json_object *a = json_object_new_array();
    if (depth > 256)
        return a;
    for (int i = 0; i < 256; i++)
        if (bus->devs[i])
            json_object_array_add(a, device_info(bus->devs[i], depth));
    return a;
}

static int query_pci(json_object *args, json_object **ret)
{
    PciHost *h;
    VirtMachine *m = machine_or_error(&h);
    if (!m)
        return -EINVAL;
    pthread_mutex_lock(&m->bus.io_lock);
    json_object *bus = json_object_new_object();
    json_object_object_add(bus, "bus", json_object_new_int(0));
    json_object_object_add(bus, "devices", bus_devices(&h->root, 0));
    pthread_mutex_unlock(&m->bus.io_lock);
    json_object *a = json_object_new_array();
    json_object_array_add(a, bus);
    *ret = a;
    return 0;
}

static const QmpCommand cmd_query_pci = { "query-pci", "", query_pci, false };
QMP_COMMAND_REGISTER(cmd_query_pci)
