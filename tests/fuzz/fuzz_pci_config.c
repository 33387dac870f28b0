/* libFuzzer target: a hostile guest programming the PCIe topology.  Each
 * input builds a machine with root ports, a PCIe-to-PCI bridge and virtio
 * functions behind them, then applies 8-byte operations: configuration
 * writes/reads of any size at any offset of any function (through ECAM, so
 * bus number routing is exercised), memory accesses into the PCI window
 * (SHPC registers, BARs wherever the guest put them) and QMP hot-plug
 * requests.  Nothing may crash, abort or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hw/device.h"
#include "hw/options.h"
#include "hw/virt.h"
#include "monitor/qmp.h"

static const struct { uint8_t bus, dev; } targets[8] = {
    { 0, 1 }, { 1, 0 }, { 2, 1 }, { 0, 2 }, { 3, 0 }, { 0, 3 }, { 4, 0 }, { 2, 5 },
};

static void qmp_run(const char *json)
{
    json_object *req = json_tokener_parse(json);
    bool neg = true;
    json_object_put(qmp_dispatch(req, &neg));
    json_object_put(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static RunConfig cfg;
    static bool init;
    if (!init) {
        run_config_init(&cfg);
        cfg.serial = "none";
        cfg.ram_size = 16 << 20;
        init = true;
    }
    VirtMachine *m = NULL;
    if (virt_create(&m, &cfg) < 0)
        __builtin_trap();
    const char *devs[] = {
        "pcie-root-port,id=rp1,chassis=1,slot=1", "pcie-pci-bridge,id=br1,bus=rp1",
        "virtio-rng-pci,id=rng1,bus=br1,addr=1", "pcie-root-port,id=rp2,chassis=1,slot=2",
        "virtio-rng-pci,id=rng2,bus=rp2", "pcie-root-port,id=rp3,chassis=1,slot=3",
    };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
        if (device_create_from_string(m, devs[i]) < 0)
            __builtin_trap();
    Bus *b = &m->bus;
    /* A sensible numbering to start from; inputs may reprogram it. */
    bus_write(b, VIRT_PCIE_ECAM_BASE + (1 << 15) + 0x18, 4, 0x00020100);
    bus_write(b, VIRT_PCIE_ECAM_BASE + (1 << 20) + 0x18, 4, 0x00020201);
    bus_write(b, VIRT_PCIE_ECAM_BASE + (2 << 15) + 0x18, 4, 0x00030300);
    bus_write(b, VIRT_PCIE_ECAM_BASE + (3 << 15) + 0x18, 4, 0x00040400);
    int hot = 0;
    for (size_t i = 0; i + 8 <= size && i < 8 * 512; i += 8) {
        const uint8_t *d = data + i;
        uint32_t off = (uint32_t)(d[1] | d[2] << 8) & 0xfff;
        unsigned sz = (unsigned[]){ 1, 2, 4, 8 }[d[3] & 3];
        uint32_t val = (uint32_t)d[4] | (uint32_t)d[5] << 8 | (uint32_t)d[6] << 16 |
                       (uint32_t)d[7] << 24;
        int t = (d[0] >> 3) & 7;
        uint64_t ecam = VIRT_PCIE_ECAM_BASE + ((uint64_t)targets[t].bus << 20) +
                        ((uint64_t)targets[t].dev << 15) + off;
        if (d[3] & 0x80)        /* any bus number, any device and function */
            ecam = VIRT_PCIE_ECAM_BASE + ((uint64_t)d[3] << 20 & 0x0ff00000) +
                   ((uint64_t)d[2] << 12 & 0xff000) + (d[1] & 0xffc);
        uint64_t v;
        char json[256];
        switch (d[0] & 7) {
        case 0: case 1: case 2:
            bus_write(b, ecam, sz, val);
            break;
        case 3:
            bus_read(b, ecam, sz, &v);
            break;
        case 4:
            bus_write(b, VIRT_PCIE_MMIO_BASE + (val & 0x3ffff8), sz, d[1]);
            break;
        case 5:
            bus_read(b, VIRT_PCIE_MMIO_BASE + (val & 0x3ffff8), sz, &v);
            break;
        case 6:
            if (hot < 8) {
                snprintf(json, sizeof(json),
                         "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"%s\","
                         "\"id\":\"h%d\",\"bus\":\"%s\",\"addr\":\"%d\"}}",
                         d[1] & 1 ? "pcie-pci-bridge" : "virtio-rng-pci", hot,
                         d[2] & 1 ? "br1" : (d[2] & 2 ? "rp3" : "h0"), d[4] & 31);
                qmp_run(json);
                hot++;
            }
            break;
        case 7:
            snprintf(json, sizeof(json),
                     "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"%s%d\"}}",
                     d[1] & 1 ? "h" : "rng", d[2] & 7);
            qmp_run(json);
            break;
        }
    }
    virt_destroy(m);
    return 0;
}
