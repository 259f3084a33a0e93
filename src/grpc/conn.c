/* conn: one client connection: the socket, optional TLS, the nghttp2 server session and its
 * limits (preface and idle timers, ping strikes, outbound cap with reads paused), and the
 * graceful GOAWAY sequence. nghttp2 is used only here. */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "grpc/internal.h"
#include "tls/tls.h"

/* A client must finish TLS and send its SETTINGS within this time. */
#define PREFACE_TIMEOUT_MS 10000
/* Stop pulling frames from nghttp2 once this much output is waiting for the socket. */
#define OUT_BATCH (256 * 1024)
/* Stop reading while this much output is not yet accepted by the kernel. */
#define READ_PAUSE_BYTES (256 * 1024)
/* grpc-go's keepalive enforcement defaults: pings closer than MinTime (5 minutes), or any
 * ping within 2 hours while no stream is open, are strikes; the third strike is too many. */
#define PING_MIN_MS      (5 * 60 * 1000)
#define PING_IDLE_MIN_MS (2 * 60 * 60 * 1000)
#define PING_MAX_STRIKES 2
#define INITIAL_WINDOW   (1 << 20)
#define CONN_WINDOW      (4 << 20)

static const uint8_t shutdown_ping[8] = {'s', 'h', 'u', 't', 'd', 'o', 'w', 'n'};

enum conn_state {
    CONN_HANDSHAKE,
    CONN_PREFACE,
    CONN_READY,
    CONN_DRAINING,
    CONN_GOAWAY,
    CONN_LINGER,
    CONN_CLOSING
};

struct grpc_conn {
    struct grpc_server *srv;
    struct grpc_conn *prev, *next;             /* srv->conns */
    struct grpc_conn *dirty_prev, *dirty_next; /* srv->dirty */
    bool dirty;
    uv_tcp_t tcp;
    uv_timer_t timer; /* preface timeout, then the idle check */
    int open_handles;
    nghttp2_session *h2;
    struct tls_session *tls;
    enum conn_state state;
    struct grpc_call *calls;
    size_t nstreams;
    uint64_t idle_since;
    struct buf out;  /* filled from nghttp2 (or TLS) */
    struct buf wbuf; /* handed to uv_write */
    uv_write_t wreq;
    uv_shutdown_t shutdown_req;
    bool writing;
    bool reading_paused;
    bool close_after_flush;
    size_t ndrain;
    int ping_strikes;
    bool has_last_ping, reset_ping_strikes;
    uint64_t last_ping;
    char peer[80];
};

static const char *state_name(enum conn_state s)
{
    static const char *const names[] = {"HANDSHAKE", "PREFACE", "READY",  "DRAINING",
                                        "GOAWAY",    "LINGER",  "CLOSING"};
    return names[s];
}

static void set_state(struct grpc_conn *c, enum conn_state s)
{
    log_trace("grpc", "connection state", LOG_STR("peer", c->peer),
              LOG_STR("from", state_name(c->state)), LOG_STR("to", state_name(s)));
    c->state = s;
}

/* Output scheduling. */

static void mark_dirty(struct grpc_conn *c)
{
    struct grpc_server *srv = c->srv;
    if (c->dirty || c->state == CONN_CLOSING)
        return;
    c->dirty = true;
    c->dirty_prev = NULL;
    c->dirty_next = srv->dirty;
    if (srv->dirty)
        srv->dirty->dirty_prev = c;
    srv->dirty = c;
}

static void unmark_dirty(struct grpc_conn *c)
{
    if (!c->dirty)
        return;
    if (c->dirty_prev)
        c->dirty_prev->dirty_next = c->dirty_next;
    else
        c->srv->dirty = c->dirty_next;
    if (c->dirty_next)
        c->dirty_next->dirty_prev = c->dirty_prev;
    c->dirty = false;
}

static void flush(struct grpc_conn *c);

void grpc_conn_flush_dirty(struct grpc_server *srv)
{
    while (srv->dirty) {
        struct grpc_conn *c = srv->dirty;
        unmark_dirty(c);
        flush(c);
    }
}

struct grpc_conn *grpc_conn_next(struct grpc_conn *conn)
{
    return conn->next;
}

/* Teardown. */

static void on_handle_closed(uv_handle_t *h)
{
    struct grpc_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct grpc_server *srv = c->srv;
    if (c->h2)
        nghttp2_session_del(c->h2);
    if (c->tls)
        tls_session_free(c->tls);
    buf_deinit(&c->out);
    buf_deinit(&c->wbuf);
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->conns == c)
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    grpc_server_conn_gone(srv);
}

static void unlink_call(struct grpc_conn *c, struct grpc_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->nstreams--;
    metric_add(c->srv->open_streams, -1);
    if (c->nstreams == 0)
        c->idle_since = uv_now(c->srv->loop);
}

static void detach_calls(struct grpc_conn *c, enum grpc_cancel_reason reason)
{
    while (c->calls) {
        struct grpc_call *call = c->calls;
        unlink_call(c, call);
        grpc_call_detach(call, reason); /* may free the call */
    }
}

void grpc_conn_close(struct grpc_conn *c, enum grpc_cancel_reason reason)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->state != CONN_LINGER)
        metric_add(c->srv->open_conns, -1);
    set_state(c, CONN_CLOSING);
    unmark_dirty(c);
    detach_calls(c, reason);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Writing. */

static int pull_plain(struct grpc_conn *c)
{
    while (c->out.len < OUT_BATCH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0)
            return -EPROTO;
        if (n == 0)
            break;
        if (buf_append(&c->out, data, (size_t)n) < 0)
            return -EMSGSIZE;
    }
    return 0;
}

static int pull_tls(struct grpc_conn *c)
{
    while (tls_session_buffered(c->tls) < OUT_BATCH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0)
            return -EPROTO;
        if (n == 0)
            break;
        if (tls_session_write(c->tls, data, (size_t)n) < 0)
            return -EPROTO;
    }
    for (;;) {
        struct iov v = tls_session_pending_output(c->tls);
        if (v.len == 0)
            break;
        if (buf_append(&c->out, v.base, v.len) < 0)
            return -EMSGSIZE;
        tls_session_consume_output(c->tls, v.len);
    }
    return 0;
}

static void run_drains(struct grpc_conn *c)
{
    if (!c->ndrain)
        return;
    c->ndrain = 0;
    for (struct grpc_call *call = c->calls, *next; call; call = next) {
        next = call->next;
        grpc_call_run_drain(call);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct grpc_conn *c = req->data;
    c->writing = false;
    buf_reset(&c->wbuf);
    if (c->state >= CONN_LINGER)
        return;
    if (status < 0) {
        grpc_conn_close(c, GRPC_CANCEL_CLIENT);
        return;
    }
    flush(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void set_reading(struct grpc_conn *c, bool on)
{
    if (on == !c->reading_paused)
        return;
    c->reading_paused = !on;
    if (on)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Sends c->out: first without a request (most writes complete at once), the rest through a
 * uv_write that owns wbuf until it completes. Returns -EPIPE on a socket error. */
static int write_out(struct grpc_conn *c)
{
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r == UV_EAGAIN || r == UV_ENOSYS)
        r = 0;
    if (r < 0)
        return -EPIPE;
    if ((size_t)r == c->out.len) {
        buf_reset(&c->out);
        return 0;
    }
    struct buf tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    b = uv_buf_init((char *)c->wbuf.data + r, (unsigned)(c->wbuf.len - (size_t)r));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0)
        return -EPIPE;
    c->writing = true;
    /* A peer that does not read (or keeps its window shut) must not make us buffer: stop
     * reading its requests until the socket drains. */
    if (b.len >= READ_PAUSE_BYTES)
        set_reading(c, false);
    return 0;
}

static bool finished(struct grpc_conn *c)
{
    if (c->close_after_flush)
        return true;
    if (c->state == CONN_GOAWAY && c->nstreams == 0)
        return true;
    return !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2);
}

static void on_linger_timeout(uv_timer_t *t)
{
    grpc_conn_close(t->data, GRPC_CANCEL_CLIENT);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Everything is written (a final GOAWAY among it): send FIN, then read and discard until the
 * client closes or a second passes. Closing at once with unread input would send a TCP RST,
 * which can destroy the GOAWAY before the client reads it. */
static void linger(struct grpc_conn *c)
{
    set_state(c, CONN_LINGER);
    metric_add(c->srv->open_conns, -1);
    detach_calls(c, GRPC_CANCEL_CLIENT);
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        return grpc_conn_close(c, GRPC_CANCEL_CLIENT);
    c->reading_paused = true;
    set_reading(c, true);
    uv_timer_start(&c->timer, on_linger_timeout, 1000, 0);
}

static void flush(struct grpc_conn *c)
{
    for (int round = 0; round < 16; round++) {
        if (c->state >= CONN_LINGER || c->writing)
            return;
        set_reading(c, !c->close_after_flush);
        int rc = c->tls ? pull_tls(c) : pull_plain(c);
        if (rc < 0)
            return grpc_conn_close(c, GRPC_CANCEL_CLIENT);
        run_drains(c);
        if (c->out.len == 0) {
            if (finished(c))
                return linger(c);
            if (c->ndrain == 0)
                return;
            continue;
        }
        if (write_out(c) < 0)
            return grpc_conn_close(c, GRPC_CANCEL_CLIENT);
    }
    mark_dirty(c); /* more to do next iteration; keep others from waiting */
}

/* Reading. */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct grpc_conn *c = h->data;
    (void)hint;
    *b = uv_buf_init((char *)c->srv->read_buf, sizeof(c->srv->read_buf));
}

static int feed_h2(struct grpc_conn *c, const uint8_t *data, size_t len)
{
    ssize_t n = nghttp2_session_mem_recv(c->h2, data, len);
    if (n < 0) {
        log_debug("grpc", "HTTP/2 session error", LOG_STR("peer", c->peer),
                  LOG_STR("error", nghttp2_strerror((int)n)));
        return -EPROTO;
    }
    return 0;
}

static bool alpn_ok(const char *alpn)
{
    return !alpn || strcmp(alpn, "h2") == 0;
}

static int feed_tls(struct grpc_conn *c, const uint8_t *data, size_t len)
{
    if (tls_session_feed(c->tls, data, len) < 0)
        return -EMSGSIZE;
    for (;;) {
        /* The ciphertext is copied into the session, so the read buffer is free again. */
        ssize_t n = tls_session_read(c->tls, c->srv->read_buf, sizeof(c->srv->read_buf));
        if (c->state == CONN_HANDSHAKE && tls_session_handshake_done(c->tls)) {
            if (!alpn_ok(tls_session_alpn(c->tls))) {
                log_debug("grpc", "TLS client did not negotiate h2", LOG_STR("peer", c->peer));
                return -EPROTO;
            }
            set_state(c, CONN_PREFACE);
        }
        if (n == 0)
            return 0;
        if (n < 0) {
            if (n == -EPROTO)
                log_debug("grpc", "TLS failure", LOG_STR("peer", c->peer),
                          LOG_STR("error", tls_session_error(c->tls)));
            return (int)n;
        }
        if (c->close_after_flush)
            continue;
        if (feed_h2(c, c->srv->read_buf, (size_t)n) < 0)
            return -EPROTO;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct grpc_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        grpc_conn_close(c, GRPC_CANCEL_CLIENT);
        return;
    }
    if (c->close_after_flush || c->state == CONN_LINGER)
        return;
    int rc = c->tls ? feed_tls(c, (const uint8_t *)b->base, (size_t)nread)
                    : feed_h2(c, (const uint8_t *)b->base, (size_t)nread);
    if (rc < 0 && c->tls && c->state == CONN_HANDSHAKE) {
        /* Let the alert out before closing, so the client learns why. */
        c->close_after_flush = true;
        flush(c);
        return;
    }
    if (rc < 0) {
        grpc_conn_close(c, GRPC_CANCEL_CLIENT);
        return;
    }
    mark_dirty(c);
}

/* Wire operations for calls. */

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,                              \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                           \
    }

static nghttp2_nv nv_text(const char *name, const char *value)
{
    nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                     NGHTTP2_NV_FLAG_NO_COPY_NAME};
    return nv;
}

static size_t status_nv(const struct grpc_call *call, nghttp2_nv *nv)
{
    size_t n = 0;
    nv[n++] = nv_text("grpc-status", grpc_status_text(call->status));
    if (call->message)
        nv[n++] = nv_text("grpc-message", call->message);
    return n;
}

static const char *http_status_text(int code)
{
    switch (code) {
    case 405:
        return "405";
    case 415:
        return "415";
    case 431:
        return "431";
    default:
        return "200";
    }
}

void grpc_conn_respond_only(struct grpc_conn *c, struct grpc_call *call, int http_status,
                            bool accept_encoding)
{
    nghttp2_nv nv[6];
    size_t n = 0;
    nv[n++] = nv_text(":status", http_status_text(http_status));
    nv[n++] = (nghttp2_nv)NV("content-type", "application/grpc");
    n += status_nv(call, nv + n);
    if (accept_encoding)
        nv[n++] = (nghttp2_nv)NV("grpc-accept-encoding", "identity");
    if (nghttp2_submit_response(c->h2, call->stream_id, nv, n, NULL) < 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    mark_dirty(c);
}

static ssize_t read_data(nghttp2_session *h2, int32_t stream_id, uint8_t *dst, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct grpc_call *call = src->ptr;
    bool eof;
    (void)user;
    size_t n = grpc_call_read_out(call, dst, len, &eof);
    if (eof) {
        nghttp2_nv nv[2];
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(h2, stream_id, nv, status_nv(call, nv)) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return (ssize_t)n;
    }
    return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

void grpc_conn_start_response(struct grpc_conn *c, struct grpc_call *call)
{
    static const nghttp2_nv nv[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = read_data};
    if (nghttp2_submit_response(c->h2, call->stream_id, nv, 2, &prd) < 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    mark_dirty(c);
}

void grpc_conn_resume(struct grpc_conn *c, struct grpc_call *call)
{
    nghttp2_session_resume_data(c->h2, call->stream_id);
    mark_dirty(c);
}

void grpc_conn_drain_pending(struct grpc_conn *c)
{
    c->ndrain++;
}

/* nghttp2 callbacks. They never send, close or free the session: they only record. */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    struct grpc_conn *c = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct grpc_call *call = grpc_call_new(c->srv, c, frame->hd.stream_id, c->peer);
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->nstreams++;
    metric_add(c->srv->open_streams, 1);
    nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, call);
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)flags;
    (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* client trailers carry nothing gRPC reads */
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (call)
        grpc_call_on_header(call, name, namelen, value, valuelen);
    return 0;
}

static void on_ping(struct grpc_conn *c)
{
    uint64_t now = uv_now(c->srv->loop);
    if (c->reset_ping_strikes) {
        c->ping_strikes = 0;
        c->has_last_ping = false;
        c->reset_ping_strikes = false;
    }
    bool strike = false;
    if (c->has_last_ping)
        strike = now - c->last_ping < (c->nstreams ? PING_MIN_MS : PING_IDLE_MIN_MS);
    c->last_ping = now;
    c->has_last_ping = true;
    if (!strike || ++c->ping_strikes <= PING_MAX_STRIKES)
        return;
    log_info("grpc", "closing connection: too many pings", LOG_STR("peer", c->peer));
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)"too_many_pings", 14);
    c->close_after_flush = true;
}

static void on_ping_ack(struct grpc_conn *c, const nghttp2_ping *ping)
{
    if (c->state != CONN_DRAINING || memcmp(ping->opaque_data, shutdown_ping, 8) != 0)
        return;
    /* The client has seen the first GOAWAY, so every stream it started before is known:
     * now name the last one we will process. */
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
    set_state(c, CONN_GOAWAY);
}

static void on_idle_check(uv_timer_t *t);

static void on_settings(struct grpc_conn *c)
{
    if (c->state != CONN_PREFACE)
        return;
    set_state(c, CONN_READY);
    c->idle_since = uv_now(c->srv->loop);
    uint64_t every = c->srv->idle_ms / 2 ? c->srv->idle_ms / 2 : 1;
    uv_timer_start(&c->timer, on_idle_check, every, every);
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    struct grpc_conn *c = user;
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (call && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
            grpc_call_on_headers_done(call);
        if (call && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            grpc_call_on_end_stream(call);
        break;
    case NGHTTP2_DATA:
        if (call && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            grpc_call_on_end_stream(call);
        break;
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
            on_settings(c);
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            on_ping_ack(c, &frame->ping);
        else
            on_ping(c);
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user)
{
    (void)flags;
    (void)user;
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (call)
        grpc_call_on_data(call, data, len);
    return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    struct grpc_conn *c = user;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    c->reset_ping_strikes = true;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    /* The status is out but the client is still sending (an early error, or a server that
     * finished first): tell it to stop, as grpc-go does. */
    if (call && !call->request_done)
        nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code, void *user)
{
    struct grpc_conn *c = user;
    (void)error_code;
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (!call)
        return 0;
    nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
    unlink_call(c, call);
    grpc_call_detach(call, c->state >= CONN_DRAINING && c->srv->state >= GRPC_SERVER_CLOSING
                               ? GRPC_CANCEL_SHUTDOWN
                               : GRPC_CANCEL_CLIENT);
    return 0;
}

void grpc_conn_globals_new(struct grpc_server *srv)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option_new(&opt);
    /* nghttp2's defaults are unbounded or generous for these; set each on purpose. */
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    srv->h2_callbacks = cbs;
    srv->h2_option = opt;
}

void grpc_conn_globals_free(struct grpc_server *srv)
{
    nghttp2_session_callbacks_del(srv->h2_callbacks);
    nghttp2_option_del(srv->h2_option);
}

/* Timers. */

static void on_idle_check(uv_timer_t *t)
{
    struct grpc_conn *c = t->data;
    if (c->state != CONN_READY || c->nstreams)
        return;
    if (uv_now(c->srv->loop) - c->idle_since < c->srv->idle_ms)
        return;
    log_debug("grpc", "closing idle connection", LOG_STR("peer", c->peer));
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, (const uint8_t *)"idle", 4);
    c->close_after_flush = true;
    flush(c);
}

static void on_preface_timeout(uv_timer_t *t)
{
    struct grpc_conn *c = t->data;
    if (c->state >= CONN_READY)
        return;
    log_debug("grpc", "closing connection: no preface", LOG_STR("peer", c->peer));
    grpc_conn_close(c, GRPC_CANCEL_CLIENT);
}

/* Accepting. */

static void format_peer(struct grpc_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(c->peer, sizeof(c->peer), "[%s]:%d", host, port);
            return;
        }
        uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
}

static int start_session(struct grpc_conn *c)
{
    struct grpc_server *srv = c->srv;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)srv->max_streams},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GRPC_MAX_HEADER_LIST},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, INITIAL_WINDOW},
    };
    if (nghttp2_session_server_new2(&c->h2, srv->h2_callbacks, c, srv->h2_option) != 0)
        return -ENOMEM;
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
        return -EPROTO;
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    return 0;
}

static void refuse(uv_tcp_t *tcp)
{
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
}

void grpc_conn_accept(struct grpc_server *srv, uv_stream_t *listener)
{
    if (srv->nconns >= (size_t)srv->max_conns) {
        uv_tcp_t *tmp = xmalloc(sizeof(*tmp));
        uv_tcp_init(srv->loop, tmp);
        if (uv_accept(listener, (uv_stream_t *)tmp) == 0)
            log_warn("grpc", "refusing connection: GRPC_MAX_CONNECTIONS reached",
                     LOG_INT("max", srv->max_conns));
        refuse(tmp);
        return;
    }
    struct grpc_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    buf_init(&c->out, 64u << 20);
    buf_init(&c->wbuf, 64u << 20);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->open_handles++;
    metric_add(srv->open_conns, 1);
    c->state = CONN_PREFACE;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 || start_session(c) < 0) {
        grpc_conn_close(c, GRPC_CANCEL_CLIENT);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    format_peer(c);
    if (srv->tls) {
        c->tls = tls_session_new(srv->tls, NULL);
        c->state = CONN_HANDSHAKE;
    }
    uv_timer_start(&c->timer, on_preface_timeout, PREFACE_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    mark_dirty(c);
}

void grpc_conn_shutdown(struct grpc_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->state < CONN_READY) {
        grpc_conn_close(c, GRPC_CANCEL_SHUTDOWN);
        return;
    }
    if (c->state == CONN_READY) {
        nghttp2_submit_shutdown_notice(c->h2);
        nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, shutdown_ping);
        set_state(c, CONN_DRAINING);
    }
    for (struct grpc_call *call = c->calls, *next; call; call = next) {
        next = call->next;
        grpc_call_shutdown(call);
    }
    mark_dirty(c);
}
