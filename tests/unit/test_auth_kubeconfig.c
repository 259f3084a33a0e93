/* Unit tests for the kubeconfig codec: every field, relative paths, base64 data, and each
 * error with its exact message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/auth/kubeconfig.h"

#define PATH "/home/u/.kube/config"

static struct kubeconfig *parse_ok(const char *yaml)
{
    struct kubeconfig *kc = NULL;
    char err[512] = "";
    int rc = kubeconfig_parse(yaml, strlen(yaml), PATH, &kc, err, sizeof(err));

    if (rc != 0)
        fail_msg("unexpected error: %s", err);
    assert_non_null(kc);
    return kc;
}

static void parse_err(const char *yaml, const char *want)
{
    struct kubeconfig *kc = NULL;
    char err[512] = "";

    assert_int_equal(kubeconfig_parse(yaml, strlen(yaml), PATH, &kc, err, sizeof(err)), -EINVAL);
    assert_null(kc);
    assert_string_equal(err, want);
}

static const char full[] = "apiVersion: v1\n"
                           "kind: Config\n"
                           "current-context: dev\n"
                           "preferences: {}\n"
                           "clusters:\n"
                           "- name: other\n"
                           "  cluster: {server: https://other:1}\n"
                           "- name: kube-sim\n"
                           "  cluster:\n"
                           "    server: https://127.0.0.1:6443\n"
                           "    certificate-authority: ca.crt\n"
                           "    certificate-authority-data: aGVsbG8=\n"
                           "    tls-server-name: kube.example\n"
                           "    extensions: [{name: x, extension: {a: b}}]\n"
                           "contexts:\n"
                           "- name: prod\n"
                           "  context: {cluster: other, user: nobody}\n"
                           "- name: dev\n"
                           "  context:\n"
                           "    cluster: kube-sim\n"
                           "    user: alice\n"
                           "    namespace: team-a\n"
                           "users:\n"
                           "- name: alice\n"
                           "  user:\n"
                           "    token: abc.def\n"
                           "    client-certificate: /abs/client.crt\n"
                           "    client-key: keys/client.key\n"
                           "    client-certificate-data: Y2VydA==\n"
                           "    client-key-data: a2V5\n";

static void test_full(void **state)
{
    struct kubeconfig *kc = parse_ok(full);

    assert_string_equal(kc->path, PATH);
    assert_string_equal(kc->context, "dev");
    assert_string_equal(kc->cluster_name, "kube-sim");
    assert_string_equal(kc->user_name, "alice");
    assert_string_equal(kc->namespace, "team-a");
    assert_string_equal(kc->server, "https://127.0.0.1:6443");
    assert_string_equal(kc->ca.file, "/home/u/.kube/ca.crt");
    assert_int_equal(kc->ca.len, 5);
    assert_string_equal((const char *)kc->ca.data, "hello");
    assert_false(kc->insecure_skip_tls_verify);
    assert_string_equal(kc->tls_server_name, "kube.example");
    assert_string_equal(kc->token, "abc.def");
    assert_null(kc->token_file);
    assert_string_equal(kc->client_cert.file, "/abs/client.crt");
    assert_string_equal((const char *)kc->client_cert.data, "cert");
    assert_string_equal(kc->client_key.file, "/home/u/.kube/keys/client.key");
    assert_string_equal((const char *)kc->client_key.data, "key");
    assert_null(kc->exec);
    kubeconfig_free(kc);
}

static void test_token_file_insecure_anonymous(void **state)
{
    struct kubeconfig *kc;
    char err[256];

    kc = parse_ok("current-context: c\n"
                  "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                  "clusters: [{name: k, cluster: {server: 'http://localhost:8080', "
                  "insecure-skip-tls-verify: true}}]\n"
                  "users: [{name: u, user: {tokenFile: ../tok}}]\n");
    assert_true(kc->insecure_skip_tls_verify);
    assert_string_equal(kc->token_file, "/home/u/.kube/../tok");
    assert_null(kc->namespace);
    assert_null(kc->ca.file);
    assert_null(kc->ca.data);
    kubeconfig_free(kc);

    /* No user: anonymous. A relative kubeconfig path resolves against its directory. */
    static const char anon[] = "current-context: c\n"
                               "contexts: [{name: c, context: {cluster: k}}]\n"
                               "clusters: [{name: k, cluster: {server: https://h, "
                               "certificate-authority: ca.pem}}]\n";
    assert_int_equal(kubeconfig_parse(anon, strlen(anon), "config", &kc, err, sizeof(err)), 0);
    assert_null(kc->user_name);
    assert_null(kc->token);
    assert_string_equal(kc->ca.file, "./ca.pem");
    kubeconfig_free(kc);
    assert_int_equal(kubeconfig_parse(anon, strlen(anon), "/config", &kc, err, sizeof(err)), 0);
    assert_string_equal(kc->ca.file, "//ca.pem");
    kubeconfig_free(kc);
}

static const char exec_head[] = "current-context: c\n"
                                "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                                "clusters: [{name: k, cluster: {server: https://h}}]\n"
                                "users:\n"
                                "- name: u\n"
                                "  user:\n"
                                "    exec:\n";

static struct kubeconfig *parse_exec(const char *exec_body)
{
    char yaml[2048];

    snprintf(yaml, sizeof(yaml), "%s%s", exec_head, exec_body);
    return parse_ok(yaml);
}

static void parse_exec_err(const char *exec_body, const char *want)
{
    char yaml[2048];

    snprintf(yaml, sizeof(yaml), "%s%s", exec_head, exec_body);
    parse_err(yaml, want);
}

static void test_exec(void **state)
{
    struct kubeconfig *kc = parse_exec("      apiVersion: client.authentication.k8s.io/v1\n"
                                       "      command: ./bin/get-token\n"
                                       "      args: [--cluster, dev]\n"
                                       "      env:\n"
                                       "      - {name: AWS_PROFILE, value: prod}\n"
                                       "      - {name: EMPTY}\n"
                                       "      interactiveMode: Never\n"
                                       "      provideClusterInfo: true\n"
                                       "      installHint: install get-token\n");

    assert_non_null(kc->exec);
    assert_string_equal(kc->exec->api_version, "client.authentication.k8s.io/v1");
    assert_string_equal(kc->exec->command, "/home/u/.kube/./bin/get-token");
    assert_string_equal(kc->exec->args[0], "--cluster");
    assert_string_equal(kc->exec->args[1], "dev");
    assert_null(kc->exec->args[2]);
    assert_string_equal(kc->exec->env[0], "AWS_PROFILE=prod");
    assert_string_equal(kc->exec->env[1], "EMPTY=");
    assert_null(kc->exec->env[2]);
    assert_int_equal(kc->exec->interactive_mode, KUBECONFIG_INTERACTIVE_NEVER);
    assert_true(kc->exec->provide_cluster_info);
    assert_string_equal(kc->exec->install_hint, "install get-token");
    kubeconfig_free(kc);

    /* v1beta1: interactiveMode defaults to IfAvailable; a bare command stays for PATH. */
    kc = parse_exec("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                    "      command: aws\n");
    assert_string_equal(kc->exec->command, "aws");
    assert_non_null(kc->exec->args);
    assert_null(kc->exec->args[0]);
    assert_null(kc->exec->env[0]);
    assert_int_equal(kc->exec->interactive_mode, KUBECONFIG_INTERACTIVE_IF_AVAILABLE);
    assert_false(kc->exec->provide_cluster_info);
    kubeconfig_free(kc);
}

static void test_exec_errors(void **state)
{
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1alpha1\n"
                   "      command: x\n",
                   "kubeconfig " PATH ": user \"u\": exec.apiVersion "
                   "\"client.authentication.k8s.io/v1alpha1\" is not supported (use "
                   "client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1)");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1\n"
                   "      interactiveMode: Never\n",
                   "kubeconfig " PATH ": user \"u\": exec.command is not set");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: x\n",
                   "kubeconfig " PATH ": user \"u\": exec.interactiveMode must be set for "
                   "client.authentication.k8s.io/v1");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: x\n"
                   "      interactiveMode: Always\n",
                   "kubeconfig " PATH ": user \"u\": exec.interactiveMode Always needs a "
                   "terminal, which a service does not have");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: x\n"
                   "      interactiveMode: Sometimes\n",
                   "kubeconfig " PATH ": user \"u\": exec.interactiveMode \"Sometimes\" is not "
                   "Never, IfAvailable or Always");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                   "      command: x\n"
                   "      args: {a: b}\n",
                   "kubeconfig " PATH ": user \"u\": exec.args is not a list");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                   "      command: x\n"
                   "      args: [a, [b]]\n",
                   "kubeconfig " PATH ": user \"u\": exec.args[1] is not a string");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                   "      command: x\n"
                   "      env: [{value: v}]\n",
                   "kubeconfig " PATH ": user \"u\": exec.env[0].name must be a variable name");
    parse_exec_err("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                   "      command: x\n"
                   "      provideClusterInfo: maybe\n",
                   "kubeconfig " PATH ": user \"u\": provideClusterInfo must be true or false, "
                   "not \"maybe\"");
    parse_exec_err("      command: x\n"
                   "    token: t\n",
                   "kubeconfig " PATH ": user \"u\": exec and token/tokenFile are mutually "
                   "exclusive");
}

static void test_structure_errors(void **state)
{
    parse_err("", "kubeconfig " PATH ": the file is empty");
    parse_err("- a\n- b\n", "kubeconfig " PATH ": the top level is not a mapping");
    parse_err("a: [b\n", "kubeconfig " PATH ": invalid YAML: did not find expected ',' or ']' "
                         "at line 2 column 1");
    parse_err("clusters: []\n", "kubeconfig " PATH ": current-context is not set");
    parse_err("current-context: \"\"\n", "kubeconfig " PATH ": current-context is not set");
    parse_err("current-context: dev\n",
              "kubeconfig " PATH ": current-context \"dev\" is not defined in contexts");
    parse_err("current-context: dev\ncontexts: {dev: x}\n",
              "kubeconfig " PATH ": contexts is not a list");
    parse_err("current-context: dev\ncontexts: [x]\n",
              "kubeconfig " PATH ": contexts[0] is not a mapping");
    parse_err("current-context: dev\ncontexts: [{name: dev}]\n",
              "kubeconfig " PATH ": contexts entry \"dev\" has no context mapping");
    parse_err("current-context: dev\ncontexts: [{name: dev, context: {user: u}}]\n",
              "kubeconfig " PATH ": context \"dev\" names no cluster");
    parse_err("current-context: dev\ncontexts: [{name: dev, context: {cluster: x}}]\n",
              "kubeconfig " PATH ": context \"dev\" names cluster \"x\" which is not defined "
              "in clusters");
    parse_err("current-context: dev\n"
              "contexts: [{name: dev, context: {cluster: x, user: u}}]\n"
              "clusters: [{name: x, cluster: {server: https://h}}]\n"
              "users: [{name: v, user: {}}]\n",
              "kubeconfig " PATH ": context \"dev\" names user \"u\" which is not defined in "
              "users");
    parse_err("current-context: dev\n"
              "contexts: [{name: dev, context: {cluster: x}}]\n"
              "clusters: [{name: x, cluster: {insecure-skip-tls-verify: true}}]\n",
              "kubeconfig " PATH ": cluster \"x\": server is not set");
    parse_err("current-context: dev\n"
              "contexts: [{name: dev, context: {cluster: x}}]\n"
              "clusters: [{name: x, cluster: {server: [a]}}]\n",
              "kubeconfig " PATH ": cluster \"x\": server is not a string");
    parse_err("current-context: dev\n"
              "contexts: [{name: dev, context: {cluster: x}}]\n"
              "clusters: [{name: x, cluster: {server: h, insecure-skip-tls-verify: si}}]\n",
              "kubeconfig " PATH ": cluster \"x\": insecure-skip-tls-verify must be true or "
              "false, not \"si\"");
    parse_err("current-context: dev\n"
              "contexts: [{name: dev, context: {cluster: x}}]\n"
              "clusters: [{name: x, cluster: {server: h, certificate-authority-data: '!!'}}]\n",
              "kubeconfig " PATH ": cluster \"x\": certificate-authority-data is not valid "
              "base64");
    parse_err("current-context: dev\n"
              "contexts: [{name: dev, context: {cluster: x}}]\n"
              "clusters: [{name: x, cluster: {server: h, proxy-url: 'http://p'}}]\n",
              "kubeconfig " PATH ": cluster \"x\": proxy-url is not supported");
    /* Anchors and aliases. */
    parse_err("current-context: dev\n"
              "c: &a {server: h}\n"
              "contexts: [{name: dev, context: {cluster: x}}]\n"
              "clusters: [{name: x, cluster: *a}]\n",
              "kubeconfig " PATH ": YAML anchors and aliases are not supported");
    parse_err("&a [*a]\n", "kubeconfig " PATH ": the top level is not a mapping");
    parse_err("&a {x: *a}\n", "kubeconfig " PATH ": YAML anchors and aliases are not supported");
}

static void user_err(const char *user, const char *want)
{
    char yaml[1024];

    snprintf(yaml, sizeof(yaml),
             "current-context: c\n"
             "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
             "clusters: [{name: k, cluster: {server: https://h}}]\n"
             "users: [{name: u, user: %s}]\n",
             user);
    parse_err(yaml, want);
}

static void test_user_errors(void **state)
{
    user_err("{auth-provider: {name: gcp}}",
             "kubeconfig " PATH ": user \"u\": auth-provider is not supported (use an exec "
             "credential plugin)");
    user_err("{username: a, password: b}",
             "kubeconfig " PATH ": user \"u\": username/password (basic) authentication is not "
             "supported");
    user_err("{as: admin}", "kubeconfig " PATH ": user \"u\": as (impersonation) is not supported");
    user_err("{client-certificate: c.crt}",
             "kubeconfig " PATH ": user \"u\": client-certificate is set without client-key");
    user_err("{client-key-data: a2V5}",
             "kubeconfig " PATH ": user \"u\": client-key is set without client-certificate");
    user_err("{client-certificate-data: 'a', client-key-data: a2V5}",
             "kubeconfig " PATH ": user \"u\": client-certificate-data is not valid base64");
    user_err("{token: {a: b}}", "kubeconfig " PATH ": user \"u\": token is not a string");
    user_err("{exec: [a]}", "kubeconfig " PATH ": user \"u\": exec is not a mapping");
}

static void test_null_values_and_first_document(void **state)
{
    struct kubeconfig *kc = parse_ok("current-context: c\n"
                                     "contexts: [{name: c, context: {cluster: k, user: ~, "
                                     "namespace: null}}]\n"
                                     "clusters: [{name: k, cluster: {server: https://h, "
                                     "tls-server-name: }}]\n"
                                     "---\n"
                                     "current-context: other\n");

    assert_null(kc->user_name);
    assert_null(kc->namespace);
    assert_null(kc->tls_server_name);
    kubeconfig_free(kc);
}

static void test_base64(void **state)
{
    uint8_t *out;
    size_t len;

    assert_int_equal(kubeconfig_base64_decode("", 0, &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
    assert_int_equal(kubeconfig_base64_decode("Zm9vYmFy", 8, &out, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(out, "foobar", 6);
    free(out);
    assert_int_equal(kubeconfig_base64_decode("Zm9v\nYmE=\n", 10, &out, &len), 0);
    assert_string_equal((char *)out, "fooba");
    free(out);
    assert_int_equal(kubeconfig_base64_decode("Zm9vYg==", 8, &out, &len), 0);
    assert_string_equal((char *)out, "foob");
    free(out);
    assert_int_equal(kubeconfig_base64_decode("Zm9vYg", 6, &out, &len), 0); /* no padding */
    assert_string_equal((char *)out, "foob");
    free(out);
    assert_int_equal(kubeconfig_base64_decode("Zm9vY", 5, &out, &len), -EINVAL);
    assert_int_equal(kubeconfig_base64_decode("Zm9vYg=", 7, &out, &len), -EINVAL);
    assert_int_equal(kubeconfig_base64_decode("Zm9v=YmE", 8, &out, &len), -EINVAL);
    assert_int_equal(kubeconfig_base64_decode("Zm9v===", 7, &out, &len), -EINVAL);
    assert_int_equal(kubeconfig_base64_decode("Zm-v", 4, &out, &len), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_token_file_insecure_anonymous),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_user_errors),
        cmocka_unit_test(test_null_values_and_first_document),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
