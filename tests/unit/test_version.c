/* test_version.c - the uOTA version rule, case by case from spec §9.4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sim/agent/agent.h"

static void test_newer_accepted(void **s)
{
    (void)s;
    assert_int_equal(agent_version_newer("app-2.0.0-20260101.1200", "app-1.0.0-20180101.1000"), 1);
    assert_int_equal(agent_version_newer("app-1.0.1", "app-1.0.0-20180101.1000"), 1);
}

static void test_string_order_not_semantic(void **s)
{
    (void)s; /* app-1.0.10 < app-1.0.9 as strings */
    assert_int_equal(agent_version_newer("app-1.0.10-20200101.0000", "app-1.0.9-20190101.0000"), 0);
}

static void test_case_and_format(void **s)
{
    (void)s; /* 'A' (0x41) < 'a' (0x61); a bare number sorts before "app-" */
    assert_int_equal(agent_version_newer("APP-2.0.0-20260101.1200", "app-1.0.0-20180101.1000"), 0);
    assert_int_equal(agent_version_newer("2.0.0", "app-1.0.0-20180101.1000"), 0);
}

static void test_prefix_same_downgrade(void **s)
{
    (void)s;
    assert_int_equal(agent_version_newer("app-1.0.0", "app-1.0.0-20180101.1000"), 0);
    assert_int_equal(agent_version_newer("app-1.0.0-20180101.1000", "app-1.0.0-20180101.1000"), 0);
    assert_int_equal(agent_version_newer("app-0.9.0-20170101.1000", "app-1.0.0-20180101.1000"), 0);
}

static void test_empty(void **s)
{
    (void)s; /* no current version (KV missing): anything is accepted; an empty push never */
    assert_int_equal(agent_version_newer("app-1.0.0", ""), 1);
    assert_int_equal(agent_version_newer("app-1.0.0", NULL), 1);
    assert_int_equal(agent_version_newer("", "app-1.0.0"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newer_accepted),
        cmocka_unit_test(test_string_order_not_semantic),
        cmocka_unit_test(test_case_and_format),
        cmocka_unit_test(test_prefix_same_downgrade),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
