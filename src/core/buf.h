/* buf: a growable byte buffer with a hard cap, and iov, a non-owning view of bytes.
 * Every buffer that grows from outside input is a buf, so no input can grow memory without
 * bound: an append past |max| fails with -EMSGSIZE and leaves the buffer unchanged. */
#ifndef CORE_BUF_H
#define CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct iov {
    const uint8_t *base;
    size_t len;
};

struct buf {
    uint8_t *data; /* owned; NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
    size_t max;    /* hard cap on len */
};

void buf_init(struct buf *b, size_t max);
void buf_deinit(struct buf *b);
/* Empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);
/* Returns 0 or -EMSGSIZE when the result would exceed |max|. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for |n| more bytes and returns where to write them (advance with buf_commit),
 * or NULL when that would exceed |max|. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
/* Drops |n| bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Returns the contents as a NUL-terminated string (the NUL is not counted in len). The
 * terminator may take one byte past |max|, so this never fails. */
const char *buf_cstr(struct buf *b);
/* Hands the allocation to the caller (who frees it) and leaves |b| empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

static inline struct iov iov_make(const void *p, size_t n)
{
    struct iov v = {(const uint8_t *)p, n};
    return v;
}

#endif
