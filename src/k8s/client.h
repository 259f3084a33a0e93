/* client: the Kubernetes API client on the loop. It owns the credentials (k8s/auth), a
 * bounded keep-alive connection pool for ordinary calls, dedicated connections for
 * watches, per-call deadlines, retries with backoff, and the client metrics. */
#ifndef K8S_CLIENT_H
#define K8S_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "core/metrics.h"
#include "k8s/error.h"

struct k8s_client;
struct k8s_call;

/* Loads credentials (k8s_auth_new) per |cfg| (borrowed; it must outlive the client) and
 * registers the client metrics in |metrics| (may be NULL). Returns 0, or -EINVAL/-ENOENT
 * with one clear line in |err| naming the file and field. */
int k8s_client_new(uv_loop_t *loop, const struct config *cfg, struct metrics *metrics,
                   struct k8s_client **out, char *err, size_t errlen);
/* Cancels outstanding requests (their callbacks run with K8S_ERR_CANCELLED, from inside
 * this call), stops and frees informers, closes every handle; |done| (may be NULL) runs
 * when all are closed, then the client is freed. */
void k8s_client_close(struct k8s_client *c, void (*done)(void *data), void *data);
/* Where it connects, for the start-up log. */
const char *k8s_client_describe(const struct k8s_client *c);
/* The namespace of the credentials' context (kubeconfig context or service account). */
const char *k8s_client_namespace(const struct k8s_client *c);

/* ---- Below: the request layer the Jobs API and the informer are built on. ---- */

enum k8s_call_flags {
    /* Safe to repeat after an error that may have reached the server (GET, LIST, PATCH,
     * DELETE; a create with a deterministic name). */
    K8S_CALL_IDEMPOTENT = 1,
    /* A watch: the 2xx body streams to on_chunk; it gets its own connection, never
     * retried here (the informer decides). */
    K8S_CALL_STREAM = 2,
};

struct k8s_call_opts {
    const char *method; /* "GET", "POST", "PATCH", "DELETE" */
    const char *path;   /* path and query, already escaped (k8s/url.h) */
    const char *body;   /* NULL: none */
    size_t body_len;
    const char *content_type; /* for |body| */
    const char *verb;         /* metric label: "create", "get", "list", "watch", ... */
    const char *resource;     /* metric label: "jobs", "pods" */
    unsigned flags;           /* enum k8s_call_flags */
    uint64_t delay_ms;        /* wait this long before the first attempt */
    uint64_t timeout_ms;      /* 0: K8S_REQUEST_TIMEOUT_SECONDS for the whole call,
                               * retries included */
    /* STREAM only: 2xx body bytes as they arrive. Return 0, or a negative errno to end
     * the call (its callback then gets K8S_ERR_CANCELLED with |message| "stopped"). */
    int (*on_chunk)(const uint8_t *p, size_t n, void *data);
    /* STREAM only (may be NULL): the server answered 2xx and the stream is open. */
    void (*on_open)(void *data);
};

/* Starts a call; everything in |o| is copied. |cb| runs exactly once, never from inside
 * this function. Returns 0 (and the call in |*out| when |out| is set, valid until |cb|
 * runs or k8s_call_cancel), or -ESHUTDOWN when the client is closing. */
int k8s_client_submit(struct k8s_client *c, const struct k8s_call_opts *o, k8s_result_cb cb,
                      void *data, struct k8s_call **out);
/* Abandons a call without running its callback. */
void k8s_call_cancel(struct k8s_call *call);

/* Informers register so k8s_client_close can free them first. */
struct k8s_informer;
void k8s_client_add_informer(struct k8s_client *c, struct k8s_informer *inf);
void k8s_client_remove_informer(struct k8s_client *c, struct k8s_informer *inf);
uv_loop_t *k8s_client_loop(const struct k8s_client *c);
/* The metrics registry given to k8s_client_new, or NULL. */
struct metrics *k8s_client_metrics(const struct k8s_client *c);
/* Counts a watch restart in kubernetes_watch_restarts_total{reason}. */
void k8s_client_count_watch_restart(struct k8s_client *c, const char *reason);
/* The jobscheduler_cache_jobs and jobscheduler_cache_synced gauges (NULL without a
 * registry), registered once here and set by the jobs informer. */
struct metric *k8s_client_cache_jobs_gauge(const struct k8s_client *c);
struct metric *k8s_client_cache_synced_gauge(const struct k8s_client *c);

#endif
