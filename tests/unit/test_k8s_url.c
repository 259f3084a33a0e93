/* Tests for API path and query building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/url.h"

static void test_escape(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1024);
    assert_int_equal(k8s_url_escape(&b, "app.kubernetes.io/managed-by=jobscheduler,x in (a,b)"), 0);
    assert_string_equal(buf_cstr(&b),
                        "app.kubernetes.io%2Fmanaged-by%3Djobscheduler%2Cx%20in%20%28a%2Cb%29");
    buf_reset(&b);
    assert_int_equal(k8s_url_escape(&b, "A~z_0-9.+&?\xc3\xa9"), 0);
    assert_string_equal(buf_cstr(&b), "A~z_0-9.%2B%26%3F%C3%A9");
    buf_deinit(&b);
}

static void test_paths_and_queries(void **state)
{
    struct buf b;
    bool first = true;

    (void)state;
    buf_init(&b, 1024);
    assert_int_equal(k8s_url_path(&b, "batch/v1", "jobs", "team-a", "job-1"), 0);
    assert_string_equal(buf_cstr(&b), "/apis/batch/v1/namespaces/team-a/jobs/job-1");
    buf_reset(&b);
    assert_int_equal(k8s_url_path(&b, "v1", "pods", NULL, NULL), 0);
    assert_int_equal(k8s_url_query(&b, &first, "labelSelector", "a=b"), 0);
    assert_int_equal(k8s_url_query(&b, &first, "continue", NULL), 0);
    assert_int_equal(k8s_url_query_int(&b, &first, "limit", 500), 0);
    assert_string_equal(buf_cstr(&b), "/api/v1/pods?labelSelector=a%3Db&limit=500");
    buf_deinit(&b);
    buf_init(&b, 8);
    assert_true(k8s_url_path(&b, "batch/v1", "jobs", "ns", NULL) < 0);
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_paths_and_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
