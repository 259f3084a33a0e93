/* Unit tests for exec_credential: ExecCredential parsing, KUBERNETES_EXEC_INFO, and plugin
 * runs through uv_spawn with shell scripts as plugins (success, failure, timeout, bad JSON,
 * oversized output, cancellation). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8s/auth/exec_credential.h"

#define V1      "client.authentication.k8s.io/v1"
#define V1BETA1 "client.authentication.k8s.io/v1beta1"

static char tmpdir[64];

static void parse_err(const char *json, const char *want)
{
    struct exec_credential c;
    char err[320] = "";

    assert_int_equal(exec_credential_parse(json, strlen(json), V1, &c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, want);
    assert_null(c.token);
}

static void test_parse(void **state)
{
    struct exec_credential c;
    char err[320];
    static const char tok[] = "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\","
                              "\"status\":{\"token\":\"t0k\","
                              "\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}";
    static const char cert[] = "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\","
                               "\"status\":{\"clientCertificateData\":\"C\","
                               "\"clientKeyData\":\"K\"}}";

    assert_int_equal(exec_credential_parse(tok, strlen(tok), V1, &c, err, sizeof(err)), 0);
    assert_string_equal(c.token, "t0k");
    assert_null(c.client_cert_pem);
    assert_true(c.expiry_ms == 1893553445000LL);
    exec_credential_deinit(&c);
    assert_int_equal(exec_credential_parse(cert, strlen(cert), V1, &c, err, sizeof(err)), 0);
    assert_null(c.token);
    assert_string_equal(c.client_cert_pem, "C");
    assert_string_equal(c.client_key_pem, "K");
    assert_true(c.expiry_ms == 0);
    exec_credential_deinit(&c);

    parse_err("nope", "exec plugin output is not a JSON object: '[' or '{' expected near 'nope'");
    parse_err("[]", "exec plugin output is not a JSON object: wrong type");
    parse_err("{\"kind\":\"Secret\"}",
              "exec plugin output has kind \"Secret\", not ExecCredential");
    parse_err("{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1BETA1 "\",\"status\":{}}",
              "exec plugin is configured to use API version " V1 ", plugin returned version "
              "\"" V1BETA1 "\"");
    parse_err("{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\"}",
              "exec plugin did not return a status field");
    parse_err("{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{}}",
              "exec plugin returned neither a token nor a client certificate");
    parse_err("{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":"
              "{\"clientCertificateData\":\"C\"}}",
              "exec plugin returned only one of clientCertificateData and clientKeyData");
    parse_err("{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":"
              "{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}}",
              "exec plugin returned an invalid expirationTimestamp \"tomorrow\"");
}

static void test_info(void **state)
{
    static const uint8_t ca[] = "PEM";
    struct exec_credential_cluster cl = {.server = "https://h:1",
                                         .tls_server_name = "n",
                                         .insecure_skip_tls_verify = false,
                                         .ca_pem = ca,
                                         .ca_pem_len = 3};
    char *s = exec_credential_info(V1BETA1, NULL);

    assert_string_equal(s, "{\"apiVersion\":\"" V1BETA1 "\",\"kind\":\"ExecCredential\","
                           "\"spec\":{\"interactive\":false}}");
    free(s);
    s = exec_credential_info(V1, &cl);
    assert_string_equal(s, "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"spec\":"
                           "{\"cluster\":{\"certificate-authority-data\":\"UEVN\",\"server\":"
                           "\"https://h:1\",\"tls-server-name\":\"n\"},\"interactive\":false}}");
    free(s);
}

/* ---- runs ---- */

struct result {
    int calls;
    int status;
    char token[256];
    char err[320];
    int64_t expiry_ms;
};

static void on_done(int status, const struct exec_credential *cred, const char *err, void *data)
{
    struct result *r = data;

    r->calls++;
    r->status = status;
    if (cred != NULL) {
        snprintf(r->token, sizeof(r->token), "%s", cred->token ? cred->token : "");
        r->expiry_ms = cred->expiry_ms;
    }
    if (err != NULL)
        snprintf(r->err, sizeof(r->err), "%s", err);
}

static char *write_script(const char *name, const char *body)
{
    char *path = malloc(256);
    FILE *f;

    snprintf(path, 256, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(path, 0755);
    return path;
}

static struct kubeconfig_exec *make_exec(char *command)
{
    struct kubeconfig_exec *x = calloc(1, sizeof(*x));

    x->api_version = V1;
    x->command = command;
    x->args = calloc(3, sizeof(char *));
    x->args[0] = "first-arg";
    x->env = calloc(2, sizeof(char *));
    x->env[0] = "PLUGIN_SUFFIX=from-env";
    return x;
}

static void free_exec(struct kubeconfig_exec *x)
{
    free(x->command);
    free(x->args);
    free(x->env);
    free(x);
}

/* Runs |body| as a plugin to completion and returns the result. */
static struct result run(const char *body, uint64_t timeout_ms)
{
    uv_loop_t loop;
    struct result r = {0};
    struct kubeconfig_exec *x = make_exec(write_script("plugin.sh", body));
    char err[320];

    uv_loop_init(&loop);
    assert_int_equal(exec_credential_run_start(&loop, x, "{\"info\":1}", timeout_ms, on_done, &r,
                                               NULL, err, sizeof(err)),
                     0);
    assert_int_equal(r.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    free_exec(x);
    return r;
}

static void test_run_ok(void **state)
{
    /* The token echoes the arg, the kubeconfig env and KUBERNETES_EXEC_INFO; stderr is only
     * logged. */
    struct result r = run("echo 'plugin says hi' >&2\n"
                          "printf '{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\","
                          "\"status\":{\"token\":\"%s-%s-%s\",\"expirationTimestamp\":"
                          "\"2031-01-01T00:00:00Z\"}}' \"$1\" \"$PLUGIN_SUFFIX\" "
                          "\"$(printf %s \"$KUBERNETES_EXEC_INFO\" | tr -d '{}\":')\"\n",
                          10000);

    assert_int_equal(r.status, 0);
    assert_string_equal(r.token, "first-arg-from-env-info1");
    assert_true(r.expiry_ms == 1924992000000LL);
}

static void test_run_failures(void **state)
{
    struct result r;

    r = run("echo denied >&2\nexit 3\n", 10000);
    assert_int_equal(r.status, -EIO);
    assert_non_null(strstr(r.err, "exited with status 3"));

    r = run("echo '{not json'\n", 10000);
    assert_int_equal(r.status, -EINVAL);
    assert_non_null(strstr(r.err, "exec plugin output is not a JSON object"));

    r = run("exec sleep 30\n", 100);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_non_null(strstr(r.err, "timed out after 100 ms"));

    r = run("head -c 2000000 /dev/zero\n", 10000);
    assert_int_equal(r.status, -EMSGSIZE);
    assert_non_null(strstr(r.err, "printed more than"));

    r = run("kill -9 $$\n", 10000);
    assert_int_equal(r.status, -EIO);
    assert_non_null(strstr(r.err, "killed by signal 9"));
}

static void test_run_missing_command(void **state)
{
    uv_loop_t loop;
    struct result r = {0};
    struct kubeconfig_exec *x = make_exec(strdup("/nonexistent/get-token"));
    char err[320];

    x->install_hint = "install it from example.com";
    uv_loop_init(&loop);
    assert_int_equal(
        exec_credential_run_start(&loop, x, "{}", 1000, on_done, &r, NULL, err, sizeof(err)),
        UV_ENOENT);
    assert_string_equal(err, "cannot run exec plugin /nonexistent/get-token: no such file or "
                             "directory: install it from example.com");
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 0); /* a failed start never calls back */
    assert_int_equal(uv_loop_close(&loop), 0);
    free_exec(x);
}

static void test_run_cancel(void **state)
{
    uv_loop_t loop;
    struct result r = {0};
    struct kubeconfig_exec *x = make_exec(write_script("slow.sh", "exec sleep 30\n"));
    struct exec_credential_run *run_;
    char err[320];

    uv_loop_init(&loop);
    assert_int_equal(
        exec_credential_run_start(&loop, x, "{}", 60000, on_done, &r, &run_, err, sizeof(err)), 0);
    exec_credential_run_cancel(run_);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, -ECANCELED);
    assert_int_equal(uv_loop_close(&loop), 0);
    free_exec(x);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/auth-exec-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_run_ok),
        cmocka_unit_test(test_run_failures),
        cmocka_unit_test(test_run_missing_command),
        cmocka_unit_test(test_run_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
