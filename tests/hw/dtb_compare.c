/* dtb_compare QUAIL.dtb QEMU.dtb: every node and property quail generates
 * must exist in QEMU's tree with the same value (properties holding phandles
 * compare by shape only, riscv,isa by prefix); QEMU nodes quail does not
 * model are listed in `optional`.  Prints each difference; exit 1 if any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

static void *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    static char bufs[2][1 << 20];
    static int n;
    char *buf = bufs[n++ & 1];
    size_t len = fread(buf, 1, sizeof(bufs[0]), f);
    fclose(f);
    if (len < 64 || fdt_check_header(buf)) {
        fprintf(stderr, "%s: not a device tree\n", path);
        exit(2);
    }
    return buf;
}

/* Properties that are one phandle: compared by the path they point at. */
static const char *const phandle_props[] = { "interrupt-parent", "regmap", "cpu", NULL };
static const char *const optional[] = {
    "/pmu", "/fw-cfg@10100000", "/flash@20000000", "/platform-bus@4000000",
    "/soc/pci@30000000", NULL,
};

/* Nodes another part of quail builds (src/hw/pci): checked for presence
 * only here; their own tests check the contents. */
static const char *const presence_only[] = { "/soc/pci@30000000", NULL };

static bool in(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* Path of the node phandle ph points at in fdt, or "?". */
static const char *target(const void *fdt, uint32_t ph, char *buf, int len)
{
    int node = fdt_node_offset_by_phandle(fdt, ph);
    if (node < 0 || fdt_get_path(fdt, node, buf, len))
        return "?";
    return buf;
}

static uint32_t cell(const char *v, int i)
{
    fdt32_t c;
    memcpy(&c, v + 4 * i, 4);
    return fdt32_to_cpu(c);
}

/* Cells alternating (phandle of a 1-cell interrupt controller, number). */
static bool same_ext(const void *a, const char *av, const void *b, const char *bv, int len)
{
    char pa[256], pb[256];
    for (int i = 0; i + 1 < len / 4; i += 2) {
        if (strcmp(target(a, cell(av, i), pa, sizeof(pa)), target(b, cell(bv, i), pb, sizeof(pb))) ||
            cell(av, i + 1) != cell(bv, i + 1))
            return false;
    }
    return true;
}

static int compare(const void *a, const void *b, const char *an, const char *bn, bool values)
{
    int bad = 0, depth = 0;
    for (int node = fdt_next_node(a, -1, &depth); node >= 0;
         node = fdt_next_node(a, node, &depth)) {
        char path[256];
        if (fdt_get_path(a, node, path, sizeof(path)))
            continue;
        int other = fdt_path_offset(b, path);
        if (other < 0) {
            if (values || !in(optional, path)) {
                printf("%s has %s, %s does not\n", an, path, bn);
                bad = 1;
            }
            continue;
        }
        if (!values || in(presence_only, path))
            continue;
        int p;
        fdt_for_each_property_offset(p, a, node) {
            const char *name;
            int alen, blen;
            const char *av = fdt_getprop_by_offset(a, p, &name, &alen);
            const char *bv = fdt_getprop(b, other, name, &blen);
            if (!bv) {
                printf("%s: %s has property %s, %s does not\n", path, an, name, bn);
                bad = 1;
            } else if (!strcmp(name, "phandle") || !strcmp(name, "interrupt-map")) {
                /* numbering is free; interrupt-map belongs to the PCI host */
            } else if (in(phandle_props, name)) {
                char pa[256], pb[256];
                if (alen != 4 || blen != 4 ||
                    strcmp(target(a, cell(av, 0), pa, sizeof(pa)), target(b, cell(bv, 0), pb, sizeof(pb)))) {
                    printf("%s: %s points elsewhere\n", path, name);
                    bad = 1;
                }
            } else if (!strcmp(name, "interrupts-extended")) {
                if (alen != blen || !same_ext(a, av, b, bv, alen)) {
                    printf("%s: interrupts-extended differs\n", path);
                    bad = 1;
                }
            } else if (!strcmp(name, "riscv,isa")) {
                if (strncmp(av, "rv64imafdc", 10) || strncmp(bv, "rv64imafdc", 10)) {
                    printf("%s: riscv,isa %s vs %s\n", path, av, bv);
                    bad = 1;
                }
            } else if (alen != blen || memcmp(av, bv, (size_t)alen)) {
                printf("%s: property %s differs\n", path, name);
                bad = 1;
            }
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: dtb_compare QUAIL.dtb QEMU.dtb\n");
        return 2;
    }
    void *q = load(argv[1]), *e = load(argv[2]);
    int bad = compare(q, e, "quail", "qemu", true);
    bad |= compare(e, q, "qemu", "quail", false);
    if (!bad)
        printf("device trees match\n");
    return bad;
}
