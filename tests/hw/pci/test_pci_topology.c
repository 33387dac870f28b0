/* PCIe topology: root port and PCIe-to-PCI bridge config space, bus number
 * routing, window forwarding (including misprogrammed and overlapping
 * windows), native hot-plug of the root port slot and SHPC hot-plug, all
 * driven through ECAM the way a guest would, plus QMP device_add/device_del
 * error paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hw/device.h"
#include "hw/options.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pcie_cap.h"
#include "hw/virt.h"
#include "monitor/qmp.h"
#include "util/error.h"

static VirtMachine *m;
static RunConfig cfg;

#define ECAM(bus, dev, fn, off) \
    (VIRT_PCIE_ECAM_BASE + ((uint64_t)(bus) << 20) + ((uint64_t)(dev) << 15) + \
     ((uint64_t)(fn) << 12) + (off))

static uint32_t cr(unsigned bus, unsigned dev, uint32_t off, unsigned size)
{
    uint64_t v = 0;
    assert_int_equal(bus_read(&m->bus, ECAM(bus, dev, 0, off), size, &v), 0);
    return (uint32_t)v;
}

static void cw(unsigned bus, unsigned dev, uint32_t off, unsigned size, uint32_t v)
{
    assert_int_equal(bus_write(&m->bus, ECAM(bus, dev, 0, off), size, v), 0);
}

static int find_cap(unsigned bus, unsigned dev, uint8_t id)
{
    uint32_t p = cr(bus, dev, PCI_CAPABILITY_LIST, 1);
    for (int n = 0; p && n < 48; n++) {
        if (cr(bus, dev, p, 1) == id)
            return (int)p;
        p = cr(bus, dev, p + 1, 1);
    }
    return -1;
}

static int setup(void **state)
{
    run_config_init(&cfg);
    cfg.serial = "none";
    cfg.ram_size = 64 << 20;
    if (virt_create(&m, &cfg) < 0)
        fail_msg("virt_create: %s", err_msg());
    const char *devs[] = {
        "pcie-root-port,id=rp1,chassis=1,slot=1",
        "pcie-pci-bridge,id=br1,bus=rp1",
        "virtio-rng-pci,id=rng1,bus=br1,addr=1",
        "pcie-root-port,id=rp2,chassis=1,slot=2,bus-reserve=3",
        "virtio-rng-pci,id=rng2,bus=rp2",
        "pcie-root-port,id=rp3,chassis=1,slot=3",
    };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
        if (device_create_from_string(m, devs[i]) < 0)
            fail_msg("%s: %s", devs[i], err_msg());
    return 0;
}

static int teardown(void **state)
{
    virt_destroy(m);
    run_config_free(&cfg);
    m = NULL;
    return 0;
}

/* rp1 00:01.0, rp2 00:02.0, rp3 00:03.0; buses: rp1 1-2 (br1 on 1, its bus
 * 2), rp2 3, rp3 4. */
static void number_buses(void)
{
    cw(0, 1, PCI_PRIMARY_BUS, 4, 0x00020100);
    cw(1, 0, PCI_PRIMARY_BUS, 4, 0x00020201);
    cw(0, 2, PCI_PRIMARY_BUS, 4, 0x00030300);
    cw(0, 3, PCI_PRIMARY_BUS, 4, 0x00040400);
}

static void identity_and_routing(void **state)
{
    assert_int_equal(cr(0, 1, 0, 4), 0x000c1b36);
    assert_int_equal(cr(0, 1, PCI_CLASS_DEVICE, 2), 0x0604);
    assert_int_equal(cr(0, 1, PCI_HEADER_TYPE, 1), 1);
    int exp = find_cap(0, 1, PCI_CAP_ID_EXP);
    assert_true(exp > 0);
    assert_int_equal((cr(0, 1, exp + PCI_EXP_FLAGS, 2) >> 4) & 0xf, PCI_EXP_TYPE_ROOT_PORT);
    uint32_t sltcap = cr(0, 1, exp + PCI_EXP_SLTCAP, 4);
    assert_int_equal(sltcap & 0x5b, 0x5b);      /* ABP PCP AIP PIP HPC */
    assert_int_equal(sltcap >> 19, 1);          /* slot=1 */
    assert_true(cr(0, 1, exp + PCI_EXP_LNKCAP, 4) & PCI_EXP_LNKCAP_DLLLARC);
    assert_true(find_cap(0, 2, PCI_CAP_ID_VNDR) > 0);   /* bus-reserve */
    assert_int_equal(cr(0, 1, PCI_INTERRUPT_PIN, 1), 4);     /* INTD, see pcie_root_port.c */

    /* Nothing below the ports until bus numbers are programmed. */
    assert_int_equal(cr(1, 0, 0, 4), 0xffffffff);
    number_buses();
    assert_int_equal(cr(1, 0, 0, 4), 0x000e1b36);
    exp = find_cap(1, 0, PCI_CAP_ID_EXP);
    assert_int_equal((cr(1, 0, exp + PCI_EXP_FLAGS, 2) >> 4) & 0xf, PCI_EXP_TYPE_PCI_BRIDGE);
    assert_true(find_cap(1, 0, PCI_CAP_ID_SHPC) > 0);
    assert_int_equal(cr(2, 1, 0, 2), 0x1af4);
    assert_int_equal(cr(2, 0, 0, 4), 0xffffffff);
    assert_int_equal(cr(3, 0, 0, 2), 0x1af4);
    /* Only device 0 exists below a root port. */
    assert_int_equal(cr(3, 1, 0, 4), 0xffffffff);
    assert_int_equal(cr(5, 0, 0, 4), 0xffffffff);

    /* Misprogrammed: the bridge's bus outside the port's range, the port's
     * range inverted, secondary 0 -- nothing is reached, nothing breaks. */
    cw(1, 0, PCI_SECONDARY_BUS, 1, 7);
    assert_int_equal(cr(7, 1, 0, 4), 0xffffffff);
    assert_int_equal(cr(2, 1, 0, 4), 0xffffffff);
    cw(0, 1, PCI_SUBORDINATE_BUS, 1, 0);
    assert_int_equal(cr(1, 0, 0, 4), 0xffffffff);
    cw(0, 1, PCI_SECONDARY_BUS, 1, 0);
    assert_int_equal(cr(0, 1, 0, 4), 0x000c1b36);
    /* Two ports claiming the same bus: the first one found wins, no crash. */
    cw(0, 1, PCI_PRIMARY_BUS, 4, 0x00030300);
    assert_int_not_equal(cr(3, 0, 0, 4), 0xffffffff);
    number_buses();
    assert_int_equal(cr(2, 1, 0, 2), 0x1af4);
}

static bool mapped(uint64_t pa)
{
    pthread_mutex_lock(&m->bus.io_lock);
    bool r = bus_find_mmio(&m->bus, pa) != NULL;
    pthread_mutex_unlock(&m->bus.io_lock);
    return r;
}

static void windows_forwarding(void **state)
{
    number_buses();
    /* rng1 (bus 2 slot 1) BAR4 64-bit at 0x40200000, memory on. */
    cw(2, 1, PCI_BASE_ADDRESS_0 + 16, 4, 0x40200000);
    cw(2, 1, PCI_BASE_ADDRESS_0 + 20, 4, 0);
    cw(2, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_false(mapped(0x40200000));           /* bridges closed */
    /* rp1: memory window 0x40000000-0x401fffff, pref 0x40200000-0x403fffff.
     * Its prefetchable window is 32-bit: the type nibble and the upper
     * halves are read-only zero. */
    cw(0, 1, PCI_MEMORY_BASE, 4, 0x40104000);
    cw(0, 1, PCI_PREF_MEMORY_BASE, 4, 0x40314021);
    assert_int_equal(cr(0, 1, PCI_PREF_MEMORY_BASE, 4), 0x40304020);
    cw(0, 1, PCI_PREF_BASE_UPPER32, 4, 1);
    assert_int_equal(cr(0, 1, PCI_PREF_BASE_UPPER32, 4), 0);
    cw(0, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_false(mapped(0x40200000));           /* br1 still closed */
    cw(1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    /* br1 has no prefetchable window: writes vanish, nothing opens. */
    cw(1, 0, PCI_PREF_MEMORY_BASE, 4, 0x40204020);
    cw(1, 0, PCI_PREF_LIMIT_UPPER32, 4, 1);
    assert_int_equal(cr(1, 0, PCI_PREF_MEMORY_BASE, 4), 0);
    assert_int_equal(cr(1, 0, PCI_PREF_LIMIT_UPPER32, 4), 0);
    assert_false(mapped(0x40200000));
    /* br1's memory window 0x40200000-0x402fffff takes the 64-bit
     * prefetchable BAR, as Linux places it without a prefetchable window. */
    cw(1, 0, PCI_MEMORY_BASE, 4, 0x40204020);
    assert_true(mapped(0x40200000));
    cw(1, 0, PCI_COMMAND, 2, 0);
    assert_false(mapped(0x40200000));           /* br1 memory decoding off */
    cw(1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_true(mapped(0x40200000));
    /* The upstream port stops decoding: the whole subtree disappears. */
    cw(0, 1, PCI_COMMAND, 2, 0);
    assert_false(mapped(0x40200000));
    cw(0, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_true(mapped(0x40200000));
    /* BAR moved outside the bridge window: not forwarded. */
    cw(2, 1, PCI_BASE_ADDRESS_0 + 16, 4, 0x40400000);
    assert_false(mapped(0x40400000));
    assert_false(mapped(0x40200000));
    /* BAR inside rp1's window but below br1's. */
    cw(2, 1, PCI_BASE_ADDRESS_0 + 16, 4, 0x401fc000);
    assert_false(mapped(0x401fc000));
    cw(2, 1, PCI_BASE_ADDRESS_0 + 16, 4, 0x40200000);
    assert_true(mapped(0x40200000));
    /* Inverted window (base > limit): closed. */
    cw(1, 0, PCI_MEMORY_BASE, 4, 0x40104030);
    assert_false(mapped(0x40200000));
    cw(1, 0, PCI_MEMORY_BASE, 4, 0x40204020);
    assert_true(mapped(0x40200000));
    /* rp1's prefetchable window misplaced: the BAR is no longer inside any
     * window of rp1. */
    cw(0, 1, PCI_PREF_MEMORY_BASE, 4, 0x40504040);
    assert_false(mapped(0x40200000));
    cw(0, 1, PCI_PREF_MEMORY_BASE, 4, 0x40304020);
    assert_true(mapped(0x40200000));
    /* rng2 below rp2 placed over rng1's BAR with rp2's window overlapping
     * rp1's: the second mapping is refused (no forwarding), nothing aborts. */
    cw(3, 0, PCI_BASE_ADDRESS_0 + 16, 4, 0x40200000);
    cw(3, 0, PCI_BASE_ADDRESS_0 + 20, 4, 0);
    cw(3, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    cw(0, 2, PCI_MEMORY_BASE, 4, 0x40304000);
    cw(0, 2, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_true(mapped(0x40200000));
    uint64_t v = 0;
    assert_int_equal(bus_read(&m->bus, 0x40200000 + 0x12, 2, &v), 0);
    assert_int_equal(v, 1);                     /* rng1's num_queues: still rng1 */
    /* Machine reset closes everything again. */
    virt_reset(m);
    assert_false(mapped(0x40200000));
    assert_int_equal(cr(0, 1, PCI_SECONDARY_BUS, 1), 0);
}

static json_object *qmp(const char *json)
{
    json_object *req = json_tokener_parse(json);
    assert_non_null(req);
    bool neg = true;
    json_object *rep = qmp_dispatch(req, &neg);
    json_object_put(req);
    return rep;
}

static void expect_error(const char *json, const char *cls, const char *needle)
{
    json_object *rep = qmp(json), *err, *c, *desc;
    if (!json_object_object_get_ex(rep, "error", &err))
        fail_msg("expected an error for %s, got %s", json, json_object_to_json_string(rep));
    json_object_object_get_ex(err, "class", &c);
    json_object_object_get_ex(err, "desc", &desc);
    assert_string_equal(json_object_get_string(c), cls);
    if (!strstr(json_object_get_string(desc), needle))
        fail_msg("'%s' lacks '%s'", json_object_get_string(desc), needle);
    json_object_put(rep);
}

static void expect_ok(const char *json)
{
    json_object *rep = qmp(json);
    if (!json_object_object_get_ex(rep, "return", NULL))
        fail_msg("%s failed: %s", json, json_object_to_json_string(rep));
    json_object_put(rep);
}

static PciBus *bus_named(const char *name)
{
    return pci_host_find_bus(pci_host_get(m), name);
}

/* pciehp: events latch in slot status and raise the port's INTx while
 * enabled; power off with the indicator off ejects the card. */
static void root_port_hotplug(void **state)
{
    number_buses();
    int exp = find_cap(0, 3, PCI_CAP_ID_EXP);
    uint32_t ctl = (uint32_t)exp + PCI_EXP_SLTCTL, sta = (uint32_t)exp + PCI_EXP_SLTSTA;
    assert_int_equal(cr(0, 3, sta, 2) & PCI_EXP_SLTSTA_PDS, 0);     /* rp3 empty */
    assert_true(cr(0, 2, sta, 2) & PCI_EXP_SLTSTA_PDS);             /* rp2 has rng2 */
    assert_true(cr(0, 2, exp + PCI_EXP_LNKSTA, 2) & PCI_EXP_LNKSTA_DLLLA);

    /* The guest enables notifications: the command completes, and with
     * CCIE the port interrupts until the guest clears CC. */
    uint16_t en = PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE |
                  PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PWR_IND_OFF |
                  PCI_EXP_SLTCTL_ATTN_IND_OFF | PCI_EXP_SLTCTL_PCC;
    cw(0, 3, ctl, 2, en);
    assert_true(cr(0, 3, sta, 2) & PCI_EXP_SLTSTA_CC);
    assert_true(cr(0, 3, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    cw(0, 3, sta, 2, PCI_EXP_SLTSTA_CC);
    assert_false(cr(0, 3, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    expect_ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
              "\"id\":\"hot1\",\"bus\":\"rp3\"}}");
    assert_non_null(bus_named("rp3")->devs[0]);
    uint16_t s = (uint16_t)cr(0, 3, sta, 2);
    assert_true(s & PCI_EXP_SLTSTA_PDS);
    assert_true(s & PCI_EXP_SLTSTA_PDC);
    assert_true(s & PCI_EXP_SLTSTA_DLLSC);
    assert_true(cr(0, 3, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    assert_int_equal(cr(4, 0, 0, 2), 0x1af4);
    cw(0, 3, sta, 2, PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
    /* The guest powers the slot on. */
    cw(0, 3, ctl, 2, (en & ~PCI_EXP_SLTCTL_PCC & ~PCI_EXP_SLTCTL_PIC) | PCI_EXP_SLTCTL_PWR_IND_ON);
    cw(0, 3, sta, 2, PCI_EXP_SLTSTA_CC);
    assert_false(cr(0, 3, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
                 "\"id\":\"hot2\",\"bus\":\"rp3\"}}", "GenericError", "free PCI slot");
    assert_null(pci_host_find_device(pci_host_get(m), "hot2"));

    expect_ok("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hot1\"}}");
    assert_true(cr(0, 3, sta, 2) & PCI_EXP_SLTSTA_ABP);
    assert_true(cr(0, 3, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    expect_error("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hot1\"}}",
                 "GenericError", "already in the process of unplug");
    cw(0, 3, sta, 2, PCI_EXP_SLTSTA_ABP);
    /* Power off first (device still there), then the indicator: ejected. */
    cw(0, 3, ctl, 2, (en & ~PCI_EXP_SLTCTL_PIC) | PCI_EXP_SLTCTL_PWR_IND_ON);
    assert_non_null(bus_named("rp3")->devs[0]);
    cw(0, 3, ctl, 2, en);
    assert_null(bus_named("rp3")->devs[0]);
    assert_int_equal(cr(0, 3, sta, 2) & PCI_EXP_SLTSTA_PDS, 0);
    assert_int_equal(cr(0, 3, exp + PCI_EXP_LNKSTA, 2) & PCI_EXP_LNKSTA_DLLLA, 0);
    assert_int_equal(cr(4, 0, 0, 4), 0xffffffff);
    assert_null(pci_host_find_device(pci_host_get(m), "hot1"));

    /* Plug again into the powered-off slot (the id is free again). */
    expect_ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
              "\"id\":\"hot1\",\"bus\":\"rp3\",\"addr\":\"0\"}}");
    assert_int_equal(cr(4, 0, 0, 2), 0x1af4);
    /* left plugged: freed at teardown */
}

static void qmp_errors(void **state)
{
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
                 "\"id\":\"x\"}}", "GenericError", "does not support hotplugging");
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
                 "\"id\":\"x\",\"bus\":\"nope\"}}", "GenericError", "Bus 'nope' not found");
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"no-such\"}}",
                 "GenericError", "not a valid device model name");
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-device\","
                 "\"bus\":\"rp3\"}}", "GenericError", "pluggable device type");
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
                 "\"id\":\"rng1\",\"bus\":\"rp3\"}}", "GenericError", "Duplicate device ID");
    /* A slot below a root port other than 0, then a bad property: rolled back. */
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
                 "\"id\":\"x\",\"bus\":\"rp3\",\"addr\":\"1\"}}", "GenericError",
                 "Unsupported PCI slot");
    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\","
                 "\"id\":\"x\",\"bus\":\"rp3\",\"drive\":\"none\"}}", "GenericError",
                 "not found");
    assert_null(bus_named("rp3")->devs[0]);
    expect_error("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"zzz\"}}",
                 "DeviceNotFound", "Device 'zzz' not found");
    expect_error("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"rp1\"}}",
                 "GenericError", "does not support hotplugging");
    /* query-pci shows the tree with bridges nested */
    json_object *rep = qmp("{\"execute\":\"query-pci\"}"), *ret;
    assert_true(json_object_object_get_ex(rep, "return", &ret));
    const char *s = json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(s, "\"qdev_id\":\"rp1\""));
    assert_non_null(strstr(s, "\"pci_bridge\""));
    assert_non_null(strstr(s, "\"qdev_id\":\"rng1\""));
    json_object_put(rep);
}

/* SHPC through the bridge's BAR0 and the capability's DWORD window. */
#define SHPC_BASE 0x40000000ULL

static uint32_t sr(uint32_t off)
{
    uint64_t v = 0;
    assert_int_equal(bus_read(&m->bus, SHPC_BASE + off, 4, &v), 0);
    return (uint32_t)v;
}

static void sw(uint32_t off, unsigned size, uint32_t v)
{
    assert_int_equal(bus_write(&m->bus, SHPC_BASE + off, size, v), 0);
}

static void shpc_hotplug(void **state)
{
    number_buses();
    cw(0, 1, PCI_MEMORY_BASE, 4, 0x40104000);
    cw(0, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    cw(1, 0, PCI_MEMORY_BASE, 4, 0x40004000);
    cw(1, 0, PCI_BASE_ADDRESS_0, 4, (uint32_t)SHPC_BASE);
    cw(1, 0, PCI_BASE_ADDRESS_0 + 4, 4, 0);
    cw(1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_true(mapped(SHPC_BASE));
    int cap = find_cap(1, 0, PCI_CAP_ID_SHPC);
    cw(1, 0, cap + 2, 1, 3);                    /* DWORD select: slot config */
    uint32_t slot_config = cr(1, 0, cap + 4, 4);
    assert_int_equal(slot_config, sr(0x0c));
    assert_int_equal(slot_config & 0x1f, 31);
    assert_int_equal((slot_config >> 8) & 0x1f, 1);     /* first device 1 */
    /* slot 0 (device 1) holds rng1: enabled, power LED on, present */
    uint32_t s0 = sr(0x24);
    assert_int_equal(s0 & 3, 2);
    assert_int_not_equal((s0 >> 10) & 3, 3);
    assert_int_equal((sr(0x28) >> 10) & 3, 3);  /* slot 1 empty */

    /* Unmask everything as shpchp does. */
    sw(0x20, 4, 0);
    for (int i = 0; i < 31; i++)
        sw(0x24 + 4 * (uint32_t)i, 4, 0);
    assert_int_equal(sr(0x18), 0);
    assert_false(cr(1, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    expect_error("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
                 "\"id\":\"s0\",\"bus\":\"br1\",\"addr\":\"0\"}}", "GenericError",
                 "Valid slots are between 1 and 31");
    assert_null(bus_named("br1")->devs[0]);
    expect_ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
              "\"id\":\"s5\",\"bus\":\"br1\",\"addr\":\"5\"}}");
    uint32_t r = sr(0x24 + 4 * 4);
    assert_true(r & (1u << 16));                /* presence change */
    assert_true(r & (1u << 18));                /* button */
    assert_int_not_equal((r >> 10) & 3, 3);
    assert_int_equal(sr(0x18), 1u << 5);        /* slot 4 pending */
    assert_true(cr(1, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* The INTx reaches the PLIC through rp1 (swizzled): PCI status of the
     * port's own function is not involved. */
    sw(0x24 + 4 * 4, 4, r);                     /* clear the events */
    assert_int_equal(sr(0x18), 0);
    assert_false(cr(1, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    /* Enable slot 5: command code 0x02|pwr on(0x04)|attn off(0x30), target 5. */
    sw(0x14, 2, 0x0500 | 0x36);
    assert_int_equal(sr(0x16) & 0xf, 0);
    assert_int_equal(sr(0x24 + 16) & 3, 2);
    assert_true(sr(0x20) & 0x10000);            /* command detected */
    assert_int_equal(sr(0x18), 1);
    sw(0x20, 4, 0x10000);
    assert_int_equal(sr(0x18), 0);
    /* Invalid target and an unsupported speed mode report errors. */
    sw(0x14, 2, 0x2000 | 0x02);
    assert_int_equal(sr(0x16) & 0xf, 0x4);
    sw(0x14, 2, 0x0044);
    assert_int_equal(sr(0x16) & 0xf, 0x8);
    sw(0x14, 2, 0x0040);
    assert_int_equal(sr(0x16) & 0xf, 0);

    expect_ok("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"s5\"}}");
    assert_true(sr(0x24 + 16) & (1u << 18));
    sw(0x24 + 16, 4, sr(0x24 + 16));
    /* Disable with power LED off: ejected. */
    sw(0x14, 2, 0x0500 | 0x03 | 0x0c);
    assert_null(bus_named("br1")->devs[PCI_DEVFN(5, 0)]);
    assert_int_equal((sr(0x24 + 16) >> 10) & 3, 3);
    assert_null(pci_host_find_device(pci_host_get(m), "s5"));
    /* The cold-plugged rng1 can go the same way. */
    expect_ok("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"rng1\"}}");
    sw(0x14, 2, 0x0100 | 0x03 | 0x0c);
    assert_null(bus_named("br1")->devs[PCI_DEVFN(1, 0)]);
}

/* A hot-plugged bridge into an empty root port, a device behind it, and
 * both removed again (reverse order) -- the ASan build checks that nothing
 * leaks. */
static void bridge_hotplug(void **state)
{
    number_buses();
    expect_ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"pcie-pci-bridge\","
              "\"id\":\"hbr\",\"bus\":\"rp3\",\"msi\":\"off\"}}");
    PciBus *b = bus_named("hbr");
    assert_non_null(b);
    cw(0, 3, PCI_SUBORDINATE_BUS, 1, 5);
    cw(4, 0, PCI_PRIMARY_BUS, 4, 0x00050504);
    expect_ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\","
              "\"id\":\"behind\",\"bus\":\"hbr\",\"addr\":\"2\"}}");
    assert_int_equal(cr(5, 2, 0, 2), 0x1af4);
    /* Removing the bridge takes what is behind it along. */
    int exp = find_cap(0, 3, PCI_CAP_ID_EXP);
    expect_ok("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hbr\"}}");
    cw(0, 3, exp + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PWR_IND_OFF | PCI_EXP_SLTCTL_PCC);
    assert_null(bus_named("rp3")->devs[0]);
    assert_null(pci_host_find_device(pci_host_get(m), "behind"));
    assert_int_equal(cr(5, 2, 0, 4), 0xffffffff);
}

/* Every size at every offset of every function type, with all-ones, zero
 * and varying values, directly (unaligned too) and through ECAM; then the
 * hierarchy must still route and reset, and teardown must not leak. */
static void config_sweep(void **state)
{
    const char *ids[] = { "rp1", "br1", "rng1", "rp2", "rng2", "rp3" };
    PciHost *h = pci_host_get(m);
    uint32_t x = 0x12345678;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        /* A fresh machine per function: a sweep of a port or the bridge
         * ejects what is below it (slot power off). */
        teardown(state);
        setup(state);
        h = pci_host_get(m);
        number_buses();
        PciDevice *d = pci_host_find_device(h, ids[i]);
        assert_non_null(d);
        int writes = 0;
        for (uint32_t off = 0; off < PCI_CONFIG_SIZE; off++) {
            for (unsigned size = 1; size <= 4; size *= 2) {
                x = x * 1103515245u + 12345u;
                uint32_t vals[3] = { 0xffffffffu, 0, x };
                for (int v = 0; v < 3; v++) {
                    pthread_mutex_lock(&m->bus.io_lock);
                    if (pci_host_find_device(h, ids[i]) == d) {
                        pci_config_write(d, off, size, vals[v]);
                        (void)pci_config_read(d, off, size);
                        writes++;
                    }
                    pthread_mutex_unlock(&m->bus.io_lock);
                }
            }
        }
        /* Functions stay in place under their own writes (only a slot
         * write to a port ejects what is below the port). */
        assert_int_equal(writes, PCI_CONFIG_SIZE * 3 * 3);
    }
    /* Through ECAM on every bus number the sweep may have set up. */
    for (unsigned bus = 0; bus < 8; bus++)
        for (unsigned dev = 0; dev < 4; dev++)
            for (uint32_t off = 0; off < PCI_CONFIG_SIZE; off += 4) {
                x = x * 1103515245u + 12345u;
                bus_write(&m->bus, ECAM(bus, dev, 0, off), 4, x);
                uint64_t v;
                bus_read(&m->bus, ECAM(bus, dev, 0, off), 4, &v);
            }
    virt_reset(m);
    number_buses();
    assert_int_equal(cr(0, 1, 0, 4), 0x000c1b36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(identity_and_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(windows_forwarding, setup, teardown),
        cmocka_unit_test_setup_teardown(root_port_hotplug, setup, teardown),
        cmocka_unit_test_setup_teardown(qmp_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(shpc_hotplug, setup, teardown),
        cmocka_unit_test_setup_teardown(bridge_hotplug, setup, teardown),
        cmocka_unit_test_setup_teardown(config_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
