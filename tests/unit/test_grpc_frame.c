/* Unit tests for the gRPC message codec (src/grpc/frame.c) and grpc-timeout parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "grpc/frame.h"
#include "grpc/timeout.h"

static size_t frame(uint8_t *out, uint8_t flag, const char *payload)
{
    size_t n = strlen(payload);
    grpc_frame_encode_prefix(out, flag, (uint32_t)n);
    memcpy(out + 5, payload, n);
    return n + 5;
}

static void test_whole_message_is_a_view(void **state)
{
    struct grpc_frame_decoder d;
    uint8_t in[64];
    size_t n = frame(in, 0, "hello");
    struct grpc_frame_msg msg;
    bool done;
    uint32_t announced;
    const char *err;
    grpc_frame_decoder_init(&d, 1024);
    assert_int_equal(grpc_frame_decode(&d, in, n, &msg, &done, &announced, &err), n);
    assert_true(done);
    assert_false(msg.compressed);
    assert_ptr_equal(msg.data.base, in + 5);
    assert_int_equal(msg.data.len, 5);
    assert_false(grpc_frame_decoder_partial(&d));
    grpc_frame_decoder_deinit(&d);
}

/* Feeds |in| one byte at a time and collects the messages. */
static int feed_bytewise(struct grpc_frame_decoder *d, const uint8_t *in, size_t len, char *out)
{
    int count = 0;
    for (size_t i = 0; i < len; i++) {
        size_t off = 0;
        while (off < 1) {
            struct grpc_frame_msg msg;
            bool done;
            uint32_t announced;
            const char *err;
            ssize_t n = grpc_frame_decode(d, in + i + off, 1 - off, &msg, &done, &announced, &err);
            if (n < 0)
                return (int)n;
            off += (size_t)n;
            if (done) {
                memcpy(out, msg.data.base, msg.data.len);
                out += msg.data.len;
                *out++ = '|';
                count++;
            }
            if (n == 0 && !done)
                break;
        }
    }
    *out = '\0';
    return count;
}

static void test_split_across_chunks(void **state)
{
    struct grpc_frame_decoder d;
    uint8_t in[64];
    char out[64];
    size_t n = frame(in, 0, "abc");
    n += frame(in + n, 0, "");
    n += frame(in + n, 1, "xyz12");
    grpc_frame_decoder_init(&d, 1024);
    assert_int_equal(feed_bytewise(&d, in, n, out), 3);
    assert_string_equal(out, "abc||xyz12|");
    grpc_frame_decoder_deinit(&d);
}

static void test_oversized_refused_from_prefix(void **state)
{
    struct grpc_frame_decoder d;
    uint8_t in[5];
    struct grpc_frame_msg msg;
    bool done;
    uint32_t announced = 0;
    const char *err;
    grpc_frame_encode_prefix(in, false, 5u << 20);
    grpc_frame_decoder_init(&d, 4u << 20);
    assert_int_equal(grpc_frame_decode(&d, in, 5, &msg, &done, &announced, &err), -EMSGSIZE);
    assert_int_equal(announced, 5u << 20);
    assert_null(d.body.data); /* nothing was buffered */
    grpc_frame_decoder_deinit(&d);
}

static void test_bad_flags_and_truncation(void **state)
{
    struct grpc_frame_decoder d;
    uint8_t in[8] = {2, 0, 0, 0, 1, 'x'};
    struct grpc_frame_msg msg;
    bool done;
    uint32_t announced;
    const char *err;
    grpc_frame_decoder_init(&d, 1024);
    assert_int_equal(grpc_frame_decode(&d, in, 6, &msg, &done, &announced, &err), -EPROTO);
    grpc_frame_decoder_deinit(&d);
    grpc_frame_decoder_init(&d, 1024);
    in[0] = 0;
    assert_int_equal(grpc_frame_decode(&d, in, 3, &msg, &done, &announced, &err), 3);
    assert_false(done);
    assert_true(grpc_frame_decoder_partial(&d));
    grpc_frame_decoder_deinit(&d);
}

static void test_timeout_units(void **state)
{
    uint64_t ms;
    assert_int_equal(grpc_timeout_parse("1H", 2, &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(grpc_timeout_parse("2M", 2, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(grpc_timeout_parse("3S", 2, &ms), 0);
    assert_int_equal(ms, 3000);
    assert_int_equal(grpc_timeout_parse("250m", 4, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(grpc_timeout_parse("1500u", 5, &ms), 0);
    assert_int_equal(ms, 2);
    assert_int_equal(grpc_timeout_parse("1n", 2, &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(grpc_timeout_parse("99999999H", 9, &ms), 0);
    assert_int_equal(ms, 99999999ull * 3600000);
}

static void test_timeout_malformed(void **state)
{
    uint64_t ms;
    const char *bad[] = {"", "S", "10", "1x", "-1S", "123456789S", "1.5S", " 1S", "1s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(grpc_timeout_parse(bad[i], strlen(bad[i]), &ms), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_message_is_a_view),
        cmocka_unit_test(test_split_across_chunks),
        cmocka_unit_test(test_oversized_refused_from_prefix),
        cmocka_unit_test(test_bad_flags_and_truncation),
        cmocka_unit_test(test_timeout_units),
        cmocka_unit_test(test_timeout_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
