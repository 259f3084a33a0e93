/* Tests for core/clock: RFC 3339 formatting with and without milliseconds, and parsing with
 * fractions, offsets and malformed input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_realtime(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t now = clock_realtime_ms();
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert_true(now >= before && now <= after);
}

static void test_format(void **state)
{
    (void)state;
    char out[32];
    clock_format_rfc3339_ms(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    clock_format_rfc3339_ms(1795928400123LL, out, sizeof(out));
    assert_string_equal(out, "2026-11-29T05:00:00.123Z");
    clock_format_rfc3339_ms(951782400007LL, out, sizeof(out)); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.007Z");
    clock_format_rfc3339(1795928400, out, sizeof(out));
    assert_string_equal(out, "2026-11-29T05:00:00Z");
    clock_format_rfc3339(4102444799LL, out, sizeof(out));
    assert_string_equal(out, "2099-12-31T23:59:59Z");
    /* The documented minimum sizes are enough. */
    char exact[25];
    clock_format_rfc3339_ms(1795928400999LL, exact, sizeof(exact));
    assert_string_equal(exact, "2026-11-29T05:00:00.999Z");
    char exact2[21];
    clock_format_rfc3339(1795928400, exact2, sizeof(exact2));
    assert_string_equal(exact2, "2026-11-29T05:00:00Z");
}

static void expect_parse(const char *s, int64_t want_sec, int32_t want_nsec)
{
    int64_t sec = -1;
    int32_t nsec = -1;
    if (clock_parse_rfc3339(s, &sec, &nsec) != 0)
        fail_msg("\"%s\" did not parse", s);
    assert_int_equal(sec, want_sec);
    assert_int_equal(nsec, want_nsec);
}

static void test_parse(void **state)
{
    (void)state;
    expect_parse("1970-01-01T00:00:00Z", 0, 0);
    expect_parse("2026-11-29T05:00:00Z", 1795928400, 0);
    expect_parse("2026-11-29t05:00:00z", 1795928400, 0);
    expect_parse("2026-11-29T05:00:00.123Z", 1795928400, 123000000);
    expect_parse("2026-11-29T05:00:00.5Z", 1795928400, 500000000);
    expect_parse("2026-11-29T05:00:00.123456789Z", 1795928400, 123456789);
    /* Digits past nanoseconds are dropped, not rounded. */
    expect_parse("2026-11-29T05:00:00.1234567891Z", 1795928400, 123456789);
    expect_parse("2026-11-29T07:00:00+02:00", 1795928400, 0);
    expect_parse("2026-11-29T00:30:00-04:30", 1795928400, 0);
    expect_parse("2000-02-29T00:00:00Z", 951782400, 0);
    /* nsec is optional. */
    int64_t sec;
    assert_int_equal(clock_parse_rfc3339("2026-11-29T05:00:00Z", &sec, NULL), 0);
    assert_int_equal(sec, 1795928400);
}

static void test_round_trip(void **state)
{
    (void)state;
    char out[32];
    for (int64_t ms = 0; ms < 4102444800000LL; ms += 86399999LL * 37) {
        clock_format_rfc3339_ms(ms, out, sizeof(out));
        int64_t sec;
        int32_t nsec;
        assert_int_equal(clock_parse_rfc3339(out, &sec, &nsec), 0);
        assert_int_equal(sec * 1000 + nsec / 1000000, ms);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026-11-29",
        "2026-11-29T05:00:00",  /* no zone */
        "2026-11-29 05:00:00Z", /* space separator */
        "2026-13-01T00:00:00Z", /* month */
        "2026-00-01T00:00:00Z",
        "2026-11-32T00:00:00Z", /* day */
        "2026-11-00T00:00:00Z",
        "2026-11-29T24:00:00Z",  /* hour */
        "2026-11-29T04:60:00Z",  /* minute */
        "2026-11-29T04:20:61Z",  /* second (60 is a leap second) */
        "2026-11-29T05:00:00.Z", /* empty fraction */
        "2026-11-29T05:00:00Zjunk",
        "2026-11-29T05:00:00+0200",
        "2026-11-29T05:00:00+02",
        "26-11-29T05:00:00Z",
        "2026-1-29T05:00:00Z",
        "abcd-11-29T05:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t sec = 0;
        int32_t nsec = 0;
        if (clock_parse_rfc3339(bad[i], &sec, &nsec) != -EINVAL)
            fail_msg("\"%s\" should be rejected", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realtime),     cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
