/* config: table-driven environment configuration with strict validation. */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quantity.h"
#include "core/xalloc.h"

enum kind { K_PORT, K_INT, K_SIZE, K_BOOL, K_STR, K_PATH, K_LEVEL, K_FORMAT, K_QUANTITY, K_LIST };

struct var {
    const char *name;
    const char *def; /* NULL: unset by default */
    enum kind kind;
    long min, max; /* K_INT, K_SIZE */
    size_t offset; /* into struct config */
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct var vars[] = {
    {"GRPC_PORT", "50054", K_PORT, 1, 65535, OFF(grpc_port), "gRPC server port"},
    {"HTTP_PORT", "8080", K_PORT, 1, 65535, OFF(http_port),
     "Ops HTTP port: /healthz, /readyz, /metrics, /version"},
    {"K8S_NAMESPACE", "default", K_STR, 0, 0, OFF(k8s_namespace),
     "Default Kubernetes namespace for jobs"},
    {"IN_CLUSTER", "true", K_BOOL, 0, 0, OFF(in_cluster),
     "Use the in-cluster service account (false: use KUBECONFIG)"},
    {"KUBECONFIG", NULL, K_PATH, 0, 0, OFF(kubeconfig),
     "Kubeconfig used when IN_CLUSTER=false (default ~/.kube/config)"},
    {"K8S_SERVICEACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount", K_PATH, 0, 0,
     OFF(serviceaccount_dir), "Service-account token, ca.crt and namespace (in-cluster)"},
    {"LOG_LEVEL", "info", K_LEVEL, 0, 0, OFF(log_level), "trace, debug, info, warn or error"},
    {"LOG_FORMAT", "json", K_FORMAT, 0, 0, OFF(log_format), "json (one object per line) or text"},
    {"SHUTDOWN_GRACE_SECONDS", "20", K_INT, 0, 3600, OFF(shutdown_grace_seconds),
     "How long in-flight calls may drain after SIGTERM"},
    {"HTTP_IDLE_TIMEOUT_SECONDS", "30", K_INT, 1, 3600, OFF(http_idle_timeout_seconds),
     "Close ops HTTP connections idle (or sending a request) this long"},
    {"GRPC_TLS_CERT_FILE", NULL, K_PATH, 0, 0, OFF(grpc_tls_cert_file),
     "PEM certificate chain: serve gRPC over TLS (with GRPC_TLS_KEY_FILE)"},
    {"GRPC_TLS_KEY_FILE", NULL, K_PATH, 0, 0, OFF(grpc_tls_key_file), "PEM private key"},
    {"GRPC_TLS_CLIENT_CA_FILE", NULL, K_PATH, 0, 0, OFF(grpc_tls_client_ca_file),
     "PEM CA bundle: require client certificates (mutual TLS)"},
    {"GRPC_MAX_RECV_MSG_BYTES", "4194304", K_SIZE, 1024, 64L << 20, OFF(grpc_max_recv_msg_bytes),
     "Largest request message accepted"},
    {"GRPC_MAX_CONNECTIONS", "10000", K_INT, 1, 1000000, OFF(grpc_max_connections),
     "Most concurrent gRPC connections"},
    {"GRPC_MAX_CONCURRENT_STREAMS", "100", K_INT, 1, 10000, OFF(grpc_max_concurrent_streams),
     "Most concurrent streams per gRPC connection"},
    {"GRPC_IDLE_TIMEOUT_SECONDS", "300", K_INT, 1, 86400, OFF(grpc_idle_timeout_seconds),
     "Close gRPC connections idle this long"},
    {"K8S_MAX_CONNECTIONS", "16", K_INT, 1, 256, OFF(k8s_max_connections),
     "Most connections to the Kubernetes API server"},
    {"K8S_REQUEST_TIMEOUT_SECONDS", "30", K_INT, 1, 600, OFF(k8s_request_timeout_seconds),
     "Timeout for one Kubernetes API request"},
    {"TIMER_IMAGE", "timer-service:latest", K_STR, 0, 0, OFF(timer_image),
     "Default timer job container image"},
    {"TIMER_MAX_DURATION_SECONDS", "86400", K_INT, 1, 31536000, OFF(timer_max_duration_seconds),
     "Largest timer_job.duration_seconds accepted"},
    {"DEFAULT_CPU_REQUEST", "100m", K_QUANTITY, 0, 0, OFF(default_cpu_request),
     "Default CPU request for jobs"},
    {"DEFAULT_MEMORY_REQUEST", "64Mi", K_QUANTITY, 0, 0, OFF(default_memory_request),
     "Default memory request for jobs"},
    {"DEFAULT_CPU_LIMIT", NULL, K_QUANTITY, 0, 0, OFF(default_cpu_limit),
     "Default CPU limit for jobs (unset: none)"},
    {"DEFAULT_MEMORY_LIMIT", NULL, K_QUANTITY, 0, 0, OFF(default_memory_limit),
     "Default memory limit for jobs (unset: none)"},
    {"JOB_TTL_SECONDS", "3600", K_INT, 0, 31536000, OFF(job_ttl_seconds),
     "ttlSecondsAfterFinished of created Jobs (0: keep)"},
    {"JOB_BACKOFF_LIMIT", "0", K_INT, 0, 100, OFF(job_backoff_limit),
     "backoffLimit of created Jobs"},
    {"JOB_DEADLINE_MARGIN_SECONDS", "300", K_INT, 0, 86400, OFF(job_deadline_margin_seconds),
     "activeDeadlineSeconds = duration + this margin"},
    {"IMAGE_ALLOWLIST", NULL, K_LIST, 0, 0, OFF(image_allowlist),
     "Comma-separated image prefixes jobs may use (unset: any)"},
    {"ALLOWED_NAMESPACES", NULL, K_LIST, 0, 0, OFF(allowed_namespaces),
     "Comma-separated namespaces jobs may use (unset: K8S_NAMESPACE only)"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int fail(char *err, size_t errlen, const struct var *v, const char *value,
                const char *allowed)
{
    snprintf(err, errlen, "invalid %s=\"%.100s\": %s", v->name, value, allowed);
    return -EINVAL;
}

static int parse_long(const char *s, long *out)
{
    /* strtol alone would also take " 80" and "+80"; only plain decimal digits are a number. */
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -EINVAL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Splits "a, b,c" into a NULL-terminated array of trimmed, non-empty items. */
static char **split_list(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **items = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == ',' || *p == '\0') {
            const char *a = start, *b = p;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            if (b > a)
                items[k++] = xmemdup0(a, (size_t)(b - a));
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    if (k == 0) {
        free(items);
        return NULL;
    }
    return items;
}

static int parse_number(const struct var *v, const char *value, void *field, char *err,
                        size_t errlen)
{
    long n;
    char allowed[96];
    snprintf(allowed, sizeof(allowed), "must be an integer from %ld to %ld", v->min, v->max);
    if (v->kind == K_PORT)
        snprintf(allowed, sizeof(allowed), "must be a TCP port number from 1 to 65535");
    if (parse_long(value, &n) || n < v->min || n > v->max)
        return fail(err, errlen, v, value, allowed);
    if (v->kind == K_SIZE)
        *(size_t *)field = (size_t)n;
    else
        *(int *)field = (int)n;
    return 0;
}

static int parse_var(const struct var *v, const char *value, struct config *cfg, char *err,
                     size_t errlen)
{
    void *field = (char *)cfg + v->offset;
    switch (v->kind) {
    case K_PORT:
    case K_INT:
    case K_SIZE:
        return parse_number(v, value, field, err, errlen);
    case K_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            *(bool *)field = false;
        else
            return fail(err, errlen, v, value, "must be true or false");
        return 0;
    case K_LEVEL:
        if (log_level_parse(value, field) != 0)
            return fail(err, errlen, v, value, "must be one of trace, debug, info, warn, error");
        return 0;
    case K_FORMAT:
        if (strcmp(value, "json") == 0)
            *(enum log_format *)field = LOG_FORMAT_JSON;
        else if (strcmp(value, "text") == 0)
            *(enum log_format *)field = LOG_FORMAT_TEXT;
        else
            return fail(err, errlen, v, value, "must be json or text");
        return 0;
    case K_QUANTITY:
        if (!quantity_is_valid(value))
            return fail(err, errlen, v, value,
                        "must be a Kubernetes quantity such as 100m, 0.5, 64Mi or 1G");
        *(char **)field = xstrdup(value);
        return 0;
    case K_STR:
    case K_PATH:
        if (!*value)
            return fail(err, errlen, v, value, "must not be empty");
        *(char **)field = xstrdup(value);
        return 0;
    case K_LIST:
        *(char ***)field = split_list(value);
        return 0;
    }
    return 0;
}

static bool valid_namespace(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static bool list_contains(char **items, const char *s)
{
    for (; *items; items++)
        if (strcmp(*items, s) == 0)
            return true;
    return false;
}

/* Checks that span several variables, after each one parsed on its own. */
static int check_combined(struct config *cfg, const char *(*get)(const char *), char *err,
                          size_t errlen)
{
    if (!valid_namespace(cfg->k8s_namespace)) {
        snprintf(err, errlen, "invalid K8S_NAMESPACE=\"%.100s\": must be a DNS-1123 label",
                 cfg->k8s_namespace);
        return -EINVAL;
    }
    for (char **ns = cfg->allowed_namespaces; ns && *ns; ns++) {
        if (!valid_namespace(*ns)) {
            snprintf(err, errlen,
                     "invalid ALLOWED_NAMESPACES=\"%.100s\": \"%.64s\" is not a DNS-1123 label",
                     get("ALLOWED_NAMESPACES"), *ns);
            return -EINVAL;
        }
    }
    if (!cfg->allowed_namespaces) {
        cfg->allowed_namespaces = xcalloc(2, sizeof(char *));
        cfg->allowed_namespaces[0] = xstrdup(cfg->k8s_namespace);
    } else if (!list_contains(cfg->allowed_namespaces, cfg->k8s_namespace)) {
        snprintf(err, errlen,
                 "invalid K8S_NAMESPACE=\"%.64s\": must be one of ALLOWED_NAMESPACES=\"%.100s\"",
                 cfg->k8s_namespace, get("ALLOWED_NAMESPACES"));
        return -EINVAL;
    }
    if (!cfg->grpc_tls_cert_file != !cfg->grpc_tls_key_file) {
        snprintf(err, errlen, "invalid GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE: set both or neither");
        return -EINVAL;
    }
    if (cfg->grpc_tls_client_ca_file && !cfg->grpc_tls_cert_file) {
        snprintf(err, errlen,
                 "invalid GRPC_TLS_CLIENT_CA_FILE: needs GRPC_TLS_CERT_FILE and "
                 "GRPC_TLS_KEY_FILE");
        return -EINVAL;
    }
    if (cfg->grpc_port == cfg->http_port) {
        snprintf(err, errlen, "invalid HTTP_PORT=\"%d\": must differ from GRPC_PORT",
                 cfg->http_port);
        return -EINVAL;
    }
    if (!cfg->kubeconfig) {
        const char *home = get("HOME");
        cfg->kubeconfig = xasprintf("%s/.kube/config", home && *home ? home : "");
    }
    return 0;
}

int config_load(struct config *cfg, const char *(*get)(const char *name), char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NVARS; i++) {
        const char *value = get(vars[i].name);
        if (!value || !*value)
            value = vars[i].def; /* unset or empty: the default (or unset, as KUBECONFIG="") */
        if (!value)
            continue;
        if (parse_var(&vars[i], value, cfg, err, errlen) != 0) {
            config_deinit(cfg);
            return -EINVAL;
        }
    }
    if (check_combined(cfg, get, err, errlen) != 0) {
        config_deinit(cfg);
        return -EINVAL;
    }
    return 0;
}

static void free_list(char **items)
{
    for (char **p = items; p && *p; p++)
        free(*p);
    free(items);
}

void config_deinit(struct config *cfg)
{
    for (size_t i = 0; i < NVARS; i++) {
        void *field = (char *)cfg + vars[i].offset;
        if (vars[i].kind == K_LIST)
            free_list(*(char ***)field);
        else if (vars[i].kind == K_STR || vars[i].kind == K_PATH || vars[i].kind == K_QUANTITY)
            free(*(char **)field);
    }
    memset(cfg, 0, sizeof(*cfg));
}

const char *const *config_namespaces(const struct config *cfg)
{
    return (const char *const *)cfg->allowed_namespaces;
}

void config_print_help(FILE *out)
{
    fprintf(out,
            "Usage: jobscheduler [version | version-full | --help | --config-names]\n\n"
            "Runs the JobScheduler gRPC service. Configuration comes from the environment:\n\n");
    for (size_t i = 0; i < NVARS; i++)
        fprintf(out, "  %-28s %-46s default: %s\n", vars[i].name, vars[i].help,
                vars[i].def ? vars[i].def : "(unset)");
}

void config_print_names(FILE *out)
{
    for (size_t i = 0; i < NVARS; i++)
        fprintf(out, "%s\n", vars[i].name);
}
