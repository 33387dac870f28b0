/* quail run's command line, key=value lists, the device registry, and the
 * Image header checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <elf.h>

#include "hw/device.h"
#include "hw/loader.h"
#include "hw/options.h"
#include "util/error.h"

static int parse(RunConfig *cfg, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "run";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    run_config_init(cfg);
    return run_config_parse(cfg, argc, argv);
}

static void cmdline_basic(void **state)
{
    RunConfig cfg;
    const char *a[] = { "-M", "virt", "-m", "512M", "-smp", "4", "-bios", "none",
                        "-kernel", "k", "-initrd", "i", "-append", "console=ttyS0",
                        "-nographic", "-no-reboot", "-serial", "file:/tmp/x",
                        "-display", "none", "-S", NULL };
    assert_int_equal(parse(&cfg, a), 0);
    assert_int_equal(cfg.ram_size, 512ULL << 20);
    assert_int_equal(cfg.smp, 4);
    assert_string_equal(cfg.bios, "none");
    assert_string_equal(cfg.kernel, "k");
    assert_string_equal(cfg.initrd, "i");
    assert_string_equal(cfg.append, "console=ttyS0");
    assert_true(cfg.nographic);
    assert_true(cfg.no_reboot);
    assert_string_equal(cfg.serial, "file:/tmp/x");
    assert_true(cfg.start_paused);
    run_config_free(&cfg);

    const char *b[] = { "-machine", "virt", NULL };
    assert_int_equal(parse(&cfg, b), 0);
    assert_null(cfg.dumpdtb);
    assert_int_equal(cfg.ram_size, 128ULL << 20);   /* QEMU's virt default */
    assert_int_equal(cfg.smp, 1);
    run_config_free(&cfg);
}

static void cmdline_errors(void **state)
{
    RunConfig cfg;
    const char *a[] = { "-foo", NULL };
    assert_int_equal(parse(&cfg, a), -EINVAL);
    assert_string_equal(err_msg(), "unknown option '-foo'");
    const char *b[] = { "-kernel", NULL };
    assert_true(parse(&cfg, b) < 0);
    const char *c[] = { "-M", "pc", NULL };
    assert_true(parse(&cfg, c) < 0);
    const char *c2[] = { "-M", "virt,aia=aplic", NULL };
    assert_true(parse(&cfg, c2) < 0);
    const char *c3[] = { "-M", "virt,dumpdtb=/tmp/x.dtb", NULL };
    assert_int_equal(parse(&cfg, c3), 0);
    assert_string_equal(cfg.dumpdtb, "/tmp/x.dtb");
    const char *d[] = { "stray", NULL };
    assert_true(parse(&cfg, d) < 0);
    const char *e[] = { "-smp", "0", NULL };
    assert_true(parse(&cfg, e) < 0);
    const char *f[] = { "-display", "gtk", NULL };
    assert_true(parse(&cfg, f) < 0);
    run_config_free(&cfg);
}

static void mem_sizes(void **state)
{
    uint64_t v;
    assert_int_equal(run_parse_mem_size("512", &v), 0);
    assert_int_equal(v, 512ULL << 20);
    assert_int_equal(run_parse_mem_size("2G", &v), 0);
    assert_int_equal(v, 2ULL << 30);
    assert_int_equal(run_parse_mem_size("1.5g", &v), 0);
    assert_int_equal(v, 3ULL << 29);
    assert_int_equal(run_parse_mem_size("65536K", &v), 0);
    assert_int_equal(v, 64ULL << 20);
    assert_int_equal(run_parse_mem_size("size=256M", &v), 0);
    assert_int_equal(v, 256ULL << 20);
    assert_true(run_parse_mem_size("", &v) < 0);
    assert_true(run_parse_mem_size("12Q", &v) < 0);
    assert_true(run_parse_mem_size("-5", &v) < 0);
    assert_true(run_parse_mem_size("1M2", &v) < 0);
    assert_true(run_parse_mem_size("1K", &v) < 0);      /* too small */
    assert_true(run_parse_mem_size("100T", &v) < 0);    /* too large */
}

static void smp(void **state)
{
    int n;
    assert_int_equal(run_parse_smp("4", &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(run_parse_smp("cpus=2", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(run_parse_smp("8,sockets=1,cores=8,threads=1", &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(run_parse_smp("sockets=1,cores=2,threads=2", &n), 0);
    assert_int_equal(n, 4);
    assert_true(run_parse_smp("9", &n) < 0);
    assert_true(run_parse_smp("0", &n) < 0);
    assert_true(run_parse_smp("x", &n) < 0);
    assert_true(run_parse_smp("2,bogus=1", &n) < 0);
    assert_true(run_parse_smp("4,sockets=1,cores=2,threads=1", &n) < 0);
    assert_true(run_parse_smp("2,", &n) < 0);
    assert_true(run_parse_smp("cpus=2,4", &n) < 0);
}

static void kv_lists(void **state)
{
    KvList l;
    assert_int_equal(kv_parse("virtio-blk-pci,drive=d0,id=disk,,0,ro,num=4K", "driver", &l), 0);
    assert_int_equal(l.n, 5);
    assert_string_equal(kv_get(&l, "driver"), "virtio-blk-pci");
    assert_string_equal(kv_get(&l, "drive"), "d0");
    assert_string_equal(kv_get(&l, "id"), "disk,0");
    assert_string_equal(kv_get(&l, "ro"), "on");
    assert_null(kv_get(&l, "nope"));
    uint64_t v;
    assert_int_equal(kv_get_u64(&l, "num", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(kv_get_u64(&l, "nope", &v), -ENOENT);
    assert_true(kv_get_u64(&l, "drive", &v) < 0);
    bool b;
    assert_int_equal(kv_get_bool(&l, "ro", &b), 0);
    assert_true(b);
    assert_true(kv_get_bool(&l, "drive", &b) < 0);
    static const char *const allowed[] = { "driver", "drive", "id", "ro", NULL };
    assert_true(kv_check_keys(&l, allowed) < 0);
    assert_non_null(strstr(err_msg(), "num"));
    kv_free(&l);
    assert_true(kv_parse("a,,", NULL, &l) == 0);
    assert_string_equal(l.kv[0].key, "a,");
    kv_free(&l);
    assert_int_equal(kv_parse("a,,b=1,,,c", NULL, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(kv_get(&l, "a,b"), "1,");
    assert_string_equal(kv_get(&l, "c"), "on");
    kv_free(&l);
    assert_true(kv_parse(",x", NULL, &l) < 0);
}

static int created;
static int fake_create(VirtMachine *m, const KvList *opts)
{
    created++;
    const char *x = kv_get(opts, "x");
    if (x && !strcmp(x, "bad"))
        return err_set(EINVAL, "x must not be bad");
    return 0;
}
static const DeviceType fake_dev = { "test-fake-dev", "a test device", fake_create };
DEVICE_TYPE_REGISTER(fake_dev)

static void device_registry(void **state)
{
    assert_ptr_equal(device_type_find("test-fake-dev"), &fake_dev);
    assert_null(device_type_find("no-such-dev"));
    assert_int_equal(device_create_from_string(NULL, "test-fake-dev,x=1"), 0);
    assert_int_equal(created, 1);
    assert_true(device_create_from_string(NULL, "test-fake-dev,x=bad") < 0);
    assert_non_null(strstr(err_msg(), "x must not be bad"));
    assert_true(device_create_from_string(NULL, "no-such-dev") < 0);
    assert_non_null(strstr(err_msg(), "no-such-dev"));

    /* -device is deferred until the machine exists, after backends */
    RunConfig cfg;
    const char *a[] = { "-device", "test-fake-dev,x=2", NULL };
    assert_int_equal(parse(&cfg, a), 0);
    assert_int_equal(cfg.ndeferred, 1);
    assert_int_equal(cfg.deferred[0].phase, RUN_PHASE_DEVICE);
    assert_int_equal(run_config_apply(&cfg, NULL), 0);
    assert_int_equal(created, 3);
    run_config_free(&cfg);
    assert_non_null(run_option_find("device"));
    assert_non_null(run_option_find("m"));
    for (int i = 1; run_option_at(i); i++)
        assert_true(strcmp(run_option_at(i - 1)->name, run_option_at(i)->name) < 0);
}

static void make_hdr(uint8_t *b, uint64_t image_size)
{
    memset(b, 0, 64);
    uint64_t off = 0x200000;
    uint32_t ver = 2;
    memcpy(b + 8, &off, 8);
    memcpy(b + 16, &image_size, 8);
    memcpy(b + 32, &ver, 4);
    memcpy(b + 0x30, "RISCV\0\0\0", 8);
    memcpy(b + 0x38, "RSC\x05", 4);
}

static void image_header(void **state)
{
    uint8_t b[4096];
    RiscvImageHeader h;
    memset(b, 0, sizeof(b));
    make_hdr(b, 0x10000);
    assert_true(riscv_image_detect(b, sizeof(b)));
    assert_int_equal(riscv_image_parse(b, sizeof(b), &h), 0);
    assert_int_equal(h.text_offset, 0x200000);
    assert_int_equal(h.image_size, 0x10000);
    /* truncated */
    assert_false(riscv_image_detect(b, 63));
    assert_true(riscv_image_parse(b, 63, &h) < 0);
    /* bad magic */
    b[0x38] = 'X';
    assert_false(riscv_image_detect(b, sizeof(b)));
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    /* image_size smaller than the file, zero, or absurd */
    make_hdr(b, 100);
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    make_hdr(b, 0);
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    make_hdr(b, 1ULL << 40);
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    /* big-endian flag */
    make_hdr(b, 0x10000);
    b[0x18] = 1;
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    /* old header version */
    make_hdr(b, 0x10000);
    b[0x20] = 1;
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    /* misaligned text_offset */
    make_hdr(b, 0x10000);
    b[8] = 0x10;
    assert_true(riscv_image_parse(b, sizeof(b), &h) < 0);
    assert_false(elf_detect(b, sizeof(b)));
}

static void elf_loading(void **state)
{
    static Bus bus;
    assert_int_equal(bus_init(&bus, 0x80000000, 1 << 20), 0);
    uint8_t f[512];
    memset(f, 0, sizeof(f));
    Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_machine = EM_RISCV;
    eh->e_entry = 0x80001000;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 1;
    Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(*eh));
    ph->p_type = PT_LOAD;
    ph->p_offset = 256;
    ph->p_paddr = 0x80001000;
    ph->p_filesz = 16;
    ph->p_memsz = 32;
    memset(f + 256, 0xab, 16);
    memset(bus.ram + 0x1000, 0xff, 64);
    uint64_t entry, lo, hi;
    assert_true(elf_detect(f, sizeof(f)));
    assert_int_equal(elf_load(&bus, f, sizeof(f), &entry, &lo, &hi), 0);
    assert_int_equal(entry, 0x80001000);
    assert_int_equal(lo, 0x80001000);
    assert_int_equal(hi, 0x80001020);
    assert_int_equal(bus.ram[0x1000], 0xab);
    assert_int_equal(bus.ram[0x1010], 0);       /* bss zeroed */
    assert_int_equal(bus.ram[0x1020], 0xff);
    /* segment outside RAM, truncated file, wrong machine */
    ph->p_paddr = 0x1000;
    assert_true(elf_load(&bus, f, sizeof(f), &entry, &lo, &hi) < 0);
    ph->p_paddr = 0x80001000;
    ph->p_filesz = 4096;
    ph->p_memsz = 4096;
    assert_true(elf_load(&bus, f, sizeof(f), &entry, &lo, &hi) < 0);
    ph->p_filesz = 16;
    eh->e_phnum = 60000;
    assert_true(elf_load(&bus, f, sizeof(f), &entry, &lo, &hi) < 0);
    eh->e_phnum = 1;
    eh->e_machine = 62;
    assert_true(elf_load(&bus, f, sizeof(f), &entry, &lo, &hi) < 0);
    assert_true(elf_load(&bus, f, 20, &entry, &lo, &hi) < 0);
    bus_destroy(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cmdline_basic),
        cmocka_unit_test(cmdline_errors),
        cmocka_unit_test(mem_sizes),
        cmocka_unit_test(smp),
        cmocka_unit_test(kv_lists),
        cmocka_unit_test(device_registry),
        cmocka_unit_test(image_header),
        cmocka_unit_test(elf_loading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
