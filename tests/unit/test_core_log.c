/* Tests for core/log: record shape, JSON escaping (quotes, newlines, control characters,
 * invalid UTF-8), levels, the text format and truncation. stderr is captured through a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

/* stderr redirected into a pipe for the duration of one capture. */
struct capture {
    int pipe_fds[2];
    int saved_stderr;
};

static void capture_start(struct capture *c)
{
    assert_int_equal(pipe(c->pipe_fds), 0);
    /* Records up to 16 KiB must fit without blocking the single-threaded writer. */
    fcntl(c->pipe_fds[1], F_SETPIPE_SZ, 1 << 20);
    c->saved_stderr = dup(STDERR_FILENO);
    assert_true(c->saved_stderr >= 0);
    assert_true(dup2(c->pipe_fds[1], STDERR_FILENO) >= 0);
    close(c->pipe_fds[1]);
}

/* Restores stderr and returns everything written meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
    assert_true(dup2(c->saved_stderr, STDERR_FILENO) >= 0);
    close(c->saved_stderr);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
        ssize_t n = read(c->pipe_fds[0], out + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(c->pipe_fds[0]);
    out[len] = '\0';
    return out;
}

static int setup(void **state)
{
    (void)state;
    log_configure(LOG_TRACE, LOG_FORMAT_JSON);
    return 0;
}

/* Parses one captured line as a JSON object and checks it is exactly one line. */
static json_t *parse_line(const char *text)
{
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + len - 1);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    assert_true(json_is_object(j));
    return j;
}

static void test_record_shape(void **state)
{
    (void)state;
    struct capture c;
    capture_start(&c);
    log_info("grpc", "call finished", LOG_STR("method", "/js.v1/Create"), LOG_INT("status", -3),
             LOG_DBL("seconds", 1.5), LOG_BOOL("ok", true), LOG_STR("peer", NULL));
    char *out = capture_end(&c);

    /* Fixed leading keys in a fixed order, then the fields as given. */
    assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
    assert_non_null(strstr(out, "\",\"level\":\"info\",\"msg\":\"call finished\","
                                "\"component\":\"grpc\",\"method\":\"/js.v1/Create\","
                                "\"status\":-3,\"seconds\":1.5,\"ok\":true,\"peer\":null}\n"));
    json_t *j = parse_line(out);
    const char *ts = json_string_value(json_object_get(j, "ts"));
    assert_non_null(ts);
    /* RFC 3339, UTC, milliseconds: 2026-11-29T04:50:00.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    int64_t sec;
    int32_t nsec;
    assert_int_equal(clock_parse_rfc3339(ts, &sec, &nsec), 0);
    int64_t now = clock_realtime_ms() / 1000;
    assert_true(sec <= now && sec >= now - 60);
    assert_int_equal(nsec % 1000000, 0);
    json_decref(j);
    free(out);
}

static void test_null_component_and_no_fields(void **state)
{
    (void)state;
    struct capture c;
    capture_start(&c);
    log_emit(LOG_ERROR, NULL, "bare", NULL, 0);
    char *out = capture_end(&c);
    json_t *j = parse_line(out);
    assert_true(json_is_null(json_object_get(j, "component")));
    assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "bare");
    assert_int_equal(json_object_size(j), 4);
    json_decref(j);
    free(out);
}

/* A job name with quotes, newlines and control bytes cannot break the line. */
static void test_escaping_in_records(void **state)
{
    (void)state;
    const char *hostile = "job \"x\"\n{\"level\":\"error\"}\r\t\\\x01\x1f\x7f end";
    struct capture c;
    capture_start(&c);
    log_warn("jobs", "created \"job\"\nsecond line", LOG_STR("name", hostile),
             LOG_STR("key\"with\nnewline", "v"));
    char *out = capture_end(&c);
    json_t *j = parse_line(out);
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "created \"job\"\nsecond line");
    assert_string_equal(json_string_value(json_object_get(j, "name")), hostile);
    assert_string_equal(json_string_value(json_object_get(j, "key\"with\nnewline")), "v");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    /* Control characters use \u00XX; quotes and backslashes their short escapes. */
    assert_non_null(strstr(out, "job \\\"x\\\"\\u000a{\\\"level\\\":\\\"error\\\"}"
                                "\\u000d\\u0009\\\\\\u0001\\u001f\\u007f end"));
    json_decref(j);
    free(out);
}

static char *escape(const char *s, size_t len)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(log_json_escape(&b, s, len), 0);
    char *r = strdup(buf_cstr(&b));
    buf_deinit(&b);
    return r;
}

static void expect_escape(const char *in, size_t len, const char *want)
{
    char *got = escape(in, len);
    assert_string_equal(got, want);
    free(got);
}

#define EXPECT_ESCAPE(lit, want) expect_escape(lit, sizeof(lit) - 1, want)

static void test_escape_utf8(void **state)
{
    (void)state;
    EXPECT_ESCAPE("plain", "plain");
    EXPECT_ESCAPE("", "");
    /* Valid UTF-8 of every length passes through unchanged. */
    EXPECT_ESCAPE("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* Invalid sequences become U+FFFD, one per bad byte, and never swallow the next byte. */
    EXPECT_ESCAPE("a\xff"
                  "b",
                  "a\\ufffdb");
    EXPECT_ESCAPE("\x80", "\\ufffd");
    EXPECT_ESCAPE("\xc0\xaf", "\\ufffd\\ufffd");                       /* overlong "/" */
    EXPECT_ESCAPE("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");            /* overlong, 3 bytes */
    EXPECT_ESCAPE("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");            /* UTF-16 surrogate */
    EXPECT_ESCAPE("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"); /* above U+10FFFF */
    EXPECT_ESCAPE("\xe2\x82", "\\ufffd\\ufffd");                       /* truncated at the end */
    EXPECT_ESCAPE("\xe2\x82"
                  "x",
                  "\\ufffd\\ufffdx"); /* truncated mid-string */
    EXPECT_ESCAPE("\xf8\x88\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd");
    /* An embedded NUL is data, not a terminator, when the length says so. */
    expect_escape("a\0b", 3, "a\\u0000b");
}

static void test_escape_output_is_valid_json(void **state)
{
    (void)state;
    /* Every single byte value, and every pair, escapes to a string jansson accepts. */
    char in[2];
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b += 7) {
            in[0] = (char)a;
            in[1] = (char)b;
            char *esc = escape(in, 2);
            char *doc = malloc(strlen(esc) + 3);
            doc[0] = '"';
            memcpy(doc + 1, esc, strlen(esc));
            doc[strlen(esc) + 1] = '"';
            doc[strlen(esc) + 2] = '\0';
            json_error_t jerr;
            json_t *j = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!j)
                fail_msg("bytes %02x %02x escape to invalid JSON %s: %s", a, b, doc, jerr.text);
            json_decref(j);
            free(doc);
            free(esc);
        }
    }
}

static void test_escape_respects_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(log_json_escape(&b, "\n\n\n", 3), -EMSGSIZE); /* 18 bytes needed */
    assert_true(b.len <= 8);
    buf_deinit(&b);
}

static void test_levels(void **state)
{
    (void)state;
    log_configure(LOG_WARN, LOG_FORMAT_JSON);
    assert_false(log_enabled(LOG_TRACE));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    struct capture c;
    capture_start(&c);
    log_trace("t", "no");
    log_debug("t", "no");
    log_info("t", "no");
    log_emit(LOG_INFO, "t", "no", NULL, 0);
    log_warn("t", "yes-warn");
    log_error("t", "yes-error");
    char *out = capture_end(&c);
    assert_null(strstr(out, "\"no\""));
    char *second = strchr(out, '\n');
    assert_non_null(second);
    assert_non_null(strstr(out, "\"level\":\"warn\",\"msg\":\"yes-warn\""));
    assert_non_null(strstr(second, "\"level\":\"error\",\"msg\":\"yes-error\""));
    assert_string_equal(strchr(second + 1, '\n'), "\n");
    free(out);

    log_configure(LOG_TRACE, LOG_FORMAT_JSON);
    capture_start(&c);
    log_trace("t", "now-trace");
    out = capture_end(&c);
    assert_non_null(strstr(out, "\"level\":\"trace\",\"msg\":\"now-trace\""));
    free(out);
}

static void test_level_names(void **state)
{
    (void)state;
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    for (int i = 0; i < 5; i++) {
        enum log_level l = LOG_ERROR;
        assert_int_equal(log_level_parse(names[i], &l), 0);
        assert_int_equal(l, i);
        assert_string_equal(log_level_name(l), names[i]);
    }
    enum log_level l = LOG_INFO;
    assert_int_equal(log_level_parse("loud", &l), -EINVAL);
    assert_int_equal(log_level_parse("", &l), -EINVAL);
    assert_int_equal(log_level_parse("Info", &l), -EINVAL);
    assert_int_equal(l, LOG_INFO);
}

static void test_text_format(void **state)
{
    (void)state;
    log_configure(LOG_INFO, LOG_FORMAT_TEXT);
    struct capture c;
    capture_start(&c);
    log_info("admin", "listening", LOG_INT("port", 8080), LOG_STR("addr", "0.0.0.0"),
             LOG_STR("note", "two words"), LOG_STR("empty", ""), LOG_BOOL("tls", false),
             LOG_STR("evil", "a\nb"));
    log_error(NULL, "line\nbreak");
    char *out = capture_end(&c);
    log_configure(LOG_TRACE, LOG_FORMAT_JSON);

    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    /* "2026-11-29T04:50:00.123Z info  [admin] listening port=8080 ..." */
    assert_int_equal(out[24], ' ');
    assert_int_equal(out[23], 'Z');
    assert_string_equal(out + 25, "info  [admin] listening port=8080 addr=0.0.0.0 "
                                  "note=\"two words\" empty=\"\" tls=false evil=\"a\\u000ab\"");
    char *second = nl + 1;
    assert_string_equal(second + 25, "error [-] line\\u000abreak\n");
    free(out);
}

/* An over-long record drops whole fields and stays one valid JSON line. */
static void test_truncation(void **state)
{
    (void)state;
    size_t n = 10000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    struct capture c;
    capture_start(&c);
    log_info("t", "big", LOG_STR("a", big), LOG_STR("b", big), LOG_INT("after", 1));
    char *out = capture_end(&c);
    assert_true(strlen(out) <= 16384);
    json_t *j = parse_line(out);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "a"))), n);
    assert_null(json_object_get(j, "b"));
    assert_null(json_object_get(j, "after"));
    json_decref(j);
    free(out);

    /* Escaping that expands six-fold is cut the same way. */
    memset(big, '\n', n);
    capture_start(&c);
    log_info("t", "big", LOG_STR("a", big));
    out = capture_end(&c);
    j = parse_line(out);
    assert_null(json_object_get(j, "a"));
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "big");
    json_decref(j);
    free(out);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_record_shape, setup),
        cmocka_unit_test_setup(test_null_component_and_no_fields, setup),
        cmocka_unit_test_setup(test_escaping_in_records, setup),
        cmocka_unit_test_setup(test_escape_utf8, setup),
        cmocka_unit_test_setup(test_escape_output_is_valid_json, setup),
        cmocka_unit_test_setup(test_escape_respects_cap, setup),
        cmocka_unit_test_setup(test_levels, setup),
        cmocka_unit_test_setup(test_level_names, setup),
        cmocka_unit_test_setup(test_text_format, setup),
        cmocka_unit_test_setup(test_truncation, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
