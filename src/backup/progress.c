#include "backup/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_init(Progress *p, bool json, uint64_t total)
{
    *p = (Progress){ .json = json, .tty = !json && isatty(2), .total = total };
    p->start_ms = p->last_ms = now_ms();
}

void progress_disk(Progress *p, const char *disk)
{
    p->disk = disk;
}

static void draw(Progress *p, bool final)
{
    int64_t t = now_ms();
    double secs = (double)(t - p->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    if (p->json) {
        printf("{\"event\":\"progress\",\"disk\":\"%s\",\"bytes_done\":%llu,\"bytes_total\":%llu,"
               "\"rate\":%.0f}\n", p->disk ? p->disk : "", (unsigned long long)p->done,
               (unsigned long long)p->total, rate);
        fflush(stdout);
        return;
    }
    if (!p->tty)
        return;
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    if (frac > 1)
        frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    char eta[32] = "--:--";
    if (rate > 0 && !final) {
        long left = (long)((double)(p->total - (p->done < p->total ? p->done : p->total)) / rate);
        snprintf(eta, sizeof(eta), "%ld:%02ld", left / 60, left % 60);
    }
    fprintf(stderr, "\r%-12.12s [%s] %3d%% %7.1f MiB/s ETA %s%s", p->disk ? p->disk : "",
            bar, (int)(frac * 100), rate / 1048576.0, eta, final ? "\n" : "");
    fflush(stderr);
}

void progress_update(Progress *p, uint64_t bytes)
{
    p->done = p->base + bytes;
    int64_t t = now_ms();
    if (t - p->last_ms < (p->json ? 1000 : 250))
        return;
    p->last_ms = t;
    draw(p, false);
}

void progress_disk_done(Progress *p, uint64_t bytes)
{
    p->base += bytes;
    p->done = p->base;
}

void progress_finish(Progress *p)
{
    if (p->tty)
        draw(p, true);
}
