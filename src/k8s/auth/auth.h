/* k8s_auth: where the Kubernetes API server is and how to authenticate to it — in-cluster
 * service account or kubeconfig (token, token file, client certificate, exec plugin) — and
 * keeping those credentials fresh: token files are re-read every minute and after a 401,
 * exec plugins re-run before their credential expires, and CA / client certificate / key
 * files are polled (stat, which follows the `..data` symlink swap of projected volumes) and
 * turned into a new TLS config for new connections. */
#ifndef K8S_AUTH_AUTH_H
#define K8S_AUTH_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "tls/tls.h"

struct k8s_auth;

/* Intervals, all in milliseconds; the defaults suit production, tests shorten them. */
struct k8s_auth_tuning {
    uint64_t token_reread_ms; /* token file re-read period (client-go: 60 s) */
    uint64_t file_poll_ms;    /* CA / cert / key stat period (default 10 s) */
    uint64_t exec_timeout_ms; /* exec plugin run limit (default 60 s) */
};

/* Loads in-cluster (cfg->in_cluster: KUBERNETES_SERVICE_HOST/PORT from the environment and
 * cfg->serviceaccount_dir) or kubeconfig (cfg->kubeconfig) credentials, reading the files
 * they name now (start-up, before the loop runs), and starts the rotation timers on |loop|.
 * Returns 0 and the auth in |*out|, or -EINVAL / -ENOENT with one line in |err| naming the
 * file and the field. An exec plugin is not run here but on the first k8s_auth_get_token. */
int k8s_auth_new(uv_loop_t *loop, const struct config *cfg, struct k8s_auth **out, char *err,
                 size_t errlen);
/* Stops the timers, cancels a running plugin (pending token callbacks run with
 * -ECANCELED), and frees |a| after every handle and file request has finished; |done| (may
 * be NULL) runs then. */
void k8s_auth_close(struct k8s_auth *a, void (*done)(void *data), void *data);
void k8s_auth_set_tuning(struct k8s_auth *a, const struct k8s_auth_tuning *t);

/* The server's host without brackets ("127.0.0.1", "::1", "kubernetes.default.svc"); the
 * caller brackets an IPv6 address for the Host header. */
const char *k8s_auth_host(const struct k8s_auth *a);
int k8s_auth_port(const struct k8s_auth *a);
/* true for an https:// server (and always in-cluster), false for http://. */
bool k8s_auth_use_tls(const struct k8s_auth *a);
/* The name for SNI and certificate verification: tls-server-name, else the host. */
const char *k8s_auth_server_name(const struct k8s_auth *a);
/* The context's (or the service account's) namespace, or NULL. */
const char *k8s_auth_namespace(const struct k8s_auth *a);
/* e.g. "kubeconfig /x/config context kube-sim" or "in-cluster service account
 * /var/run/secrets/kubernetes.io/serviceaccount", for logs. */
const char *k8s_auth_describe(const struct k8s_auth *a);

/* The current TLS client config (ALPN "http/1.1"): a new reference the caller unrefs, or
 * NULL for a plain http:// server. It changes when the CA / certificate files change or an
 * exec plugin returns a new client certificate, so take it per new connection, and call
 * k8s_auth_get_token first: an exec plugin may supply the client certificate. */
struct tls_config *k8s_auth_tls_config(struct k8s_auth *a);

/* |status| 0: |authorization| is the Authorization header value ("Bearer x"), or NULL for
 * certificate-only or anonymous auth. Negative errno (-EIO, -ETIMEDOUT, -EINVAL, -ENOENT,
 * -ECANCELED on close): |err| says why. Both strings are borrowed for the call. */
typedef void (*k8s_auth_token_cb)(int status, const char *authorization, const char *err,
                                  void *data);
/* Gets the credential for one request. The callback ALWAYS runs later from the loop, never
 * before this returns (so callers need not guard against re-entrancy): on the next loop
 * iteration when the credential is cached, or when a file read or exec plugin finishes.
 * Concurrent requests share one plugin run. Returns 0, or -ECANCELED when closing (then |cb|
 * never runs). */
int k8s_auth_get_token(struct k8s_auth *a, k8s_auth_token_cb cb, void *data);
/* Withdraws pending k8s_auth_get_token calls with this |cb| and |data|; their callbacks will
 * not run. For a request abandoned while it waits for its credential. */
void k8s_auth_cancel_token(struct k8s_auth *a, k8s_auth_token_cb cb, void *data);
/* After a 401: drops the cached credential so the next get re-reads the token file or
 * re-runs the exec plugin. A static kubeconfig token cannot be refreshed and stays. */
void k8s_auth_invalidate(struct k8s_auth *a);

#endif
