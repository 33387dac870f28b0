/* `quail SUBCOMMAND ...`: each subsystem registers its entry point from a
 * constructor, so main() knows none of them by name. */
#ifndef QUAIL_UTIL_SUBCOMMAND_H
#define QUAIL_UTIL_SUBCOMMAND_H

typedef struct Subcommand {
    const char *name;
    const char *summary;
    /* argv[0] is the subcommand name.  Returns the process exit status. */
    int (*main)(int argc, char **argv);
} Subcommand;

void subcommand_register(const Subcommand *sc);
const Subcommand *subcommand_find(const char *name);
/* Iterates registered subcommands in name order; i from 0 until NULL. */
const Subcommand *subcommand_at(int i);

#define SUBCOMMAND_REGISTER(var) \
    static void __attribute__((constructor)) subcommand_reg_##var(void) \
    { subcommand_register(&(var)); }

#endif
