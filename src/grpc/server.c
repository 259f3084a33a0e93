/* server: listeners, method table, metrics and shutdown of the gRPC server. */
#include "grpc/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "grpc/internal.h"
#include "tls/tls.h"

static const char *const method_labels[] = {"grpc_type", "grpc_service", "grpc_method", NULL};
static const char *const handled_labels[] = {"grpc_type", "grpc_service", "grpc_method",
                                             "grpc_code", NULL};

static void register_families(struct grpc_server *srv)
{
    struct metrics *m = srv->metrics;
    srv->f_started = metrics_counter(m, "grpc_server_started_total",
                                     "Total number of RPCs started on the server.", method_labels);
    srv->f_handled = metrics_counter(
        m, "grpc_server_handled_total",
        "Total number of RPCs completed on the server, regardless of success or failure.",
        handled_labels);
    srv->f_received = metrics_counter(m, "grpc_server_msg_received_total",
                                      "Total number of RPC stream messages received on the server.",
                                      method_labels);
    srv->f_sent =
        metrics_counter(m, "grpc_server_msg_sent_total",
                        "Total number of gRPC stream messages sent by the server.", method_labels);
    srv->f_handling = metrics_histogram(
        m, "grpc_server_handling_seconds",
        "Histogram of response latency (seconds) of gRPC that had been application-level "
        "handled by the server.",
        method_labels, metrics_default_buckets, metrics_default_nbuckets);
    srv->open_conns = metric_family_child(
        metrics_gauge(m, "grpc_server_open_connections", "Open gRPC client connections.", NULL),
        NULL);
    srv->open_streams =
        metric_family_child(metrics_gauge(m, "grpc_server_open_streams",
                                          "Open gRPC streams (calls in progress).", NULL),
                            NULL);
}

static int load_tls(struct grpc_server *srv, const struct config *cfg, char *err, size_t errlen)
{
    static const char *const alpn[] = {"h2", NULL};
    if (!cfg->grpc_tls_cert_file)
        return 0;
    struct tls_server_opts opts = {cfg->grpc_tls_cert_file, cfg->grpc_tls_key_file,
                                   cfg->grpc_tls_client_ca_file, alpn};
    return tls_config_new_server(&opts, &srv->tls, err, errlen);
}

struct grpc_server *grpc_server_new(uv_loop_t *loop, const struct config *cfg,
                                    struct metrics *metrics, char *err, size_t errlen)
{
    struct grpc_server *srv = xcalloc(1, sizeof(*srv));
    const char *why;
    srv->loop = loop;
    srv->metrics = metrics;
    srv->port = cfg->grpc_port;
    srv->max_recv = cfg->grpc_max_recv_msg_bytes;
    srv->max_conns = cfg->grpc_max_connections;
    srv->max_streams = cfg->grpc_max_concurrent_streams;
    srv->idle_ms = (uint64_t)cfg->grpc_idle_timeout_seconds * 1000;
    srv->mtls = cfg->grpc_tls_client_ca_file != NULL;
    if (load_tls(srv, cfg, err, errlen) < 0) {
        free(srv);
        return NULL;
    }
    register_families(srv);
    grpc_conn_globals_new(srv);
    srv->health = grpc_health_new();
    grpc_health_add_service(srv->health, "");
    srv->reflection = grpc_reflection_new(srv, &why);
    if (!srv->reflection) {
        snprintf(err, errlen, "gRPC reflection: %s", why);
        grpc_server_free(srv);
        return NULL;
    }
    grpc_health_register(srv->health, srv);
    grpc_reflection_register(srv->reflection, srv);
    return srv;
}

/* Method table. */

static uint32_t hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void rehash(struct grpc_server *srv)
{
    size_t n = 16;
    while (n < srv->nmethods * 2)
        n *= 2;
    free(srv->slots);
    srv->slots = xcalloc(n, sizeof(*srv->slots));
    srv->nslots = n;
    for (size_t i = 0; i < srv->nmethods; i++) {
        const struct grpc_method_entry *e = &srv->methods[i];
        size_t s = hash(e->path, e->path_len) & (n - 1);
        while (srv->slots[s])
            s = (s + 1) & (n - 1);
        srv->slots[s] = (uint32_t)i + 1;
    }
}

const struct grpc_method_entry *grpc_server_find(const struct grpc_server *srv, const char *path,
                                                 size_t len)
{
    if (!srv->nslots)
        return NULL;
    size_t s = hash(path, len) & (srv->nslots - 1);
    for (; srv->slots[s]; s = (s + 1) & (srv->nslots - 1)) {
        const struct grpc_method_entry *e = &srv->methods[srv->slots[s] - 1];
        if (e->path_len == len && memcmp(e->path, path, len) == 0)
            return e;
    }
    return NULL;
}

/* go-grpc-prometheus creates every child up front, so dashboards see zeros, not gaps. */
static void init_stats(struct grpc_server *srv, struct grpc_method_entry *e)
{
    const char *v[] = {grpc_method_kind_label(e->m.kind), e->m.service, e->m.name, NULL, NULL};
    e->stats.started = metric_family_child(srv->f_started, v);
    e->stats.received = metric_family_child(srv->f_received, v);
    e->stats.sent = metric_family_child(srv->f_sent, v);
    e->stats.handling = metric_family_child(srv->f_handling, v);
    for (int s = 0; s < GRPC_STATUS_COUNT; s++) {
        v[3] = grpc_status_name((enum grpc_status)s);
        e->stats.handled[s] = metric_family_child(srv->f_handled, v);
    }
}

static void add_service(struct grpc_server *srv, const char *service)
{
    for (size_t i = 0; i < srv->nservices; i++)
        if (strcmp(srv->services[i], service) == 0)
            return;
    srv->services = xrealloc(srv->services, (srv->nservices + 1) * sizeof(char *));
    srv->services[srv->nservices++] = xstrdup(service);
    grpc_health_add_service(srv->health, service);
}

int grpc_server_register(struct grpc_server *srv, const struct grpc_method *method)
{
    if (srv->state != GRPC_SERVER_NEW || !method->service || !method->name || !method->input ||
        !method->output || !method->handler)
        return -EINVAL;
    char *path = xasprintf("/%s/%s", method->service, method->name);
    if (grpc_server_find(srv, path, strlen(path))) {
        free(path);
        return -EEXIST;
    }
    if (srv->nmethods == srv->methods_cap) {
        srv->methods_cap = srv->methods_cap ? srv->methods_cap * 2 : 16;
        srv->methods = xrealloc(srv->methods, srv->methods_cap * sizeof(*srv->methods));
    }
    struct grpc_method_entry *e = &srv->methods[srv->nmethods++];
    memset(e, 0, sizeof(*e));
    e->m = *method;
    e->m.service = xstrdup(method->service);
    e->m.name = xstrdup(method->name);
    e->path = path;
    e->path_len = strlen(path);
    init_stats(srv, e);
    add_service(srv, method->service);
    rehash(srv);
    return 0;
}

/* Listening. */

static void on_connection(uv_stream_t *listener, int status)
{
    struct grpc_server *srv = listener->data;
    if (status < 0) {
        log_warn("grpc", "accept failed", LOG_STR("error", uv_strerror(status)));
        return;
    }
    if (srv->state != GRPC_SERVER_RUNNING)
        return;
    grpc_conn_accept(srv, listener);
}

static void on_prepare(uv_prepare_t *p)
{
    grpc_conn_flush_dirty(p->data);
}

static int listen_on(struct grpc_server *srv, const struct sockaddr *addr, unsigned flags)
{
    uv_tcp_t *t = &srv->listeners[srv->nlisteners];
    uv_tcp_init(srv->loop, t);
    t->data = srv;
    srv->nlisteners++;
    srv->open_handles++;
    int rc = uv_tcp_bind(t, addr, flags);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)t, 1024, on_connection);
    return rc;
}

int grpc_server_start(struct grpc_server *srv, char *err, size_t errlen)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (srv->state != GRPC_SERVER_NEW)
        return -EINVAL;
    srv->state = GRPC_SERVER_RUNNING;
    uv_prepare_init(srv->loop, &srv->prepare);
    srv->prepare.data = srv;
    uv_prepare_start(&srv->prepare, on_prepare);
    uv_timer_init(srv->loop, &srv->grace_timer);
    srv->grace_timer.data = srv;
    srv->open_handles += 2;
    uv_ip4_addr("0.0.0.0", srv->port, &a4);
    uv_ip6_addr("::", srv->port, &a6);
    int rc = listen_on(srv, (const struct sockaddr *)&a4, 0);
    if (rc < 0) {
        snprintf(err, errlen, "gRPC listen on 0.0.0.0:%d: %s", srv->port, uv_strerror(rc));
        return rc;
    }
    /* IPv6 is optional: a host without it still serves IPv4. */
    rc = listen_on(srv, (const struct sockaddr *)&a6, UV_TCP_IPV6ONLY);
    if (rc < 0)
        log_info("grpc", "not listening on IPv6", LOG_STR("error", uv_strerror(rc)));
    log_info("grpc", "gRPC server listening", LOG_INT("port", srv->port),
             LOG_BOOL("tls", srv->tls != NULL), LOG_BOOL("mtls", srv->mtls));
    return 0;
}

bool grpc_server_is_listening(const struct grpc_server *srv)
{
    return srv->state == GRPC_SERVER_RUNNING;
}

void grpc_server_set_serving(struct grpc_server *srv, bool serving)
{
    grpc_health_set_all(srv->health, serving);
}

size_t grpc_server_active_calls(const struct grpc_server *srv)
{
    return srv->active_calls;
}

/* Shutdown. */

static void on_closed(uv_handle_t *h)
{
    grpc_server_handle_closed(h->data);
}

void grpc_server_handle_closed(struct grpc_server *srv)
{
    srv->open_handles--;
    if (srv->state == GRPC_SERVER_CLOSING && srv->open_handles == 0) {
        srv->state = GRPC_SERVER_DONE;
        log_info("grpc", "gRPC server stopped");
        if (srv->done)
            srv->done(srv->done_data);
    }
}

/* Once no connection is left, the server's own handles close and |done| follows. */
static void close_own_handles(struct grpc_server *srv)
{
    if (srv->state != GRPC_SERVER_DRAINING || srv->nconns > 0)
        return;
    srv->state = GRPC_SERVER_CLOSING;
    uv_close((uv_handle_t *)&srv->grace_timer, on_closed);
    uv_close((uv_handle_t *)&srv->prepare, on_closed);
}

void grpc_server_conn_gone(struct grpc_server *srv)
{
    srv->nconns--;
    close_own_handles(srv);
    grpc_server_handle_closed(srv);
}

static void on_grace_expired(uv_timer_t *t)
{
    struct grpc_server *srv = t->data;
    log_info("grpc", "shutdown grace period over: closing connections",
             LOG_INT("connections", (long long)srv->nconns));
    for (struct grpc_conn *c = srv->conns; c; c = grpc_conn_next(c))
        grpc_conn_close(c, GRPC_CANCEL_SHUTDOWN);
}

void grpc_server_shutdown(struct grpc_server *srv, uint64_t grace_ms, void (*done)(void *data),
                          void *data)
{
    srv->done = done;
    srv->done_data = data;
    grpc_health_set_all(srv->health, false);
    if (srv->state == GRPC_SERVER_NEW) {
        srv->state = GRPC_SERVER_DONE;
        if (done)
            done(data);
        return;
    }
    if (srv->state != GRPC_SERVER_RUNNING)
        return;
    srv->state = GRPC_SERVER_DRAINING;
    log_info("grpc", "gRPC server shutting down", LOG_INT("connections", (long long)srv->nconns),
             LOG_INT("grace_ms", (long long)grace_ms));
    for (int i = 0; i < srv->nlisteners; i++)
        uv_close((uv_handle_t *)&srv->listeners[i], on_closed);
    uv_timer_start(&srv->grace_timer, on_grace_expired, grace_ms, 0);
    for (struct grpc_conn *c = srv->conns; c; c = grpc_conn_next(c))
        grpc_conn_shutdown(c);
    close_own_handles(srv);
}

void grpc_server_free(struct grpc_server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->nmethods; i++) {
        free((char *)srv->methods[i].m.service);
        free((char *)srv->methods[i].m.name);
        free(srv->methods[i].path);
    }
    for (size_t i = 0; i < srv->nservices; i++)
        free(srv->services[i]);
    free(srv->services);
    free(srv->methods);
    free(srv->slots);
    grpc_reflection_free(srv->reflection);
    grpc_health_free(srv->health);
    grpc_conn_globals_free(srv);
    if (srv->tls)
        tls_config_unref(srv->tls);
    free(srv);
}
