/* internal: what the gRPC module's files share and nobody outside it may use. call.c speaks
 * the gRPC-over-HTTP/2 protocol for one stream; conn.c owns nghttp2 and the socket; server.c
 * owns listeners, the method table and shutdown. */
#ifndef GRPC_INTERNAL_H
#define GRPC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "grpc/call.h"
#include "grpc/frame.h"
#include "grpc/status.h"

struct grpc_conn;
struct grpc_server;
struct metric;

/* Streams queue at most this much response data before grpc_call_send says -ENOBUFS. */
#define GRPC_STREAM_OUT_CAP (256 * 1024)
/* The largest response message we pack (grpc-go's default send limit is larger still). */
#define GRPC_MAX_SEND_MSG (64u << 20)
/* Request header list limits, counted as HTTP/2 does (name + value + 32 per field). */
#define GRPC_MAX_HEADER_LIST  8192
#define GRPC_MAX_HEADER_COUNT 64

/* go-grpc-prometheus children of one method, created at registration. */
struct grpc_method_stats {
    struct metric *started;
    struct metric *received;
    struct metric *sent;
    struct metric *handling;
    struct metric *handled[GRPC_STATUS_COUNT];
};

struct grpc_method_entry {
    struct grpc_method m; /* service and name owned */
    char *path;           /* "/service/Method"; owned */
    size_t path_len;
    struct grpc_method_stats stats;
};

/* Per-call bump allocator: an inline first block, then chained blocks. */
struct grpc_arena_block {
    struct grpc_arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

struct grpc_call {
    struct grpc_conn *conn; /* NULL once detached from its stream */
    struct grpc_server *srv;
    struct grpc_call *prev, *next; /* the connection's list */
    int32_t stream_id;
    const struct grpc_method_entry *entry; /* NULL: unknown; valid while attached */
    const ProtobufCMessageDescriptor *output;
    enum grpc_method_kind kind;

    /* Request state. */
    char *path;
    uint32_t hdr_bytes;
    uint32_t hdr_count;
    uint64_t timeout_ms;
    bool has_timeout, bad_timeout, hdr_overflow, is_post, ct_ok, has_ct, bad_encoding;
    bool has_encoding; /* a grpc-encoding other than identity was named */
    struct grpc_frame_decoder dec;
    ProtobufCMessage *pending_req;
    unsigned nrecv;

    /* Lifetime. */
    bool dispatched; /* the handler owns it */
    bool finished;   /* grpc_call_finish ran */
    bool cancelled;
    bool cancel_fired;
    bool request_done; /* END_STREAM from the client */
    bool responded;    /* final status submitted */
    bool headers_sent;
    bool trailers_ready;
    bool counted;
    bool want_drain, drain_pending;
    bool timer_inited, timer_closing, free_pending;
    enum grpc_status status;
    const char *message; /* percent-encoded, arena */
    uint64_t start_ns;
    uv_timer_t deadline;

    /* Response data queued for DATA frames, from out_off. */
    struct buf out;
    size_t out_off;

    grpc_cancel_cb cancel_cb;
    void *cancel_data;
    grpc_drain_cb drain_cb;
    void *drain_data;

    ProtobufCAllocator allocator;
    struct grpc_arena_block *arena;
    char peer[80];
    struct grpc_arena_block first; /* must stay last: its data follows */
};

/* The grpc_type label go-grpc-prometheus gives a method kind: "unary", "server_stream"... */
const char *grpc_method_kind_label(enum grpc_method_kind kind);

/* call.c: events from the connection, in stream order. */
struct grpc_call *grpc_call_new(struct grpc_server *srv, struct grpc_conn *conn, int32_t stream_id,
                                const char *peer);
void grpc_call_on_header(struct grpc_call *call, const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen);
void grpc_call_on_headers_done(struct grpc_call *call);
void grpc_call_on_data(struct grpc_call *call, const uint8_t *data, size_t len);
void grpc_call_on_end_stream(struct grpc_call *call);
/* The stream is gone (closed or its connection torn down). May free the call. */
void grpc_call_detach(struct grpc_call *call, enum grpc_cancel_reason reason);
/* Server shutdown began: streaming handlers get their cancel callback. */
void grpc_call_shutdown(struct grpc_call *call);
/* Copies up to |cap| queued response bytes to |dst|; sets *eof when the status follows. */
size_t grpc_call_read_out(struct grpc_call *call, uint8_t *dst, size_t cap, bool *eof);
/* Runs the drain callback if a drain is pending. May free nothing; the call stays attached. */
void grpc_call_run_drain(struct grpc_call *call);

/* conn.c: wire operations on behalf of a call. */
/* Trailers-Only response: HEADERS with END_STREAM carrying the status. */
void grpc_conn_respond_only(struct grpc_conn *conn, struct grpc_call *call, int http_status,
                            bool accept_encoding);
/* Response HEADERS followed by DATA read from the call and, at EOF, trailers. */
void grpc_conn_start_response(struct grpc_conn *conn, struct grpc_call *call);
/* More response data or the status is ready. */
void grpc_conn_resume(struct grpc_conn *conn, struct grpc_call *call);
void grpc_conn_drain_pending(struct grpc_conn *conn);
/* Starts graceful shutdown: GOAWAY(2^31-1) + PING, then GOAWAY(last stream id). */
void grpc_conn_shutdown(struct grpc_conn *conn);
/* Closes at once; calls are detached with |reason|. */
void grpc_conn_close(struct grpc_conn *conn, enum grpc_cancel_reason reason);
/* Writes what nghttp2 has queued for every connection marked since the last time: run once
 * per loop iteration (from a prepare handle), so writes are batched. */
void grpc_conn_flush_dirty(struct grpc_server *srv);
/* A connection left: server.c updates counts and may finish shutdown. */
void grpc_server_conn_gone(struct grpc_server *srv);
/* Accepts a connection from |listener|. */
void grpc_conn_accept(struct grpc_server *srv, uv_stream_t *listener);
struct grpc_conn *grpc_conn_next(struct grpc_conn *conn);

/* Creates and frees the nghttp2 callbacks and options every session shares. */
void grpc_conn_globals_new(struct grpc_server *srv);
void grpc_conn_globals_free(struct grpc_server *srv);

struct grpc_health;
struct grpc_reflection;
struct tls_config;
struct metrics;

enum grpc_server_state {
    GRPC_SERVER_NEW,
    GRPC_SERVER_RUNNING,
    GRPC_SERVER_DRAINING,
    GRPC_SERVER_CLOSING,
    GRPC_SERVER_DONE
};

/* The server is shared by the module's files; only server.c changes its configuration. */
struct grpc_server {
    uv_loop_t *loop;
    struct metrics *metrics;
    enum grpc_server_state state;
    int port;
    size_t max_recv;
    int max_conns;
    int max_streams;
    uint64_t idle_ms;
    bool mtls;
    struct tls_config *tls;
    void *h2_callbacks; /* nghttp2_session_callbacks, owned by conn.c */
    void *h2_option;    /* nghttp2_option, owned by conn.c */

    struct grpc_method_entry *methods;
    size_t nmethods, methods_cap;
    uint32_t *slots; /* open-addressing hash of method index + 1 by path */
    size_t nslots;
    char **services; /* distinct service names, registration order */
    size_t nservices;

    uv_tcp_t listeners[2];
    int nlisteners;
    uv_prepare_t prepare;
    uv_timer_t grace_timer;
    size_t open_handles; /* listeners, prepare, grace timer, connections, call timers */
    struct grpc_conn *conns;
    size_t nconns;
    struct grpc_conn *dirty; /* connections with output to write, see conn.c */
    size_t active_calls;
    void (*done)(void *data);
    void *done_data;

    struct grpc_health *health;
    struct grpc_reflection *reflection;
    struct metric *open_conns;
    struct metric *open_streams;
    struct metric_family *f_started, *f_handled, *f_received, *f_sent, *f_handling;
    uint8_t read_buf[64 * 1024]; /* shared: reads are handled synchronously */
};

/* server.c: services for conn.c and call.c. */
const struct grpc_method_entry *grpc_server_find(const struct grpc_server *srv, const char *path,
                                                 size_t len);
/* A loop handle owned by the server's tree closed; finishes shutdown when it was the last. */
void grpc_server_handle_closed(struct grpc_server *srv);

/* health.c */
struct grpc_health *grpc_health_new(void);
void grpc_health_free(struct grpc_health *h);
/* Registers grpc.health.v1.Health on |srv|. */
int grpc_health_register(struct grpc_health *h, struct grpc_server *srv);
/* Makes |service| known (NOT_SERVING until set). */
void grpc_health_add_service(struct grpc_health *h, const char *service);
/* Sets every known service and notifies watchers. */
void grpc_health_set_all(struct grpc_health *h, bool serving);

/* reflection.c */
struct grpc_reflection *grpc_reflection_new(struct grpc_server *srv, const char **err);
void grpc_reflection_free(struct grpc_reflection *r);
int grpc_reflection_register(struct grpc_reflection *r, struct grpc_server *srv);

#endif
