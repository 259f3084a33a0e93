/* xalloc: allocation wrappers that abort on exhaustion. */
#include "core/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
    char line[128];
    int len = snprintf(line, sizeof(line),
                       "{\"level\":\"error\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
    if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
        abort();
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xmemdup0(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    return xmemdup0(s, strnlen(s, n));
}

char *xmemdup0(const void *p, size_t n)
{
    char *s = xmalloc(n + 1);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    /* GCC 12 with -fsanitize=undefined -O1 sees a path where the nonnull check on |fmt|
     * falls through and warns "null format string" (-Wformat-truncation); ruling the path
     * out keeps sanitizer builds compiling with -Werror. */
    if (!fmt)
        abort();
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        abort(); /* only an invalid format string gets here: a programming error */
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}
