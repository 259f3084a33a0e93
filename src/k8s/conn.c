/* conn: a libuv TCP stream with optional TLS in memory, driving the HTTP/1 codec. Handles
 * (the socket, the connect timer, a pending DNS lookup) are closed in two phases: state
 * CLOSED first, memory freed once the last of them has called back. */
#include "k8s/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "k8s/http.h"
#include "tls/tls.h"

struct k8s_conn {
    uv_loop_t *loop;
    enum k8s_conn_state state;
    char *host;
    int port;
    char *server_name;
    struct tls_config *tls_cfg;
    struct tls_session *tls;
    uint64_t connect_timeout_ms;
    const struct k8s_conn_owner *owner;
    void *owner_data;
    void *user;

    uv_getaddrinfo_t gai;
    struct addrinfo *addrs;
    struct addrinfo *next_addr;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t timer;
    bool gai_pending;
    bool tcp_open; /* tcp is initialised and not yet closed */
    int handles;   /* handles whose close callback is outstanding, plus the DNS lookup */
    char last_error[256];

    struct k8s_http http;
    const struct k8s_conn_sink *sink;
    void *sink_data;
    bool sent; /* request bytes of the current exchange reached the socket layer */
};

struct write_req {
    uv_write_t req;
    struct k8s_conn *conn;
    size_t len;
    uint8_t data[];
};

static const struct k8s_http_cbs http_cbs;

static void try_connect(struct k8s_conn *conn);
static void on_eof(struct k8s_conn *conn);
static void fail(struct k8s_conn *conn, enum k8s_error e, const char *msg);

const char *k8s_conn_state_name(enum k8s_conn_state s)
{
    static const char *const names[] = {"RESOLVING", "CONNECTING", "TLS_HANDSHAKE", "READY",
                                        "CLOSED"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void set_state(struct k8s_conn *conn, enum k8s_conn_state s)
{
    log_debug("k8s", "connection state", LOG_STR("host", conn->host), LOG_INT("port", conn->port),
              LOG_STR("from", k8s_conn_state_name(conn->state)),
              LOG_STR("to", k8s_conn_state_name(s)));
    conn->state = s;
}

enum k8s_conn_state k8s_conn_state(const struct k8s_conn *conn)
{
    return conn->state;
}

void k8s_conn_set_user(struct k8s_conn *conn, void *user)
{
    conn->user = user;
}

void *k8s_conn_user(const struct k8s_conn *conn)
{
    return conn->user;
}

bool k8s_conn_idle(const struct k8s_conn *conn)
{
    return conn->state == K8S_CONN_READY && !conn->sink;
}

static void release_handle(struct k8s_conn *conn)
{
    if (--conn->handles > 0)
        return;
    if (conn->owner->on_closed)
        conn->owner->on_closed(conn, conn->owner_data);
    if (conn->addrs)
        uv_freeaddrinfo(conn->addrs);
    if (conn->tls)
        tls_session_free(conn->tls);
    if (conn->tls_cfg)
        tls_config_unref(conn->tls_cfg);
    k8s_http_deinit(&conn->http);
    free(conn->host);
    free(conn->server_name);
    free(conn);
}

static void on_handle_closed(uv_handle_t *h)
{
    release_handle(h->data);
}

void k8s_conn_close(struct k8s_conn *conn)
{
    if (conn->state == K8S_CONN_CLOSED)
        return;
    set_state(conn, K8S_CONN_CLOSED);
    conn->sink = NULL;
    if (conn->gai_pending)
        uv_cancel((uv_req_t *)&conn->gai);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
    if (conn->tcp_open) {
        conn->tcp_open = false;
        uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    }
}

/* Ends the connection with an error: the attached request hears why, or, before READY,
 * the owner does (a queued request then takes the failure). */
static void fail(struct k8s_conn *conn, enum k8s_error e, const char *msg)
{
    const struct k8s_conn_sink *sink = conn->sink;
    void *sink_data = conn->sink_data;
    bool before_ready = conn->state != K8S_CONN_READY;

    if (conn->state == K8S_CONN_CLOSED)
        return;
    log_debug("k8s", "connection failed", LOG_STR("host", conn->host), LOG_STR("error", msg));
    snprintf(conn->last_error, sizeof(conn->last_error), "%s", msg);
    k8s_conn_close(conn);
    if (sink)
        sink->on_error(e, conn->last_error, conn->sent, sink_data);
    else if (before_ready && conn->owner->on_connect_failed)
        conn->owner->on_connect_failed(conn, conn->last_error, conn->owner_data);
}

static void failf_uv(struct k8s_conn *conn, const char *what, int status)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "%s %s:%d: %s", what, conn->host, conn->port, uv_strerror(status));
    fail(conn, K8S_ERR_UNAVAILABLE, msg);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct k8s_conn *conn = w->conn;

    free(w);
    if (status < 0 && status != UV_ECANCELED)
        failf_uv(conn, "write to", status);
}

static int write_raw(struct k8s_conn *conn, const uint8_t *p, size_t n)
{
    struct write_req *w = xmalloc(sizeof(*w) + n);
    uv_buf_t b;
    int rc;

    w->conn = conn;
    w->len = n;
    memcpy(w->data, p, n);
    b = uv_buf_init((char *)w->data, (unsigned)n);
    rc = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &b, 1, on_write);
    if (rc < 0)
        free(w);
    return rc;
}

/* Sends whatever ciphertext the TLS session has ready (handshake records, alerts, data). */
static int flush_tls(struct k8s_conn *conn)
{
    for (;;) {
        struct iov out = tls_session_pending_output(conn->tls);
        int rc;
        if (out.len == 0)
            return 0;
        rc = write_raw(conn, out.base, out.len);
        if (rc < 0)
            return rc;
        tls_session_consume_output(conn->tls, out.len);
    }
}

static void become_ready(struct k8s_conn *conn)
{
    uv_timer_stop(&conn->timer);
    set_state(conn, K8S_CONN_READY);
    conn->owner->on_ready(conn, conn->owner_data);
}

/* Bytes from the server outside an exchange mean it is closing the connection on us (or
 * misbehaving); either way the connection cannot carry another request. */
static void response_done(struct k8s_conn *conn, bool reusable)
{
    const struct k8s_conn_sink *sink = conn->sink;
    void *sink_data = conn->sink_data;

    conn->sink = NULL;
    k8s_http_reset(&conn->http);
    if (!reusable)
        k8s_conn_close(conn);
    sink->on_complete(sink_data);
    if (reusable && conn->state == K8S_CONN_READY && !conn->sink)
        conn->owner->on_idle(conn, conn->owner_data);
}

static void deliver(struct k8s_conn *conn, const uint8_t *p, size_t n)
{
    size_t used;
    int rc;

    if (!conn->sink) {
        fail(conn, K8S_ERR_PROTOCOL, "unexpected bytes on an idle connection");
        return;
    }
    rc = k8s_http_feed(&conn->http, p, n, &used);
    if (conn->state == K8S_CONN_CLOSED)
        return; /* a callback closed us */
    if (rc == 1) {
        response_done(conn, conn->http.keep_alive && used == n);
    } else if (rc == -EMSGSIZE) {
        fail(conn, K8S_ERR_PROTOCOL, "response from the API server exceeds the size limit");
    } else if (rc < 0) {
        fail(conn, K8S_ERR_PROTOCOL, conn->http.err ? conn->http.err : "bad HTTP response");
    }
}

static void read_tls(struct k8s_conn *conn, const uint8_t *p, size_t n)
{
    uint8_t plain[16384];
    ssize_t got;
    char msg[320];

    if (tls_session_feed(conn->tls, p, n) < 0) {
        fail(conn, K8S_ERR_PROTOCOL, "TLS input buffer overflow");
        return;
    }
    while ((got = tls_session_read(conn->tls, plain, sizeof(plain))) > 0) {
        deliver(conn, plain, (size_t)got);
        if (conn->state == K8S_CONN_CLOSED)
            return;
    }
    if (got == -EPROTO) {
        snprintf(msg, sizeof(msg), "TLS with %s:%d failed: %s", conn->host, conn->port,
                 tls_session_error(conn->tls) ? tls_session_error(conn->tls) : "protocol error");
        fail(conn, K8S_ERR_UNAVAILABLE, msg);
        return;
    }
    if (flush_tls(conn) < 0) {
        fail(conn, K8S_ERR_UNAVAILABLE, "write failed during TLS");
        return;
    }
    if (got == -EPIPE) {
        on_eof(conn);
        return;
    }
    if (conn->state == K8S_CONN_TLS_HANDSHAKE && tls_session_handshake_done(conn->tls))
        become_ready(conn);
}

static void on_eof(struct k8s_conn *conn)
{
    int rc;

    if (!conn->sink) {
        /* The server closed an idle keep-alive connection: normal. */
        if (conn->state == K8S_CONN_READY) {
            k8s_conn_close(conn);
            return;
        }
        fail(conn, K8S_ERR_UNAVAILABLE, "the API server closed the connection during setup");
        return;
    }
    rc = k8s_http_finish(&conn->http);
    if (rc == 1)
        response_done(conn, false);
    else
        fail(conn, K8S_ERR_UNAVAILABLE, "the API server closed the connection");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    b->base = xmalloc(65536);
    b->len = 65536;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct k8s_conn *conn = s->data;

    if (nread > 0 && conn->state != K8S_CONN_CLOSED) {
        if (conn->tls)
            read_tls(conn, (const uint8_t *)b->base, (size_t)nread);
        else
            deliver(conn, (const uint8_t *)b->base, (size_t)nread);
    } else if (nread == UV_EOF) {
        on_eof(conn);
    } else if (nread < 0) {
        failf_uv(conn, "read from", (int)nread);
    }
    free(b->base);
}

static void start_session(struct k8s_conn *conn)
{
    int rc = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);

    if (rc < 0) {
        failf_uv(conn, "read from", rc);
        return;
    }
    if (!conn->tls_cfg) {
        become_ready(conn);
        return;
    }
    set_state(conn, K8S_CONN_TLS_HANDSHAKE);
    conn->tls = tls_session_new(conn->tls_cfg, conn->server_name);
    if (flush_tls(conn) < 0)
        fail(conn, K8S_ERR_UNAVAILABLE, "could not send the TLS ClientHello");
}

static void on_retry_closed(uv_handle_t *h)
{
    struct k8s_conn *conn = h->data;

    if (conn->state == K8S_CONN_CLOSED) {
        release_handle(conn);
        return;
    }
    conn->handles--;
    try_connect(conn);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct k8s_conn *conn = req->data;

    if (conn->state == K8S_CONN_CLOSED)
        return;
    if (status == 0) {
        uv_tcp_nodelay(&conn->tcp, 1);
        start_session(conn);
        return;
    }
    if (conn->next_addr) {
        /* Try the next address (e.g. 127.0.0.1 after ::1) on a fresh socket. */
        conn->tcp_open = false;
        uv_close((uv_handle_t *)&conn->tcp, on_retry_closed);
        return;
    }
    failf_uv(conn, "connect to", status);
}

static void try_connect(struct k8s_conn *conn)
{
    struct addrinfo *ai = conn->next_addr;
    int rc;

    conn->next_addr = ai->ai_next;
    uv_tcp_init(conn->loop, &conn->tcp);
    conn->tcp.data = conn;
    conn->tcp_open = true;
    conn->handles++;
    conn->connect_req.data = conn;
    rc = uv_tcp_connect(&conn->connect_req, &conn->tcp, ai->ai_addr, on_connect);
    if (rc < 0)
        failf_uv(conn, "connect to", rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct k8s_conn *conn = req->data;

    conn->gai_pending = false;
    conn->addrs = res;
    if (conn->state == K8S_CONN_CLOSED) {
        release_handle(conn);
        return;
    }
    conn->handles--;
    if (status < 0 || !res) {
        failf_uv(conn, "resolve", status < 0 ? status : UV_EAI_NONAME);
        return;
    }
    conn->next_addr = res;
    set_state(conn, K8S_CONN_CONNECTING);
    try_connect(conn);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct k8s_conn *conn = t->data;
    char msg[256];

    if (conn->last_error[0])
        snprintf(msg, sizeof(msg), "%s", conn->last_error);
    else
        snprintf(msg, sizeof(msg), "connecting to %s:%d timed out in state %s", conn->host,
                 conn->port, k8s_conn_state_name(conn->state));
    fail(conn, K8S_ERR_UNAVAILABLE, msg);
}

struct k8s_conn *k8s_conn_new(uv_loop_t *loop, const struct k8s_conn_params *p,
                              const struct k8s_conn_owner *owner, void *owner_data)
{
    struct k8s_conn *conn = xcalloc(1, sizeof(*conn));
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[16];
    int rc;

    conn->loop = loop;
    conn->host = xstrdup(p->host);
    conn->port = p->port;
    conn->server_name = p->server_name ? xstrdup(p->server_name) : NULL;
    conn->tls_cfg = p->tls;
    if (conn->tls_cfg)
        tls_config_ref(conn->tls_cfg);
    conn->connect_timeout_ms = p->connect_timeout_ms;
    conn->owner = owner;
    conn->owner_data = owner_data;
    conn->state = K8S_CONN_RESOLVING;
    k8s_http_init(&conn->http, &http_cbs, conn);
    uv_timer_init(loop, &conn->timer);
    conn->timer.data = conn;
    conn->handles = 2; /* the timer, and the DNS lookup until it calls back */
    uv_timer_start(&conn->timer, on_connect_timeout, conn->connect_timeout_ms, 0);
    snprintf(port, sizeof(port), "%d", p->port);
    conn->gai.data = conn;
    conn->gai_pending = true;
    rc = uv_getaddrinfo(loop, &conn->gai, on_resolved, conn->host, port, &hints);
    if (rc < 0) {
        conn->gai_pending = false;
        conn->handles--;
        /* Report from the timer so the owner never hears back inside k8s_conn_new. */
        snprintf(conn->last_error, sizeof(conn->last_error), "resolve %s: %s", conn->host,
                 uv_strerror(rc));
        uv_timer_start(&conn->timer, on_connect_timeout, 0, 0);
    }
    return conn;
}

int k8s_conn_send(struct k8s_conn *conn, const uint8_t *req, size_t len,
                  const struct k8s_conn_sink *sink, void *sink_data)
{
    int rc;

    if (!k8s_conn_idle(conn))
        return -EBUSY;
    conn->sink = sink;
    conn->sink_data = sink_data;
    conn->sent = false;
    k8s_http_reset(&conn->http);
    if (conn->tls) {
        rc = tls_session_write(conn->tls, req, len);
        if (rc == 0)
            rc = flush_tls(conn);
    } else {
        rc = write_raw(conn, req, len);
    }
    if (rc < 0) {
        conn->sink = NULL;
        return rc == -EMSGSIZE ? rc : -EPIPE;
    }
    conn->sent = true;
    return 0;
}

static int http_on_headers(void *data)
{
    struct k8s_conn *conn = data;

    return conn->sink->on_headers(conn->http.status, conn->http.retry_after, conn->sink_data);
}

static int http_on_body(void *data, const uint8_t *p, size_t n)
{
    struct k8s_conn *conn = data;

    return conn->sink->on_body(p, n, conn->sink_data);
}

static const struct k8s_http_cbs http_cbs = {http_on_headers, http_on_body};
