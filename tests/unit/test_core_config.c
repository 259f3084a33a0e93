/* Tests for core/config: defaults, every variable's validation and its one-line error, lists
 * and the checks that span several variables. The environment is a table, not getenv. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

#define MAX_ENV 16

struct env_var {
    const char *name;
    const char *value;
};

/* The fake environment read by env_get; a test fills it with env_set before config_load. */
static struct env_var env[MAX_ENV];
static size_t nenv;

static const char *env_get(const char *name)
{
    for (size_t i = 0; i < nenv; i++)
        if (strcmp(env[i].name, name) == 0)
            return env[i].value;
    return NULL;
}

static void env_set(const char *name, const char *value)
{
    assert_true(nenv < MAX_ENV);
    env[nenv].name = name;
    env[nenv].value = value;
    nenv++;
}

static int reset_env(void **state)
{
    (void)state;
    nenv = 0;
    env_set("HOME", "/home/tester");
    return 0;
}

static char err[512];

/* Loads with one variable set and expects failure with exactly |want| as the message. */
static void expect_error(const char *name, const char *value, const char *want)
{
    struct config cfg;
    reset_env(NULL);
    env_set(name, value);
    err[0] = '\0';
    int rc = config_load(&cfg, env_get, err, sizeof(err));
    if (rc != -EINVAL)
        fail_msg("%s=\"%s\" was accepted", name, value);
    assert_string_equal(err, want);
    assert_null(strchr(err, '\n'));
}

/* Loads with one variable set and expects success. */
static void expect_ok(const char *name, const char *value, struct config *cfg)
{
    reset_env(NULL);
    env_set(name, value);
    int rc = config_load(cfg, env_get, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s=\"%s\" rejected: %s", name, value, err);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), 0);
    assert_int_equal(cfg.grpc_port, 50054);
    assert_int_equal(cfg.http_port, 8080);
    assert_string_equal(cfg.k8s_namespace, "default");
    assert_true(cfg.in_cluster);
    assert_string_equal(cfg.kubeconfig, "/home/tester/.kube/config");
    assert_string_equal(cfg.serviceaccount_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.shutdown_grace_seconds, 20);
    assert_int_equal(cfg.http_idle_timeout_seconds, 30);
    assert_null(cfg.grpc_tls_cert_file);
    assert_null(cfg.grpc_tls_key_file);
    assert_null(cfg.grpc_tls_client_ca_file);
    assert_int_equal(cfg.grpc_max_recv_msg_bytes, 4194304);
    assert_int_equal(cfg.grpc_max_connections, 10000);
    assert_int_equal(cfg.grpc_max_concurrent_streams, 100);
    assert_int_equal(cfg.grpc_idle_timeout_seconds, 300);
    assert_int_equal(cfg.k8s_max_connections, 16);
    assert_int_equal(cfg.k8s_request_timeout_seconds, 30);
    assert_string_equal(cfg.timer_image, "timer-service:latest");
    assert_int_equal(cfg.timer_max_duration_seconds, 86400);
    assert_string_equal(cfg.default_cpu_request, "100m");
    assert_string_equal(cfg.default_memory_request, "64Mi");
    assert_null(cfg.default_cpu_limit);
    assert_null(cfg.default_memory_limit);
    assert_int_equal(cfg.job_ttl_seconds, 3600);
    assert_int_equal(cfg.job_backoff_limit, 0);
    assert_int_equal(cfg.job_deadline_margin_seconds, 300);
    assert_null(cfg.image_allowlist);
    const char *const *ns = config_namespaces(&cfg);
    assert_non_null(ns);
    assert_string_equal(ns[0], "default");
    assert_null(ns[1]);
    config_deinit(&cfg);
}

/* The examples the issue names, with the exact line an operator sees. */
static void test_issue_examples(void **state)
{
    (void)state;
    expect_error("GRPC_PORT", "abc",
                 "invalid GRPC_PORT=\"abc\": must be a TCP port number from 1 to 65535");
    expect_error("GRPC_PORT", "70000",
                 "invalid GRPC_PORT=\"70000\": must be a TCP port number from 1 to 65535");
    expect_error("LOG_LEVEL", "loud",
                 "invalid LOG_LEVEL=\"loud\": must be one of trace, debug, info, warn, error");
    expect_error("DEFAULT_CPU_REQUEST", "ten",
                 "invalid DEFAULT_CPU_REQUEST=\"ten\": must be a Kubernetes quantity such as "
                 "100m, 0.5, 64Mi or 1G");
    expect_error("IN_CLUSTER", "maybe", "invalid IN_CLUSTER=\"maybe\": must be true or false");
}

static void test_ports(void **state)
{
    (void)state;
    static const char *const names[] = {"GRPC_PORT", "HTTP_PORT"};
    static const char *const bad[] = {
        "0", "-1", "65536", "80x", " 80", "+80", "8.0", "0x50", "99999999999999999999"};
    char want[256];
    for (size_t n = 0; n < 2; n++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(want, sizeof(want),
                     "invalid %s=\"%s\": must be a TCP port number from 1 to 65535", names[n],
                     bad[i]);
            expect_error(names[n], bad[i], want);
        }
    }
    struct config cfg;
    expect_ok("GRPC_PORT", "1", &cfg);
    assert_int_equal(cfg.grpc_port, 1);
    config_deinit(&cfg);
    expect_ok("HTTP_PORT", "65535", &cfg);
    assert_int_equal(cfg.http_port, 65535);
    config_deinit(&cfg);
}

struct int_case {
    const char *name;
    long min, max;
    size_t offset;
    int is_size;
};

#define ICASE(n, lo, hi, field, sz)                                                                \
    {                                                                                              \
        n, lo, hi, offsetof(struct config, field), sz                                              \
    }

static const struct int_case int_cases[] = {
    ICASE("SHUTDOWN_GRACE_SECONDS", 0, 3600, shutdown_grace_seconds, 0),
    ICASE("HTTP_IDLE_TIMEOUT_SECONDS", 1, 3600, http_idle_timeout_seconds, 0),
    ICASE("GRPC_MAX_RECV_MSG_BYTES", 1024, 64L << 20, grpc_max_recv_msg_bytes, 1),
    ICASE("GRPC_MAX_CONNECTIONS", 1, 1000000, grpc_max_connections, 0),
    ICASE("GRPC_MAX_CONCURRENT_STREAMS", 1, 10000, grpc_max_concurrent_streams, 0),
    ICASE("GRPC_IDLE_TIMEOUT_SECONDS", 1, 86400, grpc_idle_timeout_seconds, 0),
    ICASE("K8S_MAX_CONNECTIONS", 1, 256, k8s_max_connections, 0),
    ICASE("K8S_REQUEST_TIMEOUT_SECONDS", 1, 600, k8s_request_timeout_seconds, 0),
    ICASE("TIMER_MAX_DURATION_SECONDS", 1, 31536000, timer_max_duration_seconds, 0),
    ICASE("JOB_TTL_SECONDS", 0, 31536000, job_ttl_seconds, 0),
    ICASE("JOB_BACKOFF_LIMIT", 0, 100, job_backoff_limit, 0),
    ICASE("JOB_DEADLINE_MARGIN_SECONDS", 0, 86400, job_deadline_margin_seconds, 0),
};

static long read_int(const struct config *cfg, const struct int_case *c)
{
    const char *field = (const char *)cfg + c->offset;
    if (c->is_size)
        return (long)*(const size_t *)field;
    return *(const int *)field;
}

/* Each integer accepts exactly its documented range, and nothing that is not a number. */
static void test_integers(void **state)
{
    (void)state;
    char value[64], want[256];
    struct config cfg;
    for (size_t i = 0; i < sizeof(int_cases) / sizeof(int_cases[0]); i++) {
        const struct int_case *c = &int_cases[i];
        const long edges[] = {c->min, c->max};
        for (size_t e = 0; e < 2; e++) {
            snprintf(value, sizeof(value), "%ld", edges[e]);
            expect_ok(c->name, value, &cfg);
            assert_int_equal(read_int(&cfg, c), edges[e]);
            config_deinit(&cfg);
        }
        const long outside[] = {c->min - 1, c->max + 1};
        for (size_t e = 0; e < 2; e++) {
            snprintf(value, sizeof(value), "%ld", outside[e]);
            snprintf(want, sizeof(want), "invalid %s=\"%s\": must be an integer from %ld to %ld",
                     c->name, value, c->min, c->max);
            expect_error(c->name, value, want);
        }
        snprintf(want, sizeof(want), "invalid %s=\"soon\": must be an integer from %ld to %ld",
                 c->name, c->min, c->max);
        expect_error(c->name, "soon", want);
    }
}

static void test_booleans(void **state)
{
    (void)state;
    struct config cfg;
    static const char *const yes[] = {"true", "1"}, *const no[] = {"false", "0"};
    for (size_t i = 0; i < 2; i++) {
        expect_ok("IN_CLUSTER", yes[i], &cfg);
        assert_true(cfg.in_cluster);
        config_deinit(&cfg);
        expect_ok("IN_CLUSTER", no[i], &cfg);
        assert_false(cfg.in_cluster);
        config_deinit(&cfg);
    }
    expect_error("IN_CLUSTER", "TRUE", "invalid IN_CLUSTER=\"TRUE\": must be true or false");
    expect_error("IN_CLUSTER", "yes", "invalid IN_CLUSTER=\"yes\": must be true or false");
}

static void test_log_level_and_format(void **state)
{
    (void)state;
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    struct config cfg;
    for (size_t i = 0; i < 5; i++) {
        expect_ok("LOG_LEVEL", names[i], &cfg);
        assert_int_equal(cfg.log_level, (int)i);
        config_deinit(&cfg);
    }
    expect_error("LOG_LEVEL", "INFO",
                 "invalid LOG_LEVEL=\"INFO\": must be one of trace, debug, info, warn, error");
    expect_error("LOG_LEVEL", "warning",
                 "invalid LOG_LEVEL=\"warning\": must be one of trace, debug, info, warn, error");
    expect_ok("LOG_FORMAT", "text", &cfg);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    config_deinit(&cfg);
    expect_ok("LOG_FORMAT", "json", &cfg);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    config_deinit(&cfg);
    expect_error("LOG_FORMAT", "xml", "invalid LOG_FORMAT=\"xml\": must be json or text");
}

static void test_quantities(void **state)
{
    (void)state;
    static const char *const names[] = {"DEFAULT_CPU_REQUEST", "DEFAULT_MEMORY_REQUEST",
                                        "DEFAULT_CPU_LIMIT", "DEFAULT_MEMORY_LIMIT"};
    static const size_t offsets[] = {
        offsetof(struct config, default_cpu_request),
        offsetof(struct config, default_memory_request),
        offsetof(struct config, default_cpu_limit),
        offsetof(struct config, default_memory_limit),
    };
    char want[256];
    struct config cfg;
    for (size_t i = 0; i < 4; i++) {
        expect_ok(names[i], "250m", &cfg);
        assert_string_equal(*(char **)((char *)&cfg + offsets[i]), "250m");
        config_deinit(&cfg);
        expect_ok(names[i], "1.5Gi", &cfg);
        assert_string_equal(*(char **)((char *)&cfg + offsets[i]), "1.5Gi");
        config_deinit(&cfg);
        static const char *const bad[] = {"ten", "-1", "1.2.3", "64mb", "1K", "Mi"};
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            snprintf(want, sizeof(want),
                     "invalid %s=\"%s\": must be a Kubernetes quantity such as 100m, 0.5, 64Mi "
                     "or 1G",
                     names[i], bad[b]);
            expect_error(names[i], bad[b], want);
        }
    }
}

static void test_strings_and_paths(void **state)
{
    (void)state;
    struct config cfg;
    expect_ok("TIMER_IMAGE", "registry.example/timer:1.2", &cfg);
    assert_string_equal(cfg.timer_image, "registry.example/timer:1.2");
    config_deinit(&cfg);
    expect_ok("KUBECONFIG", "/etc/kube/config", &cfg);
    assert_string_equal(cfg.kubeconfig, "/etc/kube/config");
    config_deinit(&cfg);
    expect_ok("K8S_SERVICEACCOUNT_DIR", "/tmp/sa", &cfg);
    assert_string_equal(cfg.serviceaccount_dir, "/tmp/sa");
    config_deinit(&cfg);
    /* Empty means unset: the default, or for KUBECONFIG the ~/.kube/config fallback. */
    expect_ok("KUBECONFIG", "", &cfg);
    assert_string_equal(cfg.kubeconfig, "/home/tester/.kube/config");
    config_deinit(&cfg);
    expect_ok("GRPC_PORT", "", &cfg);
    assert_int_equal(cfg.grpc_port, 50054);
    config_deinit(&cfg);
    expect_ok("TIMER_IMAGE", "", &cfg);
    assert_string_equal(cfg.timer_image, "timer-service:latest");
    config_deinit(&cfg);
}

static void test_kubeconfig_without_home(void **state)
{
    (void)state;
    struct config cfg;
    nenv = 0;
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), 0);
    assert_string_equal(cfg.kubeconfig, "/.kube/config");
    config_deinit(&cfg);
}

static void test_namespace(void **state)
{
    (void)state;
    struct config cfg;
    expect_ok("K8S_NAMESPACE", "team-a1", &cfg);
    assert_string_equal(cfg.k8s_namespace, "team-a1");
    assert_string_equal(config_namespaces(&cfg)[0], "team-a1");
    assert_null(config_namespaces(&cfg)[1]);
    config_deinit(&cfg);
    static const char *const bad[] = {"Team", "-a", "a-", "a_b", "a.b"};
    char want[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(want, sizeof(want), "invalid K8S_NAMESPACE=\"%s\": must be a DNS-1123 label",
                 bad[i]);
        expect_error("K8S_NAMESPACE", bad[i], want);
    }
    char longname[65];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    snprintf(want, sizeof(want), "invalid K8S_NAMESPACE=\"%s\": must be a DNS-1123 label",
             longname);
    expect_error("K8S_NAMESPACE", longname, want);
    longname[63] = '\0';
    expect_ok("K8S_NAMESPACE", longname, &cfg);
    config_deinit(&cfg);
}

static void test_lists(void **state)
{
    (void)state;
    struct config cfg;
    expect_ok("IMAGE_ALLOWLIST", " registry.a/ ,, registry.b/x ,", &cfg);
    assert_non_null(cfg.image_allowlist);
    assert_string_equal(cfg.image_allowlist[0], "registry.a/");
    assert_string_equal(cfg.image_allowlist[1], "registry.b/x");
    assert_null(cfg.image_allowlist[2]);
    config_deinit(&cfg);
    expect_ok("IMAGE_ALLOWLIST", " , ", &cfg);
    assert_null(cfg.image_allowlist); /* nothing but separators: any image */
    config_deinit(&cfg);

    reset_env(NULL);
    env_set("ALLOWED_NAMESPACES", "default, team-b,team-c");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), 0);
    const char *const *ns = config_namespaces(&cfg);
    assert_string_equal(ns[0], "default");
    assert_string_equal(ns[1], "team-b");
    assert_string_equal(ns[2], "team-c");
    assert_null(ns[3]);
    config_deinit(&cfg);
}

static void test_combined(void **state)
{
    (void)state;
    struct config cfg;

    reset_env(NULL);
    env_set("ALLOWED_NAMESPACES", "team-b,team-c");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid K8S_NAMESPACE=\"default\": must be one of "
                             "ALLOWED_NAMESPACES=\"team-b,team-c\"");

    reset_env(NULL);
    env_set("ALLOWED_NAMESPACES", "default,Bad_NS");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid ALLOWED_NAMESPACES=\"default,Bad_NS\": \"Bad_NS\" is not a "
                             "DNS-1123 label");

    reset_env(NULL);
    env_set("GRPC_TLS_CERT_FILE", "/tls/cert.pem");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE: set both or neither");

    reset_env(NULL);
    env_set("GRPC_TLS_KEY_FILE", "/tls/key.pem");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE: set both or neither");

    reset_env(NULL);
    env_set("GRPC_TLS_CLIENT_CA_FILE", "/tls/ca.pem");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid GRPC_TLS_CLIENT_CA_FILE: needs GRPC_TLS_CERT_FILE and "
                             "GRPC_TLS_KEY_FILE");

    reset_env(NULL);
    env_set("GRPC_TLS_CERT_FILE", "/tls/cert.pem");
    env_set("GRPC_TLS_KEY_FILE", "/tls/key.pem");
    env_set("GRPC_TLS_CLIENT_CA_FILE", "/tls/ca.pem");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), 0);
    assert_string_equal(cfg.grpc_tls_cert_file, "/tls/cert.pem");
    assert_string_equal(cfg.grpc_tls_key_file, "/tls/key.pem");
    assert_string_equal(cfg.grpc_tls_client_ca_file, "/tls/ca.pem");
    config_deinit(&cfg);

    reset_env(NULL);
    env_set("GRPC_PORT", "9000");
    env_set("HTTP_PORT", "9000");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid HTTP_PORT=\"9000\": must differ from GRPC_PORT");
}

/* The first invalid variable stops loading, and nothing leaks on the error path (the
 * strings parsed before it are released; LeakSanitizer checks). */
static void test_error_after_allocations(void **state)
{
    (void)state;
    struct config cfg;
    reset_env(NULL);
    env_set("K8S_NAMESPACE", "ns1");
    env_set("TIMER_IMAGE", "img");
    env_set("IMAGE_ALLOWLIST", "a,b");
    env_set("ALLOWED_NAMESPACES", "ns1");
    env_set("DEFAULT_MEMORY_LIMIT", "lots");
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "DEFAULT_MEMORY_LIMIT=\"lots\""));
    assert_null(cfg.timer_image);
    assert_null(cfg.image_allowlist);
}

/* A hostile value is cut short in the message, and the message stays one line's worth. */
static void test_long_value_truncated(void **state)
{
    (void)state;
    char value[400];
    memset(value, '9', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    struct config cfg;
    reset_env(NULL);
    env_set("GRPC_PORT", value);
    assert_int_equal(config_load(&cfg, env_get, err, sizeof(err)), -EINVAL);
    assert_true(strlen(err) < 200);
    assert_non_null(strstr(err, "must be a TCP port number from 1 to 65535"));

    char small[16];
    assert_int_equal(config_load(&cfg, env_get, small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static char *read_stream(void (*print)(FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    print(f);
    fclose(f);
    return text;
}

static void test_help_and_names(void **state)
{
    (void)state;
    char *help = read_stream(config_print_help);
    char *names = read_stream(config_print_names);
    size_t count = 0;
    char *save = NULL;
    for (char *name = strtok_r(names, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
        count++;
        char needle[64];
        snprintf(needle, sizeof(needle), "  %s ", name);
        if (!strstr(help, needle))
            fail_msg("--help does not list %s", name);
    }
    /* The issue's seed variables are all among the names --help documents. */
    static const char *const seeds[] = {
        "GRPC_PORT",
        "HTTP_PORT",
        "K8S_NAMESPACE",
        "IN_CLUSTER",
        "KUBECONFIG",
        "K8S_SERVICEACCOUNT_DIR",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "TIMER_IMAGE",
        "DEFAULT_CPU_REQUEST",
        "DEFAULT_MEMORY_REQUEST",
        "SHUTDOWN_GRACE_SECONDS",
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "  %s ", seeds[i]);
        if (!strstr(help, needle))
            fail_msg("--help does not list %s", seeds[i]);
    }
    assert_true(count >= sizeof(seeds) / sizeof(seeds[0]));
    assert_non_null(strstr(help, "default: 50054"));
    assert_non_null(strstr(help, "default: 64Mi"));
    assert_non_null(strstr(help, "default: timer-service:latest"));
    assert_non_null(strstr(help, "default: /var/run/secrets/kubernetes.io/serviceaccount"));
    assert_non_null(strstr(help, "default: (unset)"));
    free(help);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, reset_env),
        cmocka_unit_test(test_issue_examples),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_log_level_and_format),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_strings_and_paths),
        cmocka_unit_test(test_kubeconfig_without_home),
        cmocka_unit_test(test_namespace),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_combined),
        cmocka_unit_test(test_error_after_allocations),
        cmocka_unit_test(test_long_value_truncated),
        cmocka_unit_test(test_help_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
