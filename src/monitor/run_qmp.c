/* `quail run -qmp SPEC`: starts the QMP server once the machine exists and
 * connects the run-state commands to it. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "hw/options.h"
#include "hw/virt.h"
#include "monitor/qmp.h"
#include "util/error.h"

static VirtMachine *machine;

static bool m_running(void) { return !strcmp(virt_status(machine), "running"); }
static const char *m_status(void) { return virt_status(machine); }
static int m_stop(void) { return virt_pause(machine); }
static int m_cont(void) { return virt_resume(machine); }

static int m_reset(void)
{
    pthread_mutex_lock(&machine->req_lock);
    machine->reset_reason = "host-qmp-system-reset";
    pthread_mutex_unlock(&machine->req_lock);
    machine_request(machine, MACHINE_RESET, 0);
    return 0;
}

static int m_powerdown(void)
{
    /* The virt machine has no power button the guest could see (no ACPI),
     * so, as under QEMU, only the event is emitted. */
    qmp_event("POWERDOWN", NULL);
    return 0;
}

static int m_quit(void)
{
    pthread_mutex_lock(&machine->req_lock);
    machine->quit_reason = "host-qmp-quit";
    pthread_mutex_unlock(&machine->req_lock);
    machine_request(machine, MACHINE_QUIT, 0);
    return 0;
}

static const QmpMachineOps ops = {
    m_running, m_status, m_stop, m_cont, m_reset, m_powerdown, m_quit,
};

static void qmp_cleanup(VirtMachine *m, void *opaque)
{
    qmp_server_stop_all();
    qmp_set_machine_ops(NULL);
    machine = NULL;
}

static int qmp_apply(VirtMachine *m, const char *arg, void *opaque)
{
    if (!machine) {
        machine = m;
        qmp_set_machine_ops(&ops);
        int r = machine_add_cleanup_hook(m, qmp_cleanup, NULL);
        if (r < 0)
            return r;
    }
    int r = qmp_server_start(arg);
    return r < 0 ? err_prefix(r, "-qmp") : 0;
}

static int parse_qmp(RunConfig *cfg, const char *arg)
{
    return run_config_defer(cfg, RUN_PHASE_LATE, qmp_apply, arg, NULL);
}

static const RunOption o_qmp = { "qmp", "unix:PATH,server=on,wait=off",
                                 "QMP monitor socket (also tcp:HOST:PORT,...)", parse_qmp };
RUN_OPTION_REGISTER(o_qmp)
