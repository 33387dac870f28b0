/* lspci: lists PCI functions from /sys/bus/pci/devices with vendor:device,
 * class, bound driver and the parent bridge (from the sysfs path), indented
 * by bus depth so the topology shows.  Arguments (all optional, for tests):
 *   expect=VVVV:DDDD[+VVVV:DDDD...]  fail unless every listed ID is present
 *   count=N                          fail unless exactly N functions exist */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include "guest.h"

#define MAX_DEVS 256

struct dev { char addr[32]; char parent[32]; int depth; unsigned ven, did, cls; char drv[64]; };

static unsigned read_hex(const char *dir, const char *file)
{
    char path[PATH_MAX], buf[32] = "";
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    return (unsigned)strtoul(buf, NULL, 16);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(((const struct dev *)a)->addr, ((const struct dev *)b)->addr);
}

int main(int argc, char **argv)
{
    static struct dev devs[MAX_DEVS];
    int n = 0;
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d)
        fail("opendir /sys/bus/pci/devices: %s", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_DEVS) {
        if (e->d_name[0] == '.')
            continue;
        struct dev *v = &devs[n++];
        char dir[PATH_MAX], link[PATH_MAX];
        snprintf(v->addr, sizeof v->addr, "%.31s", e->d_name);
        snprintf(dir, sizeof dir, "/sys/bus/pci/devices/%s", e->d_name);
        v->ven = read_hex(dir, "vendor");
        v->did = read_hex(dir, "device");
        v->cls = read_hex(dir, "class");
        /* The link target is .../pci0000:00/0000:00:01.0/0000:01:00.0: each
         * component after the root is one bridge hop. */
        ssize_t l = readlink(dir, link, sizeof link - 1);
        link[l > 0 ? l : 0] = '\0';
        const char *root = strstr(link, "/pci");
        for (const char *p = root ? root + 1 : link; (p = strchr(p, '/')) != NULL; p++)
            v->depth++;
        v->depth = v->depth > 0 ? v->depth - 1 : 0;
        char *last = strrchr(link, '/');
        if (last) {
            *last = '\0';
            char *prev = strrchr(link, '/');
            const char *pname = prev ? prev + 1 : link;
            snprintf(v->parent, sizeof v->parent, "%.31s",
                     strncmp(pname, "pci", 3) == 0 ? "root" : pname);
        }
        char drvpath[PATH_MAX + 8];
        snprintf(drvpath, sizeof drvpath, "%s/driver", dir);
        l = readlink(drvpath, link, sizeof link - 1);
        link[l > 0 ? l : 0] = '\0';
        snprintf(v->drv, sizeof v->drv, "%.63s", l > 0 && strrchr(link, '/') ? strrchr(link, '/') + 1 : "-");
    }
    closedir(d);
    qsort(devs, (size_t)n, sizeof devs[0], cmp);
    for (int i = 0; i < n; i++)
        printf("%*s%s %04x:%04x class %06x parent %s driver %s\n", devs[i].depth * 2, "",
               devs[i].addr, devs[i].ven, devs[i].did, devs[i].cls, devs[i].parent, devs[i].drv);
    printf("lspci: %d function(s)\n", n);

    long count = arg_num(argc, argv, "count", -1);
    if (count >= 0 && count != n)
        fail("expected %ld PCI functions, found %d", count, n);
    const char *expect = arg_str(argc, argv, "expect", NULL);
    while (expect && *expect) {
        unsigned ven, did;
        if (sscanf(expect, "%x:%x", &ven, &did) != 2)
            fail("bad expect= list");
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= devs[i].ven == ven && devs[i].did == did;
        if (!found)
            fail("PCI device %04x:%04x not present", ven, did);
        expect = strchr(expect, '+');
        if (expect)
            expect++;
    }
    return 0;
}
