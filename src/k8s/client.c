/* client: calls (one per API request, retried across attempts), the connection pool and
 * the teardown that cancels everything. A call's life: WAITING (delay or backoff) ->
 * TOKEN (credentials) -> QUEUED (for a pooled or its own connection) -> SENT -> DONE. */
#include "k8s/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/xalloc.h"
#include "k8s/auth/auth.h"
#include "k8s/backoff.h"
#include "k8s/conn.h"
#include "k8s/http.h"
#include "k8s/informer.h"
#include "tls/tls.h"

/* A response body over this is rejected: list pages are bounded by |limit|, and one object
 * is at most ~1.5 MiB in etcd. */
#define CLIENT_MAX_BODY (64u * 1024 * 1024)
/* Request head (path, headers) on top of the body. */
#define CLIENT_MAX_HEAD (64u * 1024)

enum call_state { CALL_WAITING, CALL_TOKEN, CALL_QUEUED, CALL_SENT, CALL_DONE };

struct k8s_call {
    struct k8s_client *c;
    struct k8s_call *prev, *next;   /* every live call of the client */
    struct k8s_call *qprev, *qnext; /* the queue waiting for a pooled connection */
    enum call_state state;
    char *method, *path, *body, *content_type, *verb, *resource;
    size_t body_len;
    unsigned flags;
    int (*on_chunk)(const uint8_t *p, size_t n, void *data);
    void (*on_open)(void *data);
    k8s_result_cb cb;
    void *data;
    uint64_t timeout_ms, deadline_ms, attempt_ms;
    int attempts;
    bool auth_retried;
    bool token_pending; /* k8s_auth_get_token has not called back yet */
    bool timer_closed;
    bool streaming; /* a STREAM call got its 2xx headers */
    bool stopped;   /* on_chunk asked to end the stream */
    bool silent;    /* cancelled by its owner: the callback never runs */
    char *authorization;
    struct k8s_conn *conn;
    struct buf resp;
    int status;
    int retry_after;
    struct k8s_backoff backoff;
    uv_timer_t timer;
    char msg[320];
};

struct k8s_client {
    uv_loop_t *loop;
    const struct config *cfg;
    struct metrics *metrics;
    struct k8s_auth *auth;
    char *host_header;
    char *describe;
    struct k8s_conn **pool;
    size_t npool, max_pool;
    struct k8s_call *calls;
    struct k8s_call *qhead, *qtail;
    size_t qlen;
    struct k8s_informer **informers;
    size_t ninformers;
    size_t live_calls, live_conns;
    bool closing, auth_closed;
    void (*done)(void *data);
    void *done_data;
    struct metric_family *m_requests, *m_duration, *m_restarts;
    struct metric *m_cache_jobs, *m_cache_synced;
};

static void attempt_begin(struct k8s_call *call);
static void attempt_failed(struct k8s_call *call, enum k8s_error e, const char *msg, bool sent);
static void pump(struct k8s_client *c);
static void on_call_timer(uv_timer_t *t);
static void on_token(int status, const char *authorization, const char *err, void *data);

/* ---- metrics ---- */

static void register_metrics(struct k8s_client *c)
{
    static const char *const req_labels[] = {"verb", "resource", "code", NULL};
    static const char *const dur_labels[] = {"verb", "resource", NULL};
    static const char *const restart_labels[] = {"reason", NULL};

    if (!c->metrics)
        return;
    c->m_requests = metrics_counter(c->metrics, "kubernetes_client_requests_total",
                                    "Kubernetes API requests by verb, resource and HTTP code "
                                    "(<error> when no response arrived).",
                                    req_labels);
    c->m_duration = metrics_histogram(c->metrics, "kubernetes_client_request_duration_seconds",
                                      "Kubernetes API request latency per attempt.", dur_labels,
                                      metrics_default_buckets, metrics_default_nbuckets);
    c->m_restarts = metrics_counter(c->metrics, "kubernetes_watch_restarts_total",
                                    "Watch streams restarted, by reason.", restart_labels);
    c->m_cache_jobs = metric_family_child(metrics_gauge(c->metrics, "jobscheduler_cache_jobs",
                                                        "Jobs held in the informer cache.", NULL),
                                          NULL);
    c->m_cache_synced = metric_family_child(
        metrics_gauge(c->metrics, "jobscheduler_cache_synced",
                      "1 when the job cache has completed its list and is watching.", NULL),
        NULL);
}

static void count_attempt(struct k8s_call *call, int status)
{
    struct k8s_client *c = call->c;
    char code[16];
    const char *req_values[] = {call->verb, call->resource, code, NULL};
    const char *dur_values[] = {call->verb, call->resource, NULL};

    if (!c->m_requests)
        return;
    if (status > 0)
        snprintf(code, sizeof(code), "%d", status);
    else
        snprintf(code, sizeof(code), "<error>");
    metric_add(metric_family_child(c->m_requests, req_values), 1);
    metric_observe(metric_family_child(c->m_duration, dur_values),
                   (double)(uv_now(c->loop) - call->attempt_ms) / 1000.0);
}

void k8s_client_count_watch_restart(struct k8s_client *c, const char *reason)
{
    const char *values[] = {reason, NULL};

    if (c->m_restarts)
        metric_add(metric_family_child(c->m_restarts, values), 1);
}

struct metric *k8s_client_cache_jobs_gauge(const struct k8s_client *c)
{
    return c->m_cache_jobs;
}

struct metric *k8s_client_cache_synced_gauge(const struct k8s_client *c)
{
    return c->m_cache_synced;
}

uv_loop_t *k8s_client_loop(const struct k8s_client *c)
{
    return c->loop;
}

struct metrics *k8s_client_metrics(const struct k8s_client *c)
{
    return c->metrics;
}

/* ---- teardown bookkeeping ---- */

static void maybe_finish_close(struct k8s_client *c)
{
    void (*done)(void *) = c->done;
    void *done_data = c->done_data;

    if (!c->closing || c->live_calls > 0 || c->live_conns > 0 || !c->auth_closed)
        return;
    free(c->pool);
    free(c->informers);
    free(c->host_header);
    free(c->describe);
    free(c);
    if (done)
        done(done_data);
}

static void call_free_if_unused(struct k8s_call *call)
{
    struct k8s_client *c = call->c;

    if (!call->timer_closed || call->token_pending)
        return;
    free(call->method);
    free(call->path);
    free(call->body);
    free(call->content_type);
    free(call->verb);
    free(call->resource);
    free(call->authorization);
    buf_deinit(&call->resp);
    free(call);
    c->live_calls--;
    maybe_finish_close(c);
}

static void on_call_timer_closed(uv_handle_t *h)
{
    struct k8s_call *call = h->data;

    call->timer_closed = true;
    call_free_if_unused(call);
}

/* ---- the queue of calls waiting for a pooled connection ---- */

static void queue_push(struct k8s_client *c, struct k8s_call *call)
{
    call->qnext = NULL;
    call->qprev = c->qtail;
    if (c->qtail)
        c->qtail->qnext = call;
    else
        c->qhead = call;
    c->qtail = call;
    c->qlen++;
}

static void queue_remove(struct k8s_client *c, struct k8s_call *call)
{
    if (call->qprev)
        call->qprev->qnext = call->qnext;
    else if (c->qhead == call)
        c->qhead = call->qnext;
    else
        return; /* not queued */
    if (call->qnext)
        call->qnext->qprev = call->qprev;
    else
        c->qtail = call->qprev;
    call->qnext = call->qprev = NULL;
    c->qlen--;
}

/* ---- finishing a call ---- */

static void finish(struct k8s_call *call, const struct k8s_result *res)
{
    struct k8s_client *c = call->c;

    if (call->state == CALL_DONE)
        return;
    if (call->token_pending) {
        k8s_auth_cancel_token(c->auth, on_token, call);
        call->token_pending = false;
    }
    call->state = CALL_DONE;
    queue_remove(c, call);
    if (call->conn) {
        /* An exchange cut short leaves the connection unusable. */
        k8s_conn_set_user(call->conn, NULL);
        k8s_conn_close(call->conn);
        call->conn = NULL;
    }
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    uv_close((uv_handle_t *)&call->timer, on_call_timer_closed);
    if (!call->silent)
        call->cb(res, call->data);
}

static void finish_error(struct k8s_call *call, enum k8s_error e, int status, const char *msg)
{
    struct k8s_result res = {.error = e, .http_status = status, .message = msg};

    finish(call, &res);
}

void k8s_call_cancel(struct k8s_call *call)
{
    call->silent = true;
    finish_error(call, K8S_ERR_CANCELLED, 0, "cancelled");
}

/* ---- retries ---- */

static bool may_retry(const struct k8s_call *call, bool reached_server)
{
    if (call->flags & K8S_CALL_STREAM)
        return false;
    return !reached_server || (call->flags & K8S_CALL_IDEMPOTENT);
}

/* Schedules another attempt after backoff (at least |retry_after_s| when >= 0), or
 * finishes with |res| when that would pass the call's deadline. */
static void retry_or_finish(struct k8s_call *call, const struct k8s_result *res, int retry_after_s)
{
    uint64_t now = uv_now(call->c->loop);
    uint64_t wait = k8s_backoff_next(&call->backoff, now, rand_unit());

    if (retry_after_s >= 0 && (uint64_t)retry_after_s * 1000 > wait)
        wait = (uint64_t)retry_after_s * 1000;
    if (call->c->closing || now + wait >= call->deadline_ms) {
        finish(call, res);
        return;
    }
    log_debug("k8s", "retrying request", LOG_STR("verb", call->verb), LOG_STR("path", call->path),
              LOG_INT("attempt", call->attempts), LOG_INT("status", res->http_status),
              LOG_STR("error", k8s_error_name(res->error)), LOG_INT("wait_ms", (long long)wait));
    call->state = CALL_WAITING;
    uv_timer_start(&call->timer, on_call_timer, wait, 0);
}

static void attempt_failed(struct k8s_call *call, enum k8s_error e, const char *msg, bool sent)
{
    struct k8s_result res = {.error = e, .message = msg};

    count_attempt(call, 0);
    if (call->stopped) {
        finish_error(call, K8S_ERR_CANCELLED, 0, "stopped");
        return;
    }
    if (e == K8S_ERR_UNAVAILABLE && may_retry(call, sent)) {
        snprintf(call->msg, sizeof(call->msg), "%s", msg);
        res.message = call->msg;
        retry_or_finish(call, &res, -1);
        return;
    }
    finish(call, &res);
}

/* ---- the response ---- */

static int sink_headers(int status, int retry_after, void *data)
{
    struct k8s_call *call = data;

    call->status = status;
    call->retry_after = retry_after;
    call->streaming = (call->flags & K8S_CALL_STREAM) && status >= 200 && status < 300;
    if (call->streaming && call->on_open)
        call->on_open(call->data);
    return 0;
}

static int sink_body(const uint8_t *p, size_t n, void *data)
{
    struct k8s_call *call = data;

    if (call->streaming) {
        if (call->on_chunk(p, n, call->data) < 0) {
            call->stopped = true;
            return -ECANCELED;
        }
        return 0;
    }
    return buf_append(&call->resp, p, n);
}

/* Error bodies are v1 Status objects; success bodies are the object or list. Either way a
 * body that is not JSON is a protocol error for 2xx and merely unparsed for the rest. */
static json_t *parse_body(struct k8s_call *call)
{
    json_error_t jerr;

    if (call->resp.len == 0)
        return NULL;
    return json_loadb((const char *)call->resp.data, call->resp.len, 0, &jerr);
}

static void on_response(struct k8s_call *call)
{
    json_t *body = parse_body(call);
    struct k8s_result res;
    bool ok = call->status >= 200 && call->status < 300;

    count_attempt(call, call->status);
    if (ok && !body && call->resp.len > 0 && !(call->flags & K8S_CALL_STREAM)) {
        finish_error(call, K8S_ERR_PROTOCOL, call->status,
                     "the API server sent a body that is not JSON");
        return;
    }
    k8s_error_fill_result(&res, call->status, body);
    if (call->status == 401 && !call->auth_retried && !call->c->closing) {
        /* The credential may have rotated under us: reload it and try once more. */
        call->auth_retried = true;
        k8s_auth_invalidate(call->c->auth);
        json_decref(body);
        buf_reset(&call->resp);
        attempt_begin(call);
        return;
    }
    /* 429 means the server turned the request away unprocessed, so even a create may
     * repeat it. */
    if (!(call->flags & K8S_CALL_STREAM) && k8s_error_is_retryable(res.error, call->status) &&
        (call->status == 429 || may_retry(call, true)))
        retry_or_finish(call, &res, call->retry_after);
    else
        finish(call, &res);
    json_decref(body);
}

static void sink_complete(void *data)
{
    struct k8s_call *call = data;

    k8s_conn_set_user(call->conn, NULL);
    if (call->flags & K8S_CALL_STREAM)
        k8s_conn_close(call->conn);
    call->conn = NULL;
    on_response(call);
}

static void sink_error(enum k8s_error e, const char *msg, bool sent, void *data)
{
    struct k8s_call *call = data;

    k8s_conn_set_user(call->conn, NULL);
    call->conn = NULL;
    attempt_failed(call, e, msg, sent);
}

static const struct k8s_conn_sink call_sink = {sink_headers, sink_body, sink_complete, sink_error};

/* ---- sending ---- */

static void dispatch(struct k8s_call *call, struct k8s_conn *conn)
{
    struct buf req;
    int rc;

    buf_init(&req, CLIENT_MAX_HEAD + call->body_len);
    rc = k8s_http_format_request(&req, call->method, call->c->host_header, call->path,
                                 call->authorization, call->content_type, call->body,
                                 call->body_len);
    if (rc == 0)
        rc = k8s_conn_send(conn, req.data, req.len, &call_sink, call);
    buf_deinit(&req);
    if (rc < 0) {
        k8s_conn_set_user(conn, NULL);
        k8s_conn_close(conn);
        call->conn = NULL;
        attempt_failed(call, K8S_ERR_UNAVAILABLE, "could not send the request", false);
        return;
    }
    call->conn = conn;
    call->state = CALL_SENT;
}

static struct k8s_conn *new_conn(struct k8s_client *c, const struct k8s_conn_owner *owner,
                                 void *owner_data)
{
    struct k8s_conn_params p = {
        .host = k8s_auth_host(c->auth),
        .port = k8s_auth_port(c->auth),
        .server_name = k8s_auth_server_name(c->auth),
        .connect_timeout_ms = (uint64_t)c->cfg->k8s_request_timeout_seconds * 1000,
    };
    struct k8s_conn *conn;

    /* Each connection takes the credentials' current TLS config, so a rotated CA or client
     * certificate applies to new connections while old ones finish. */
    p.tls = k8s_auth_use_tls(c->auth) ? k8s_auth_tls_config(c->auth) : NULL;
    conn = k8s_conn_new(c->loop, &p, owner, owner_data);
    if (p.tls)
        tls_config_unref(p.tls);
    c->live_conns++;
    return conn;
}

static void pool_remove(struct k8s_client *c, struct k8s_conn *conn)
{
    for (size_t i = 0; i < c->npool; i++) {
        if (c->pool[i] == conn) {
            c->pool[i] = c->pool[--c->npool];
            return;
        }
    }
}

/* Dedicated connections (user = their watch call) carry one stream each, so a watch never
 * holds up ordinary calls; pooled ones (user NULL) serve the queue. */
static void conn_ready(struct k8s_conn *conn, void *data)
{
    struct k8s_call *call = k8s_conn_user(conn);

    if (call)
        dispatch(call, conn);
    else
        pump(data);
}

/* A pooled connection that cannot be set up fails the oldest queued call (which retries
 * with backoff), so an unreachable server cannot spin the pool in a connect loop. */
static void conn_connect_failed(struct k8s_conn *conn, const char *msg, void *data)
{
    struct k8s_client *c = data;
    struct k8s_call *call = k8s_conn_user(conn);

    if (!call) {
        call = c->qhead;
        if (!call)
            return;
        queue_remove(c, call);
    }
    k8s_conn_set_user(conn, NULL);
    call->conn = NULL;
    attempt_failed(call, K8S_ERR_UNAVAILABLE, msg, false);
}

static void conn_idle(struct k8s_conn *conn, void *data)
{
    if (k8s_conn_user(conn)) {
        k8s_conn_close(conn);
        return;
    }
    pump(data);
}

static void conn_closed(struct k8s_conn *conn, void *data)
{
    struct k8s_client *c = data;

    pool_remove(c, conn);
    c->live_conns--;
    if (!c->closing)
        pump(c);
    maybe_finish_close(c);
}

static const struct k8s_conn_owner conn_owner = {conn_ready, conn_connect_failed, conn_idle,
                                                 conn_closed};

static size_t count_connecting(const struct k8s_client *c)
{
    size_t n = 0;

    for (size_t i = 0; i < c->npool; i++)
        n += k8s_conn_state(c->pool[i]) < K8S_CONN_READY;
    return n;
}

static struct k8s_conn *find_idle(const struct k8s_client *c)
{
    for (size_t i = 0; i < c->npool; i++) {
        if (k8s_conn_idle(c->pool[i]))
            return c->pool[i];
    }
    return NULL;
}

static void pump(struct k8s_client *c)
{
    while (c->qhead && !c->closing) {
        struct k8s_conn *conn = find_idle(c);
        if (conn) {
            struct k8s_call *call = c->qhead;
            queue_remove(c, call);
            dispatch(call, conn);
            continue;
        }
        if (c->npool >= c->max_pool || count_connecting(c) >= c->qlen)
            return;
        c->pool[c->npool++] = new_conn(c, &conn_owner, c);
    }
}

/* ---- attempts ---- */

static void on_token(int status, const char *authorization, const char *err, void *data)
{
    struct k8s_call *call = data;
    struct k8s_client *c = call->c;

    call->token_pending = false;
    if (call->state != CALL_TOKEN) {
        call_free_if_unused(call);
        return;
    }
    if (status < 0) {
        snprintf(call->msg, sizeof(call->msg), "credentials: %s", err ? err : "unavailable");
        attempt_failed(call, K8S_ERR_UNAUTHORIZED, call->msg, false);
        return;
    }
    free(call->authorization);
    call->authorization = authorization ? xstrdup(authorization) : NULL;
    call->state = CALL_QUEUED;
    if (call->flags & K8S_CALL_STREAM) {
        call->conn = new_conn(c, &conn_owner, c);
        k8s_conn_set_user(call->conn, call);
        return;
    }
    queue_push(c, call);
    pump(c);
}

static void attempt_begin(struct k8s_call *call)
{
    struct k8s_client *c = call->c;
    uint64_t now = uv_now(c->loop);
    int rc;

    call->attempts++;
    call->attempt_ms = now;
    call->status = 0;
    call->retry_after = -1;
    call->streaming = false;
    buf_reset(&call->resp);
    call->state = CALL_TOKEN;
    uv_timer_start(&call->timer, on_call_timer,
                   call->deadline_ms > now ? call->deadline_ms - now : 0, 0);
    call->token_pending = true;
    rc = k8s_auth_get_token(c->auth, on_token, call);
    if (rc < 0) {
        call->token_pending = false;
        snprintf(call->msg, sizeof(call->msg), "credentials unavailable: %s", strerror(-rc));
        attempt_failed(call, K8S_ERR_UNAUTHORIZED, call->msg, false);
    }
}

static void on_call_timer(uv_timer_t *t)
{
    struct k8s_call *call = t->data;

    if (call->state == CALL_WAITING) {
        if (call->deadline_ms == 0)
            call->deadline_ms = uv_now(call->c->loop) + call->timeout_ms;
        attempt_begin(call);
        return;
    }
    count_attempt(call, 0);
    snprintf(call->msg, sizeof(call->msg), "%s %s timed out after %llu ms", call->method,
             call->path, (unsigned long long)call->timeout_ms);
    finish_error(call, K8S_ERR_TIMEOUT, 0, call->msg);
}

int k8s_client_submit(struct k8s_client *c, const struct k8s_call_opts *o, k8s_result_cb cb,
                      void *data, struct k8s_call **out)
{
    struct k8s_call *call;

    if (c->closing)
        return -ESHUTDOWN;
    call = xcalloc(1, sizeof(*call));
    call->c = c;
    call->method = xstrdup(o->method);
    call->path = xstrdup(o->path);
    call->body = o->body ? xmemdup0(o->body, o->body_len) : NULL;
    call->body_len = o->body ? o->body_len : 0;
    call->content_type = o->content_type ? xstrdup(o->content_type) : NULL;
    call->verb = xstrdup(o->verb ? o->verb : "unknown");
    call->resource = xstrdup(o->resource ? o->resource : "unknown");
    call->flags = o->flags;
    call->on_chunk = o->on_chunk;
    call->on_open = o->on_open;
    call->cb = cb;
    call->data = data;
    call->timeout_ms =
        o->timeout_ms ? o->timeout_ms : (uint64_t)c->cfg->k8s_request_timeout_seconds * 1000;
    call->retry_after = -1;
    buf_init(&call->resp, CLIENT_MAX_BODY);
    k8s_backoff_init(&call->backoff, 200, 5000, 1.0, UINT64_MAX);
    uv_timer_init(c->loop, &call->timer);
    call->timer.data = call;
    call->state = CALL_WAITING;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->live_calls++;
    /* Even without a delay the first attempt starts from the loop, so |cb| never runs
     * inside this function. */
    uv_timer_start(&call->timer, on_call_timer, o->delay_ms, 0);
    if (out)
        *out = call;
    return 0;
}

/* ---- the client ---- */

static char *format_host_header(const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    return xasprintf("%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

int k8s_client_new(uv_loop_t *loop, const struct config *cfg, struct metrics *metrics,
                   struct k8s_client **out, char *err, size_t errlen)
{
    struct k8s_client *c;
    struct k8s_auth *auth;
    int rc = k8s_auth_new(loop, cfg, &auth, err, errlen);

    if (rc < 0)
        return rc;
    c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->cfg = cfg;
    c->metrics = metrics;
    c->auth = auth;
    c->max_pool = cfg->k8s_max_connections > 0 ? (size_t)cfg->k8s_max_connections : 1;
    c->pool = xcalloc(c->max_pool, sizeof(*c->pool));
    c->host_header = format_host_header(k8s_auth_host(auth), k8s_auth_port(auth));
    c->describe = xasprintf("%s (pool of %zu connections, %d s request timeout)",
                            k8s_auth_describe(auth), c->max_pool, cfg->k8s_request_timeout_seconds);
    register_metrics(c);
    *out = c;
    return 0;
}

const char *k8s_client_describe(const struct k8s_client *c)
{
    return c->describe;
}

const char *k8s_client_namespace(const struct k8s_client *c)
{
    return k8s_auth_namespace(c->auth);
}

void k8s_client_add_informer(struct k8s_client *c, struct k8s_informer *inf)
{
    c->informers = xrealloc(c->informers, (c->ninformers + 1) * sizeof(*c->informers));
    c->informers[c->ninformers++] = inf;
}

void k8s_client_remove_informer(struct k8s_client *c, struct k8s_informer *inf)
{
    for (size_t i = 0; i < c->ninformers; i++) {
        if (c->informers[i] == inf) {
            c->informers[i] = c->informers[--c->ninformers];
            return;
        }
    }
}

static void on_auth_closed(void *data)
{
    struct k8s_client *c = data;

    c->auth_closed = true;
    maybe_finish_close(c);
}

void k8s_client_close(struct k8s_client *c, void (*done)(void *data), void *data)
{
    if (c->closing)
        return;
    c->closing = true;
    c->done = done;
    c->done_data = data;
    while (c->ninformers > 0)
        k8s_informer_free(c->informers[c->ninformers - 1]);
    while (c->calls)
        finish_error(c->calls, K8S_ERR_CANCELLED, 0, "the Kubernetes client is shutting down");
    for (size_t i = c->npool; i > 0; i--)
        k8s_conn_close(c->pool[i - 1]);
    k8s_auth_close(c->auth, on_auth_closed, c);
}
