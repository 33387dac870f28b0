/* Reads entropy from the virtio-rng device through /dev/hwrng and checks it
 * looks random (not constant, roughly balanced bits), proving the device
 * answered.  Arguments: [bytes=N] (default 4096). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest.h"

int main(int argc, char **argv)
{
    long long want = arg_num(argc, argv, "bytes", 4096);
    static uint8_t buf[65536];
    if (want <= 0 || want > (long long)sizeof(buf))
        fail("bytes must be 1..%zu", sizeof(buf));
    char name[64] = "";
    FILE *f = fopen("/sys/class/misc/hw_random/rng_current", "r");
    if (!f || !fgets(name, sizeof(name), f))
        fail("no hw_random device");
    fclose(f);
    if (!strstr(name, "virtio"))
        fail("current rng is '%s', not virtio", name);
    int fd = open("/dev/hwrng", O_RDONLY);
    if (fd < 0)
        fail("open /dev/hwrng failed");
    long long got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, (size_t)(want - got));
        if (n <= 0)
            fail("read /dev/hwrng returned %zd after %lld bytes", n, got);
        got += n;
    }
    close(fd);
    long long ones = 0, same = 0;
    for (long long i = 0; i < want; i++) {
        ones += __builtin_popcount(buf[i]);
        same += i > 0 && buf[i] == buf[i - 1];
    }
    double frac = (double)ones / (double)(want * 8);
    printf("hwrng: %lld bytes from %s ones=%.3f repeats=%lld\n", want, strtok(name, "\n"), frac, same);
    if (frac < 0.45 || frac > 0.55 || same > want / 64)
        fail("data does not look random");
    return 0;
}
