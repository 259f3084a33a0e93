/* Tests for core/buf: growth under the hard cap, -EMSGSIZE leaving the buffer unchanged,
 * reserve/commit, consume, cstr and steal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_append_until_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append(&b, "hello", 5), 0);
    assert_int_equal(buf_append_str(&b, "world"), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "helloworld", 10);
    /* Exactly at the cap: one more byte fails and changes nothing. */
    assert_int_equal(buf_append(&b, "!", 1), -EMSGSIZE);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "helloworld", 10);
    assert_true(b.cap <= 11);
    /* Appending nothing always succeeds. */
    assert_int_equal(buf_append(&b, "", 0), 0);
    buf_deinit(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_single_append_over_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    char big[101];
    memset(big, 'a', sizeof(big));
    assert_int_equal(buf_append(&b, big, sizeof(big)), -EMSGSIZE);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append(&b, big, 100), 0);
    assert_int_equal(b.len, 100);
    /* A length that would overflow len + n must not wrap around the check. */
    assert_int_equal(buf_append(&b, big, SIZE_MAX), -EMSGSIZE);
    assert_null(buf_reserve(&b, SIZE_MAX));
    assert_int_equal(b.len, 100);
    buf_deinit(&b);
}

static void test_appendf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_appendf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(b.len, 4);
    assert_string_equal(buf_cstr(&b), "42-x");
    /* 12 more would make 16 and fit; the formatter's terminator does not count. */
    assert_int_equal(buf_appendf(&b, "%012d", 7), 0);
    assert_int_equal(b.len, 16);
    assert_string_equal(buf_cstr(&b), "42-x000000000007");
    assert_int_equal(buf_appendf(&b, "%s", "y"), -EMSGSIZE);
    assert_int_equal(b.len, 16);
    buf_deinit(&b);

    buf_init(&b, 4);
    assert_int_equal(buf_appendf(&b, "%s", "toolong"), -EMSGSIZE);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_appendf(&b, "%s", ""), 0);
    buf_deinit(&b);
}

static void test_growth_keeps_content(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_appendf(&b, "%04d", i % 10000), 0);
    assert_int_equal(b.len, 40000);
    assert_true(b.cap >= b.len);
    assert_true(b.cap <= (1 << 20) + 1);
    assert_memory_equal(b.data + 4 * 1234, "1234", 4);
    assert_memory_equal(b.data + 4 * 9999, "9999", 4);
    buf_deinit(&b);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    uint8_t *p = buf_reserve(&b, 8);
    assert_non_null(p);
    memcpy(p, "abc", 3);
    buf_commit(&b, 3);
    assert_int_equal(b.len, 3);
    assert_null(buf_reserve(&b, 6));
    assert_int_equal(b.len, 3);
    p = buf_reserve(&b, 5);
    assert_non_null(p);
    memcpy(p, "defgh", 5);
    buf_commit(&b, 5);
    assert_memory_equal(b.data, "abcdefgh", 8);
    assert_null(buf_reserve(&b, 1));
    assert_non_null(buf_reserve(&b, 0));
    buf_deinit(&b);
}

static void test_consume_and_reset(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    buf_append_str(&b, "GET / HTTP/1.1\r\n");
    buf_consume(&b, 4);
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.data, "/ HTTP/1.1\r\n", 12);
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    buf_append_str(&b, "x");
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* the allocation is kept */
    /* Space freed by consume can be used again up to the cap. */
    char fill[64];
    memset(fill, 'z', sizeof(fill));
    assert_int_equal(buf_append(&b, fill, 64), 0);
    buf_consume(&b, 60);
    assert_int_equal(buf_append(&b, fill, 60), 0);
    assert_int_equal(b.len, 64);
    buf_deinit(&b);
}

static void test_cstr(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 5);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_append(&b, "12345", 5), 0);
    /* Full to the cap: the terminator still fits (it is not counted in len). */
    const char *s = buf_cstr(&b);
    assert_non_null(s);
    assert_string_equal(s, "12345");
    assert_int_equal(b.len, 5);
    buf_deinit(&b);
}

static void test_steal(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 32);
    buf_append_str(&b, "owned");
    size_t len = 0;
    uint8_t *p = buf_steal(&b, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "owned", 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 32);
    free(p);
    /* The emptied buffer is usable again. */
    assert_int_equal(buf_append_str(&b, "again"), 0);
    assert_null(buf_steal(&(struct buf){0}, NULL));
    buf_deinit(&b);
}

static void test_iov(void **state)
{
    (void)state;
    const char text[] = "abc";
    struct iov v = iov_make(text, 3);
    assert_ptr_equal(v.base, (const uint8_t *)text);
    assert_int_equal(v.len, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_until_cap),
        cmocka_unit_test(test_single_append_over_cap),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_growth_keeps_content),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_consume_and_reset),
        cmocka_unit_test(test_cstr),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_iov),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
