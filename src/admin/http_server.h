/* http_server: a small HTTP/1.1 server on the loop for the ops endpoints.
 * Keep-alive and pipelining, one request at a time per connection, with limits: header size,
 * requests per connection, connections, and an idle timeout that also bounds how long one
 * request may take to arrive (slow clients). Handlers answer synchronously. */
#ifndef ADMIN_HTTP_SERVER_H
#define ADMIN_HTTP_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "admin/http_parser.h"
#include "core/buf.h"

struct http_response {
    int status;
    const char *content_type; /* static string */
    const char *allow;        /* Allow header for 405, or NULL */
    struct buf body;          /* the handler appends; capped by the server */
};

typedef void (*http_server_handler_cb)(const struct http_request *req, struct http_response *resp,
                                       void *data);

struct http_server_limits {
    int max_connections;
    int max_requests_per_connection;
    uint64_t idle_timeout_ms;
    size_t max_response_bytes;
};

struct http_server;

/* Returns a server that calls |handler| for every well-formed request. */
struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_limits *limits,
                                    http_server_handler_cb handler, void *data);
/* Listens on 0.0.0.0:|port|. Returns 0 or a negative libuv error. */
int http_server_listen(struct http_server *srv, int port);
/* Stops accepting, closes every connection and frees the server; |done| runs after the
 * last handle closed. */
void http_server_close(struct http_server *srv, void (*done)(void *data), void *data);

#endif
