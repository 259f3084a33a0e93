/* error: the typed outcome of a Kubernetes API call, parsed from the v1 Status body the API
 * server returns with every error, so callers map failures to gRPC codes without reading
 * HTTP status codes or JSON themselves. */
#ifndef K8S_ERROR_H
#define K8S_ERROR_H

#include <jansson.h>
#include <stdbool.h>

enum k8s_error { /* what callers map to gRPC codes */
                 K8S_OK = 0,
                 K8S_ERR_NOT_FOUND,
                 K8S_ERR_ALREADY_EXISTS,
                 K8S_ERR_CONFLICT,
                 K8S_ERR_INVALID,
                 K8S_ERR_BAD_REQUEST,
                 K8S_ERR_FORBIDDEN,
                 K8S_ERR_UNAUTHORIZED,
                 K8S_ERR_TOO_MANY_REQUESTS,
                 K8S_ERR_GONE,
                 K8S_ERR_SERVER,
                 K8S_ERR_TIMEOUT,
                 K8S_ERR_UNAVAILABLE, /* connection/DNS/TLS failure */
                 K8S_ERR_CANCELLED,
                 K8S_ERR_PROTOCOL /* bad response */
};

struct k8s_result {
    enum k8s_error error;
    int http_status;     /* 0 when no response */
    const char *reason;  /* Status.reason, e.g. "AlreadyExists", or NULL */
    const char *message; /* Status.message or transport error text; never NULL on error */
    json_t *body;        /* parsed JSON body (the object for 2xx); borrowed for the callback's
                            duration (json_incref to keep) */
};

typedef void (*k8s_result_cb)(const struct k8s_result *res, void *data);

/* Returns a stable upper-case name ("NOT_FOUND"), for logs and tests. */
const char *k8s_error_name(enum k8s_error e);

/* Classifies a response: 2xx is K8S_OK; otherwise Status.reason (when |body| is a v1 Status
 * that carries a known one) decides, then the HTTP code. |body| may be NULL. */
enum k8s_error k8s_error_from_response(int http_status, const json_t *body);

/* Fills |res| for a response: error, http_status, and reason/message borrowed from |body|
 * (a v1 Status) or, when it has none, a static text naming the HTTP status. Does not take
 * ownership of |body|; res->body is set to it. */
void k8s_error_fill_result(struct k8s_result *res, int http_status, json_t *body);

/* True for failures a safe request may repeat: 429, 500, 502, 503, 504 and transport errors
 * (K8S_ERR_UNAVAILABLE). */
bool k8s_error_is_retryable(enum k8s_error e, int http_status);

#endif
