/* cpuinfo: counts the harts Linux brought up (/proc/cpuinfo "processor"
 * entries, cross-checked with sysconf) and compares with expect=N. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "guest.h"

int main(int argc, char **argv)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        fail("open /proc/cpuinfo: %s", strerror(errno));
    char line[512], isa[256] = "?", mmu[64] = "?";
    long harts = 0;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *val = colon + 1 + (colon[1] == ' ');
        val[strcspn(val, "\n")] = '\0';
        if (strncmp(line, "processor", 9) == 0)
            harts++;
        else if (strncmp(line, "isa", 3) == 0 && isa[0] == '?')
            snprintf(isa, sizeof isa, "%s", val);
        else if (strncmp(line, "mmu", 3) == 0 && mmu[0] == '?')
            snprintf(mmu, sizeof mmu, "%s", val);
    }
    fclose(f);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    printf("cpuinfo: harts=%ld online=%ld isa=%s mmu=%s\n", harts, online, isa, mmu);
    if (harts != online)
        fail("/proc/cpuinfo lists %ld harts but %ld are online", harts, online);
    long expect = arg_num(argc, argv, "expect", -1);
    if (expect >= 0 && harts != expect)
        fail("expected %ld harts, found %ld", expect, harts);
    return 0;
}
