/* Tests for the HTTP/1 response codec: sized, chunked and close-delimited bodies, byte-at-
 * a-time feeding, keep-alive, Retry-After, header limits and malformed input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/http.h"

struct sink {
    int headers;
    int status_at_headers;
    char body[4096];
    size_t body_len;
    int fail_body;
};

static int sink_headers(void *data)
{
    struct sink *s = data;
    s->headers++;
    return 0;
}

static int sink_body(void *data, const uint8_t *p, size_t n)
{
    struct sink *s = data;
    if (s->fail_body)
        return -EMSGSIZE;
    assert_true(s->body_len + n < sizeof(s->body));
    memcpy(s->body + s->body_len, p, n);
    s->body_len += n;
    return 0;
}

static const struct k8s_http_cbs cbs = {sink_headers, sink_body};

static int feed_all(struct k8s_http *h, const char *text, size_t *consumed)
{
    return k8s_http_feed(h, (const uint8_t *)text, strlen(text), consumed);
}

static void test_sized_body(void **state)
{
    struct sink s = {0};
    struct k8s_http h;
    size_t used;
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 7\r\n\r\n{\"a\":1}";

    (void)state;
    k8s_http_init(&h, &cbs, &s);
    assert_int_equal(feed_all(&h, resp, &used), 1);
    assert_int_equal(used, strlen(resp));
    assert_int_equal(h.status, 200);
    assert_true(h.keep_alive);
    assert_int_equal(s.headers, 1);
    assert_int_equal(s.body_len, 7);
    assert_memory_equal(s.body, "{\"a\":1}", 7);
    assert_int_equal(h.retry_after, -1);
    k8s_http_deinit(&h);
}

static void test_chunked_byte_by_byte(void **state)
{
    struct sink s = {0};
    struct k8s_http h;
    size_t used;
    int rc = 0;
    const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

    (void)state;
    k8s_http_init(&h, &cbs, &s);
    for (size_t i = 0; i < strlen(resp); i++) {
        rc = k8s_http_feed(&h, (const uint8_t *)resp + i, 1, &used);
        assert_true(rc >= 0);
        assert_int_equal(used, 1);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(s.body_len, 11);
    assert_memory_equal(s.body, "hello world", 11);
    k8s_http_deinit(&h);
}

static void test_keep_alive_two_responses(void **state)
{
    struct sink s = {0};
    struct k8s_http h;
    size_t used;
    const char *two =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 204 No Content\r\n\r\n";

    (void)state;
    k8s_http_init(&h, &cbs, &s);
    assert_int_equal(feed_all(&h, two, &used), 1);
    assert_int_equal(h.status, 404);
    assert_true(used < strlen(two));
    k8s_http_reset(&h);
    assert_int_equal(k8s_http_feed(&h, (const uint8_t *)two + used, strlen(two) - used, &used), 1);
    assert_int_equal(h.status, 204);
    assert_int_equal(s.headers, 2);
    k8s_http_deinit(&h);
}

static void test_retry_after_and_close(void **state)
{
    struct sink s = {0};
    struct k8s_http h;
    size_t used;
    const char *resp = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nConnection: close\r\n"
                       "Content-Length: 0\r\n\r\n";

    (void)state;
    k8s_http_init(&h, &cbs, &s);
    assert_int_equal(feed_all(&h, resp, &used), 1);
    assert_int_equal(h.status, 429);
    assert_int_equal(h.retry_after, 3);
    assert_false(h.keep_alive);
    k8s_http_deinit(&h);
}

static void test_eof_delimited_and_truncated(void **state)
{
    struct sink s = {0};
    struct k8s_http h;
    size_t used;

    (void)state;
    k8s_http_init(&h, &cbs, &s);
    assert_int_equal(k8s_http_finish(&h), 0);
    assert_int_equal(feed_all(&h, "HTTP/1.1 200 OK\r\n\r\nuntil-eof", &used), 0);
    assert_int_equal(k8s_http_finish(&h), 1);
    assert_int_equal(s.body_len, 9);
    k8s_http_reset(&h);
    assert_int_equal(feed_all(&h, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", &used), 0);
    assert_int_equal(k8s_http_finish(&h), -EPROTO);
    assert_non_null(h.err);
    k8s_http_deinit(&h);
}

static void test_malformed_and_limits(void **state)
{
    struct sink s = {0};
    struct k8s_http h;
    size_t used;
    char big[K8S_HTTP_MAX_HEADER_BYTES + 200];

    (void)state;
    k8s_http_init(&h, &cbs, &s);
    assert_int_equal(feed_all(&h, "NOTHTTP garbage\r\n\r\n", &used), -EPROTO);
    k8s_http_reset(&h);
    memset(big, 'a', sizeof(big));
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(feed_all(&h, big, &used), -EMSGSIZE);
    k8s_http_reset(&h);
    s.fail_body = 1;
    assert_int_equal(feed_all(&h, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxy", &used),
                     -EMSGSIZE);
    k8s_http_deinit(&h);
}

static void test_format_request(void **state)
{
    struct buf b;
    const char *s;

    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(k8s_http_format_request(&b, "POST", "api:6443", "/apis/batch/v1/x", "Bearer t",
                                             "application/json", "{}", 2),
                     0);
    s = buf_cstr(&b);
    assert_non_null(strstr(s, "POST /apis/batch/v1/x HTTP/1.1\r\n"));
    assert_non_null(strstr(s, "Host: api:6443\r\n"));
    assert_non_null(strstr(s, "Authorization: Bearer t\r\n"));
    assert_non_null(strstr(s, "Content-Length: 2\r\n\r\n{}"));
    buf_reset(&b);
    assert_int_equal(k8s_http_format_request(&b, "GET", "h", "/p", NULL, NULL, NULL, 0), 0);
    assert_null(strstr(buf_cstr(&b), "Content-Length"));
    buf_deinit(&b);
    buf_init(&b, 10);
    assert_int_equal(k8s_http_format_request(&b, "GET", "h", "/p", NULL, NULL, NULL, 0), -EMSGSIZE);
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sized_body),
        cmocka_unit_test(test_chunked_byte_by_byte),
        cmocka_unit_test(test_keep_alive_two_responses),
        cmocka_unit_test(test_retry_after_and_close),
        cmocka_unit_test(test_eof_delimited_and_truncated),
        cmocka_unit_test(test_malformed_and_limits),
        cmocka_unit_test(test_format_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
