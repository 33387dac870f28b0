/* Boot images and reset, placed the way QEMU 7.2's virt machine places them:
 * firmware at the start of DRAM, the kernel at the next 2 MiB boundary after
 * the firmware (DRAM base with -bios none), the initrd at kernel + min(RAM/2,
 * 128 MiB), the device tree at the highest 2 MiB-aligned address below the
 * end of RAM or 3 GiB.  The MROM at 0x1000 holds QEMU's reset vector followed
 * by struct fw_dynamic_info; harts start at the firmware with a0 = hartid,
 * a1 = DT address, a2 = &fw_dynamic_info, exactly as that vector leaves them. */
#include "hw/virt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "hw/loader.h"
#include "hw/options.h"
#include "util/bytes.h"
#include "util/error.h"

#define DEFAULT_FIRMWARE "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
#define MiB (1ULL << 20)

#define FW_DYNAMIC_INFO_MAGIC 0x4942534fULL     /* "OSBI" */
#define FW_DYNAMIC_INFO_VERSION 2
#define FW_DYNAMIC_INFO_NEXT_MODE_S 1

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }


/* auipc t0,0; addi a2,t0,40; csrr a0,mhartid; ld a1,32(t0); ld t0,24(t0); jr t0
 * then .dword start, .dword fdt, then fw_dynamic_info at +40. */
static void build_mrom(VirtMachine *m)
{
    static const uint32_t code[6] = {
        0x00000297, 0x02828613, 0xf1402573, 0x0202b583, 0x0182b283, 0x00028067,
    };
    memset(m->mrom, 0, sizeof(m->mrom));
    for (int i = 0; i < 6; i++)
        put_le32(m->mrom + 4 * i, code[i]);
    put_le64(m->mrom + 24, m->start_pc);
    put_le64(m->mrom + 32, m->fdt_addr);
    uint8_t *d = m->mrom + 40;
    put_le64(d + 0, FW_DYNAMIC_INFO_MAGIC);
    put_le64(d + 8, FW_DYNAMIC_INFO_VERSION);
    put_le64(d + 16, m->kernel_entry);             /* next_addr */
    put_le64(d + 24, FW_DYNAMIC_INFO_NEXT_MODE_S); /* next_mode */
    put_le64(d + 32, 0);                           /* options */
    put_le64(d + 40, 0);                           /* boot_hart */
    m->dinfo_addr = VIRT_MROM_BASE + 40;
}

/* Copies the images into RAM (at load time and on every reset). */
static int place_images(VirtMachine *m)
{
    int ret;
    uint64_t entry, lo, hi;
    if (m->fw_data) {
        if (elf_detect(m->fw_data, m->fw_size))
            ret = elf_load(&m->bus, m->fw_data, m->fw_size, &entry, &lo, &hi);
        else
            ret = bus_copy_to(&m->bus, m->fw_addr, m->fw_data, m->fw_size);
        if (ret < 0)
            return err_prefix(ret, "firmware");
    }
    if (m->kernel_data) {
        if (elf_detect(m->kernel_data, m->kernel_size))
            ret = elf_load(&m->bus, m->kernel_data, m->kernel_size, &entry, &lo, &hi);
        else
            ret = bus_copy_to(&m->bus, m->kernel_addr, m->kernel_data, m->kernel_size);
        if (ret < 0)
            return err_prefix(ret, "kernel");
    }
    if (m->initrd_data && m->initrd_size) {
        ret = bus_copy_to(&m->bus, m->initrd_addr, m->initrd_data, m->initrd_size);
        if (ret < 0)
            return err_prefix(ret, "initrd");
    }
    if (m->fdt) {
        ret = bus_copy_to(&m->bus, m->fdt_addr, m->fdt, m->fdt_size);
        if (ret < 0)
            return err_prefix(ret, "device tree");
    }
    return 0;
}

static int load_firmware(VirtMachine *m, uint64_t *fw_end)
{
    const RunConfig *cfg = m->cfg;
    const char *bios = cfg->bios;
    uint64_t ram_end = VIRT_DRAM_BASE + m->bus.ram_size;
    *fw_end = VIRT_DRAM_BASE;
    if (bios && !strcmp(bios, "none"))
        return 0;
    const char *path = (!bios || !strcmp(bios, "default")) ? DEFAULT_FIRMWARE : bios;
    int ret = load_file(path, "firmware", m->bus.ram_size, &m->fw_data, &m->fw_size);
    if (ret < 0)
        return ret;
    m->fw_addr = VIRT_DRAM_BASE;
    if (elf_detect(m->fw_data, m->fw_size)) {
        uint64_t entry, lo, hi;
        ret = elf_load(&m->bus, m->fw_data, m->fw_size, &entry, &lo, &hi);
        if (ret < 0)
            return err_prefix(ret, "firmware '%s'", path);
        *fw_end = hi;
    } else {
        if (m->fw_size == 0)
            return err_set(EINVAL, "firmware '%s' is empty", path);
        *fw_end = VIRT_DRAM_BASE + m->fw_size;
    }
    if (*fw_end > ram_end)
        return err_set(EFBIG, "firmware '%s' does not fit in RAM", path);
    return 0;
}

static int load_kernel(VirtMachine *m, uint64_t fw_end, uint64_t *kernel_end)
{
    const char *path = m->cfg->kernel;
    uint64_t ram_end = VIRT_DRAM_BASE + m->bus.ram_size;
    /* RV64 kernels need a 2 MiB aligned start (their first PMD mapping). */
    m->kernel_addr = align_up(fw_end, 2 * MiB);
    if (m->kernel_addr >= ram_end)
        return err_set(EFBIG, "no RAM left for the kernel after the firmware");
    int ret = load_file(path, "kernel", ram_end - m->kernel_addr, &m->kernel_data,
                        &m->kernel_size);
    if (ret < 0)
        return ret;
    if (elf_detect(m->kernel_data, m->kernel_size)) {
        uint64_t lo, hi;
        ret = elf_load(&m->bus, m->kernel_data, m->kernel_size, &m->kernel_entry, &lo, &hi);
        if (ret < 0)
            return err_prefix(ret, "kernel '%s'", path);
        if (lo < fw_end && m->fw_data)
            return err_set(EINVAL, "kernel '%s' overlaps the firmware", path);
        *kernel_end = hi;
        return 0;
    }
    RiscvImageHeader h;
    ret = riscv_image_parse(m->kernel_data, m->kernel_size, &h);
    if (ret < 0)
        return err_prefix(ret, "kernel '%s' is not a RISC-V Linux Image or ELF", path);
    if (h.image_size > ram_end - m->kernel_addr)
        return err_set(EFBIG, "kernel '%s' needs %llu MiB but only %llu MiB of RAM are left",
                       path, (unsigned long long)(h.image_size >> 20),
                       (unsigned long long)((ram_end - m->kernel_addr) >> 20));
    m->kernel_entry = m->kernel_addr;
    *kernel_end = m->kernel_addr + h.image_size;
    return 0;
}

int virt_load(VirtMachine *m)
{
    const RunConfig *cfg = m->cfg;
    uint64_t ram_end = VIRT_DRAM_BASE + m->bus.ram_size;
    uint64_t fw_end, kernel_end = 0;
    int ret;

    if (!cfg->kernel && cfg->initrd)
        return err_set(EINVAL, "-initrd only allowed with -kernel option");
    if (!cfg->kernel && cfg->append)
        return err_set(EINVAL, "-append only allowed with -kernel option");
    if ((ret = load_firmware(m, &fw_end)) < 0)
        return ret;
    if (cfg->kernel) {
        if ((ret = load_kernel(m, fw_end, &kernel_end)) < 0)
            return ret;
    }
    if (cfg->initrd) {
        uint64_t start = m->kernel_entry + (m->bus.ram_size / 2 < 128 * MiB ?
                                            m->bus.ram_size / 2 : 128 * MiB);
        if (start < kernel_end)
            start = align_up(kernel_end, 4096);
        if (start >= ram_end)
            return err_set(EFBIG, "no RAM left for initrd '%s'", cfg->initrd);
        m->initrd_addr = start;
        ret = load_file(cfg->initrd, "initrd", ram_end - start, &m->initrd_data,
                        &m->initrd_size);
        if (ret < 0)
            return ret;
    }

    /* Firmware alone (or -bios none) enters at DRAM base; with -bios none the
     * kernel itself runs in M-mode from there. */
    m->start_pc = m->fw_data ? VIRT_DRAM_BASE : (cfg->kernel ? m->kernel_entry : VIRT_DRAM_BASE);

    if ((ret = virt_build_fdt(m)) < 0)
        return ret;
    uint64_t top = ram_end < 3072 * MiB ? ram_end : 3072 * MiB;
    if (m->fdt_size > top - VIRT_DRAM_BASE)
        return err_set(EFBIG, "the device tree does not fit in RAM");
    m->fdt_addr = align_down(top - m->fdt_size, 2 * MiB);
    uint64_t used_end = m->initrd_data ? m->initrd_addr + m->initrd_size :
                        kernel_end ? kernel_end : fw_end;
    if (m->fdt_addr < VIRT_DRAM_BASE || used_end > m->fdt_addr) {
        if (m->initrd_data)
            return err_set(EFBIG, "initrd '%s' is too big for %llu MiB of RAM", cfg->initrd,
                           (unsigned long long)(m->bus.ram_size >> 20));
        return err_set(EFBIG, "%s does not fit below the device tree in %llu MiB of RAM",
                       kernel_end ? "the kernel" : "the firmware",
                       (unsigned long long)(m->bus.ram_size >> 20));
    }
    build_mrom(m);
    virt_reset(m);
    return 0;
}

void virt_reset(VirtMachine *m)
{
    pthread_mutex_lock(&m->bus.io_lock);
    for (int i = 0; i < m->nharts; i++) {
        RiscvCpu *cpu = m->cpus[i];
        riscv_cpu_reset(cpu, m->start_pc);
        cpu->x[10] = cpu->mhartid;
        cpu->x[11] = m->fdt_addr;
        cpu->x[12] = m->dinfo_addr;
        atomic_store(&cpu->mip, 0);
    }
    clint_reset(&m->clint);
    uart_reset(&m->uart);
    goldfish_rtc_reset(&m->rtc);
    plic_reset(&m->plic);
    for (int i = 0; i < m->nreset_hooks; i++)
        ((MachineResetFn)m->reset_hooks[i].fn)(m, m->reset_hooks[i].opaque);
    pthread_mutex_unlock(&m->bus.io_lock);
    /* The images were all placed successfully once, so this cannot fail. */
    place_images(m);
}
