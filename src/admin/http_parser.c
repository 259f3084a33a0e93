/* http_parser: HTTP/1.1 request codec on llhttp with header, target and body limits. */
#include "admin/http_parser.h"

#include <string.h>

static struct http_parser *owner(llhttp_t *l)
{
    return l->data;
}

static int fail(struct http_parser *p, int status, const char *why)
{
    p->error_status = status;
    p->error = why;
    return HPE_USER;
}

static int on_method(llhttp_t *l, const char *at, size_t n)
{
    struct http_parser *p = owner(l);
    p->header_bytes += n;
    if (p->method_len + n >= sizeof(p->req.method))
        return fail(p, 400, "method too long");
    memcpy(p->req.method + p->method_len, at, n);
    p->method_len += n;
    p->req.method[p->method_len] = '\0';
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t n)
{
    struct http_parser *p = owner(l);
    p->header_bytes += n;
    if (p->target_len + n > HTTP_PARSER_MAX_TARGET)
        return fail(p, 414, "request target too long");
    memcpy(p->req.target + p->target_len, at, n);
    p->target_len += n;
    p->req.target[p->target_len] = '\0';
    return 0;
}

/* Header names and values are not needed by the ops endpoints; only their size counts. */
static int on_header_bytes(llhttp_t *l, const char *at, size_t n)
{
    (void)at;
    struct http_parser *p = owner(l);
    p->header_bytes += n;
    if (p->header_bytes > HTTP_PARSER_MAX_HEADER_BYTES)
        return fail(p, 431, "request header fields too large");
    return 0;
}

static int on_headers_complete(llhttp_t *l)
{
    struct http_parser *p = owner(l);
    if (l->content_length > HTTP_PARSER_MAX_BODY && l->content_length != UINT64_MAX)
        return fail(p, 413, "request body too large");
    p->req.keep_alive = llhttp_should_keep_alive(l);
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t n)
{
    (void)at;
    struct http_parser *p = owner(l);
    p->req.body_len += n;
    if (p->req.body_len > HTTP_PARSER_MAX_BODY)
        return fail(p, 413, "request body too large");
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    struct http_parser *p = owner(l);
    p->req.keep_alive = llhttp_should_keep_alive(l);
    p->done = true;
    return HPE_PAUSED; /* stop here: the rest of the buffer is the next request */
}

void http_parser_init(struct http_parser *p)
{
    memset(p, 0, sizeof(*p));
    llhttp_settings_init(&p->settings);
    p->settings.on_method = on_method;
    p->settings.on_url = on_url;
    p->settings.on_header_field = on_header_bytes;
    p->settings.on_header_value = on_header_bytes;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->llhttp, HTTP_REQUEST, &p->settings);
    p->llhttp.data = p;
}

void http_parser_reset(struct http_parser *p)
{
    memset(&p->req, 0, sizeof(p->req));
    p->header_bytes = p->target_len = p->method_len = 0;
    p->done = false;
    p->error_status = 0;
    p->error = NULL;
    if (llhttp_get_errno(&p->llhttp) == HPE_PAUSED)
        llhttp_resume(&p->llhttp);
}

enum http_parse_result http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
                                        size_t *consumed)
{
    *consumed = 0;
    if (p->error_status)
        return HTTP_PARSE_ERROR;
    if (len == 0)
        return HTTP_PARSE_NEED_MORE;
    llhttp_errno_t e = llhttp_execute(&p->llhttp, (const char *)data, len);
    if (e == HPE_OK) {
        *consumed = len;
        return HTTP_PARSE_NEED_MORE;
    }
    if (e == HPE_PAUSED && p->done) {
        *consumed = (size_t)(llhttp_get_error_pos(&p->llhttp) - (const char *)data);
        return HTTP_PARSE_DONE;
    }
    if (!p->error_status) {
        p->error_status = 400;
        p->error = "malformed request";
    }
    return HTTP_PARSE_ERROR;
}
