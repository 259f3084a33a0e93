/* validate: Kubernetes and URL syntax checks for request fields. */
#include "jobs/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

bool validate_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
static bool dns_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            char label[64];
            size_t len = i - start;
            if (len == 0 || len > 63)
                return false;
            memcpy(label, s + start, len);
            label[len] = '\0';
            if (!validate_dns_label(label))
                return false;
            start = i + 1;
        }
    }
    return true;
}

static bool label_name(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool validate_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return label_name(s, strlen(s));
    return dns_subdomain(s, (size_t)(slash - s)) && label_name(slash + 1, strlen(slash + 1));
}

bool validate_label_value(const char *s)
{
    return *s == '\0' || label_name(s, strlen(s));
}

bool validate_env_name(const char *s)
{
    if (!*s || strlen(s) > 256 || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static bool path_component(const char *s, size_t n)
{
    /* [a-z0-9]+ separated by '.', '_', '__' or runs of '-' (distribution's grammar). */
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool registry_host(const char *s, size_t n)
{
    /* A first component is a registry when it has a '.' or ':' or is "localhost". */
    const char *colon = memchr(s, ':', n);
    size_t hn = colon ? (size_t)(colon - s) : n;
    if (hn == 0)
        return false;
    for (size_t i = 0; i < hn; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    if (colon) {
        size_t pn = n - hn - 1;
        if (pn == 0 || pn > 5)
            return false;
        for (size_t i = hn + 1; i < n; i++)
            if (!isdigit((unsigned char)s[i]))
                return false;
    }
    return true;
}

static bool tag_ok(const char *t, size_t n)
{
    if (n == 0 || n > 128 || !(is_alnum(t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

static bool digest_ok(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0 || strlen(d + 7) != 64)
        return false;
    for (d += 7; *d; d++)
        if (!isdigit((unsigned char)*d) && !(*d >= 'a' && *d <= 'f'))
            return false;
    return true;
}

/* Checks name[:tag] components separated by '/', the first possibly a registry host. */
static bool name_and_tag(const char *s, size_t n)
{
    size_t start = 0;
    bool first = true;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        const char *c = s + start;
        size_t len = i - start;
        bool last = i == n;
        const char *colon = last ? memchr(c, ':', len) : NULL;
        size_t name_len = colon ? (size_t)(colon - c) : len;
        bool host = first && !last &&
                    (memchr(c, '.', len) || memchr(c, ':', len) ||
                     (len == 9 && memcmp(c, "localhost", 9) == 0));
        if (host ? !registry_host(c, len) : !path_component(c, name_len))
            return false;
        if (colon && !tag_ok(colon + 1, len - name_len - 1))
            return false;
        first = false;
        start = i + 1;
    }
    return true;
}

bool validate_image_ref(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 512)
        return false;
    const char *at = strchr(s, '@');
    if (at && !digest_ok(at + 1))
        return false;
    return name_and_tag(s, at ? (size_t)(at - s) : n);
}

static bool host_ok(const char *h, size_t n)
{
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        for (size_t i = 1; i < n - 1; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return false;
        return n > 2;
    }
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(h[i]) && h[i] != '-' && h[i] != '.')
            return false;
    return is_alnum(h[0]) && is_alnum(h[n - 1]);
}

bool validate_endpoint_url(const char *s)
{
    const char *p;
    if (strncmp(s, "http://", 7) == 0)
        p = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        p = s + 8;
    else
        return false;
    size_t hostport = strcspn(p, "/");
    const char *end = p + hostport;
    const char *colon = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', hostport);
        if (!close)
            return false;
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        if (close + 1 < end && !colon)
            return false;
    } else {
        colon = memchr(p, ':', hostport);
    }
    size_t hn = colon ? (size_t)(colon - p) : hostport;
    if (!host_ok(p, hn))
        return false;
    if (colon) {
        char port[8];
        size_t pn = (size_t)(end - colon - 1);
        if (pn == 0 || pn > 5)
            return false;
        memcpy(port, colon + 1, pn);
        port[pn] = '\0';
        for (size_t i = 0; i < pn; i++)
            if (!isdigit((unsigned char)port[i]))
                return false;
        long v = strtol(port, NULL, 10);
        if (v < 1 || v > 65535)
            return false;
    }
    for (const char *q = end; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '#' || *q == '"')
            return false;
    return strlen(s) <= 2048;
}

/* Length of the well-formed UTF-8 sequence at |p| (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

bool validate_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t len = utf8_seq(p);
        if (len == 0)
            return false;
        p += len;
    }
    return true;
}

bool validate_text(const char *s, size_t max)
{
    /* protobuf-c does not check that strings are UTF-8, and jansson refuses to encode one
     * that is not: text that reaches a Job object must be checked here. */
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t len = utf8_seq(p);
        if (len == 0 || *p < 0x20 || *p == 0x7f)
            return false;
        i += len;
    }
    return true;
}

bool validate_sanitize_label_value(const char *s, char out[64])
{
    size_t n = 0;
    for (; *s && n < 63; s++)
        out[n++] = (is_alnum(*s) || *s == '_' || *s == '.' || *s == '-') ? *s : '-';
    out[n] = '\0';
    size_t start = 0;
    while (start < n && !is_alnum(out[start]))
        start++;
    while (n > start && !is_alnum(out[n - 1]))
        n--;
    memmove(out, out + start, n - start);
    out[n - start] = '\0';
    return n > start;
}

int validate_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}
