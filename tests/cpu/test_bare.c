/* Runs tests/cpu/bare/guest.c (cross-compiled workload.h) on the hart in
 * M-mode and compares its results with the same code compiled for the host. */
#include "cpu_test.h"

#include <elf.h>
#include <stdio.h>

#include "bare/workload.h"

static const char *elf_path;

static void load_elf(T *t, const char *path, uint64_t *entry)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t img[1 << 20];
    size_t n = fread(img, 1, sizeof(img), f);
    fclose(f);
    assert_true(n >= sizeof(Elf64_Ehdr));
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh->e_machine, EM_RISCV);
    assert_true(eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= n);
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff) + i;
        if (ph->p_type != PT_LOAD || ph->p_filesz == 0)
            continue;
        assert_true(ph->p_offset + ph->p_filesz <= n);
        assert_int_equal(bus_copy_to(&t->bus, ph->p_paddr, img + ph->p_offset, ph->p_filesz), 0);
    }
    *entry = eh->e_entry;
}

static void workload_matches_host(void **state)
{
    uint64_t want[WL_RESULTS];
    wl_run(want);

    T *t = t_new();
    uint64_t entry;
    load_elf(t, elf_path, &entry);
    t->cpu.pc = entry;
    uint64_t steps = 0;
    while (t->cpu.pc != TRAP && steps < 500000000ULL)
        steps += riscv_cpu_step(&t->cpu, 100000);
    assert_int_equal(t->cpu.pc, TRAP);
    if (t->cpu.mcause != EXC_BREAKPOINT)
        fail_msg("trap: mcause %llu mepc %llx mtval %llx", (unsigned long long)t->cpu.mcause,
                 (unsigned long long)t->cpu.mepc, (unsigned long long)t->cpu.mtval);
    uint64_t out = t->cpu.x[10];
    for (int i = 0; i < WL_RESULTS; i++) {
        uint64_t got = t_r64(t, out + 8 * (uint64_t)i);
        if (got != want[i])
            fail_msg("result %d: hart %llx, host %llx", i, (unsigned long long)got,
                     (unsigned long long)want[i]);
    }
    assert_true(t->cpu.instret > 1000000);
    t_free(t);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s GUEST.ELF\n", argv[0]);
        return 2;
    }
    elf_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workload_matches_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
