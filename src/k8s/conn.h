/* conn: one connection to the API server: DNS (uv_getaddrinfo), TCP, TLS through src/tls,
 * and the HTTP/1.1 response codec, as a state machine
 * RESOLVING -> CONNECTING -> TLS_HANDSHAKE -> READY -> CLOSED. It carries one request at a
 * time (no pipelining); the client pools idle READY connections for keep-alive. */
#ifndef K8S_CONN_H
#define K8S_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "k8s/error.h"

struct tls_config;
struct k8s_conn;

enum k8s_conn_state {
    K8S_CONN_RESOLVING,
    K8S_CONN_CONNECTING,
    K8S_CONN_TLS_HANDSHAKE,
    K8S_CONN_READY,
    K8S_CONN_CLOSED,
};

/* Where to connect. Strings are copied; |tls| (NULL: plain TCP) gets its own reference. */
struct k8s_conn_params {
    const char *host;
    int port;
    struct tls_config *tls;
    const char *server_name;     /* SNI and the name the certificate must carry */
    uint64_t connect_timeout_ms; /* DNS + TCP + TLS handshake */
};

/* The owner of a connection (the client) hears about its life cycle. */
struct k8s_conn_owner {
    /* Entered READY: the connection can take a request. */
    void (*on_ready)(struct k8s_conn *conn, void *data);
    /* Failed before READY (no request was attached): |msg| says why, e.g. the TLS error. */
    void (*on_connect_failed)(struct k8s_conn *conn, const char *msg, void *data);
    /* A READY connection finished its exchange and is idle again. */
    void (*on_idle)(struct k8s_conn *conn, void *data);
    /* Every handle is closed; the connection is freed right after this returns. */
    void (*on_closed)(struct k8s_conn *conn, void *data);
};

/* The request riding on a connection hears about its response. Each callback may call
 * k8s_conn_close. After on_complete or on_error the exchange is over. */
struct k8s_conn_sink {
    /* Return 0, or a negative errno to fail the exchange (on_error follows). */
    int (*on_headers)(int status, int retry_after, void *data);
    int (*on_body)(const uint8_t *p, size_t n, void *data);
    void (*on_complete)(void *data);
    /* The connection failed mid-exchange; |sent| says whether request bytes were written. */
    void (*on_error)(enum k8s_error e, const char *msg, bool sent, void *data);
};

/* Starts resolving at once. Never returns NULL. */
struct k8s_conn *k8s_conn_new(uv_loop_t *loop, const struct k8s_conn_params *p,
                              const struct k8s_conn_owner *owner, void *owner_data);
enum k8s_conn_state k8s_conn_state(const struct k8s_conn *conn);
const char *k8s_conn_state_name(enum k8s_conn_state s);
/* READY and carrying no request. */
bool k8s_conn_idle(const struct k8s_conn *conn);

/* Sends one request (|req| bytes, copied) on an idle READY connection and attaches
 * |sink|. Returns 0, -EBUSY when not idle, or -EMSGSIZE from TLS buffering. */
int k8s_conn_send(struct k8s_conn *conn, const uint8_t *req, size_t len,
                  const struct k8s_conn_sink *sink, void *sink_data);

/* A pointer the owner keeps with the connection (the client: the watch a dedicated
 * connection was opened for). */
void k8s_conn_set_user(struct k8s_conn *conn, void *user);
void *k8s_conn_user(const struct k8s_conn *conn);

/* Detaches any request without calling its sink and closes every handle; the owner's
 * on_closed runs later. Idempotent. */
void k8s_conn_close(struct k8s_conn *conn);

#endif
