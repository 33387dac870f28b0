#include "hw/loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

int load_file(const char *path, const char *what, uint64_t max, uint8_t **data, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set_errno(errno, "cannot open %s '%s'", what, path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int ret = err_set_errno(errno, "cannot stat %s '%s'", what, path);
        close(fd);
        return ret;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(EINVAL, "%s '%s' is not a regular file", what, path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return err_set(EFBIG, "%s '%s' is too big (%llu bytes, at most %llu fit in RAM)",
                       what, path, (unsigned long long)st.st_size, (unsigned long long)max);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return err_set(ENOMEM, "out of memory reading %s '%s'", what, path);
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int ret = n < 0 ? err_set_errno(errno, "cannot read %s '%s'", what, path)
                            : err_set(EIO, "%s '%s' shrank while being read", what, path);
            free(buf);
            close(fd);
            return ret;
        }
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *size = len;
    return 0;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool riscv_image_detect(const uint8_t *data, size_t size)
{
    return size >= RISCV_IMAGE_HEADER_SIZE && !memcmp(data + 0x38, RISCV_IMAGE_MAGIC2, 4);
}

int riscv_image_parse(const uint8_t *data, size_t size, RiscvImageHeader *h)
{
    if (size < RISCV_IMAGE_HEADER_SIZE)
        return err_set(EINVAL, "too small for a RISC-V Image (%zu bytes)", size);
    if (memcmp(data + 0x38, RISCV_IMAGE_MAGIC2, 4))
        return err_set(EINVAL, "no RISC-V Image magic at offset 0x38");
    h->text_offset = le64(data + 0x08);
    h->image_size = le64(data + 0x10);
    h->flags = le64(data + 0x18);
    h->version = le32(data + 0x20);
    if (h->flags & 1)
        return err_set(EINVAL, "big-endian Image is not supported");
    /* Header version 0.2 (Linux >= 5.x) is the only one with these fields. */
    if ((h->version >> 16) == 0 && (h->version & 0xffff) < 2)
        return err_set(EINVAL, "unsupported Image header version %u.%u",
                       h->version >> 16, h->version & 0xffff);
    if (h->image_size == 0 || h->image_size < size)
        return err_set(EINVAL, "corrupt Image header: image_size %llu but the file has %zu bytes",
                       (unsigned long long)h->image_size, size);
    if (h->image_size > (1ULL << 36))
        return err_set(EINVAL, "corrupt Image header: image_size %llu is implausible",
                       (unsigned long long)h->image_size);
    if (h->text_offset & 0xfff)
        return err_set(EINVAL, "corrupt Image header: text_offset 0x%llx not page aligned",
                       (unsigned long long)h->text_offset);
    return 0;
}

bool elf_detect(const uint8_t *data, size_t size)
{
    return size >= 4 && !memcmp(data, ELFMAG, SELFMAG);
}

int elf_load(Bus *bus, const uint8_t *data, size_t size, uint64_t *entry,
             uint64_t *low, uint64_t *high)
{
    if (size < sizeof(Elf64_Ehdr))
        return err_set(EINVAL, "truncated ELF header");
    Elf64_Ehdr eh;
    memcpy(&eh, data, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return err_set(EINVAL, "not a 64-bit little-endian ELF");
    if (eh.e_machine != EM_RISCV)
        return err_set(EINVAL, "ELF is not for RISC-V (e_machine %u)", eh.e_machine);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
        return err_set(EINVAL, "corrupt ELF program headers");
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            return err_set(EINVAL, "corrupt ELF segment %u", i);
        if (!bus_ram_ptr(bus, ph.p_paddr, ph.p_memsz))
            return err_set(EINVAL, "ELF segment %u (0x%llx+0x%llx) is outside RAM", i,
                           (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
        uint8_t *dst = bus_ram_ptr(bus, ph.p_paddr, ph.p_memsz);
        memcpy(dst, data + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr < lo)
            lo = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > hi)
            hi = ph.p_paddr + ph.p_memsz;
    }
    if (hi == 0)
        return err_set(EINVAL, "ELF has no loadable segments");
    *entry = eh.e_entry;
    if (low)
        *low = lo;
    if (high)
        *high = hi;
    return 0;
}
