/* http_server: HTTP/1.1 keep-alive server on libuv for /healthz, /readyz, /metrics, /version. */
#include "admin/http_server.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"

#define READ_CHUNK        4096
#define PENDING_INPUT_MAX 16384

struct http_conn;

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct http_server_limits limits;
    http_server_handler_cb handler;
    void *data;
    struct http_conn *conns; /* doubly linked */
    int nconns;
    bool closing;
    int open_handles; /* listener + connections still closing */
    void (*done)(void *data);
    void *done_data;
};

struct http_conn {
    struct http_conn *prev, *next;
    struct http_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_parser parser;
    struct buf pending; /* input read while a response was being written */
    int requests;
    int handles; /* tcp + timer not yet closed */
    bool writing;
    bool close_after_write;
    bool closing;
};

struct write_req {
    uv_write_t req;
    struct http_conn *conn;
    uint8_t *data;
};

static void conn_close(struct http_conn *c);
static void conn_process(struct http_conn *c);
static void resume_reading(struct http_conn *c);

static void server_handle_closed(struct http_server *srv)
{
    if (--srv->open_handles == 0 && srv->done) {
        void (*done)(void *) = srv->done;
        void *data = srv->done_data;
        free(srv);
        done(data);
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->handles > 0)
        return;
    struct http_server *srv = c->srv;
    buf_deinit(&c->pending);
    free(c);
    server_handle_closed(srv);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_idle_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    log_debug("admin", "closing idle or slow connection", LOG_INT("requests", c->requests));
    conn_close(c);
}

static void arm_timer(struct http_conn *c)
{
    uv_timer_start(&c->timer, on_idle_timeout, c->srv->limits.idle_timeout_ms, 0);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct http_conn *c = w->conn;
    free(w->data);
    free(w);
    c->writing = false;
    if (c->closing)
        return;
    if (status < 0 || c->close_after_write) {
        conn_close(c);
        return;
    }
    conn_process(c);
}

/* Serialises and sends one response; the body buffer is released here. */
static void conn_send(struct http_conn *c, struct http_response *resp, bool head_only)
{
    struct buf out;
    buf_init(&out, c->srv->limits.max_response_bytes + 1024);
    buf_appendf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", resp->status,
                reason_phrase(resp->status),
                resp->content_type ? resp->content_type : "text/plain; charset=utf-8",
                resp->body.len);
    if (resp->allow)
        buf_appendf(&out, "Allow: %s\r\n", resp->allow);
    buf_append_str(&out, c->close_after_write ? "Connection: close\r\n\r\n" : "\r\n");
    if (!head_only)
        buf_append(&out, resp->body.data, resp->body.len);
    buf_deinit(&resp->body);

    struct write_req *w = xcalloc(1, sizeof(*w));
    w->conn = c;
    size_t len;
    w->data = buf_steal(&out, &len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned int)len);
    c->writing = true;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w->data);
        free(w);
        c->writing = false;
        conn_close(c);
    }
}

static void conn_respond_error(struct http_conn *c, int status, const char *why)
{
    struct http_response resp = {.status = status};
    buf_init(&resp.body, 1024);
    buf_appendf(&resp.body, "%s\n", why);
    c->close_after_write = true; /* the stream position is unknown after a parse error */
    conn_send(c, &resp, false);
}

static void conn_handle_request(struct http_conn *c)
{
    const struct http_request *req = &c->parser.req;
    struct http_response resp = {.status = 200};
    buf_init(&resp.body, c->srv->limits.max_response_bytes);
    c->srv->handler(req, &resp, c->srv->data);
    c->requests++;
    if (!req->keep_alive || c->requests >= c->srv->limits.max_requests_per_connection ||
        c->srv->closing)
        c->close_after_write = true;
    conn_send(c, &resp, strcmp(req->method, "HEAD") == 0);
    http_parser_reset(&c->parser);
    arm_timer(c);
}

/* Parses buffered input until a request completes (then answers it) or input runs out. */
static void conn_process(struct http_conn *c)
{
    while (!c->writing && !c->closing && c->pending.len > 0) {
        size_t used;
        enum http_parse_result r =
            http_parser_feed(&c->parser, c->pending.data, c->pending.len, &used);
        buf_consume(&c->pending, used);
        if (r == HTTP_PARSE_ERROR) {
            log_debug("admin", "bad request", LOG_STR("error", c->parser.error));
            conn_respond_error(c, c->parser.error_status, c->parser.error);
            return;
        }
        if (r == HTTP_PARSE_NEED_MORE)
            break;
        conn_handle_request(c);
    }
    /* Read more only when nothing is queued: a client that pipelines without reading
     * responses stalls itself instead of growing our buffers. */
    if (!c->closing && !c->writing && c->pending.len == 0)
        resume_reading(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct http_conn *c = h->data;
    uint8_t *p = buf_reserve(&c->pending, READ_CHUNK);
    *b = uv_buf_init((char *)p, p ? READ_CHUNK : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct http_conn *c = s->data;
    if (n < 0) { /* EOF, error, or UV_ENOBUFS when the input cap is reached */
        conn_close(c);
        return;
    }
    buf_commit(&c->pending, (size_t)n);
    if (c->writing)
        uv_read_stop(s);
    conn_process(c);
}

static void resume_reading(struct http_conn *c)
{
    /* UV_EALREADY when already reading, which is fine. */
    (void)uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct http_server *srv = listener->data;
    if (status < 0 || srv->closing)
        return;
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    srv->open_handles++;
    buf_init(&c->pending, PENDING_INPUT_MAX);
    http_parser_init(&c->parser);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        srv->nconns > srv->limits.max_connections) {
        conn_close(c);
        return;
    }
    arm_timer(c);
    resume_reading(c);
}

struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_limits *limits,
                                    http_server_handler_cb handler, void *data)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->limits = *limits;
    srv->handler = handler;
    srv->data = data;
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->open_handles = 1;
    return srv;
}

int http_server_listen(struct http_server *srv, int port)
{
    struct sockaddr_in addr;
    uv_ip4_addr("0.0.0.0", port, &addr);
    int rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    return rc;
}

static void on_listener_closed(uv_handle_t *h)
{
    server_handle_closed(h->data);
}

void http_server_close(struct http_server *srv, void (*done)(void *data), void *data)
{
    srv->closing = true;
    srv->done = done;
    srv->done_data = data;
    while (srv->conns)
        conn_close(srv->conns);
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}
