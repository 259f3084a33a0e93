/* Tests for the reflector backoff: doubling, cap, jitter range and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "k8s/backoff.h"

static void test_doubling_and_cap(void **state)
{
    struct k8s_backoff b;
    uint64_t expect[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
    uint64_t now = 1000;

    (void)state;
    k8s_backoff_init_reflector(&b);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        assert_int_equal(k8s_backoff_next(&b, now, 0.0), expect[i]);
        now += 1000;
    }
}

static void test_jitter_bounds(void **state)
{
    struct k8s_backoff b;

    (void)state;
    k8s_backoff_init_reflector(&b);
    assert_int_equal(k8s_backoff_next(&b, 1, 0.5), 1200);
    assert_int_equal(k8s_backoff_next(&b, 2, 0.999), 1600 + 1598);
    assert_true(k8s_backoff_next(&b, 3, 7.0) < 2 * 3200);
}

static void test_reset_after_healthy_period(void **state)
{
    struct k8s_backoff b;

    (void)state;
    k8s_backoff_init_reflector(&b);
    assert_int_equal(k8s_backoff_next(&b, 1000, 0), 800);
    assert_int_equal(k8s_backoff_next(&b, 2000, 0), 1600);
    assert_int_equal(k8s_backoff_next(&b, 2000 + 119999, 0), 3200);
    assert_int_equal(k8s_backoff_next(&b, 2000 + 119999 + 120000, 0), 800);
    k8s_backoff_next(&b, 500000, 0);
    k8s_backoff_reset(&b);
    assert_int_equal(k8s_backoff_next(&b, 500001, 0), 800);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_and_cap),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_reset_after_healthy_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
