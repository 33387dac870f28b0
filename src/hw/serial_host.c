#include "hw/serial_host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"

#define MUX_ESCAPE 0x01     /* Ctrl-A */

struct SerialHost {
    VirtMachine *m;
    int out_fd;             /* -1: output discarded */
    bool close_out;
    int in_fd;              /* -1: no input */
    bool mux, escape;
    bool tty_saved;
    struct termios saved_tio;
    int wake[2];
    pthread_t thread;
    bool thread_started;
};

/* atexit() safety net: a crash path that skips serial_host_close() must not
 * leave the user's terminal in raw mode. */
static struct termios g_saved_tio;
static int g_saved_fd = -1;

static void restore_tty_atexit(void)
{
    if (g_saved_fd >= 0)
        tcsetattr(g_saved_fd, TCSANOW, &g_saved_tio);
}

static void set_raw(SerialHost *s)
{
    struct termios t;
    if (!isatty(s->in_fd) || tcgetattr(s->in_fd, &t) < 0)
        return;
    s->saved_tio = t;
    s->tty_saved = true;
    if (g_saved_fd < 0) {
        g_saved_tio = t;
        g_saved_fd = s->in_fd;
        atexit(restore_tty_atexit);
    }
    /* Like QEMU's stdio chardev: raw input, output post-processing and
     * signals (Ctrl-C) left on. */
    t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag |= OPOST;
    t.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    t.c_cflag &= ~(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(s->in_fd, TCSANOW, &t);
}

int serial_host_open(SerialHost **out, const char *spec, bool mux, VirtMachine *m)
{
    SerialHost *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->m = m;
    s->out_fd = s->in_fd = -1;
    s->wake[0] = s->wake[1] = -1;
    if (!strcmp(spec, "stdio") || !strcmp(spec, "mon:stdio")) {
        s->out_fd = STDOUT_FILENO;
        s->in_fd = STDIN_FILENO;
        s->mux = mux || !strcmp(spec, "mon:stdio");
    } else if (!strncmp(spec, "file:", 5)) {
        s->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->out_fd < 0) {
            int ret = err_set_errno(errno, "cannot open serial output file '%s'", spec + 5);
            free(s);
            return ret;
        }
        s->close_out = true;
    } else if (strcmp(spec, "none") && strcmp(spec, "null")) {
        free(s);
        return err_set(EINVAL, "unsupported serial backend '%s' (use stdio, file:PATH or none)",
                       spec);
    }
    *out = s;
    return 0;
}

void serial_host_write(void *opaque, const uint8_t *buf, size_t len)
{
    SerialHost *s = opaque;
    if (!s || s->out_fd < 0)
        return;
    while (len > 0) {
        ssize_t n = write(s->out_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;     /* a closed stdout must not stop the guest */
        buf += n;
        len -= (size_t)n;
    }
}

size_t serial_mux_filter(bool *escape_state, const uint8_t *in, size_t n,
                         uint8_t *out, bool *quit, bool *help)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (*escape_state) {
            *escape_state = false;
            if (c == MUX_ESCAPE)
                out[o++] = c;
            else if (c == 'x')
                *quit = true;
            else if (c == 'h' || c == '?')
                *help = true;
            /* other keys (monitor switch, break...) are not supported: dropped */
        } else if (c == MUX_ESCAPE) {
            *escape_state = true;
        } else {
            out[o++] = c;
        }
    }
    return o;
}

static const char mux_help[] =
    "\r\nC-a h    print this help\r\n"
    "C-a x    exit emulator\r\n"
    "C-a C-a  sends C-a\r\n";

/* Hands bytes to the UART, waiting while its FIFO is full so pasted text is
 * not dropped.  Returns false when asked to stop. */
static bool feed_uart(SerialHost *s, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        pthread_mutex_lock(&s->m->bus.io_lock);
        size_t n = uart_receive(&s->m->uart, buf, len);
        pthread_mutex_unlock(&s->m->bus.io_lock);
        buf += n;
        len -= n;
        if (len > 0) {
            struct pollfd p = { s->wake[0], POLLIN, 0 };
            if (poll(&p, 1, 2) > 0)
                return false;
        }
    }
    return true;
}

static void *reader_thread(void *opaque)
{
    SerialHost *s = opaque;
    uint8_t buf[256], out[256];
    for (;;) {
        struct pollfd p[2] = { { s->in_fd, POLLIN, 0 }, { s->wake[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(s->in_fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;      /* EOF: the guest just sees no more input */
        size_t len = (size_t)n;
        const uint8_t *data = buf;
        if (s->mux) {
            bool quit = false, help = false;
            len = serial_mux_filter(&s->escape, buf, len, out, &quit, &help);
            data = out;
            if (help)
                serial_host_write(s, (const uint8_t *)mux_help, sizeof(mux_help) - 1);
            if (quit) {
                static const char msg[] = "QEMU: Terminated\r\n";
                serial_host_write(s, (const uint8_t *)msg, sizeof(msg) - 1);
                machine_request(s->m, MACHINE_QUIT, 0);
                break;
            }
        }
        if (!feed_uart(s, data, len))
            break;
    }
    return NULL;
}

int serial_host_start(SerialHost *s)
{
    if (s->in_fd < 0 || s->thread_started)
        return 0;
    if (pipe2(s->wake, O_CLOEXEC) < 0)
        return err_set_errno(errno, "serial: pipe");
    set_raw(s);
    int ret = pthread_create(&s->thread, NULL, reader_thread, s);
    if (ret)
        return err_set(ret, "serial: cannot start the input thread");
    s->thread_started = true;
    return 0;
}

void serial_host_close(SerialHost *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        ssize_t r = write(s->wake[1], "x", 1);
        (void)r;
        pthread_join(s->thread, NULL);
    }
    if (s->tty_saved) {
        tcsetattr(s->in_fd, TCSANOW, &s->saved_tio);
        if (g_saved_fd == s->in_fd)
            g_saved_fd = -1;
    }
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    if (s->close_out)
        close(s->out_fd);
    free(s);
}
