/* /init of the quail test guest.  Mounts the pseudo filesystems, then either
 * runs the test named by quail.test= on the kernel command line and reports
 * "QUAIL-TEST-RESULT: PASS|FAIL name [reason]" before powering off, or (no
 * test named) starts the demo shell.  Powering off rather than returning
 * matters: PID 1 exiting panics the kernel, and the host-side test scripts
 * wait for the emulator to exit. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    /* One write() per line so kernel messages cannot split a marker line. */
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    ssize_t r = write(STDOUT_FILENO, buf, (size_t)n);
    (void)r;
}

static void mount_or_warn(const char *src, const char *dst, const char *type)
{
    mkdir(dst, 0755);
    if (mount(src, dst, type, 0, NULL) < 0 && errno != EBUSY)
        say("quail-init: mount %s on %s: %s\n", type, dst, strerror(errno));
}

static void power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    say("quail-init: power off failed: %s\n", strerror(errno));
    for (;;)
        pause();
}

/* Copies the value of "key=" from the command line into out; the value ends
 * at whitespace.  Returns 1 if found. */
static int cmdline_get(const char *cmdline, const char *key, char *out, size_t outsz)
{
    size_t klen = strlen(key);
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char *tok = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if ((size_t)(p - tok) > klen && strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
            size_t n = (size_t)(p - tok) - klen - 1;
            if (n >= outsz)
                n = outsz - 1;
            memcpy(out, tok + klen + 1, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Runs argv to completion, reaping any orphans (we are PID 1) meanwhile.
 * Returns the wait status. */
static int run(char **argv)
{
    pid_t pid = fork();
    if (pid < 0) {
        say("quail-init: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execv(argv[0], argv);
        say("quail-init: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (;;) {
        int st;
        pid_t w = wait(&st);
        if (w == pid)
            return st;
        if (w < 0 && errno != EINTR)
            return -1;
    }
}

int main(void)
{
    mount_or_warn("proc", "/proc", "proc");
    mount_or_warn("sysfs", "/sys", "sysfs");
    mount_or_warn("devtmpfs", "/dev", "devtmpfs");
    mount_or_warn("tmpfs", "/tmp", "tmpfs");
    setenv("PATH", "/bin", 1);
    setenv("HOME", "/", 1);

    char cmdline[4096] = "";
    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
        cmdline[n > 0 ? n : 0] = '\0';
        close(fd);
    }

    char name[64], args[1024] = "";
    if (!cmdline_get(cmdline, "quail.test", name, sizeof name) || name[0] == '\0') {
        char *sh[] = { "/bin/sh", NULL };
        say("quail-init: no quail.test= given, starting /bin/sh\n");
        run(sh);
        power_off();
    }
    cmdline_get(cmdline, "quail.args", args, sizeof args);

    char path[96];
    snprintf(path, sizeof path, "/bin/%s", name);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = path;
    for (char *save = NULL, *a = strtok_r(args, ",", &save); a && argc <= MAX_ARGS;
         a = strtok_r(NULL, ",", &save))
        argv[argc++] = a;
    argv[argc] = NULL;

    say("quail-init: running test %s\n", name);
    int st = run(argv);
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        say("\nQUAIL-TEST-RESULT: PASS %s\n", name);
    else if (st >= 0 && WIFEXITED(st))
        say("\nQUAIL-TEST-RESULT: FAIL %s exit=%d\n", name, WEXITSTATUS(st));
    else if (st >= 0 && WIFSIGNALED(st))
        say("\nQUAIL-TEST-RESULT: FAIL %s signal=%d (%s)\n", name, WTERMSIG(st),
            strsignal(WTERMSIG(st)));
    else
        say("\nQUAIL-TEST-RESULT: FAIL %s could-not-run\n", name);
    power_off();
}
