#include "hw/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/virt.h"
#include "util/error.h"
#include "util/log.h"

#define MAX_OPTIONS 128
static const RunOption *options[MAX_OPTIONS];
static int noptions;

void run_option_register(const RunOption *opt)
{
    int i = 0;
    while (i < noptions && strcmp(options[i]->name, opt->name) < 0)
        i++;
    if (i < noptions && !strcmp(options[i]->name, opt->name)) {
        log_msg("run option -%s registered twice; keeping the first", opt->name);
        return;
    }
    if (noptions == MAX_OPTIONS) {
        log_msg("too many run options; dropping -%s", opt->name);
        return;
    }
    memmove(&options[i + 1], &options[i], (size_t)(noptions - i) * sizeof(options[0]));
    options[i] = opt;
    noptions++;
}

const RunOption *run_option_find(const char *name)
{
    for (int i = 0; i < noptions; i++)
        if (!strcmp(options[i]->name, name))
            return options[i];
    return NULL;
}

const RunOption *run_option_at(int i)
{
    return i >= 0 && i < noptions ? options[i] : NULL;
}

void run_config_init(RunConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ram_size = VIRT_DEFAULT_RAM;
    cfg->smp = 1;
    cfg->machine = "virt";
}

void run_config_free(RunConfig *cfg)
{
    for (int i = 0; i < cfg->ndeferred; i++)
        free(cfg->deferred[i].arg);
    free(cfg->deferred);
    cfg->deferred = NULL;
    cfg->ndeferred = cfg->deferred_cap = 0;
}

int run_config_defer(RunConfig *cfg, int phase, RunDeferFn fn, const char *arg, void *opaque)
{
    if (cfg->ndeferred == cfg->deferred_cap) {
        int cap = cfg->deferred_cap ? cfg->deferred_cap * 2 : 16;
        RunDeferred *d = realloc(cfg->deferred, (size_t)cap * sizeof(*d));
        if (!d)
            return err_set(ENOMEM, "out of memory");
        cfg->deferred = d;
        cfg->deferred_cap = cap;
    }
    char *copy = NULL;
    if (arg && !(copy = strdup(arg)))
        return err_set(ENOMEM, "out of memory");
    cfg->deferred[cfg->ndeferred++] = (RunDeferred){ phase, fn, copy, opaque };
    return 0;
}

int run_config_apply(const RunConfig *cfg, VirtMachine *m)
{
    for (int phase = RUN_PHASE_BACKEND; phase <= RUN_PHASE_LATE; phase++) {
        for (int i = 0; i < cfg->ndeferred; i++) {
            const RunDeferred *d = &cfg->deferred[i];
            if (d->phase != phase)
                continue;
            int ret = d->fn(m, d->arg, d->opaque);
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

int run_config_parse(RunConfig *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1])
            return err_set(EINVAL, "unexpected argument '%s'", a);
        const char *name = a + 1 + (a[1] == '-');
        const RunOption *opt = run_option_find(name);
        if (!opt)
            return err_set(EINVAL, "unknown option '%s'", a);
        const char *arg = NULL;
        if (opt->argname) {
            if (i + 1 >= argc)
                return err_set(EINVAL, "option '%s' needs an argument (%s)", a, opt->argname);
            arg = argv[++i];
        }
        /* Handlers name their option in their own messages. */
        int ret = opt->parse(cfg, arg);
        if (ret < 0)
            return ret;
    }
    return 0;
}

int run_parse_mem_size(const char *s, uint64_t *out)
{
    if (!strncmp(s, "size=", 5))
        s += 5;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v <= 0)
        return err_set(EINVAL, "-m: invalid memory size '%s'", s);
    uint64_t mult = 1ULL << 20;     /* bare numbers are MiB, as in QEMU */
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mult = 1ULL << 10; break;
        case 'm': case 'M': mult = 1ULL << 20; break;
        case 'g': case 'G': mult = 1ULL << 30; break;
        case 't': case 'T': mult = 1ULL << 40; break;
        case 'b': case 'B': mult = 1; break;
        default: return err_set(EINVAL, "-m: invalid memory size '%s'", s);
        }
        end++;
        if (*end)
            return err_set(EINVAL, "-m: invalid memory size '%s'", s);
    }
    double bytes = v * (double)mult;
    if (bytes >= 0x1p40 * 16)   /* above 16 TiB DRAM would run off the 64-bit map */
        return err_set(EINVAL, "-m: memory size '%s' is too large", s);
    uint64_t b = (uint64_t)bytes;
    /* QEMU rounds RAM up to its 8 KiB target page multiple. */
    b = (b + 8191) & ~8191ULL;
    if (b < (2ULL << 20))
        return err_set(EINVAL, "-m: memory size '%s' is too small (minimum 2M)", s);
    *out = b;
    return 0;
}

static int parse_int(const char *s, size_t len, long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (*end || errno || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

int run_parse_smp(const char *s, int *out)
{
    long cpus = -1, sockets = -1, cores = -1, threads = -1, maxcpus = -1, dies = -1;
    const char *p = s;
    bool first = true;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        long v;
        if (!eq) {
            if (!first || parse_int(p, len, &v) < 0)
                return err_set(EINVAL, "invalid -smp '%s'", s);
            cpus = v;
        } else {
            size_t klen = (size_t)(eq - p);
            if (parse_int(eq + 1, len - klen - 1, &v) < 0)
                return err_set(EINVAL, "invalid -smp '%s'", s);
            long *dst = NULL;
#define KEY(k, var) if (klen == strlen(k) && !strncmp(p, k, klen)) dst = &var;
            KEY("cpus", cpus) KEY("sockets", sockets) KEY("cores", cores)
            KEY("threads", threads) KEY("maxcpus", maxcpus) KEY("dies", dies)
#undef KEY
            if (!dst)
                return err_set(EINVAL, "invalid -smp '%s': unknown key '%.*s'", s,
                               (int)klen, p);
            *dst = v;
        }
        first = false;
        p += len + (comma ? 1 : 0);
        if (comma && !*p)
            return err_set(EINVAL, "invalid -smp '%s'", s);
    }
    long topo = (sockets > 0 ? sockets : 1) * (dies > 0 ? dies : 1) *
                (cores > 0 ? cores : 1) * (threads > 0 ? threads : 1);
    if (cpus < 0)
        cpus = (sockets > 0 || cores > 0 || threads > 0) ? topo : 1;
    else if ((sockets > 0 || cores > 0 || threads > 0) && topo != cpus &&
             (sockets > 0 && cores > 0 && threads > 0))
        return err_set(EINVAL, "invalid -smp '%s': topology does not match cpus", s);
    if (maxcpus >= 0 && maxcpus != cpus)
        return err_set(EINVAL, "-smp maxcpus (CPU hotplug) is not supported");
    if (cpus < 1 || cpus > VIRT_MAX_HARTS)
        return err_set(EINVAL, "invalid -smp '%s': between 1 and %d harts are supported",
                       s, VIRT_MAX_HARTS);
    *out = (int)cpus;
    return 0;
}

/* --- the base options --- */

static int opt_machine(RunConfig *cfg, const char *arg)
{
    size_t len = strcspn(arg, ",");
    if (len != 4 || strncmp(arg, "virt", 4))
        return err_set(EINVAL, "unsupported machine '%.*s' (only 'virt')", (int)len, arg);
    cfg->machine = "virt";
    /* Machine properties: only dumpdtb= (QEMU's way to get the generated DT). */
    for (const char *p = arg + len; *p == ',';) {
        p++;
        size_t plen = strcspn(p, ",");
        if (plen > 8 && !strncmp(p, "dumpdtb=", 8) && !p[plen])
            cfg->dumpdtb = p + 8;
        else
            return err_set(EINVAL, "unsupported machine property '%.*s'", (int)plen, p);
        p += plen;
    }
    return 0;
}
static int opt_mem(RunConfig *cfg, const char *arg) { return run_parse_mem_size(arg, &cfg->ram_size); }
static int opt_smp(RunConfig *cfg, const char *arg) { return run_parse_smp(arg, &cfg->smp); }
static int opt_bios(RunConfig *cfg, const char *arg) { cfg->bios = arg; return 0; }
static int opt_kernel(RunConfig *cfg, const char *arg) { cfg->kernel = arg; return 0; }
static int opt_initrd(RunConfig *cfg, const char *arg) { cfg->initrd = arg; return 0; }
static int opt_append(RunConfig *cfg, const char *arg) { cfg->append = arg; return 0; }
static int opt_nographic(RunConfig *cfg, const char *arg) { cfg->nographic = true; return 0; }
static int opt_S(RunConfig *cfg, const char *arg) { cfg->start_paused = true; return 0; }
static int opt_no_reboot(RunConfig *cfg, const char *arg) { cfg->no_reboot = true; return 0; }
static int opt_serial(RunConfig *cfg, const char *arg)
{
    /* virt has one UART: later -serial options have nothing to attach to. */
    if (!cfg->serial)
        cfg->serial = arg;
    return 0;
}
static int opt_display(RunConfig *cfg, const char *arg)
{
    if (strcmp(arg, "none"))
        return err_set(EINVAL, "only '-display none' is supported");
    return 0;
}

static const RunOption o_machine = { "machine", "NAME", "machine type (only virt)", opt_machine };
static const RunOption o_M = { "M", "NAME", "same as -machine", opt_machine };
static const RunOption o_m = { "m", "SIZE", "RAM size (default 128M; bare numbers are MiB)", opt_mem };
static const RunOption o_smp = { "smp", "N", "number of harts, 1..8 (also cpus=N)", opt_smp };
static const RunOption o_bios = { "bios", "PATH|default|none", "M-mode firmware (default: OpenSBI fw_dynamic)", opt_bios };
static const RunOption o_kernel = { "kernel", "PATH", "kernel Image or ELF", opt_kernel };
static const RunOption o_initrd = { "initrd", "PATH", "initial ramdisk", opt_initrd };
static const RunOption o_append = { "append", "CMDLINE", "kernel command line", opt_append };
static const RunOption o_nographic = { "nographic", NULL, "serial on stdio with Ctrl-A escapes", opt_nographic };
static const RunOption o_no_reboot = { "no-reboot", NULL, "exit instead of rebooting", opt_no_reboot };
static const RunOption o_serial = { "serial", "stdio|file:PATH|none", "serial console backend", opt_serial };
static const RunOption o_display = { "display", "none", "accepted for compatibility", opt_display };
RUN_OPTION_REGISTER(o_machine)
RUN_OPTION_REGISTER(o_M)
RUN_OPTION_REGISTER(o_m)
RUN_OPTION_REGISTER(o_smp)
RUN_OPTION_REGISTER(o_bios)
RUN_OPTION_REGISTER(o_kernel)
RUN_OPTION_REGISTER(o_initrd)
RUN_OPTION_REGISTER(o_append)
RUN_OPTION_REGISTER(o_nographic)
RUN_OPTION_REGISTER(o_no_reboot)
static const RunOption o_S = { "S", NULL, "do not start the harts until QMP cont", opt_S };
RUN_OPTION_REGISTER(o_S)
RUN_OPTION_REGISTER(o_serial)
RUN_OPTION_REGISTER(o_display)
