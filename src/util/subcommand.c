#include "util/subcommand.h"

#include <string.h>

#define MAX_SUBCOMMANDS 32

static const Subcommand *table[MAX_SUBCOMMANDS];
static int count;

void subcommand_register(const Subcommand *sc)
{
    if (count == MAX_SUBCOMMANDS)
        return;
    int i = count++;
    while (i > 0 && strcmp(table[i - 1]->name, sc->name) > 0) {
        table[i] = table[i - 1];
        i--;
    }
    table[i] = sc;
}

const Subcommand *subcommand_find(const char *name)
{
    for (int i = 0; i < count; i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

const Subcommand *subcommand_at(int i)
{
    return i >= 0 && i < count ? table[i] : NULL;
}
