/* lines: newline splitting with a bounded carry-over buffer. */
#include "k8s/lines.h"

#include <errno.h>
#include <string.h>

void k8s_lines_init(struct k8s_lines *l, size_t max_line)
{
    l->max_line = max_line;
    buf_init(&l->partial, max_line);
}

void k8s_lines_deinit(struct k8s_lines *l)
{
    buf_deinit(&l->partial);
}

void k8s_lines_reset(struct k8s_lines *l)
{
    buf_reset(&l->partial);
}

size_t k8s_lines_pending(const struct k8s_lines *l)
{
    return l->partial.len;
}

static int emit(const uint8_t *line, size_t len, k8s_lines_cb cb, void *data)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return cb(line, len, data);
}

/* Completes the carried-over line with |n| bytes and emits it. */
static int finish_partial(struct k8s_lines *l, const uint8_t *p, size_t n, k8s_lines_cb cb,
                          void *data)
{
    int rc;

    if (buf_append(&l->partial, p, n) < 0)
        return -EMSGSIZE;
    rc = emit(l->partial.data, l->partial.len, cb, data);
    buf_reset(&l->partial);
    return rc;
}

int k8s_lines_feed(struct k8s_lines *l, const uint8_t *p, size_t n, k8s_lines_cb cb, void *data)
{
    const uint8_t *end = p + n;
    int rc;

    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len;

        if (!nl)
            return buf_append(&l->partial, p, (size_t)(end - p)) < 0 ? -EMSGSIZE : 0;
        len = (size_t)(nl - p);
        /* Lines that arrive whole are emitted straight from the input, without a copy. */
        if (l->partial.len > 0)
            rc = finish_partial(l, p, len, cb, data);
        else
            rc = len > l->max_line ? -EMSGSIZE : emit(p, len, cb, data);
        if (rc < 0)
            return rc;
        p = nl + 1;
    }
    return 0;
}
