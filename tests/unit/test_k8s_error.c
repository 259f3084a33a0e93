/* Tests for the Status-to-error mapping and retry classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/error.h"

static json_t *status(int code, const char *reason, const char *message)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                     "status", "Failure", "reason", reason, "message", message, "code", code);
}

static void test_reasons_win(void **state)
{
    json_t *b = status(409, "AlreadyExists", "jobs.batch \"x\" already exists");
    struct k8s_result r;

    (void)state;
    k8s_error_fill_result(&r, 409, b);
    assert_int_equal(r.error, K8S_ERR_ALREADY_EXISTS);
    assert_string_equal(r.reason, "AlreadyExists");
    assert_string_equal(r.message, "jobs.batch \"x\" already exists");
    assert_ptr_equal(r.body, b);
    json_decref(b);
    b = status(409, "Conflict", "the object has been modified");
    assert_int_equal(k8s_error_from_response(409, b), K8S_ERR_CONFLICT);
    json_decref(b);
    b = status(410, "Expired", "too old resource version");
    assert_int_equal(k8s_error_from_response(410, b), K8S_ERR_GONE);
    json_decref(b);
    b = status(500, "Timeout", "timed out");
    assert_int_equal(k8s_error_from_response(500, b), K8S_ERR_TIMEOUT);
    json_decref(b);
}

static void test_codes_without_status(void **state)
{
    struct k8s_result r;
    json_t *not_status = json_pack("{s:s}", "kind", "Job");

    (void)state;
    assert_int_equal(k8s_error_from_response(200, NULL), K8S_OK);
    assert_int_equal(k8s_error_from_response(201, NULL), K8S_OK);
    assert_int_equal(k8s_error_from_response(401, NULL), K8S_ERR_UNAUTHORIZED);
    assert_int_equal(k8s_error_from_response(403, NULL), K8S_ERR_FORBIDDEN);
    assert_int_equal(k8s_error_from_response(404, NULL), K8S_ERR_NOT_FOUND);
    assert_int_equal(k8s_error_from_response(422, NULL), K8S_ERR_INVALID);
    assert_int_equal(k8s_error_from_response(429, NULL), K8S_ERR_TOO_MANY_REQUESTS);
    assert_int_equal(k8s_error_from_response(502, NULL), K8S_ERR_SERVER);
    assert_int_equal(k8s_error_from_response(504, NULL), K8S_ERR_TIMEOUT);
    assert_int_equal(k8s_error_from_response(418, NULL), K8S_ERR_BAD_REQUEST);
    assert_int_equal(k8s_error_from_response(302, NULL), K8S_ERR_PROTOCOL);
    /* A non-Status body's fields are not read as a reason. */
    assert_int_equal(k8s_error_from_response(404, not_status), K8S_ERR_NOT_FOUND);
    k8s_error_fill_result(&r, 503, not_status);
    assert_null(r.reason);
    assert_non_null(r.message);
    k8s_error_fill_result(&r, 200, not_status);
    assert_int_equal(r.error, K8S_OK);
    assert_null(r.message);
    json_decref(not_status);
}

static void test_retryable_and_names(void **state)
{
    (void)state;
    assert_true(k8s_error_is_retryable(K8S_ERR_UNAVAILABLE, 0));
    assert_true(k8s_error_is_retryable(K8S_ERR_TOO_MANY_REQUESTS, 429));
    assert_true(k8s_error_is_retryable(K8S_ERR_SERVER, 500));
    assert_true(k8s_error_is_retryable(K8S_ERR_TIMEOUT, 504));
    assert_false(k8s_error_is_retryable(K8S_ERR_SERVER, 501));
    assert_false(k8s_error_is_retryable(K8S_ERR_NOT_FOUND, 404));
    assert_false(k8s_error_is_retryable(K8S_ERR_TIMEOUT, 0));
    assert_string_equal(k8s_error_name(K8S_ERR_ALREADY_EXISTS), "ALREADY_EXISTS");
    assert_string_equal(k8s_error_name(K8S_ERR_PROTOCOL), "PROTOCOL");
    assert_string_equal(k8s_error_name((enum k8s_error)99), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons_win),
        cmocka_unit_test(test_codes_without_status),
        cmocka_unit_test(test_retryable_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
