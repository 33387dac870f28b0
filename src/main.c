/* quail: one binary, subcommands registered by each subsystem. */
#include <stdio.h>
#include <string.h>

#include "util/subcommand.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: quail SUBCOMMAND [ARGS...]\n\nsubcommands:\n");
    for (int i = 0; subcommand_at(i); i++)
        fprintf(out, "  %-10s %s\n", subcommand_at(i)->name, subcommand_at(i)->summary);
    fprintf(out, "\n'quail SUBCOMMAND --help' describes each one.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("quail 0.1.0\n");
        return 0;
    }
    const Subcommand *sc = subcommand_find(argv[1]);
    if (!sc) {
        fprintf(stderr, "quail: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return 1;
    }
    return sc->main(argc - 1, argv + 1);
}
