/* http: request formatting and the llhttp-driven response parser. */
#include "k8s/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct k8s_http *from_parser(llhttp_t *p)
{
    return p->data;
}

/* Every header byte counts against one limit, so a server cannot grow us without bound
 * through many small headers either. */
static int count_header_bytes(struct k8s_http *h, size_t n)
{
    h->header_bytes += n;
    if (h->header_bytes > K8S_HTTP_MAX_HEADER_BYTES) {
        h->cb_error = -EMSGSIZE;
        h->err = "response header block too large";
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    from_parser(p)->started = true;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    return count_header_bytes(from_parser(p), n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct k8s_http *h = from_parser(p);

    if (count_header_bytes(h, n) < 0)
        return -1;
    return buf_append(&h->field, at, n) == 0 ? 0 : -1;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct k8s_http *h = from_parser(p);

    if (count_header_bytes(h, n) < 0)
        return -1;
    return buf_append(&h->value, at, n) == 0 ? 0 : -1;
}

/* Retry-After is either delta-seconds or an HTTP date; the API server sends seconds, and
 * a date is treated as absent (the caller's own backoff applies). */
static int parse_retry_after(const char *v)
{
    char *end;
    long s;

    while (*v == ' ' || *v == '\t')
        v++;
    if (*v < '0' || *v > '9')
        return -1;
    s = strtol(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' || s < 0)
        return -1;
    return s > 3600 ? 3600 : (int)s;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct k8s_http *h = from_parser(p);
    const char *name = buf_cstr(&h->field);
    const char *value = buf_cstr(&h->value);

    if (name && value && strcasecmp(name, "Retry-After") == 0)
        h->retry_after = parse_retry_after(value);
    buf_reset(&h->field);
    buf_reset(&h->value);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct k8s_http *h = from_parser(p);
    int rc;

    h->status = p->status_code;
    if (h->cbs && h->cbs->on_headers) {
        rc = h->cbs->on_headers(h->data);
        if (rc < 0) {
            h->cb_error = rc;
            return -1;
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct k8s_http *h = from_parser(p);
    int rc;

    if (h->cbs && h->cbs->on_body) {
        rc = h->cbs->on_body(h->data, (const uint8_t *)at, n);
        if (rc < 0) {
            h->cb_error = rc;
            return -1;
        }
    }
    return 0;
}

/* Pausing here makes llhttp_execute stop right after this response, so the bytes that
 * follow (there should be none: we never pipeline) are left for the caller to judge. */
static int on_message_complete(llhttp_t *p)
{
    struct k8s_http *h = from_parser(p);

    h->complete = true;
    h->keep_alive = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED;
}

void k8s_http_init(struct k8s_http *h, const struct k8s_http_cbs *cbs, void *data)
{
    memset(h, 0, sizeof(*h));
    llhttp_settings_init(&h->settings);
    h->settings.on_message_begin = on_message_begin;
    h->settings.on_status = on_status;
    h->settings.on_header_field = on_header_field;
    h->settings.on_header_value = on_header_value;
    h->settings.on_header_value_complete = on_header_value_complete;
    h->settings.on_headers_complete = on_headers_complete;
    h->settings.on_body = on_body;
    h->settings.on_message_complete = on_message_complete;
    h->cbs = cbs;
    h->data = data;
    buf_init(&h->field, K8S_HTTP_MAX_HEADER_BYTES);
    buf_init(&h->value, K8S_HTTP_MAX_HEADER_BYTES);
    k8s_http_reset(h);
}

void k8s_http_deinit(struct k8s_http *h)
{
    buf_deinit(&h->field);
    buf_deinit(&h->value);
}

void k8s_http_reset(struct k8s_http *h)
{
    llhttp_init(&h->parser, HTTP_RESPONSE, &h->settings);
    h->parser.data = h;
    h->status = 0;
    h->retry_after = -1;
    h->keep_alive = false;
    h->started = false;
    h->complete = false;
    h->header_bytes = 0;
    h->cb_error = 0;
    h->err = NULL;
    buf_reset(&h->field);
    buf_reset(&h->value);
}

int k8s_http_feed(struct k8s_http *h, const uint8_t *p, size_t n, size_t *consumed)
{
    llhttp_errno_t e;

    *consumed = 0;
    if (h->complete)
        return 1;
    e = llhttp_execute(&h->parser, (const char *)p, n);
    if (e == HPE_OK) {
        *consumed = n;
        return 0;
    }
    if (e == HPE_PAUSED && h->complete) {
        *consumed = (size_t)(llhttp_get_error_pos(&h->parser) - (const char *)p);
        return 1;
    }
    if (h->cb_error < 0)
        return h->cb_error;
    h->err = "malformed HTTP response";
    return -EPROTO;
}

int k8s_http_finish(struct k8s_http *h)
{
    llhttp_errno_t e;

    if (h->complete)
        return 1;
    if (!h->started)
        return 0;
    e = llhttp_finish(&h->parser);
    if ((e == HPE_OK || e == HPE_PAUSED) && h->complete)
        return 1;
    h->err = "connection closed before the response was complete";
    return -EPROTO;
}

int k8s_http_format_request(struct buf *out, const char *method, const char *host, const char *path,
                            const char *authorization, const char *content_type, const void *body,
                            size_t body_len)
{
    int rc = buf_appendf(out,
                         "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: jobscheduler\r\n"
                         "Accept: application/json\r\n",
                         method, path, host);
    if (rc == 0 && authorization)
        rc = buf_appendf(out, "Authorization: %s\r\n", authorization);
    if (rc == 0 && content_type)
        rc = buf_appendf(out, "Content-Type: %s\r\n", content_type);
    if (rc == 0 && (body_len > 0 || content_type))
        rc = buf_appendf(out, "Content-Length: %zu\r\n", body_len);
    if (rc == 0)
        rc = buf_append(out, "\r\n", 2);
    if (rc == 0 && body_len > 0)
        rc = buf_append(out, body, body_len);
    return rc;
}
