/* exec_credential: client-go's ExecCredential plugin protocol. The codec half builds the
 * KUBERNETES_EXEC_INFO input and parses the plugin's JSON output; the run half starts the
 * plugin with uv_spawn, captures its stdout with a bound, logs its stderr and enforces a
 * timeout, all on the loop. */
#ifndef K8S_AUTH_EXEC_CREDENTIAL_H
#define K8S_AUTH_EXEC_CREDENTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "k8s/auth/kubeconfig.h"

/* The most stdout a plugin may print; more fails the run. */
#define EXEC_CREDENTIAL_OUTPUT_MAX (1024 * 1024)

struct exec_credential {
    char *token;           /* status.token, or NULL */
    char *client_cert_pem; /* status.clientCertificateData, or NULL */
    char *client_key_pem;  /* status.clientKeyData; set exactly when client_cert_pem is */
    int64_t expiry_ms;     /* status.expirationTimestamp in Unix ms; 0: none given */
};

/* What the plugin is told about the cluster when provideClusterInfo is set. */
struct exec_credential_cluster {
    const char *server;
    const char *tls_server_name; /* or NULL */
    bool insecure_skip_tls_verify;
    const uint8_t *ca_pem; /* or NULL */
    size_t ca_pem_len;
};

/* Parses the plugin's output. |api_version| is the one the kubeconfig asked for; the output
 * must carry the same. Returns 0 and fills |cred| (release with exec_credential_deinit), or
 * -EINVAL with one line in |err|. */
int exec_credential_parse(const char *json, size_t len, const char *api_version,
                          struct exec_credential *cred, char *err, size_t errlen);
void exec_credential_deinit(struct exec_credential *cred);

/* Returns the KUBERNETES_EXEC_INFO value (a new string the caller frees): an ExecCredential
 * with spec.interactive false and, when |cluster| is not NULL, spec.cluster. */
char *exec_credential_info(const char *api_version, const struct exec_credential_cluster *cluster);

struct exec_credential_run;

/* Called once per run, from the loop, after the plugin's process and pipes are closed.
 * |status| is 0 with |cred| set (borrowed for the call), or -ETIMEDOUT, -EIO (non-zero exit or
 * a signal), -EMSGSIZE (too much output), -EINVAL (bad output) or -ECANCELED with |err| set
 * (borrowed). */
typedef void (*exec_credential_run_cb)(int status, const struct exec_credential *cred,
                                       const char *err, void *data);

/* Starts |x|'s command with its args, our environment plus its env plus
 * KUBERNETES_EXEC_INFO=|exec_info|, stdin from /dev/null, stdout captured, stderr logged line
 * by line. Kills it after |timeout_ms|. Returns 0 and, when |out| is not NULL, the run in
 * |*out| (valid until |cb| runs); or a negative errno (-ENOENT when the command does not
 * exist) with |err| set, and then |cb| never runs. */
int exec_credential_run_start(uv_loop_t *loop, const struct kubeconfig_exec *x,
                              const char *exec_info, uint64_t timeout_ms, exec_credential_run_cb cb,
                              void *data, struct exec_credential_run **out, char *err,
                              size_t errlen);
/* Kills the plugin; its callback then runs with -ECANCELED. */
void exec_credential_run_cancel(struct exec_credential_run *run);

#endif
