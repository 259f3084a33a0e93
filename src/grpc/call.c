/* call: the gRPC protocol for one HTTP/2 stream (request headers, message reassembly,
 * dispatch, deadlines, status) and the API method handlers use. Wire operations go through
 * conn.c, which owns nghttp2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "grpc/internal.h"
#include "grpc/timeout.h"

#define FIRST_BLOCK 1024
#define BLOCK_MIN   4096

/* Arena. */

static void *arena_alloc(struct grpc_call *call, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct grpc_arena_block *b = call->arena;
    if (b->cap - b->used < n) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        struct grpc_arena_block *nb = xmalloc(sizeof(*nb) + cap);
        nb->cap = cap;
        nb->used = 0;
        nb->next = b;
        call->arena = b = nb;
    }
    void *p = (uint8_t *)b->data + b->used;
    b->used += n;
    return p;
}

static void *pb_alloc(void *data, size_t n)
{
    return arena_alloc(data, n);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

static char *arena_strndup(struct grpc_call *call, const void *s, size_t n)
{
    char *p = arena_alloc(call, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Life cycle. */

struct grpc_call *grpc_call_new(struct grpc_server *srv, struct grpc_conn *conn, int32_t stream_id,
                                const char *peer)
{
    struct grpc_call *call = xmalloc(sizeof(*call) + FIRST_BLOCK);
    memset(call, 0, sizeof(*call));
    call->srv = srv;
    call->conn = conn;
    call->stream_id = stream_id;
    call->first.cap = FIRST_BLOCK;
    call->arena = &call->first;
    call->allocator = (ProtobufCAllocator){pb_alloc, pb_free, call};
    call->start_ns = uv_hrtime();
    snprintf(call->peer, sizeof(call->peer), "%s", peer);
    grpc_frame_decoder_init(&call->dec, srv->max_recv);
    buf_init(&call->out, GRPC_MAX_SEND_MSG + GRPC_FRAME_PREFIX_LEN);
    return call;
}

static void release(struct grpc_call *call)
{
    struct grpc_arena_block *b = call->arena;
    while (b != &call->first) {
        struct grpc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    grpc_frame_decoder_deinit(&call->dec);
    buf_deinit(&call->out);
    free(call);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct grpc_call *call = h->data;
    struct grpc_server *srv = call->srv;
    call->timer_closing = false;
    if (call->free_pending)
        release(call);
    grpc_server_handle_closed(srv);
}

/* Frees the call once neither the stream nor a handler holds it. */
static void maybe_free(struct grpc_call *call)
{
    if (call->conn || (call->dispatched && !call->finished))
        return;
    if (call->timer_closing)
        call->free_pending = true;
    else
        release(call);
}

static void stop_timer(struct grpc_call *call)
{
    if (!call->timer_inited || call->timer_closing)
        return;
    call->timer_inited = false;
    call->timer_closing = true;
    uv_close((uv_handle_t *)&call->deadline, on_timer_closed);
}

const char *grpc_method_kind_label(enum grpc_method_kind kind)
{
    switch (kind) {
    case GRPC_METHOD_SERVER_STREAMING:
        return "server_stream";
    case GRPC_METHOD_BIDI_STREAMING:
        return "bidi_stream";
    default:
        return "unary";
    }
}

/* Counts the handled call once, with the status the client sees. */
static void account(struct grpc_call *call, enum grpc_status status)
{
    if (call->counted || !call->dispatched || !call->entry)
        return;
    call->counted = true;
    double secs = (double)(uv_hrtime() - call->start_ns) / 1e9;
    const struct grpc_method_stats *st = &call->entry->stats;
    metric_add(st->handled[status], 1);
    metric_observe(st->handling, secs);
    call->srv->active_calls--;
    log_debug("grpc", "call", LOG_STR("method", call->path), LOG_STR("peer", call->peer),
              LOG_STR("type", grpc_method_kind_label(call->kind)),
              LOG_STR("code", grpc_status_name(status)), LOG_DBL("duration_ms", secs * 1e3));
}

static void set_status(struct grpc_call *call, enum grpc_status status, const char *message)
{
    call->status = status;
    call->message = NULL;
    if (message && *message) {
        char *enc = arena_alloc(call, grpc_status_encoded_len(message) + 1);
        grpc_status_encode_into(enc, message);
        call->message = enc;
    }
}

/* Ends the stream with an error before any response message: Trailers-Only. */
static void fail(struct grpc_call *call, int http_status, enum grpc_status status,
                 const char *message)
{
    if (call->responded || !call->conn)
        return;
    call->responded = true;
    set_status(call, status, message);
    account(call, status);
    stop_timer(call);
    grpc_frame_decoder_deinit(&call->dec);
    if (call->headers_sent) {
        /* Messages went out already: the status follows them as trailers. */
        call->trailers_ready = true;
        grpc_conn_resume(call->conn, call);
        return;
    }
    grpc_conn_respond_only(call->conn, call, http_status, call->bad_encoding);
}

static void fire_cancel(struct grpc_call *call, enum grpc_cancel_reason reason)
{
    if (call->cancel_fired || !call->dispatched || call->finished)
        return;
    call->cancel_fired = true;
    call->cancelled = true;
    if (call->cancel_cb)
        call->cancel_cb(call, reason, call->cancel_data); /* may free the call */
}

/* Request headers. */

static bool header_is(const uint8_t *name, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(name, lit, len) == 0;
}

static bool content_type_ok(const uint8_t *v, size_t len)
{
    static const char base[] = "application/grpc";
    size_t n = sizeof(base) - 1;
    if (len < n || memcmp(v, base, n) != 0)
        return false;
    return len == n || v[n] == '+' || v[n] == ';';
}

void grpc_call_on_header(struct grpc_call *call, const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen)
{
    call->hdr_bytes += (uint32_t)(namelen + valuelen + 32);
    call->hdr_count++;
    if (call->hdr_bytes > GRPC_MAX_HEADER_LIST || call->hdr_count > GRPC_MAX_HEADER_COUNT) {
        call->hdr_overflow = true;
        return;
    }
    if (header_is(name, namelen, ":path")) {
        call->path = arena_strndup(call, value, valuelen);
    } else if (header_is(name, namelen, ":method")) {
        call->is_post = header_is(value, valuelen, "POST");
    } else if (header_is(name, namelen, "content-type")) {
        call->has_ct = true;
        call->ct_ok = content_type_ok(value, valuelen);
    } else if (header_is(name, namelen, "grpc-timeout")) {
        call->has_timeout = true;
        call->bad_timeout =
            grpc_timeout_parse((const char *)value, valuelen, &call->timeout_ms) < 0;
    } else if (header_is(name, namelen, "grpc-encoding")) {
        call->has_encoding = !header_is(value, valuelen, "identity");
        /* We accept only identity, so any other named encoding is refused at once. */
        call->bad_encoding = call->has_encoding;
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct grpc_call *call = t->data;
    fail(call, 200, GRPC_STATUS_DEADLINE_EXCEEDED, "context deadline exceeded");
    fire_cancel(call, GRPC_CANCEL_DEADLINE);
}

static void start_deadline(struct grpc_call *call)
{
    uv_timer_init(call->srv->loop, &call->deadline);
    call->deadline.data = call;
    call->timer_inited = true;
    call->srv->open_handles++;
    uv_timer_start(&call->deadline, on_deadline, call->timeout_ms, 0);
}

/* grpc-go's texts, which clients and people already know. */
static const char *unknown_method_message(struct grpc_call *call)
{
    const char *path = call->path ? call->path : "";
    const char *svc = path[0] == '/' ? path + 1 : path;
    const char *slash = strchr(svc, '/');
    int n = (int)(slash ? (size_t)(slash - svc) : strlen(svc));
    size_t cap = strlen(svc) + 40;
    char *msg = arena_alloc(call, cap);
    for (size_t i = 0; i < call->srv->nservices; i++) {
        const char *known = call->srv->services[i];
        if (strlen(known) == (size_t)n && memcmp(known, svc, (size_t)n) == 0) {
            snprintf(msg, cap, "unknown method %s for service %.*s", slash ? slash + 1 : "", n,
                     svc);
            return msg;
        }
    }
    snprintf(msg, cap, "unknown service %.*s", n, svc);
    return msg;
}

void grpc_call_on_headers_done(struct grpc_call *call)
{
    if (call->hdr_overflow)
        return fail(call, 431, GRPC_STATUS_RESOURCE_EXHAUSTED, "header list too large");
    if (!call->is_post)
        return fail(call, 405, GRPC_STATUS_INTERNAL, "method must be POST");
    if (!call->ct_ok)
        return fail(call, 415, GRPC_STATUS_INVALID_ARGUMENT, "invalid gRPC request content-type");
    if (call->bad_timeout)
        return fail(call, 200, GRPC_STATUS_INTERNAL, "malformed grpc-timeout");
    if (call->bad_encoding)
        return fail(call, 200, GRPC_STATUS_UNIMPLEMENTED,
                    "grpc: Decompressor is not installed for grpc-encoding");
    call->entry = call->path ? grpc_server_find(call->srv, call->path, strlen(call->path)) : NULL;
    if (!call->entry)
        return fail(call, 200, GRPC_STATUS_UNIMPLEMENTED, unknown_method_message(call));
    call->kind = call->entry->m.kind;
    call->output = call->entry->m.output;
    if (call->has_timeout)
        start_deadline(call);
}

/* Request messages. */

static void dispatch(struct grpc_call *call, const ProtobufCMessage *req)
{
    const struct grpc_method_entry *e = call->entry;
    if (!call->dispatched) {
        call->dispatched = true;
        call->srv->active_calls++;
        metric_add(e->stats.started, 1);
    }
    e->m.handler(call, req, e->m.data);
}

static void on_message(struct grpc_call *call, const struct grpc_frame_msg *msg)
{
    if (msg->compressed)
        return fail(call, 200, GRPC_STATUS_INTERNAL,
                    "grpc: compressed flag set with identity or empty encoding");
    ProtobufCMessage *req = protobuf_c_message_unpack(call->entry->m.input, &call->allocator,
                                                      msg->data.len, msg->data.base);
    if (!req)
        return fail(call, 200, GRPC_STATUS_INTERNAL, "grpc: error unmarshalling request");
    call->nrecv++;
    metric_add(call->entry->stats.received, 1);
    if (call->kind == GRPC_METHOD_BIDI_STREAMING) {
        dispatch(call, req);
        return;
    }
    if (call->nrecv > 1)
        return fail(call, 200, GRPC_STATUS_UNIMPLEMENTED,
                    "grpc: received more than one request message for a unary call");
    call->pending_req = req;
}

void grpc_call_on_data(struct grpc_call *call, const uint8_t *data, size_t len)
{
    char msgbuf[96];
    while (len > 0 && !call->responded && call->conn && !call->finished) {
        struct grpc_frame_msg msg;
        bool done;
        uint32_t announced = 0;
        const char *err;
        ssize_t n = grpc_frame_decode(&call->dec, data, len, &msg, &done, &announced, &err);
        if (n == -EMSGSIZE) {
            snprintf(msgbuf, sizeof(msgbuf), "grpc: received message larger than max (%u vs. %zu)",
                     announced, call->srv->max_recv);
            return fail(call, 200, GRPC_STATUS_RESOURCE_EXHAUSTED, msgbuf);
        }
        if (n < 0)
            return fail(call, 200, GRPC_STATUS_INTERNAL, err);
        data += n;
        len -= (size_t)n;
        if (done)
            on_message(call, &msg);
    }
}

void grpc_call_on_end_stream(struct grpc_call *call)
{
    call->request_done = true;
    if (call->responded || call->finished)
        return;
    if (grpc_frame_decoder_partial(&call->dec))
        return fail(call, 200, GRPC_STATUS_INTERNAL, "grpc: truncated message at end of stream");
    if (call->kind == GRPC_METHOD_BIDI_STREAMING) {
        dispatch(call, NULL);
        return;
    }
    if (!call->pending_req)
        return fail(call, 200, GRPC_STATUS_UNIMPLEMENTED,
                    "grpc: received no request message for a unary call");
    dispatch(call, call->pending_req);
}

/* Stream end and shutdown. */

void grpc_call_detach(struct grpc_call *call, enum grpc_cancel_reason reason)
{
    call->conn = NULL;
    stop_timer(call);
    if (call->dispatched && !call->finished) {
        call->cancelled = true;
        account(call, reason == GRPC_CANCEL_DEADLINE ? GRPC_STATUS_DEADLINE_EXCEEDED
                                                     : GRPC_STATUS_CANCELLED);
        if (!call->cancel_fired) {
            fire_cancel(call, reason); /* may free */
            return;
        }
    }
    maybe_free(call);
}

void grpc_call_shutdown(struct grpc_call *call)
{
    if (call->kind != GRPC_METHOD_UNARY && !call->responded)
        fire_cancel(call, GRPC_CANCEL_SHUTDOWN);
}

/* Response side. */

size_t grpc_call_read_out(struct grpc_call *call, uint8_t *dst, size_t cap, bool *eof)
{
    size_t avail = call->out.len - call->out_off;
    size_t n = avail < cap ? avail : cap;
    memcpy(dst, call->out.data + call->out_off, n);
    call->out_off += n;
    if (call->out_off == call->out.len) {
        buf_reset(&call->out);
        call->out_off = 0;
    } else if (call->out_off >= 64 * 1024 && call->out_off * 2 >= call->out.len) {
        buf_consume(&call->out, call->out_off);
        call->out_off = 0;
    }
    if (call->want_drain && call->out.len - call->out_off <= GRPC_STREAM_OUT_CAP / 2) {
        call->want_drain = false;
        call->drain_pending = true;
        grpc_conn_drain_pending(call->conn);
    }
    *eof = call->trailers_ready && call->out.len == call->out_off;
    return n;
}

void grpc_call_run_drain(struct grpc_call *call)
{
    if (!call->drain_pending)
        return;
    call->drain_pending = false;
    if (call->drain_cb && !call->finished && !call->cancelled)
        call->drain_cb(call, call->drain_data);
}

/* Appends |msg| framed to the outbound queue. */
static int pack(struct grpc_call *call, const ProtobufCMessage *msg)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > GRPC_MAX_SEND_MSG)
        return -EMSGSIZE;
    uint8_t *dst = buf_reserve(&call->out, size + GRPC_FRAME_PREFIX_LEN);
    if (!dst)
        return -EMSGSIZE;
    grpc_frame_encode_prefix(dst, false, (uint32_t)size);
    protobuf_c_message_pack(msg, dst + GRPC_FRAME_PREFIX_LEN);
    buf_commit(&call->out, size + GRPC_FRAME_PREFIX_LEN);
    metric_add(call->entry->stats.sent, 1);
    return 0;
}

static void push(struct grpc_call *call)
{
    if (!call->headers_sent) {
        call->headers_sent = true;
        grpc_conn_start_response(call->conn, call);
    } else {
        grpc_conn_resume(call->conn, call);
    }
}

int grpc_call_send(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!call->conn || call->cancelled || call->responded)
        return -ECANCELED;
    size_t queued = call->out.len - call->out_off;
    size_t size = protobuf_c_message_get_packed_size(msg) + GRPC_FRAME_PREFIX_LEN;
    if (queued > 0 && queued + size > GRPC_STREAM_OUT_CAP) {
        call->want_drain = true;
        return -ENOBUFS;
    }
    if (pack(call, msg) < 0)
        return -ENOBUFS;
    push(call);
    return 0;
}

void grpc_call_finish(struct grpc_call *call, const ProtobufCMessage *resp, enum grpc_status status,
                      const char *message)
{
    if (call->finished)
        abort(); /* the contract is exactly once; a second call would be a use after free */
    if (!call->conn || call->responded) {
        call->finished = true;
        maybe_free(call);
        return;
    }
    if (status == GRPC_STATUS_OK && call->kind == GRPC_METHOD_UNARY) {
        if (!resp || pack(call, resp) < 0) {
            status = GRPC_STATUS_INTERNAL;
            message = resp ? "grpc: response message too large" : "grpc: handler sent no response";
        }
    }
    if (!call->headers_sent && call->out.len == call->out_off) {
        fail(call, 200, status, message);
    } else {
        call->responded = true;
        set_status(call, status, message);
        account(call, status);
        stop_timer(call);
        call->trailers_ready = true;
        push(call);
    }
    call->finished = true; /* freed when the stream closes */
}

bool grpc_call_is_cancelled(const struct grpc_call *call)
{
    return call->cancelled || !call->conn;
}

void grpc_call_on_cancel(struct grpc_call *call, grpc_cancel_cb cb, void *data)
{
    call->cancel_cb = cb;
    call->cancel_data = data;
}

void grpc_call_on_drain(struct grpc_call *call, grpc_drain_cb cb, void *data)
{
    call->drain_cb = cb;
    call->drain_data = data;
}

void *grpc_call_alloc(struct grpc_call *call, size_t n)
{
    return arena_alloc(call, n ? n : 1);
}

ProtobufCAllocator *grpc_call_allocator(struct grpc_call *call)
{
    return &call->allocator;
}

const char *grpc_call_peer(const struct grpc_call *call)
{
    return call->peer;
}

const char *grpc_call_method(const struct grpc_call *call)
{
    return call->path ? call->path : "";
}
