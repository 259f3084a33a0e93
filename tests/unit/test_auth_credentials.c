/* Unit tests for k8s_auth on a real loop: in-cluster loading, kubeconfig credentials, token
 * file rotation (periodic and after a 401), exec plugins (caching, sharing, expiry, client
 * certificates), CA / certificate file rotation, cancellation and close. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "k8s/auth/auth.h"
#include "tls_test_certs.h"

static char *certs;
static char dir[64];
static uv_loop_t loop;

struct got {
    int calls;
    int status;
    char auth[256];
    char err[320];
};

static void on_token(int status, const char *authorization, const char *err, void *data)
{
    struct got *g = data;

    g->calls++;
    g->status = status;
    snprintf(g->auth, sizeof(g->auth), "%s", authorization ? authorization : "(null)");
    snprintf(g->err, sizeof(g->err), "%s", err ? err : "");
    /* Keeps the current UV_RUN_ONCE from then blocking until the next rotation timer. */
    uv_stop(&loop);
}

static void write_file(const char *name, const char *content)
{
    char path[256], tmp[300];
    FILE *f;

    /* Write and rename, as kubelet's atomic writer does, so a poll never sees half a file. */
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static void make_executable(const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(chmod(path, 0755), 0);
}

static void copy_cert(const char *from, const char *to)
{
    size_t len;
    char *data = tls_test_certs_read(certs, from, &len);

    assert_non_null(data);
    write_file(to, data);
    free(data);
}

/* Gets a token and runs the loop until it arrives; checks it never arrives synchronously. */
static struct got get(struct k8s_auth *a)
{
    struct got g = {0};

    assert_int_equal(k8s_auth_get_token(a, on_token, &g), 0);
    assert_int_equal(g.calls, 0);
    while (g.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(g.calls, 1);
    return g;
}

static void on_closed(void *data)
{
    (*(int *)data)++;
}

static void close_auth(struct k8s_auth *a)
{
    int closed = 0;

    k8s_auth_close(a, on_closed, &closed);
    assert_int_equal(closed, 0);
    while (closed == 0)
        uv_run(&loop, UV_RUN_DEFAULT); /* again if a token callback stopped it */
    assert_int_equal(closed, 1);
}

static struct config in_cluster_cfg(void)
{
    struct config cfg = {0};

    cfg.in_cluster = true;
    cfg.serviceaccount_dir = dir;
    return cfg;
}

static struct config kubeconfig_cfg(void)
{
    static char path[128];
    struct config cfg = {0};

    snprintf(path, sizeof(path), "%s/config", dir);
    cfg.kubeconfig = path;
    return cfg;
}

static void test_in_cluster(void **state)
{
    struct config cfg = in_cluster_cfg();
    struct k8s_auth *a = NULL;
    struct tls_config *tls;
    char err[512] = "";
    struct got g;

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    write_file("token", "tok-1\n");
    write_file("namespace", "jobs\n");
    copy_cert("ca.crt", "ca.crt");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    assert_string_equal(k8s_auth_host(a), "10.96.0.1");
    assert_int_equal(k8s_auth_port(a), 443);
    assert_true(k8s_auth_use_tls(a));
    assert_string_equal(k8s_auth_server_name(a), "10.96.0.1");
    assert_string_equal(k8s_auth_namespace(a), "jobs");
    assert_non_null(strstr(k8s_auth_describe(a), "in-cluster service account"));
    tls = k8s_auth_tls_config(a);
    assert_non_null(tls);
    tls_config_unref(tls);
    g = get(a);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.auth, "Bearer tok-1");

    /* After a 401 the file is read again before the next token is handed out. */
    write_file("token", "tok-2");
    k8s_auth_invalidate(a);
    g = get(a);
    assert_string_equal(g.auth, "Bearer tok-2");
    close_auth(a);

    /* IPv6 service host. */
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    assert_string_equal(k8s_auth_host(a), "fd00::1");
    assert_string_equal(k8s_auth_server_name(a), "fd00::1");
    close_auth(a);
}

static void test_in_cluster_errors(void **state)
{
    struct config cfg = in_cluster_cfg();
    struct k8s_auth *a = NULL;
    char err[512] = "", want[512];

    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                             "must be set (or set IN_CLUSTER=false to use a kubeconfig)");
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "in-cluster: KUBERNETES_SERVICE_PORT \"https\" is not a port");
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    cfg.serviceaccount_dir = "/nonexistent/sa";
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "in-cluster: cannot read /nonexistent/sa/token: No such file or "
                             "directory");
    cfg.serviceaccount_dir = dir;
    write_file("token", "tok");
    write_file("ca.crt", "not a certificate");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "in-cluster service account %s: CA bundle: no valid "
             "certificate",
             dir);
    assert_non_null(strstr(err, want));
    write_file("token", "\n");
    copy_cert("ca.crt", "ca.crt");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "in-cluster: token file %s/token is empty or not one line", dir);
    assert_string_equal(err, want);
}

static void test_token_file_periodic_reread(void **state)
{
    struct config cfg = in_cluster_cfg();
    struct k8s_auth_tuning t = {
        .token_reread_ms = 10, .file_poll_ms = 10000, .exec_timeout_ms = 1000};
    struct k8s_auth *a = NULL;
    char err[512];
    struct got g;

    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    write_file("token", "old");
    copy_cert("ca.crt", "ca.crt");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    k8s_auth_set_tuning(a, &t);
    write_file("token", "rotated");
    /* No 401: the timer alone picks the new token up. */
    do {
        uv_run(&loop, UV_RUN_ONCE);
        g = get(a);
    } while (strcmp(g.auth, "Bearer rotated") != 0);
    /* A vanished file keeps the last good token. */
    char path[128];
    snprintf(path, sizeof(path), "%s/token", dir);
    unlink(path);
    k8s_auth_invalidate(a);
    g = get(a);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.auth, "Bearer rotated");
    close_auth(a);
}

static void write_kubeconfig(const char *cluster_extra, const char *user)
{
    char yaml[2048];

    snprintf(yaml, sizeof(yaml),
             "current-context: sim\n"
             "contexts: [{name: sim, context: {cluster: k, user: u, namespace: ns1}}]\n"
             "clusters:\n"
             "- name: k\n"
             "  cluster:\n"
             "    server: https://127.0.0.1:6443\n"
             "%s"
             "users: [{name: u, user: %s}]\n",
             cluster_extra, user);
    write_file("config", yaml);
}

static void test_kubeconfig_token_and_errors(void **state)
{
    struct config cfg = kubeconfig_cfg();
    struct k8s_auth *a = NULL;
    char err[512] = "", want[512];
    struct got g;

    copy_cert("ca.crt", "ca.crt");
    write_kubeconfig("    certificate-authority: ca.crt\n    tls-server-name: kube.example\n",
                     "{token: static-tok}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    assert_string_equal(k8s_auth_host(a), "127.0.0.1");
    assert_int_equal(k8s_auth_port(a), 6443);
    assert_string_equal(k8s_auth_server_name(a), "kube.example");
    assert_string_equal(k8s_auth_namespace(a), "ns1");
    snprintf(want, sizeof(want), "kubeconfig %s context sim", cfg.kubeconfig);
    assert_string_equal(k8s_auth_describe(a), want);
    g = get(a);
    assert_string_equal(g.auth, "Bearer static-tok");
    k8s_auth_invalidate(a); /* a static token stays */
    g = get(a);
    assert_string_equal(g.auth, "Bearer static-tok");
    close_auth(a);

    write_kubeconfig("    certificate-authority: ca.crt\n    insecure-skip-tls-verify: true\n",
                     "{}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "kubeconfig %s: cluster \"k\": certificate-authority cannot be "
             "combined with insecure-skip-tls-verify",
             cfg.kubeconfig);
    assert_string_equal(err, want);

    write_kubeconfig("    certificate-authority: missing.crt\n", "{}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -ENOENT);
    snprintf(want, sizeof(want),
             "kubeconfig %s: cluster \"k\": cannot read %s/missing.crt: No "
             "such file or directory",
             cfg.kubeconfig, dir);
    assert_string_equal(err, want);

    write_file("config", "current-context: sim\n"
                         "contexts: [{name: sim, context: {cluster: k}}]\n"
                         "clusters: [{name: k, cluster: {server: 'https://h:1/prefix'}}]\n");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "kubeconfig %s: cluster \"k\": server \"https://h:1/prefix\": a "
             "path after the host is not supported",
             cfg.kubeconfig);
    assert_string_equal(err, want);

    write_file("config", "current-context: sim\n"
                         "contexts: [{name: sim, context: {cluster: k}}]\n"
                         "clusters: [{name: k, cluster: {server: 'https://h:99999'}}]\n");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "server \"https://h:99999\" is not an http(s)://host[:port] URL"));

    cfg.kubeconfig = "/nonexistent/kubeconfig";
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "kubeconfig: cannot read /nonexistent/kubeconfig: No such file or "
                             "directory");
}

static void test_kubeconfig_anonymous_http_ipv6(void **state)
{
    struct config cfg = kubeconfig_cfg();
    struct k8s_auth *a = NULL;
    char err[512] = "";
    struct got g;

    write_file("config", "current-context: sim\n"
                         "contexts: [{name: sim, context: {cluster: k}}]\n"
                         "clusters: [{name: k, cluster: {server: 'http://[::1]:8080/'}}]\n");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    assert_string_equal(k8s_auth_host(a), "::1");
    assert_int_equal(k8s_auth_port(a), 8080);
    assert_false(k8s_auth_use_tls(a));
    assert_null(k8s_auth_tls_config(a));
    assert_null(k8s_auth_namespace(a));
    g = get(a);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.auth, "(null)");
    close_auth(a);
}

static const char exec_user[] =
    "{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./plugin.sh, "
    "provideClusterInfo: true}}";

/* A plugin that counts its runs in a file and returns "tok-<n>" expiring at |expiry|. */
static void write_plugin(const char *expiry)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "#!/bin/sh\n"
             "cd \"$(dirname \"$0\")\"\n"
             "n=$(($(cat runs 2>/dev/null || echo 0) + 1)); echo $n > runs\n"
             "case \"$KUBERNETES_EXEC_INFO\" in *certificate-authority-data*) ;; *) exit 7;; "
             "esac\n"
             "printf '{\"kind\":\"ExecCredential\",\"apiVersion\":"
             "\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"tok-%%s\","
             "\"expirationTimestamp\":\"%s\"}}' $n\n",
             expiry);
    write_file("plugin.sh", body);
    make_executable("plugin.sh");
    char path[128];
    snprintf(path, sizeof(path), "%s/runs", dir);
    unlink(path);
}

static void test_exec_plugin(void **state)
{
    struct config cfg = kubeconfig_cfg();
    struct k8s_auth *a = NULL;
    char err[512] = "";
    struct got g1 = {0}, g2 = {0}, g;

    copy_cert("ca.crt", "ca.crt");
    write_plugin("2099-01-01T00:00:00Z");
    write_kubeconfig("    certificate-authority: ca.crt\n", exec_user);
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    /* Two requests while the plugin runs share the run. */
    assert_int_equal(k8s_auth_get_token(a, on_token, &g1), 0);
    assert_int_equal(k8s_auth_get_token(a, on_token, &g2), 0);
    while (g1.calls == 0 || g2.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_string_equal(g1.auth, "Bearer tok-1");
    assert_string_equal(g2.auth, "Bearer tok-1");
    /* Cached until expiry. */
    g = get(a);
    assert_string_equal(g.auth, "Bearer tok-1");
    /* After a 401 the plugin runs again. */
    k8s_auth_invalidate(a);
    g = get(a);
    assert_string_equal(g.auth, "Bearer tok-2");
    close_auth(a);

    /* An expired credential is not reused. */
    write_plugin("2001-01-01T00:00:00Z");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    assert_string_equal(get(a).auth, "Bearer tok-1");
    assert_string_equal(get(a).auth, "Bearer tok-2");
    close_auth(a);

    /* A failing plugin fails the request with its reason; the next request retries. */
    write_file("plugin.sh", "#!/bin/sh\nexit 5\n");
    make_executable("plugin.sh");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    g = get(a);
    assert_int_equal(g.status, -EIO);
    assert_non_null(strstr(g.err, "exited with status 5"));
    close_auth(a);

    /* A missing command fails from the loop, not inside get. */
    write_kubeconfig("    certificate-authority: ca.crt\n",
                     "{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: "
                     "./nope}}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    g = get(a);
    assert_int_equal(g.status, UV_ENOENT);
    assert_non_null(strstr(g.err, "cannot run exec plugin"));
    close_auth(a);
}

static void test_exec_client_certificate(void **state)
{
    struct config cfg = kubeconfig_cfg();
    struct k8s_auth *a = NULL;
    struct tls_config *before, *after;
    char err[512] = "", body[16384];
    size_t clen, klen;
    char *crt = tls_test_certs_read(certs, "client.crt", &clen);
    char *key = tls_test_certs_read(certs, "client.key", &klen);
    struct got g;

    /* JSON-escape the PEM newlines. */
    char esc_crt[4096] = "", esc_key[4096] = "";
    for (size_t i = 0, o = 0; i < clen; i++)
        o += (size_t)snprintf(esc_crt + o, sizeof(esc_crt) - o, crt[i] == '\n' ? "\\\\n" : "%c",
                              crt[i]);
    for (size_t i = 0, o = 0; i < klen; i++)
        o += (size_t)snprintf(esc_key + o, sizeof(esc_key) - o, key[i] == '\n' ? "\\\\n" : "%c",
                              key[i]);
    snprintf(body, sizeof(body),
             "#!/bin/sh\nprintf '{\"kind\":\"ExecCredential\",\"apiVersion\":"
             "\"client.authentication.k8s.io/v1\",\"status\":{\"clientCertificateData\":\"%s\","
             "\"clientKeyData\":\"%s\"}}'\n",
             esc_crt, esc_key);
    write_file("plugin.sh", body);
    make_executable("plugin.sh");
    copy_cert("ca.crt", "ca.crt");
    write_kubeconfig("    certificate-authority: ca.crt\n",
                     "{exec: {apiVersion: client.authentication.k8s.io/v1, command: "
                     "./plugin.sh, interactiveMode: Never}}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    before = k8s_auth_tls_config(a);
    g = get(a);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.auth, "(null)"); /* certificate-only */
    after = k8s_auth_tls_config(a);
    assert_non_null(after);
    assert_ptr_not_equal(before, after);
    tls_config_unref(before);
    tls_config_unref(after);
    close_auth(a);
    free(crt);
    free(key);
}

static void test_tls_file_rotation(void **state)
{
    struct config cfg = kubeconfig_cfg();
    struct k8s_auth_tuning t = {
        .token_reread_ms = 60000, .file_poll_ms = 5, .exec_timeout_ms = 1000};
    struct k8s_auth *a = NULL;
    struct tls_config *first, *cur;
    char err[512] = "";

    copy_cert("ca.crt", "ca.crt");
    copy_cert("client.crt", "client.crt");
    copy_cert("client.key", "client.key");
    write_kubeconfig("    certificate-authority: ca.crt\n",
                     "{client-certificate: client.crt, client-key: client.key}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    k8s_auth_set_tuning(a, &t);
    first = k8s_auth_tls_config(a);
    /* Half a rotation (new certificate, old key) is not applied... */
    copy_cert("client2.crt", "client.crt");
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_ONCE);
    cur = k8s_auth_tls_config(a);
    assert_ptr_equal(cur, first);
    tls_config_unref(cur);
    /* ...the whole one is. */
    copy_cert("client2.key", "client.key");
    for (;;) {
        uv_run(&loop, UV_RUN_ONCE);
        cur = k8s_auth_tls_config(a);
        tls_config_unref(cur);
        if (cur != first)
            break;
    }
    /* A CA swap is picked up too. */
    tls_config_unref(first);
    first = k8s_auth_tls_config(a);
    copy_cert("ca2.crt", "ca.crt");
    for (;;) {
        uv_run(&loop, UV_RUN_ONCE);
        cur = k8s_auth_tls_config(a);
        tls_config_unref(cur);
        if (cur != first)
            break;
    }
    tls_config_unref(first);
    close_auth(a);
}

static void test_cancel_and_close(void **state)
{
    struct config cfg = kubeconfig_cfg();
    struct k8s_auth *a = NULL;
    char err[512] = "";
    struct got g1 = {0}, g2 = {0};

    copy_cert("ca.crt", "ca.crt");
    write_file("plugin.sh", "#!/bin/sh\nexec sleep 30\n");
    make_executable("plugin.sh");
    write_kubeconfig("    certificate-authority: ca.crt\n",
                     "{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: "
                     "./plugin.sh}}");
    assert_int_equal(k8s_auth_new(&loop, &cfg, &a, err, sizeof(err)), 0);
    assert_int_equal(k8s_auth_get_token(a, on_token, &g1), 0);
    assert_int_equal(k8s_auth_get_token(a, on_token, &g2), 0);
    k8s_auth_cancel_token(a, on_token, &g1);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    /* Closing kills the plugin; the remaining waiter hears -ECANCELED, the withdrawn one
     * nothing. */
    close_auth(a);
    assert_int_equal(g1.calls, 0);
    assert_int_equal(g2.calls, 1);
    assert_int_equal(g2.status, -ECANCELED);
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/auth-creds-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    certs = tls_test_certs_make();
    uv_loop_init(&loop);
    return certs == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];

    assert_int_equal(uv_loop_close(&loop), 0);
    tls_test_certs_remove(certs);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_in_cluster_errors),
        cmocka_unit_test(test_token_file_periodic_reread),
        cmocka_unit_test(test_kubeconfig_token_and_errors),
        cmocka_unit_test(test_kubeconfig_anonymous_http_ipv6),
        cmocka_unit_test(test_exec_plugin),
        cmocka_unit_test(test_exec_client_certificate),
        cmocka_unit_test(test_tls_file_rotation),
        cmocka_unit_test(test_cancel_and_close),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
