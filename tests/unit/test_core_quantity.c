/* Tests for core/quantity: the Kubernetes resource quantity grammar
 * (k8s.io/apimachinery/pkg/api/resource), non-negative values only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/quantity.h"

static void test_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "0",   "1",   "100m", "0.5", ".5",  "5.",   "1.5",  "+1",    "64Mi",  "1Ki",
        "2Gi", "3Ti", "4Pi",  "5Ei", "1n",  "1u",   "250m", "1k",    "1M",    "1G",
        "1T",  "1P",  "1E",   "2e3", "2E3", "1e-3", "1e+3", "1.5Gi", "0.001", "128974848",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!quantity_is_valid(ok[i]))
            fail_msg("\"%s\" should be a valid quantity", ok[i]);
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "ten",  "-1",  "-100m", "1.2.3", "Mi",  "m",   ".",    "1K",    "1mi",
        "1MB", "64mb", "1 ",  " 1",    "1 Mi",  "1e",  "1e+", "1ee3", "1Mi2",  "0x10",
        "1,5", "++1",  "1ki", "1Kib",  "e3",    "1.e", "NaN", "Inf",  "1e3.5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (quantity_is_valid(bad[i]))
            fail_msg("\"%s\" should be rejected", bad[i]);
    assert_false(quantity_is_valid(NULL));
}

static void test_length_limit(void **state)
{
    (void)state;
    char s[80];
    memset(s, '1', 64);
    s[64] = '\0';
    assert_true(quantity_is_valid(s));
    memset(s, '1', 65);
    s[65] = '\0';
    assert_false(quantity_is_valid(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
