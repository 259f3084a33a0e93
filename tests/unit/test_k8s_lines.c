/* Tests for the watch-line splitter: split points anywhere, CRLF, empty lines, the line
 * limit, and callback errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/lines.h"

struct got {
    char lines[8][64];
    int n;
    int stop_at;
};

static int collect(const uint8_t *line, size_t len, void *data)
{
    struct got *g = data;
    if (g->stop_at && g->n + 1 == g->stop_at)
        return -ECANCELED;
    assert_true(g->n < 8 && len < 64);
    memcpy(g->lines[g->n], line, len);
    g->lines[g->n][len] = '\0';
    g->n++;
    return 0;
}

static void test_every_split_point(void **state)
{
    const char *in = "{\"a\":1}\n\r\n{\"b\":2}\r\n\n{\"c\":3}\n";
    size_t n = strlen(in);

    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct k8s_lines l;
        struct got g = {0};
        k8s_lines_init(&l, 64);
        assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)in, cut, collect, &g), 0);
        assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)in + cut, n - cut, collect, &g), 0);
        assert_int_equal(g.n, 3);
        assert_string_equal(g.lines[0], "{\"a\":1}");
        assert_string_equal(g.lines[1], "{\"b\":2}");
        assert_string_equal(g.lines[2], "{\"c\":3}");
        assert_int_equal(k8s_lines_pending(&l), 0);
        k8s_lines_deinit(&l);
    }
}

static void test_limit(void **state)
{
    struct k8s_lines l;
    struct got g = {0};
    char long_line[40];

    (void)state;
    memset(long_line, 'x', sizeof(long_line));
    k8s_lines_init(&l, 16);
    /* Exactly at the limit passes, in one piece or carried over. */
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"0123456789abcdef\n", 17, collect, &g), 0);
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"0123456789", 10, collect, &g), 0);
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"abcdef\n", 7, collect, &g), 0);
    assert_int_equal(g.n, 2);
    /* One byte over fails, whole or carried over. */
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)long_line, 17, collect, &g), -EMSGSIZE);
    k8s_lines_reset(&l);
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"0123456789abcdefg\n", 18, collect, &g),
                     -EMSGSIZE);
    k8s_lines_reset(&l);
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"0123456789", 10, collect, &g), 0);
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"abcdefg\n", 8, collect, &g), -EMSGSIZE);
    k8s_lines_deinit(&l);
}

static void test_callback_stops(void **state)
{
    struct k8s_lines l;
    struct got g = {.stop_at = 2};

    (void)state;
    k8s_lines_init(&l, 64);
    assert_int_equal(k8s_lines_feed(&l, (const uint8_t *)"a\nb\nc\n", 6, collect, &g), -ECANCELED);
    assert_int_equal(g.n, 1);
    k8s_lines_deinit(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
