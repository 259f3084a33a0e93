/* xalloc: allocation that never returns NULL. Out of memory logs one line and aborts:
 * we are a service, Kubernetes restarts us, and error paths stay for real I/O failures. */
#ifndef CORE_XALLOC_H
#define CORE_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Copies |n| bytes of |p| into a new NUL-terminated string. */
char *xmemdup0(const void *p, size_t n);
/* Formats into a new string the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
