/* Tests for jobs/validate: the Kubernetes, image and URL syntax checks that reject a bad
 * request field before any API call, judged as the API server would judge them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/validate.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_all(bool (*fn)(const char *), const char *const *v, size_t n, bool want)
{
    for (size_t i = 0; i < n; i++)
        if (fn(v[i]) != want)
            fail_msg("\"%s\" should be %s", v[i], want ? "accepted" : "rejected");
}

static void test_dns_label(void **state)
{
    static const char *const ok[] = {"a", "0", "default", "team-a", "job-abc123", "a-b-c", "123"};
    static const char *const bad[] = {"", "-a", "a-", "A", "team_a", "a.b", "a b", "ä", "job-ABC"};
    expect_all(validate_dns_label, ok, N(ok), true);
    expect_all(validate_dns_label, bad, N(bad), false);
    char s[80];
    memset(s, 'a', 63);
    s[63] = '\0';
    assert_true(validate_dns_label(s));
    memset(s, 'a', 64);
    s[64] = '\0';
    assert_false(validate_dns_label(s));
}

static void test_label_key(void **state)
{
    static const char *const ok[] = {
        "app", "App_1",        "a.b-c_d", "example.com/team", "jobscheduler.io/type",
        "a/b", "x.y.z/Name.v1"};
    static const char *const bad[] = {
        "",         "/x",        "x/", "a/b/c",     "-app", "app-", "Example.com/x",
        "exa mple", "a_b.com/x", ".x", "ex..com/x", "k=v"};
    expect_all(validate_label_key, ok, N(ok), true);
    expect_all(validate_label_key, bad, N(bad), false);
    char s[400];
    memset(s, 'k', 64);
    s[64] = '\0';
    assert_false(validate_label_key(s)); /* name part over 63 */
    /* A 253-character prefix is the most a DNS subdomain may have. */
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        memset(s + n, 'p', 62);
        n += 62;
        s[n++] = '.';
    }
    s[n++] = 'p'; /* 4 * 63 + 1 = 253 */
    memcpy(s + n, "/name", 6);
    assert_true(validate_label_key(s));
    memcpy(s + n, "p/name", 7);
    assert_false(validate_label_key(s));
}

static void test_label_value(void **state)
{
    static const char *const ok[] = {"", "v", "v1.2", "a_b-c.d", "0", "Z"};
    static const char *const bad[] = {"-v", "v-", "_v", "a b", "a/b", "ü", "v\n"};
    expect_all(validate_label_value, ok, N(ok), true);
    expect_all(validate_label_value, bad, N(bad), false);
    char s[80];
    memset(s, 'v', 64);
    s[64] = '\0';
    assert_false(validate_label_value(s));
    s[63] = '\0';
    assert_true(validate_label_value(s));
}

static void test_env_name(void **state)
{
    static const char *const ok[] = {"A", "_", "FOO_BAR", "foo1", "_x9"};
    static const char *const bad[] = {"", "1A", "A-B", "A B", "A=B", "A.B", "É"};
    expect_all(validate_env_name, ok, N(ok), true);
    expect_all(validate_env_name, bad, N(bad), false);
}

static void test_image_ref(void **state)
{
    static const char *const ok[] = {
        "timer-service:latest",
        "busybox",
        "library/busybox:1.36",
        "registry.example.com/team/timer:v1.2.3",
        "localhost:5000/timer",
        "localhost/timer:dev",
        "ghcr.io/org/img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "img:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "a__b/c.d-e",
    };
    static const char *const bad[] = {
        "",
        "Timer:latest",
        "img:",
        "img:a:b",
        ":tag",
        "/img",
        "img/",
        "a//b",
        "img@sha256:abc",
        "img@md5:0123456789abcdef0123456789abcdef",
        "img@",
        "my image",
        "host:port/img",
        "host:123456/img",
        "-img",
        "img:-tag",
        "img\n",
    };
    expect_all(validate_image_ref, ok, N(ok), true);
    expect_all(validate_image_ref, bad, N(bad), false);
}

static void test_endpoint_url(void **state)
{
    static const char *const ok[] = {
        "http://control-plane:50053",
        "https://control-plane.example.com",
        "http://10.0.0.1:8080/report",
        "http://[::1]:50053",
        "http://[fe80::1]",
        "https://cp/a/b?c=d",
        "http://h:65535/",
        "http://h:1",
    };
    static const char *const bad[] = {
        "",
        "control-plane:50053",
        "ftp://control-plane",
        "http://",
        "http://:80",
        "http://host:",
        "http://host:0",
        "http://host:65536",
        "http://host:8o",
        "http://host:123456",
        "http://-host",
        "http://host-",
        "http://user@host",
        "http://ho st",
        "http://host/pa th",
        "http://host/#frag",
        "http://[::1",
        "http://[::1]x",
        "http://[]",
        "http://host/\x7f",
    };
    expect_all(validate_endpoint_url, ok, N(ok), true);
    expect_all(validate_endpoint_url, bad, N(bad), false);
}

static void test_text(void **state)
{
    assert_true(validate_text("", 10));
    assert_true(validate_text("my-timer", 10));
    assert_true(validate_text("Zürich ☃ timer", 64)); /* UTF-8 is printable text */
    assert_false(validate_text("0123456789a", 10));
    assert_false(validate_text("a\tb", 10));
    assert_false(validate_text("a\nb", 10));
    assert_false(validate_text("a\x7f", 10));
    /* Invalid UTF-8 cannot become a JSON string: reject it here, not in the encoder. */
    assert_false(validate_text("\xff", 10));
    assert_false(validate_text("a\xc3", 10));            /* truncated sequence */
    assert_false(validate_text("\xc0\xaf", 10));         /* overlong '/' */
    assert_false(validate_text("\xed\xa0\x80", 10));     /* UTF-16 surrogate */
    assert_false(validate_text("\xf4\x90\x80\x80", 10)); /* above U+10FFFF */
    assert_false(validate_text("\x80", 10));             /* lone continuation byte */
    assert_true(validate_text("\xf0\x9f\x98\x80", 10));  /* U+1F600 */
}

static void test_sanitize_label_value(void **state)
{
    char out[64];
    assert_true(validate_sanitize_label_value("my-timer", out));
    assert_string_equal(out, "my-timer");
    assert_true(validate_sanitize_label_value("My Timer #1", out));
    assert_string_equal(out, "My-Timer--1");
    assert_true(validate_label_value(out));
    assert_true(validate_sanitize_label_value("--x--", out));
    assert_string_equal(out, "x");
    assert_false(validate_sanitize_label_value("***", out));
    assert_false(validate_sanitize_label_value("", out));
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    longname[62] = '.'; /* the 63rd character would end the value: it is trimmed */
    assert_true(validate_sanitize_label_value(longname, out));
    assert_int_equal(strlen(out), 62);
    assert_true(validate_label_value(out));
    /* Non-ASCII bytes become '-', so the result is always a valid label value. */
    assert_true(validate_sanitize_label_value("Zürich", out));
    assert_true(validate_label_value(out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_label),   cmocka_unit_test(test_label_key),
        cmocka_unit_test(test_label_value), cmocka_unit_test(test_env_name),
        cmocka_unit_test(test_image_ref),   cmocka_unit_test(test_endpoint_url),
        cmocka_unit_test(test_text),        cmocka_unit_test(test_sanitize_label_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
