/* Fuzz target for admin/http_parser: arbitrary bytes, fed in chunks whose size comes from the
 * first input byte, through as many pipelined requests as they hold. Checks the codec's
 * contract: it never consumes more than it was given, a finished request is well formed,
 * and an error carries one of the documented statuses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/http_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const struct http_parser *p)
{
    if (strlen(p->req.method) == 0 || strlen(p->req.method) >= sizeof(p->req.method))
        abort();
    if (strlen(p->req.target) > HTTP_PARSER_MAX_TARGET)
        abort();
    if (p->req.body_len > HTTP_PARSER_MAX_BODY)
        abort();
}

static void check_error(const struct http_parser *p)
{
    switch (p->error_status) {
    case 400:
    case 413:
    case 414:
    case 431:
        break;
    default:
        abort();
    }
    if (!p->error)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;

    struct http_parser p;
    http_parser_init(&p);
    size_t pos = 0;
    while (pos < size) {
        size_t len = size - pos < chunk ? size - pos : chunk;
        size_t used = 0;
        enum http_parse_result r = http_parser_feed(&p, data + pos, len, &used);
        if (used > len)
            abort();
        pos += used;
        if (r == HTTP_PARSE_ERROR) {
            check_error(&p);
            break;
        }
        if (r == HTTP_PARSE_DONE) {
            check_request(&p);
            http_parser_reset(&p);
        } else if (used != len) {
            abort(); /* NEED_MORE promises every byte was taken */
        }
    }
    return 0;
}
