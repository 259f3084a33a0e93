/* ops: routing and bodies of the operations endpoints. */
#include "admin/ops.h"

#include <stdlib.h>
#include <string.h>

#include "admin/http_server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/version.h"
#include "core/xalloc.h"

struct ops {
    struct http_server *http;
    struct metrics *metrics;
    ops_ready_cb ready;
    void *ready_data;
    struct metric *requests[4]; /* by endpoint: healthz, readyz, metrics, version */
    void (*done)(void *data);
    void *done_data;
};

#define JSON "application/json"

static void serve_healthz(struct ops *ops, struct http_response *resp)
{
    (void)ops;
    resp->content_type = JSON;
    buf_append_str(&resp->body, "{\"status\":\"ok\"}\n");
}

static void serve_readyz(struct ops *ops, struct http_response *resp)
{
    const char *reason = NULL;
    resp->content_type = JSON;
    if (ops->ready(ops->ready_data, &reason)) {
        buf_append_str(&resp->body, "{\"status\":\"ready\"}\n");
        return;
    }
    resp->status = 503;
    buf_append_str(&resp->body, "{\"status\":\"not ready\",\"reason\":\"");
    log_json_escape(&resp->body, reason ? reason : "unknown", strlen(reason ? reason : "unknown"));
    buf_append_str(&resp->body, "\"}\n");
}

static void serve_metrics(struct ops *ops, struct http_response *resp)
{
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (metrics_render(ops->metrics, &resp->body) != 0) {
        log_error("admin", "metrics exceed the response cap", LOG_INT("cap", resp->body.max));
        buf_reset(&resp->body);
        resp->status = 500;
        resp->content_type = "text/plain; charset=utf-8";
        buf_append_str(&resp->body, "metrics too large\n");
    }
}

static void serve_version(struct ops *ops, struct http_response *resp)
{
    (void)ops;
    resp->content_type = JSON;
    version_to_json(&resp->body);
    buf_append_str(&resp->body, "\n");
}

struct route {
    const char *path;
    void (*serve)(struct ops *ops, struct http_response *resp);
};

static const struct route routes[] = {
    {"/healthz", serve_healthz},
    {"/readyz", serve_readyz},
    {"/metrics", serve_metrics},
    {"/version", serve_version},
};

/* Compares the path part of |target| (before any query string) with |path|. */
static bool path_is(const char *target, const char *path)
{
    size_t n = strlen(path);
    return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

static void handle(const struct http_request *req, struct http_response *resp, void *data)
{
    struct ops *ops = data;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!path_is(req->target, routes[i].path))
            continue;
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
            resp->status = 405;
            resp->allow = "GET, HEAD";
            buf_append_str(&resp->body, "method not allowed\n");
            return;
        }
        metric_add(ops->requests[i], 1);
        routes[i].serve(ops, resp);
        return;
    }
    resp->status = 404;
    buf_append_str(&resp->body, "not found\n");
}

struct ops *ops_new(uv_loop_t *loop, struct metrics *metrics, uint64_t idle_timeout_ms,
                    ops_ready_cb ready, void *data)
{
    static const char *const labels[] = {"path", NULL};
    struct ops *ops = xcalloc(1, sizeof(*ops));
    ops->metrics = metrics;
    ops->ready = ready;
    ops->ready_data = data;
    struct metric_family *f =
        metrics_counter(metrics, "jobscheduler_http_requests_total",
                        "Requests served by the ops HTTP endpoints, by path.", labels);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *values[] = {routes[i].path};
        ops->requests[i] = metric_family_child(f, values);
    }
    struct http_server_limits limits = {
        .max_connections = 256,
        .max_requests_per_connection = 1000,
        .idle_timeout_ms = idle_timeout_ms,
        .max_response_bytes = 8u << 20,
    };
    ops->http = http_server_new(loop, &limits, handle, ops);
    return ops;
}

int ops_listen(struct ops *ops, int port)
{
    return http_server_listen(ops->http, port);
}

static void on_http_closed(void *data)
{
    struct ops *ops = data;
    void (*done)(void *) = ops->done;
    void *done_data = ops->done_data;
    free(ops);
    if (done)
        done(done_data);
}

void ops_close(struct ops *ops, void (*done)(void *data), void *data)
{
    ops->done = done;
    ops->done_data = data;
    http_server_close(ops->http, on_http_closed, ops);
}
