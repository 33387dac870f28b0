#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/subcommand.h"

static void set_and_prefix(void **state)
{
    (void)state;
    assert_int_equal(err_set(ENOENT, "no file %s", "x.img"), -ENOENT);
    assert_string_equal(err_msg(), "no file x.img");
    assert_int_equal(err_prefix(-ENOENT, "opening disk0"), -ENOENT);
    assert_string_equal(err_msg(), "opening disk0: no file x.img");
    err_set_errno(EACCES, "open %s", "y");
    assert_string_equal(err_msg(), "open y: Permission denied");
}

static int dummy_main(int argc, char **argv) { (void)argc; (void)argv; return 7; }

static void subcommands_sorted(void **state)
{
    (void)state;
    static const Subcommand zz = { "zz-test", "t", dummy_main };
    static const Subcommand aa = { "aa-test", "t", dummy_main };
    subcommand_register(&zz);
    subcommand_register(&aa);
    assert_ptr_equal(subcommand_find("aa-test"), &aa);
    assert_null(subcommand_find("nope"));
    for (int i = 1; subcommand_at(i); i++)
        assert_true(strcmp(subcommand_at(i - 1)->name, subcommand_at(i)->name) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_and_prefix),
        cmocka_unit_test(subcommands_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
