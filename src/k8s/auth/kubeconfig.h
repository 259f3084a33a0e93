/* kubeconfig: the kubectl configuration file as a codec. YAML text in (parsed with libyaml),
 * the current context's cluster and user out, with relative paths resolved against the
 * file's directory and base64 data decoded. No I/O: the caller reads the file and later the
 * files it names. */
#ifndef K8S_AUTH_KUBECONFIG_H
#define K8S_AUTH_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kubeconfig_interactive {
    KUBECONFIG_INTERACTIVE_NEVER,
    KUBECONFIG_INTERACTIVE_IF_AVAILABLE,
    KUBECONFIG_INTERACTIVE_ALWAYS,
};

/* users[].user.exec: an ExecCredential plugin. */
struct kubeconfig_exec {
    char *api_version; /* "client.authentication.k8s.io/v1" or ".../v1beta1" */
    char *command;     /* a path with a '/' is resolved against the kubeconfig's directory;
                        * a bare name is looked up in PATH when run */
    char **args;       /* NULL-terminated, never NULL */
    char **env;        /* NULL-terminated "NAME=value" entries added to ours, never NULL */
    enum kubeconfig_interactive interactive_mode; /* never ALWAYS: that is rejected */
    bool provide_cluster_info;
    char *install_hint; /* or NULL */
};

/* A blob that is either inline data (decoded *-data field) or a file path (resolved). When
 * both are given, the data wins, as in client-go. */
struct kubeconfig_blob {
    char *file;    /* absolute, or relative to the process's directory if the kubeconfig path
                    * was; NULL when absent */
    uint8_t *data; /* NUL-terminated for convenience; NULL when absent */
    size_t len;
};

struct kubeconfig {
    char *path;    /* the kubeconfig file, as given */
    char *context; /* current-context */
    char *cluster_name;
    char *user_name; /* NULL when the context names no user (anonymous) */
    char *namespace; /* NULL when the context has none */

    /* clusters[].cluster */
    char *server; /* the URL as written */
    struct kubeconfig_blob ca;
    bool insecure_skip_tls_verify;
    char *tls_server_name; /* or NULL */

    /* users[].user; all absent for an anonymous context */
    char *token;      /* or NULL */
    char *token_file; /* or NULL; when set it wins over |token|, and is re-read */
    struct kubeconfig_blob client_cert;
    struct kubeconfig_blob client_key;
    struct kubeconfig_exec *exec; /* or NULL */
};

/* Parses |len| bytes of |yaml| read from |path| (used in messages and to resolve relative
 * paths). Returns 0 and a new kubeconfig in |*out| (free with kubeconfig_free), or -EINVAL
 * with one line in |err| naming the file and the field, e.g.
 *   kubeconfig /root/.kube/config: context "dev" names cluster "x" which is not defined in
 *   clusters
 * Unsupported features (auth-provider, basic auth, impersonation, proxy-url, exec
 * interactiveMode Always, exec v1alpha1) are errors, never silently ignored. Anchors and
 * aliases are rejected so the work stays linear in the input. */
int kubeconfig_parse(const char *yaml, size_t len, const char *path, struct kubeconfig **out,
                     char *err, size_t errlen);
void kubeconfig_free(struct kubeconfig *kc);

/* Decodes standard base64 (whitespace ignored, padding optional) into a new NUL-terminated
 * buffer. Returns 0 or -EINVAL. */
int kubeconfig_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);

#endif
