/* buf: bounded growable byte buffer. */
#include "core/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_deinit(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max + 1) /* +1 keeps room for buf_cstr's terminator */
            cap = b->max + 1;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t *dst = buf_reserve(b, n);
    if (!dst)
        return -EMSGSIZE;
    memcpy(dst, p, n);
    b->len += n;
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    int rc = -EMSGSIZE;
    /* The cap bounds the text; vsnprintf's terminator may use the byte past it, so output
     * that exactly fills the cap still fits. */
    if (n >= 0 && (size_t)n <= b->max && b->len <= b->max - (size_t)n) {
        size_t need = b->len + (size_t)n + 1;
        if (n > 0)
            buf_reserve(b, (size_t)n); /* geometric growth */
        if (b->cap < need) {
            b->data = xrealloc(b->data, need);
            b->cap = need;
        }
        vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        rc = 0;
    }
    va_end(ap);
    return rc;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

const char *buf_cstr(struct buf *b)
{
    if (b->len >= b->cap) {
        /* Growing by one byte may exceed max only by the terminator, which is allowed. */
        b->data = xrealloc(b->data, b->len + 1);
        b->cap = b->len + 1;
    }
    b->data[b->len] = '\0';
    return (const char *)b->data;
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
