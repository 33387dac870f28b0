/* Image files for booting: whole-file reads with a size cap, the RISC-V Linux
 * Image header, and ELF program loading into guest RAM. */
#ifndef QUAIL_HW_LOADER_H
#define QUAIL_HW_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/bus.h"

/* Reads the whole file; what names it in errors ("kernel", "initrd"...).
 * Files larger than max fail with -EFBIG.  *data is malloc'ed (non-NULL even
 * for an empty file). */
int load_file(const char *path, const char *what, uint64_t max, uint8_t **data, size_t *size);

#define RISCV_IMAGE_MAGIC "RISCV\0\0\0"    /* at 0x30, deprecated but still set */
#define RISCV_IMAGE_MAGIC2 "RSC\x05"       /* at 0x38 */
#define RISCV_IMAGE_HEADER_SIZE 64

typedef struct RiscvImageHeader {
    uint64_t text_offset;   /* load offset from the start of RAM */
    uint64_t image_size;    /* bytes the kernel occupies once running (incl. bss) */
    uint64_t flags;         /* bit 0: big-endian */
    uint32_t version;
} RiscvImageHeader;

/* True if data starts with an Image header (magic at 0x38). */
bool riscv_image_detect(const uint8_t *data, size_t size);
/* Validates the header against the file: -EINVAL with a message when it is
 * truncated, big-endian, or claims an impossible size. */
int riscv_image_parse(const uint8_t *data, size_t size, RiscvImageHeader *h);

bool elf_detect(const uint8_t *data, size_t size);
/* Copies a little-endian RV64 ELF's PT_LOAD segments to their physical
 * addresses (bss zeroed).  Every segment must lie wholly in RAM. */
int elf_load(Bus *bus, const uint8_t *data, size_t size, uint64_t *entry,
             uint64_t *low, uint64_t *high);

#endif
