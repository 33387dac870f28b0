#include "hw/sifive_test.h"

#include "util/log.h"

static int test_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    *val = 0;
    return 0;
}

static int test_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    SifiveTest *t = opaque;
    /* OpenSBI writes 16 bits (just the command); QEMU accepts 2 and 4. */
    if (off != 0 || (size != 2 && size != 4)) {
        log_guest_error("sifive_test: bad write size %u at 0x%llx", size,
                        (unsigned long long)off);
        return 0;
    }
    int code = (int)((val >> 16) & 0xffff);
    switch (val & 0xffff) {
    case FINISHER_FAIL:
        t->finish(t->opaque, FINISH_FAIL, code);
        break;
    case FINISHER_PASS:
        t->finish(t->opaque, FINISH_POWEROFF, 0);
        break;
    case FINISHER_RESET:
        t->finish(t->opaque, FINISH_RESET, 0);
        break;
    default:
        log_guest_error("sifive_test: unknown command 0x%llx", (unsigned long long)val);
        break;
    }
    return 0;
}

const MmioOps sifive_test_ops = { test_read, test_write };
