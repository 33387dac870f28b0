/* `quail run`: QEMU-style command line for the virt machine. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hw/device.h"
#include "hw/options.h"
#include "hw/virt.h"
#include "util/error.h"
#include "util/log.h"
#include "util/subcommand.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: quail run [-M virt] [-m SIZE] [-smp N] [-bios PATH|default|none]\n"
                 "                 [-kernel IMAGE] [-initrd FILE] [-append CMDLINE] [-nographic] ...\n\n"
                 "options:\n");
    for (int i = 0; run_option_at(i); i++) {
        const RunOption *o = run_option_at(i);
        char left[64];
        snprintf(left, sizeof(left), "-%s%s%s", o->name, o->argname ? " " : "",
                 o->argname ? o->argname : "");
        fprintf(out, "  %-28s %s\n", left, o->help);
    }
    fprintf(out, "\ndevice types for -device:\n");
    for (int i = 0; device_type_at(i); i++)
        fprintf(out, "  %-28s %s\n", device_type_at(i)->name, device_type_at(i)->help);
}

typedef struct SignalWaiter {
    sigset_t set;
    VirtMachine *m;
} SignalWaiter;

/* Signals are blocked in every thread and taken here, so SIGINT/SIGTERM turn
 * into an orderly quit that restores the terminal. */
static void *signal_thread(void *opaque)
{
    SignalWaiter *w = opaque;
    int sig;
    if (sigwait(&w->set, &sig) == 0 && sig != SIGUSR2) {
        log_msg("terminating on signal %d", sig);
        machine_request(w->m, MACHINE_QUIT, 0);
    }
    return NULL;
}

static int run_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-help")) {
            usage(stdout);
            return 0;
        }
    }
    RunConfig cfg;
    run_config_init(&cfg);
    if (run_config_parse(&cfg, argc, argv) < 0) {
        fprintf(stderr, "quail run: %s\n", err_msg());
        run_config_free(&cfg);
        return 1;
    }

    SignalWaiter w;
    sigemptyset(&w.set);
    sigaddset(&w.set, SIGINT);
    sigaddset(&w.set, SIGTERM);
    sigaddset(&w.set, SIGHUP);
    sigaddset(&w.set, SIGUSR2);     /* only used to end the signal thread */
    pthread_sigmask(SIG_BLOCK, &w.set, NULL);
    signal(SIGPIPE, SIG_IGN);

    VirtMachine *m = NULL;
    int status = 1;
    if (virt_create(&m, &cfg) < 0 || run_config_apply(&cfg, m) < 0 || virt_load(m) < 0) {
        fprintf(stderr, "quail run: %s\n", err_msg());
        virt_destroy(m);
        run_config_free(&cfg);
        return 1;
    }
    if (cfg.dumpdtb) {
        FILE *f = fopen(cfg.dumpdtb, "wb");
        bool ok = f && fwrite(m->fdt, 1, m->fdt_size, f) == m->fdt_size;
        if (f && fclose(f) != 0)
            ok = false;
        if (ok)
            fprintf(stderr, "quail: info: dtb dumped to %s. Exiting.\n", cfg.dumpdtb);
        else
            fprintf(stderr, "quail run: cannot write '%s': %s\n", cfg.dumpdtb, strerror(errno));
        virt_destroy(m);
        run_config_free(&cfg);
        return ok ? 0 : 1;
    }
    if (cfg.start_paused) {
        pthread_mutex_lock(&m->req_lock);
        m->pause_want = m->paused = true;
        pthread_mutex_unlock(&m->req_lock);
    }
    w.m = m;
    pthread_t sig_thread;
    bool have_sig_thread = pthread_create(&sig_thread, NULL, signal_thread, &w) == 0;
    status = virt_run(m);
    if (have_sig_thread) {
        pthread_kill(sig_thread, SIGUSR2);
        pthread_join(sig_thread, NULL);
    }
    virt_destroy(m);
    run_config_free(&cfg);
    return status;
}

static const Subcommand run_cmd = { "run", "run a RISC-V virt machine (QEMU-style options)",
                                    run_main };
SUBCOMMAND_REGISTER(run_cmd)
