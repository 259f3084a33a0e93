/* Tests for core/metrics: the text exposition format (HELP/TYPE, labels and their escaping,
 * number formatting), cumulative histogram buckets, collectors and the process metrics. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/metrics.h"

static char *render(struct metrics *m)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(m, &b), 0);
    char *s = strdup(buf_cstr(&b));
    buf_deinit(&b);
    return s;
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *c =
        metric_family_child(metrics_counter(m, "js_calls_total", "Calls made.", NULL), NULL);
    struct metric *g =
        metric_family_child(metrics_gauge(m, "js_temperature", "Degrees.", NULL), NULL);
    metric_add(c, 1);
    metric_add(c, 2);
    metric_set(g, -2.5);
    assert_true(metric_value(c) == 3);
    assert_true(metric_value(g) == -2.5);
    char *out = render(m);
    assert_string_equal(out, "# HELP js_calls_total Calls made.\n"
                             "# TYPE js_calls_total counter\n"
                             "js_calls_total 3\n"
                             "# HELP js_temperature Degrees.\n"
                             "# TYPE js_temperature gauge\n"
                             "js_temperature -2.5\n");
    free(out);
    metrics_free(m);
}

static void test_labels_and_children(void **state)
{
    (void)state;
    static const char *const labels[] = {"method", "code", NULL};
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_counter(m, "js_rpc_total", "RPCs.", labels);
    const char *a[] = {"Create", "OK"};
    const char *b[] = {"Create", "NOT_FOUND"};
    struct metric *ca = metric_family_child(f, a);
    struct metric *cb = metric_family_child(f, b);
    assert_ptr_not_equal(ca, cb);
    /* The same values find the same child; the values are copied, not borrowed. */
    char method[] = "Create", code[] = "OK";
    const char *again[] = {method, code};
    assert_ptr_equal(metric_family_child(f, again), ca);
    method[0] = 'X';
    metric_add(ca, 5);
    metric_add(cb, 1);
    char *out = render(m);
    assert_string_equal(out, "# HELP js_rpc_total RPCs.\n"
                             "# TYPE js_rpc_total counter\n"
                             "js_rpc_total{method=\"Create\",code=\"OK\"} 5\n"
                             "js_rpc_total{method=\"Create\",code=\"NOT_FOUND\"} 1\n");
    free(out);

    /* A family without children still documents itself. */
    metric_family_clear(f);
    out = render(m);
    assert_string_equal(out, "# HELP js_rpc_total RPCs.\n# TYPE js_rpc_total counter\n");
    free(out);
    metrics_free(m);
}

static void test_label_escaping(void **state)
{
    (void)state;
    static const char *const labels[] = {"v", NULL};
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_gauge(m, "js_g", "G.", labels);
    const char *values[] = {"a\\b\"c\nd\te"};
    metric_set(metric_family_child(f, values), 1);
    char *out = render(m);
    /* Backslash, quote and newline are escaped; a tab is legal as is. */
    assert_non_null(strstr(out, "js_g{v=\"a\\\\b\\\"c\\nd\te\"} 1\n"));
    free(out);
    metrics_free(m);
}

static void test_number_formats(void **state)
{
    (void)state;
    static const char *const labels[] = {"k", NULL};
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_gauge(m, "js_n", "N.", labels);
    const struct {
        const char *label;
        double v;
        const char *want;
    } cases[] = {
        {"zero", 0, "js_n{k=\"zero\"} 0\n"},
        {"int", 123456789, "js_n{k=\"int\"} 123456789\n"},
        {"neg", -7, "js_n{k=\"neg\"} -7\n"},
        {"frac", 0.1, "js_n{k=\"frac\"} 0.10000000000000001\n"},
        {"big", 1e20, "js_n{k=\"big\"} 1e+20\n"},
        {"inf", INFINITY, "js_n{k=\"inf\"} +Inf\n"},
        {"ninf", -INFINITY, "js_n{k=\"ninf\"} -Inf\n"},
        {"nan", NAN, "js_n{k=\"nan\"} NaN\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *v[] = {cases[i].label};
        metric_set(metric_family_child(f, v), cases[i].v);
    }
    char *out = render(m);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (!strstr(out, cases[i].want))
            fail_msg("missing %s in:\n%s", cases[i].want, out);
    /* Every formatted value reads back as the same double. */
    for (size_t i = 0; i < 4; i++) {
        const char *line = strstr(out, cases[i].want);
        assert_true(strtod(strchr(line, ' ') + 1, NULL) == cases[i].v);
    }
    free(out);
    metrics_free(m);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    static const char *const labels[] = {"method", NULL};
    static const double bounds[] = {0.1, 0.5, 1};
    struct metrics *m = metrics_new();
    struct metric_family *f =
        metrics_histogram(m, "js_latency_seconds", "Latency.", labels, bounds, 3);
    const char *v[] = {"Get"};
    struct metric *h = metric_family_child(f, v);
    metric_observe(h, 0.05);
    metric_observe(h, 0.1); /* on a bound: counted in that bucket (le) */
    metric_observe(h, 0.3);
    metric_observe(h, 0.75);
    metric_observe(h, 2);
    metric_observe(h, 3);
    char *out = render(m);
    assert_string_equal(out, "# HELP js_latency_seconds Latency.\n"
                             "# TYPE js_latency_seconds histogram\n"
                             "js_latency_seconds_bucket{method=\"Get\",le=\"0.1\"} 2\n"
                             "js_latency_seconds_bucket{method=\"Get\",le=\"0.5\"} 3\n"
                             "js_latency_seconds_bucket{method=\"Get\",le=\"1\"} 4\n"
                             "js_latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 6\n"
                             "js_latency_seconds_sum{method=\"Get\"} 6.2000000000000002\n"
                             "js_latency_seconds_count{method=\"Get\"} 6\n");
    free(out);
    metrics_free(m);
}

static void test_histogram_without_labels(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *h = metric_family_child(
        metrics_histogram(m, "js_h", "H.", NULL, metrics_default_buckets, metrics_default_nbuckets),
        NULL);
    assert_int_equal(metrics_default_nbuckets, 11);
    metric_observe(h, 0.007);
    char *out = render(m);
    assert_non_null(strstr(out, "js_h_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(out, "js_h_bucket{le=\"0.01\"} 1\n"));
    assert_non_null(strstr(out, "js_h_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(out, "js_h_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(out, "js_h_sum 0.0070000000000000001\n"));
    assert_non_null(strstr(out, "js_h_count 1\n"));
    /* Buckets never decrease down the list. */
    double prev = -1;
    for (const char *p = strstr(out, "js_h_bucket"); p; p = strstr(p + 1, "js_h_bucket")) {
        double n = strtod(strchr(p, ' ') + 1, NULL);
        assert_true(n >= prev);
        prev = n;
    }
    free(out);
    metrics_free(m);
}

static int collector_calls;

static void collect(struct metrics *m, void *data)
{
    (void)m;
    collector_calls++;
    metric_set(data, collector_calls * 10);
}

static void test_collector_runs_at_render(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *g = metric_family_child(metrics_gauge(m, "js_cache", "Cache.", NULL), NULL);
    collector_calls = 0;
    metrics_add_collector(m, collect, g);
    assert_int_equal(collector_calls, 0);
    char *out = render(m);
    assert_int_equal(collector_calls, 1);
    assert_non_null(strstr(out, "js_cache 10\n"));
    free(out);
    out = render(m);
    assert_non_null(strstr(out, "js_cache 20\n"));
    free(out);
    metrics_free(m);
}

static void test_render_cap(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metric_set(metric_family_child(metrics_gauge(m, "js_x", "X.", NULL), NULL), 1);
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(metrics_render(m, &b), -EMSGSIZE);
    assert_true(b.len <= 10);
    buf_deinit(&b);
    metrics_free(m);
}

static double sample(const char *out, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = strstr(out, needle);
    if (!p)
        fail_msg("no sample %s in:\n%s", name, out);
    return strtod(p + strlen(needle), NULL);
}

static void test_process_metrics(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_add_process_collector(m);
    char *out = render(m);
    assert_non_null(strstr(out, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(out, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_true(sample(out, "process_resident_memory_bytes") > 1e5);
    assert_true(sample(out, "process_virtual_memory_bytes") >=
                sample(out, "process_resident_memory_bytes"));
    assert_true(sample(out, "process_cpu_seconds_total") >= 0);
    /* stdin, stdout and stderr at least; the directory scan's own fd is not counted. */
    double fds = sample(out, "process_open_fds");
    assert_true(fds >= 3);
    FILE *extra = fopen("/proc/self/stat", "r");
    assert_non_null(extra);
    free(out);
    out = render(m);
    assert_true(sample(out, "process_open_fds") == fds + 1);
    fclose(extra);
    assert_true(sample(out, "process_max_fds") >= fds);
    assert_true(sample(out, "process_start_time_seconds") > 1.6e9);
    free(out);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_labels_and_children),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_number_formats),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_histogram_without_labels),
        cmocka_unit_test(test_collector_runs_at_render),
        cmocka_unit_test(test_render_cap),
        cmocka_unit_test(test_process_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
