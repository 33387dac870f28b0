/* Guest-side PCI config-space fuzzer: unbinds every PCI driver (so the
 * guest kernel no longer uses the devices), then writes random values of
 * every size (1, 2, 4 bytes) at random offsets over each function's whole
 * config space through sysfs, reading back as it goes.  The emulator must
 * survive; the test passes when the program reaches its end.
 * Arguments: [writes=N] (per function, default 4000) [seed=N] */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"

static void unbind(const char *dev)
{
    char path[512];
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%.200s/driver/unbind", dev);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return;     /* no driver bound */
    if (write(fd, dev, strlen(dev)) < 0)
        printf("pcifuzz: unbind %s failed\n", dev);
    close(fd);
}

int main(int argc, char **argv)
{
    long long writes = arg_num(argc, argv, "writes", 4000);
    uint64_t x = (uint64_t)arg_num(argc, argv, "seed", 1) * 0x9e3779b97f4a7c15ULL + 7;
    char names[64][256];
    int n = 0;
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d)
        fail("no /sys/bus/pci/devices");
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            snprintf(names[n++], sizeof(names[0]), "%.200s", e->d_name);
    closedir(d);
    if (n == 0)
        fail("no PCI functions");
    /* Deepest functions first, so bridges lose their children before themselves. */
    for (int i = n - 1; i >= 0; i--)
        unbind(names[i]);
    long long total = 0;
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%.200s/config", names[i]);
        int fd = open(path, O_RDWR);
        if (fd < 0)
            continue;   /* a function removed by an earlier write (bus renumbered) */
        struct stat st;
        off_t size = fstat(fd, &st) == 0 && st.st_size > 0 ? st.st_size : 256;
        for (long long k = 0; k < writes; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned sz = 1u << (x % 3);
            off_t off = (off_t)((x >> 8) % (uint64_t)size) & ~(off_t)(sz - 1);
            uint32_t v = (uint32_t)(x >> 32);
            if (pwrite(fd, &v, sz, off) == (ssize_t)sz)
                total++;
            uint32_t back;
            if (pread(fd, &back, sz, off) < 0)
                break;
        }
        close(fd);
    }
    printf("pcifuzz: %d functions, %lld config writes\n", n, total);
    if (total == 0)
        fail("no config write went through");
    return 0;
}
