/* Whole-machine checks without running a hart: image placement, the boot
 * handover, the device tree (parsed back with libfdt) and the finisher. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <libfdt.h>

#include "hw/options.h"
#include "hw/virt.h"
#include "util/error.h"

static char dir[64];
static char fw_path[128], kernel_path[128], initrd_path[128];

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void make_image(uint8_t *buf, size_t len, uint64_t image_size)
{
    memset(buf, 0x11, len);
    memset(buf, 0, 64);
    buf[0] = 0x6f;                                  /* j . */
    uint64_t off = 0x200000;
    memcpy(buf + 0x08, &off, 8);
    memcpy(buf + 0x10, &image_size, 8);
    uint32_t ver = 2;
    memcpy(buf + 0x20, &ver, 4);
    memcpy(buf + 0x30, "RISCV\0\0\0", 8);
    memcpy(buf + 0x38, "RSC\x05", 4);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/quail-hw-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(fw_path, sizeof(fw_path), "%s/fw.bin", dir);
    snprintf(kernel_path, sizeof(kernel_path), "%s/Image", dir);
    snprintf(initrd_path, sizeof(initrd_path), "%s/initrd", dir);
    static uint8_t fw[300 * 1024], kernel[64 * 1024], initrd[3 * 1024 * 1024];
    memset(fw, 0xf1, sizeof(fw));
    write_file(fw_path, fw, sizeof(fw));
    make_image(kernel, sizeof(kernel), 8 << 20);
    write_file(kernel_path, kernel, sizeof(kernel));
    memset(initrd, 0x1d, sizeof(initrd));
    write_file(initrd_path, initrd, sizeof(initrd));
    return 0;
}

static int teardown(void **state)
{
    unlink(fw_path);
    unlink(kernel_path);
    unlink(initrd_path);
    rmdir(dir);
    return 0;
}

static VirtMachine *boot(RunConfig *cfg)
{
    VirtMachine *m = NULL;
    cfg->serial = "none";
    if (virt_create(&m, cfg) < 0)
        fail_msg("virt_create: %s", err_msg());
    if (virt_load(m) < 0)
        fail_msg("virt_load: %s", err_msg());
    return m;
}

static uint64_t rd64(VirtMachine *m, uint64_t pa)
{
    uint64_t v;
    assert_int_equal(bus_read(&m->bus, pa, 8, &v), 0);
    return v;
}

static void placement_and_handover(void **state)
{
    RunConfig cfg;
    run_config_init(&cfg);
    cfg.smp = 2;
    cfg.bios = fw_path;
    cfg.kernel = kernel_path;
    cfg.initrd = initrd_path;
    cfg.append = "console=ttyS0 quiet";
    VirtMachine *m = boot(&cfg);

    /* firmware at DRAM base, kernel at the next 2 MiB boundary */
    assert_int_equal(rd64(m, 0x80000000), 0xf1f1f1f1f1f1f1f1ULL);
    assert_int_equal(m->kernel_entry, 0x80200000);
    assert_int_equal(rd64(m, 0x80200000) & 0xff, 0x6f);
    /* initrd at kernel + min(RAM/2, 128 MiB) = +64 MiB for 128 MiB */
    assert_int_equal(m->initrd_addr, 0x80200000 + (64 << 20));
    assert_int_equal(rd64(m, m->initrd_addr), 0x1d1d1d1d1d1d1d1dULL);
    /* DT: 2 MiB aligned, at the top of RAM */
    assert_int_equal(m->fdt_addr, 0x88000000 - (2 << 20));
    uint8_t *ram_fdt = bus_ram_ptr(&m->bus, m->fdt_addr, m->fdt_size);
    assert_non_null(ram_fdt);
    assert_memory_equal(ram_fdt, m->fdt, m->fdt_size);

    /* harts: pc at firmware, a0 hartid, a1 DT, a2 fw_dynamic_info */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(m->cpus[i]->pc, 0x80000000);
        assert_int_equal(m->cpus[i]->x[10], i);
        assert_int_equal(m->cpus[i]->x[11], m->fdt_addr);
        assert_int_equal(m->cpus[i]->x[12], m->dinfo_addr);
    }
    uint64_t d = m->dinfo_addr;
    assert_int_equal(rd64(m, d), 0x4942534f);        /* magic */
    assert_int_equal(rd64(m, d + 8), 2);             /* version */
    assert_int_equal(rd64(m, d + 16), 0x80200000);   /* next_addr */
    assert_int_equal(rd64(m, d + 24), 1);            /* next_mode S */
    assert_int_equal(rd64(m, d + 32), 0);            /* options */
    assert_int_equal(rd64(m, d + 40), 0);            /* boot_hart */
    /* the QEMU reset vector in the MROM points at the same places */
    assert_int_equal(rd64(m, 0x1000 + 24), 0x80000000);
    assert_int_equal(rd64(m, 0x1000 + 32), m->fdt_addr);

    /* a reset puts a clobbered kernel back */
    assert_int_equal(bus_write(&m->bus, 0x80200000, 8, 0), 0);
    m->cpus[1]->pc = 0x1234;
    virt_reset(m);
    assert_int_equal(rd64(m, 0x80200000) & 0xff, 0x6f);
    assert_int_equal(m->cpus[1]->pc, 0x80000000);
    virt_destroy(m);
    run_config_free(&cfg);
}

static const void *prop(const void *fdt, const char *path, const char *name, int *len)
{
    int node = fdt_path_offset(fdt, path);
    if (node < 0)
        fail_msg("no node %s", path);
    const void *p = fdt_getprop(fdt, node, name, len);
    if (!p)
        fail_msg("no property %s in %s", name, path);
    return p;
}

static uint32_t cell(const void *p, int i) { return fdt32_to_cpu(((const fdt32_t *)p)[i]); }

static bool has_string(const char *list, int len, const char *s)
{
    for (int o = 0; o < len; o += (int)strlen(list + o) + 1)
        if (!strcmp(list + o, s))
            return true;
    return false;
}

static void device_tree(void **state)
{
    RunConfig cfg;
    run_config_init(&cfg);
    cfg.smp = 4;
    cfg.ram_size = 256ULL << 20;
    cfg.bios = fw_path;
    cfg.kernel = kernel_path;
    cfg.initrd = initrd_path;
    cfg.append = "console=ttyS0 root=/dev/vda";
    VirtMachine *m = boot(&cfg);
    const void *fdt = m->fdt;
    int len;
    assert_int_equal(fdt_check_header(fdt), 0);

    assert_string_equal(prop(fdt, "/", "compatible", &len), "riscv-virtio");
    assert_int_equal(cell(prop(fdt, "/cpus", "timebase-frequency", &len), 0), 10000000);
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/cpus/cpu@%d", i);
        assert_int_equal(cell(prop(fdt, path, "reg", &len), 0), i);
        assert_string_equal(prop(fdt, path, "device_type", &len), "cpu");
        assert_string_equal(prop(fdt, path, "status", &len), "okay");
        assert_string_equal(prop(fdt, path, "compatible", &len), "riscv");
        assert_int_equal(strncmp(prop(fdt, path, "riscv,isa", &len), "rv64i", 5), 0);
        assert_non_null(strstr(prop(fdt, path, "riscv,isa", &len), "_zicsr_zifencei"));
        assert_int_equal(strncmp(prop(fdt, path, "mmu-type", &len), "riscv,sv", 8), 0);
        snprintf(path, sizeof(path), "/cpus/cpu@%d/interrupt-controller", i);
        assert_string_equal(prop(fdt, path, "compatible", &len), "riscv,cpu-intc");
        assert_int_equal(cell(prop(fdt, path, "#interrupt-cells", &len), 0), 1);
    }
    prop(fdt, "/cpus/cpu-map/cluster0/core3", "cpu", &len);

    const void *reg = prop(fdt, "/memory@80000000", "reg", &len);
    assert_int_equal(len, 16);
    assert_int_equal(cell(reg, 1), 0x80000000);
    assert_int_equal(cell(reg, 3), 256 << 20);

    /* PLIC: M and S contexts per hart, ndev 96 like QEMU 7.2 */
    const char *c = prop(fdt, "/soc/plic@c000000", "compatible", &len);
    assert_true(has_string(c, len, "sifive,plic-1.0.0"));
    assert_true(has_string(c, len, "riscv,plic0"));
    assert_int_equal(cell(prop(fdt, "/soc/plic@c000000", "riscv,ndev", &len), 0), 96);
    const void *ie = prop(fdt, "/soc/plic@c000000", "interrupts-extended", &len);
    assert_int_equal(len, 4 * 4 * 4);
    int intc3 = fdt_path_offset(fdt, "/cpus/cpu@3/interrupt-controller");
    assert_int_equal(cell(ie, 12), fdt_get_phandle(fdt, intc3));
    assert_int_equal(cell(ie, 13), 11);
    assert_int_equal(cell(ie, 15), 9);
    uint32_t plic_ph = fdt_get_phandle(fdt, fdt_path_offset(fdt, "/soc/plic@c000000"));
    assert_int_equal(plic_ph, m->plic_phandle);

    ie = prop(fdt, "/soc/clint@2000000", "interrupts-extended", &len);
    assert_int_equal(len, 4 * 4 * 4);
    assert_int_equal(cell(ie, 1), 3);
    assert_int_equal(cell(ie, 3), 7);
    c = prop(fdt, "/soc/clint@2000000", "compatible", &len);
    assert_true(has_string(c, len, "riscv,clint0"));

    assert_string_equal(prop(fdt, "/soc/serial@10000000", "compatible", &len), "ns16550a");
    assert_int_equal(cell(prop(fdt, "/soc/serial@10000000", "interrupts", &len), 0), 10);
    assert_int_equal(cell(prop(fdt, "/soc/serial@10000000", "clock-frequency", &len), 0), 3686400);
    assert_int_equal(cell(prop(fdt, "/soc/serial@10000000", "interrupt-parent", &len), 0), plic_ph);
    assert_int_equal(cell(prop(fdt, "/soc/virtio_mmio@10008000", "interrupts", &len), 0), 8);
    assert_string_equal(prop(fdt, "/soc/rtc@101000", "compatible", &len), "google,goldfish-rtc");
    assert_int_equal(cell(prop(fdt, "/soc/rtc@101000", "interrupts", &len), 0), 11);

    c = prop(fdt, "/soc/test@100000", "compatible", &len);
    assert_true(has_string(c, len, "sifive,test0"));
    assert_true(has_string(c, len, "syscon"));
    uint32_t test_ph = fdt_get_phandle(fdt, fdt_path_offset(fdt, "/soc/test@100000"));
    assert_int_equal(cell(prop(fdt, "/poweroff", "regmap", &len), 0), test_ph);
    assert_int_equal(cell(prop(fdt, "/poweroff", "value", &len), 0), 0x5555);
    assert_string_equal(prop(fdt, "/poweroff", "compatible", &len), "syscon-poweroff");
    assert_int_equal(cell(prop(fdt, "/reboot", "value", &len), 0), 0x7777);
    assert_string_equal(prop(fdt, "/reboot", "compatible", &len), "syscon-reboot");

    assert_string_equal(prop(fdt, "/chosen", "bootargs", &len), "console=ttyS0 root=/dev/vda");
    assert_string_equal(prop(fdt, "/chosen", "stdout-path", &len), "/soc/serial@10000000");
    assert_int_equal(cell(prop(fdt, "/chosen", "linux,initrd-start", &len), 0), m->initrd_addr);
    assert_int_equal(len, 4);   /* one cell, as QEMU 7.2 writes it */
    assert_int_equal(cell(prop(fdt, "/chosen", "linux,initrd-end", &len), 0),
                     m->initrd_addr + 3 * 1024 * 1024);
    /* 256 MiB RAM: initrd at kernel + 128 MiB */
    assert_int_equal(m->initrd_addr, 0x80200000 + (128 << 20));
    virt_destroy(m);
    run_config_free(&cfg);
}

static void bios_none_and_finisher(void **state)
{
    RunConfig cfg;
    run_config_init(&cfg);
    cfg.bios = "none";
    cfg.kernel = kernel_path;
    VirtMachine *m = boot(&cfg);
    /* -bios none: the kernel sits at DRAM base and is entered directly */
    assert_int_equal(m->kernel_entry, 0x80000000);
    assert_int_equal(m->cpus[0]->pc, 0x80000000);
    assert_int_equal(rd64(m, 0x80000000) & 0xff, 0x6f);
    int node = fdt_path_offset(m->fdt, "/chosen");
    assert_null(fdt_getprop(m->fdt, node, "bootargs", NULL));
    assert_null(fdt_getprop(m->fdt, node, "linux,initrd-start", NULL));

    /* empty virtio-mmio slots look like QEMU's transports with no device */
    uint64_t v;
    assert_int_equal(bus_read(&m->bus, 0x10001000, 4, &v), 0);
    assert_int_equal(v, 0x74726976);
    assert_int_equal(bus_read(&m->bus, 0x10008008, 4, &v), 0);
    assert_int_equal(v, 0);
    /* slots are handed out from the top, like QEMU's virtio-mmio buses */
    assert_int_equal(machine_alloc_virtio_slot(m, "test"), 7);
    assert_int_equal(bus_read(&m->bus, 0x10008000, 4, &v), -EFAULT);
    assert_int_equal(bus_read(&m->bus, 0x10001000, 4, &v), 0);
    assert_int_equal(machine_alloc_virtio_slot(m, "test2"), 6);

    /* the finisher reaches the machine's power state */
    assert_int_equal(m->request, MACHINE_RUNNING);
    assert_int_equal(bus_write(&m->bus, 0x100000, 4, (3u << 16) | 0x3333), 0);
    assert_int_equal(m->request, MACHINE_FAIL);
    assert_int_equal(m->exit_code, 3);
    bus_write(&m->bus, 0x100000, 4, 0x5555);        /* first request wins */
    assert_int_equal(m->request, MACHINE_FAIL);
    /* a UART interrupt reaches hart 0's MEIP through the PLIC */
    bus_write(&m->bus, 0xc000000 + 4 * 10, 4, 1);
    bus_write(&m->bus, 0xc002000, 4, 1u << 10);
    bus_write(&m->bus, 0x10000001, 1, 0x02);        /* IER: THRE */
    assert_true(atomic_load(&m->cpus[0]->mip) & MIP_MEIP);
    assert_int_equal(bus_read(&m->bus, 0xc200004, 4, &v), 0);
    assert_int_equal(v, 10);
    assert_false(atomic_load(&m->cpus[0]->mip) & MIP_MEIP);
    virt_destroy(m);
    run_config_free(&cfg);
}

static void load_errors(void **state)
{
    RunConfig cfg;
    VirtMachine *m;
    run_config_init(&cfg);
    cfg.serial = "none";
    cfg.bios = fw_path;
    cfg.kernel = kernel_path;
    cfg.initrd = "/nonexistent/initrd";
    assert_int_equal(virt_create(&m, &cfg), 0);
    assert_true(virt_load(m) < 0);
    assert_non_null(strstr(err_msg(), "initrd"));
    virt_destroy(m);

    /* an initrd that cannot fit below the DT */
    cfg.ram_size = 12 << 20;
    cfg.initrd = initrd_path;
    assert_int_equal(virt_create(&m, &cfg), 0);
    assert_true(virt_load(m) < 0);
    assert_non_null(strstr(err_msg(), "initrd"));
    virt_destroy(m);

    /* a kernel whose image_size exceeds RAM */
    cfg.ram_size = 6 << 20;
    cfg.initrd = NULL;
    assert_int_equal(virt_create(&m, &cfg), 0);
    assert_true(virt_load(m) < 0);
    assert_non_null(strstr(err_msg(), "kernel"));
    virt_destroy(m);

    cfg.ram_size = 128 << 20;
    cfg.kernel = NULL;
    cfg.append = "x";
    assert_int_equal(virt_create(&m, &cfg), 0);
    assert_true(virt_load(m) < 0);
    assert_non_null(strstr(err_msg(), "-append"));
    virt_destroy(m);
    run_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placement_and_handover),
        cmocka_unit_test(device_tree),
        cmocka_unit_test(bios_none_and_finisher),
        cmocka_unit_test(load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
