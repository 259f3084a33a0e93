/* Tests for admin/http_parser: complete requests, pipelining, byte-at-a-time input,
 * keep-alive semantics, the 431/414/413 limits and malformed input (400). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/http_parser.h"

/* Feeds all of |s| at once and expects one complete request using every byte. */
static void parse_one(struct http_parser *p, const char *s)
{
    size_t used = 0;
    enum http_parse_result r = http_parser_feed(p, (const uint8_t *)s, strlen(s), &used);
    if (r != HTTP_PARSE_DONE)
        fail_msg("result %d (status %d, %s) for %s", r, p->error_status, p->error ? p->error : "-",
                 s);
    assert_int_equal(used, strlen(s));
}

/* Feeds |s| and expects an error with |status|. */
static void expect_error(const char *s, size_t len, int status)
{
    struct http_parser p;
    http_parser_init(&p);
    size_t used = 0;
    enum http_parse_result r = http_parser_feed(&p, (const uint8_t *)s, len, &used);
    if (r != HTTP_PARSE_ERROR)
        fail_msg("result %d for %.80s", r, s);
    assert_int_equal(p.error_status, status);
    assert_non_null(p.error);
    /* An error is sticky: later input is refused without being consumed. */
    r = http_parser_feed(&p, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &used);
    assert_int_equal(r, HTTP_PARSE_ERROR);
    assert_int_equal(used, 0);
}

static void test_simple_get(void **state)
{
    (void)state;
    struct http_parser p;
    http_parser_init(&p);
    parse_one(&p, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n");
    assert_string_equal(p.req.method, "GET");
    assert_string_equal(p.req.target, "/healthz");
    assert_true(p.req.keep_alive);
    assert_int_equal(p.req.body_len, 0);
}

static void test_query_and_methods(void **state)
{
    (void)state;
    struct http_parser p;
    http_parser_init(&p);
    parse_one(&p, "HEAD /metrics?name[]=x&y=1 HTTP/1.1\r\n\r\n");
    assert_string_equal(p.req.method, "HEAD");
    assert_string_equal(p.req.target, "/metrics?name[]=x&y=1");
    http_parser_reset(&p);
    parse_one(&p, "DELETE /version HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_string_equal(p.req.method, "DELETE");
    http_parser_reset(&p);
    parse_one(&p, "POST /readyz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert_string_equal(p.req.method, "POST");
    assert_int_equal(p.req.body_len, 5);
}

static void test_empty_feed(void **state)
{
    (void)state;
    struct http_parser p;
    http_parser_init(&p);
    size_t used = 99;
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)"", 0, &used), HTTP_PARSE_NEED_MORE);
    assert_int_equal(used, 0);
}

static void test_pipelining(void **state)
{
    (void)state;
    const char *a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *b = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
    const char *c = "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
    char all[256];
    snprintf(all, sizeof(all), "%s%s%s", a, b, c);
    struct http_parser p;
    http_parser_init(&p);
    const uint8_t *in = (const uint8_t *)all;
    size_t left = strlen(all), used;

    assert_int_equal(http_parser_feed(&p, in, left, &used), HTTP_PARSE_DONE);
    assert_int_equal(used, strlen(a)); /* stops after the first request */
    assert_string_equal(p.req.target, "/a");
    assert_true(p.req.keep_alive);
    in += used;
    left -= used;
    http_parser_reset(&p);

    assert_int_equal(http_parser_feed(&p, in, left, &used), HTTP_PARSE_DONE);
    assert_int_equal(used, strlen(b));
    assert_string_equal(p.req.method, "POST");
    assert_string_equal(p.req.target, "/b");
    assert_int_equal(p.req.body_len, 3);
    in += used;
    left -= used;
    http_parser_reset(&p);

    assert_int_equal(http_parser_feed(&p, in, left, &used), HTTP_PARSE_DONE);
    assert_int_equal(used, strlen(c));
    assert_string_equal(p.req.target, "/c");
    assert_false(p.req.keep_alive);
}

/* Every request split at every single byte gives the same result as one feed. */
static void test_byte_at_a_time(void **state)
{
    (void)state;
    const char *reqs[] = {
        "GET /healthz?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n",
        "POST /version HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world",
        "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    };
    for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
        const char *s = reqs[k];
        struct http_parser whole, bytes;
        http_parser_init(&whole);
        parse_one(&whole, s);
        http_parser_init(&bytes);
        size_t n = strlen(s), used;
        for (size_t i = 0; i < n; i++) {
            enum http_parse_result r = http_parser_feed(&bytes, (const uint8_t *)s + i, 1, &used);
            assert_int_equal(used, 1);
            if (i + 1 < n)
                assert_int_equal(r, HTTP_PARSE_NEED_MORE);
            else
                assert_int_equal(r, HTTP_PARSE_DONE);
        }
        assert_string_equal(bytes.req.method, whole.req.method);
        assert_string_equal(bytes.req.target, whole.req.target);
        assert_int_equal(bytes.req.keep_alive, whole.req.keep_alive);
        assert_int_equal(bytes.req.body_len, whole.req.body_len);
    }
}

/* Two pipelined requests fed in chunks of every size from 1 to the whole. */
static void test_pipelined_chunks(void **state)
{
    (void)state;
    const char *all = "GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\nX: y\r\n\r\n";
    size_t n = strlen(all);
    for (size_t chunk = 1; chunk <= n; chunk++) {
        struct http_parser p;
        http_parser_init(&p);
        char seen[2][HTTP_PARSER_MAX_TARGET + 1];
        int done = 0;
        size_t pos = 0;
        while (pos < n) {
            size_t len = n - pos < chunk ? n - pos : chunk;
            size_t used;
            enum http_parse_result r = http_parser_feed(&p, (const uint8_t *)all + pos, len, &used);
            assert_int_not_equal(r, HTTP_PARSE_ERROR);
            assert_true(used <= len);
            pos += used;
            if (r == HTTP_PARSE_DONE) {
                assert_true(done < 2);
                snprintf(seen[done++], sizeof(seen[0]), "%s", p.req.target);
                http_parser_reset(&p);
            } else {
                assert_int_equal(used, len);
            }
        }
        assert_int_equal(done, 2);
        assert_string_equal(seen[0], "/one");
        assert_string_equal(seen[1], "/two");
    }
}

static void test_keep_alive(void **state)
{
    (void)state;
    const struct {
        const char *req;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_parser p;
        http_parser_init(&p);
        parse_one(&p, cases[i].req);
        if (p.req.keep_alive != cases[i].keep_alive)
            fail_msg("keep_alive %d for %s", p.req.keep_alive, cases[i].req);
    }
}

/* The parser is reusable for many requests on one connection. */
static void test_reset_reuses(void **state)
{
    (void)state;
    struct http_parser p;
    http_parser_init(&p);
    for (int i = 0; i < 1000; i++) {
        char req[64];
        snprintf(req, sizeof(req), "GET /r%d HTTP/1.1\r\n\r\n", i);
        parse_one(&p, req);
        char want[16];
        snprintf(want, sizeof(want), "/r%d", i);
        assert_string_equal(p.req.target, want);
        http_parser_reset(&p);
        assert_int_equal(p.req.target[0], '\0');
    }
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

static void test_header_limit(void **state)
{
    (void)state;
    /* One huge header value. */
    char *s = repeat("GET / HTTP/1.1\r\nX-Big: ", 'a', HTTP_PARSER_MAX_HEADER_BYTES, "\r\n\r\n");
    expect_error(s, strlen(s), 431);
    free(s);

    /* Many small headers adding up. */
    size_t cap = 64 + 20 * 1000;
    char *many = malloc(cap);
    size_t len = (size_t)snprintf(many, cap, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(many + len, cap - len, "X-H%04d: vvvvvv\r\n", i);
    len += (size_t)snprintf(many + len, cap - len, "\r\n");
    expect_error(many, len, 431);
    free(many);

    /* The limit also holds when the bytes arrive one at a time. */
    s = repeat("GET / HTTP/1.1\r\nX-Big: ", 'a', HTTP_PARSER_MAX_HEADER_BYTES, "\r\n\r\n");
    struct http_parser p;
    http_parser_init(&p);
    enum http_parse_result r = HTTP_PARSE_NEED_MORE;
    size_t i, used;
    for (i = 0; s[i] && r == HTTP_PARSE_NEED_MORE; i++)
        r = http_parser_feed(&p, (const uint8_t *)s + i, 1, &used);
    assert_int_equal(r, HTTP_PARSE_ERROR);
    assert_int_equal(p.error_status, 431);
    assert_true(i <= HTTP_PARSER_MAX_HEADER_BYTES + 64);
    free(s);

    /* Just under the limit is fine. */
    s = repeat("GET / HTTP/1.1\r\nX-Ok: ", 'a', HTTP_PARSER_MAX_HEADER_BYTES - 200, "\r\n\r\n");
    http_parser_init(&p);
    parse_one(&p, s);
    free(s);
}

static void test_target_limit(void **state)
{
    (void)state;
    char *s = repeat("GET /", 'a', HTTP_PARSER_MAX_TARGET, " HTTP/1.1\r\n\r\n");
    expect_error(s, strlen(s), 414);
    free(s);
    /* Exactly the limit (the leading slash counts) is accepted and stored whole. */
    s = repeat("GET /", 'b', HTTP_PARSER_MAX_TARGET - 1, " HTTP/1.1\r\n\r\n");
    struct http_parser p;
    http_parser_init(&p);
    parse_one(&p, s);
    assert_int_equal(strlen(p.req.target), HTTP_PARSER_MAX_TARGET);
    free(s);
}

static void test_body_limit(void **state)
{
    (void)state;
    char req[256];
    /* A declared length over the limit is refused before any body byte arrives. */
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             HTTP_PARSER_MAX_BODY + 1);
    expect_error(req, strlen(req), 413);
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n");
    expect_error(req, strlen(req), 413);

    /* A chunked body is counted as it streams. */
    char *chunk = repeat("", 'c', 4000, "");
    size_t cap = 16384;
    char *s = malloc(cap);
    int len = snprintf(s, cap,
                       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "fa0\r\n%s\r\nfa0\r\n%s\r\n0\r\n\r\n",
                       chunk, chunk);
    expect_error(s, (size_t)len, 413);

    /* Exactly the limit is accepted. */
    char *body = repeat("", 'd', HTTP_PARSER_MAX_BODY, "");
    snprintf(s, cap, "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", HTTP_PARSER_MAX_BODY, body);
    struct http_parser p;
    http_parser_init(&p);
    parse_one(&p, s);
    assert_int_equal(p.req.body_len, HTTP_PARSER_MAX_BODY);
    free(body);
    free(chunk);
    free(s);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "FOO / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET / HTTP/2.5\r\n\r\n",
        "GET / FTP/1.1\r\n\r\n",
        "GET  HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",             /* an HTTP/2 preface */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_parser p;
        http_parser_init(&p);
        size_t used;
        enum http_parse_result r =
            http_parser_feed(&p, (const uint8_t *)bad[i], strlen(bad[i]), &used);
        if (r != HTTP_PARSE_ERROR || p.error_status != 400)
            fail_msg("case %zu: result %d status %d", i, r, p.error_status);
        assert_string_equal(p.error, "malformed request");
    }
    /* A NUL byte inside the request line. */
    expect_error("GET /\0x HTTP/1.1\r\n\r\n", 20, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),     cmocka_unit_test(test_query_and_methods),
        cmocka_unit_test(test_empty_feed),     cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_byte_at_a_time), cmocka_unit_test(test_pipelined_chunks),
        cmocka_unit_test(test_keep_alive),     cmocka_unit_test(test_reset_reuses),
        cmocka_unit_test(test_header_limit),   cmocka_unit_test(test_target_limit),
        cmocka_unit_test(test_body_limit),     cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
