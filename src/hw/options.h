/* `quail run` command line: a table of options that any file can extend.
 *
 * Each option registers from a constructor with RUN_OPTION_REGISTER.  Its
 * parse() runs while the command line is read and either fills RunConfig
 * fields or, for things that need the machine (-drive, -device, -qmp...),
 * queues work with run_config_defer(); deferred work runs after the base
 * machine exists and before images are loaded, ordered by phase and then by
 * command-line position.
 *
 * Options are spelt with one dash (QEMU style); "--name" is accepted too.
 */
#ifndef QUAIL_HW_OPTIONS_H
#define QUAIL_HW_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct VirtMachine VirtMachine;
typedef struct RunConfig RunConfig;

typedef struct RunOption {
    const char *name;       /* without the dash: "m", "smp", "device" */
    const char *argname;    /* NULL for a flag without argument */
    const char *help;
    /* arg is NULL for flags.  Return 0 or a negative errno with err_set(). */
    int (*parse)(RunConfig *cfg, const char *arg);
} RunOption;

void run_option_register(const RunOption *opt);
const RunOption *run_option_find(const char *name);
/* Iterates registered options in name order; NULL past the end. */
const RunOption *run_option_at(int i);

#define RUN_OPTION_REGISTER(var) \
    static void __attribute__((constructor)) run_option_reg_##var(void) \
    { run_option_register(&(var)); }

/* Deferred-work phases: backends first so devices can refer to them. */
enum {
    RUN_PHASE_BACKEND = 0,  /* -object, -blockdev, -drive, -netdev */
    RUN_PHASE_DEVICE = 1,   /* -device */
    RUN_PHASE_LATE = 2,     /* -qmp, -monitor, anything needing all devices */
};

typedef int (*RunDeferFn)(VirtMachine *m, const char *arg, void *opaque);

typedef struct RunDeferred {
    int phase;
    RunDeferFn fn;
    char *arg;              /* copy of the option argument */
    void *opaque;
} RunDeferred;

struct RunConfig {
    uint64_t ram_size;      /* bytes */
    int smp;
    const char *machine;    /* "virt" */
    const char *bios;       /* NULL or "default": Debian's OpenSBI; "none" */
    const char *kernel, *initrd, *append;
    const char *serial;     /* NULL: stdio */
    bool nographic, no_reboot;
    bool start_paused;      /* -S: harts wait for QMP cont */
    const char *dumpdtb;    /* -machine virt,dumpdtb=PATH: write the DT and exit */

    RunDeferred *deferred;
    int ndeferred, deferred_cap;
};

void run_config_init(RunConfig *cfg);
void run_config_free(RunConfig *cfg);
/* Parses argv[1..argc-1] (argv[0] is "run").  Unknown options fail with
 * "unknown option '-foo'". */
int run_config_parse(RunConfig *cfg, int argc, char **argv);
int run_config_defer(RunConfig *cfg, int phase, RunDeferFn fn, const char *arg,
                     void *opaque);
/* Runs the deferred work in phase order. */
int run_config_apply(const RunConfig *cfg, VirtMachine *m);

/* "512" (MiB), "512M", "2G", "1T", "65536K", "size=2G" -> bytes. */
int run_parse_mem_size(const char *s, uint64_t *out);
/* "4", "cpus=4", "4,sockets=1,cores=4,threads=1" -> 1..8 harts. */
int run_parse_smp(const char *s, int *out);

#endif
