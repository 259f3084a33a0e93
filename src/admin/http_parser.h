/* http_parser: an I/O-free HTTP/1.1 request codec over llhttp, with limits.
 * Bytes go in; a complete request (method, target, selected headers) comes out, or an error
 * with the status to answer (400 malformed, 431 headers too large, 413 body too large).
 * Pipelined requests are handled one at a time: feed stops after each complete request. */
#ifndef ADMIN_HTTP_PARSER_H
#define ADMIN_HTTP_PARSER_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSER_MAX_HEADER_BYTES 8192
#define HTTP_PARSER_MAX_TARGET       2048
#define HTTP_PARSER_MAX_BODY         4096

enum http_parse_result {
    HTTP_PARSE_NEED_MORE = 0, /* every byte consumed, request incomplete */
    HTTP_PARSE_DONE = 1,      /* one request complete; unconsumed bytes belong to the next */
    HTTP_PARSE_ERROR = -1,    /* see error_status and error */
};

struct http_request {
    char method[16];
    char target[HTTP_PARSER_MAX_TARGET + 1]; /* path and query as sent */
    bool keep_alive;                         /* HTTP/1.1 default or Connection: keep-alive */
    size_t body_len;
};

struct http_parser {
    llhttp_t llhttp;
    llhttp_settings_t settings;
    struct http_request req;
    size_t header_bytes; /* request line + headers so far, against the limit */
    size_t target_len;
    size_t method_len;
    bool done;
    int error_status;  /* 400, 413, 431 */
    const char *error; /* static text */
};

void http_parser_init(struct http_parser *p);
/* Prepares for the next request on the same connection. */
void http_parser_reset(struct http_parser *p);
/* Feeds |len| bytes; sets *consumed to the bytes used. */
enum http_parse_result http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
                                        size_t *consumed);

#endif
