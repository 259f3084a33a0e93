/* Unit tests for the descriptor-set index behind reflection, and status names/encoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "grpc/descriptor.h"
#include "grpc/status.h"

extern const unsigned char proto_descriptor_set[];
extern const size_t proto_descriptor_set_len;

static void test_index_embedded_set(void **state)
{
    struct grpc_descriptor_pool pool;
    const char *err;
    assert_int_equal(
        grpc_descriptor_pool_init(&pool, proto_descriptor_set, proto_descriptor_set_len, &err), 0);
    int js = grpc_descriptor_pool_find_file(&pool, "jobscheduler.proto");
    int ts = grpc_descriptor_pool_find_file(&pool, "google/protobuf/timestamp.proto");
    assert_true(js >= 0);
    assert_true(ts >= 0);
    assert_int_equal(grpc_descriptor_pool_find_symbol(&pool, "jobscheduler.JobScheduler"), js);
    assert_int_equal(
        grpc_descriptor_pool_find_symbol(&pool, "jobscheduler.JobScheduler.ScheduleJob"), js);
    assert_int_equal(grpc_descriptor_pool_find_symbol(&pool, "jobscheduler.Job.job_id"), js);
    assert_int_equal(grpc_descriptor_pool_find_symbol(&pool, "jobscheduler.JobEvent.EventType"),
                     js);
    assert_int_equal(grpc_descriptor_pool_find_symbol(&pool, "jobscheduler.JOB_STATE_RUNNING"), js);
    assert_int_equal(grpc_descriptor_pool_find_symbol(&pool, "google.protobuf.Timestamp"), ts);
    assert_true(grpc_descriptor_pool_find_symbol(&pool, "grpc.health.v1.Health") >= 0);
    assert_int_equal(grpc_descriptor_pool_find_symbol(&pool, "jobscheduler.Nope"), -ENOENT);
    assert_int_equal(grpc_descriptor_pool_find_file(&pool, "nope.proto"), -ENOENT);
    const struct grpc_descriptor_file *f = &pool.files[js];
    bool imports_ts = false;
    for (size_t i = 0; i < f->ndeps; i++)
        imports_ts |= f->deps[i] == (size_t)ts;
    assert_true(imports_ts);
    int32_t nums[4];
    size_t n = 99;
    assert_int_equal(grpc_descriptor_pool_extension_numbers(&pool, "jobscheduler.Job", nums, 4, &n),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(
        grpc_descriptor_pool_extension_numbers(&pool, "jobscheduler.Nope", nums, 4, &n), -ENOENT);
    assert_int_equal(grpc_descriptor_pool_find_extension(&pool, "jobscheduler.Job", 100), -ENOENT);
    grpc_descriptor_pool_deinit(&pool);
}

static void test_rejects_garbage(void **state)
{
    struct grpc_descriptor_pool pool;
    const char *err = NULL;
    const uint8_t bad[] = {0x0a, 0x10, 0x0a, 0x02};
    assert_int_equal(grpc_descriptor_pool_init(&pool, bad, sizeof(bad), &err), -EPROTO);
    assert_non_null(err);
    /* A file importing one the set does not hold. */
    const uint8_t missing[] = {0x0a, 0x0a, 0x0a, 0x03, 'a', '.', 'p', 0x1a, 0x03, 'b', '.', 'p'};
    assert_int_equal(grpc_descriptor_pool_init(&pool, missing, sizeof(missing), &err), -EPROTO);
}

static void test_status_names_and_encoding(void **state)
{
    assert_string_equal(grpc_status_name(GRPC_STATUS_OK), "OK");
    assert_string_equal(grpc_status_name(GRPC_STATUS_CANCELLED), "Canceled");
    assert_string_equal(grpc_status_name(GRPC_STATUS_INVALID_ARGUMENT), "InvalidArgument");
    assert_string_equal(grpc_status_name(GRPC_STATUS_UNAUTHENTICATED), "Unauthenticated");
    assert_string_equal(grpc_status_name((enum grpc_status)99), "Unknown");
    assert_string_equal(grpc_status_text(GRPC_STATUS_DATA_LOSS), "15");
    assert_int_equal(grpc_status_from_errno(-ENOENT), GRPC_STATUS_NOT_FOUND);
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(grpc_status_encode_message(&b, "a b%c\n\xc3\xa9"), 0);
    assert_string_equal(buf_cstr(&b), "a b%25c%0A%C3%A9");
    assert_int_equal(grpc_status_encoded_len("%\n"), 6);
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_embedded_set),
        cmocka_unit_test(test_rejects_garbage),
        cmocka_unit_test(test_status_names_and_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
