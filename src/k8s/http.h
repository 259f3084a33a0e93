/* http: the HTTP/1.1 codec the Kubernetes client speaks. It formats requests and parses
 * responses (status, the few headers we act on, body bytes as they arrive, chunked or
 * sized) with llhttp; it does no I/O, so it is unit-tested and fuzzed alone. */
#ifndef K8S_HTTP_H
#define K8S_HTTP_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Limits on one response's header block, well above what the API server sends. */
#define K8S_HTTP_MAX_HEADER_BYTES (64 * 1024)

struct k8s_http_cbs {
    /* Runs once the header block is complete; status and retry_after are set. Return 0, or
     * a negative errno to stop parsing (k8s_http_feed returns it). */
    int (*on_headers)(void *data);
    /* Runs for every piece of the (de-chunked) body. Same return convention. */
    int (*on_body)(void *data, const uint8_t *p, size_t n);
};

/* One response parser; reusable across the responses of a keep-alive connection. */
struct k8s_http {
    llhttp_t parser; /* parser.data points back to this struct */
    llhttp_settings_t settings;
    const struct k8s_http_cbs *cbs;
    void *data;
    int status;          /* HTTP status code once the headers are in */
    int retry_after;     /* Retry-After in seconds, or -1 when absent or a date */
    bool keep_alive;     /* valid once complete: the connection may carry another request */
    bool started;        /* the first byte of a response has been parsed */
    bool complete;       /* the whole response has been parsed */
    size_t header_bytes; /* header block size so far, bounded */
    int cb_error;        /* negative errno a callback returned */
    struct buf field;    /* current header name */
    struct buf value;    /* current header value */
    const char *err;     /* static text for the last failure */
};

void k8s_http_init(struct k8s_http *h, const struct k8s_http_cbs *cbs, void *data);
void k8s_http_deinit(struct k8s_http *h);
/* Prepares for the next response on the same connection. */
void k8s_http_reset(struct k8s_http *h);

/* Parses |n| bytes. Sets |*consumed| to the bytes used. Returns 1 when the response is
 * complete (bytes after |*consumed| belong to whatever follows), 0 when more is needed,
 * -EPROTO for a malformed response (h->err says why), -EMSGSIZE for a header block over
 * the limit, or the negative errno a callback returned. */
int k8s_http_feed(struct k8s_http *h, const uint8_t *p, size_t n, size_t *consumed);

/* The peer closed the connection. Returns 1 when that completes a response delimited by
 * end-of-stream, 0 when no response had started, or -EPROTO when the response was cut. */
int k8s_http_finish(struct k8s_http *h);

/* Appends an HTTP/1.1 request to |out|. |authorization| and |content_type| may be NULL,
 * |body| may be NULL when |body_len| is 0. Returns 0 or -EMSGSIZE. */
int k8s_http_format_request(struct buf *out, const char *method, const char *host, const char *path,
                            const char *authorization, const char *content_type, const void *body,
                            size_t body_len);

#endif
