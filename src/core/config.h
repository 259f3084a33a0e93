/* config: the service's settings, read once from the environment at start-up.
 * One table lists every variable with its default and the values it allows; loading,
 * --help and the list of accepted names all come from that table. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/log.h"

struct config {
    int grpc_port;
    int http_port;
    char *k8s_namespace;
    bool in_cluster;
    char *kubeconfig;         /* resolved: KUBECONFIG or ~/.kube/config */
    char *serviceaccount_dir; /* token, ca.crt, namespace */
    enum log_level log_level;
    enum log_format log_format;
    int shutdown_grace_seconds;
    int http_idle_timeout_seconds;

    /* gRPC server */
    char *grpc_tls_cert_file; /* NULL: plaintext h2c */
    char *grpc_tls_key_file;
    char *grpc_tls_client_ca_file; /* set: mutual TLS */
    size_t grpc_max_recv_msg_bytes;
    int grpc_max_connections;
    int grpc_max_concurrent_streams;
    int grpc_idle_timeout_seconds;

    /* Kubernetes client */
    int k8s_max_connections;
    int k8s_request_timeout_seconds;

    /* Jobs */
    char *timer_image;
    int timer_max_duration_seconds;
    char *default_cpu_request;
    char *default_memory_request;
    char *default_cpu_limit;    /* NULL: no limit */
    char *default_memory_limit; /* NULL: no limit */
    int job_ttl_seconds;        /* 0: Jobs are kept until deleted */
    int job_backoff_limit;
    int job_deadline_margin_seconds;
    char **image_allowlist;    /* NULL-terminated prefixes; NULL: any image */
    char **allowed_namespaces; /* NULL-terminated; unset: {k8s_namespace} */
};

/* Reads every variable through |get| (getenv in production). On error returns -EINVAL and
 * writes one line naming the variable, the value and what is allowed into |err|. On success
 * the caller releases the config with config_deinit. */
int config_load(struct config *cfg, const char *(*get)(const char *name), char *err, size_t errlen);
void config_deinit(struct config *cfg);

/* Prints every variable with its default and description. */
void config_print_help(FILE *out);
/* Prints the names of every accepted variable, one per line. */
void config_print_names(FILE *out);

/* The namespaces this instance serves (ALLOWED_NAMESPACES, or K8S_NAMESPACE alone), a
 * NULL-terminated array owned by |cfg|. K8S_NAMESPACE is always among them. */
const char *const *config_namespaces(const struct config *cfg);

#endif
