/* url: percent-encoding and API path building. */
#include "k8s/url.h"

#include <stdio.h>
#include <string.h>

static bool is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int k8s_url_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        int rc = is_unreserved(*p) ? buf_append(out, p, 1) : buf_append(out, enc, 3);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int k8s_url_path(struct buf *out, const char *group_version, const char *plural, const char *ns,
                 const char *name)
{
    int rc = buf_appendf(out, "/%s/%s", strchr(group_version, '/') ? "apis" : "api", group_version);
    if (rc == 0 && ns) {
        rc = buf_append_str(out, "/namespaces/");
        if (rc == 0)
            rc = k8s_url_escape(out, ns);
    }
    if (rc == 0)
        rc = buf_appendf(out, "/%s", plural);
    if (rc == 0 && name) {
        rc = buf_append_str(out, "/");
        if (rc == 0)
            rc = k8s_url_escape(out, name);
    }
    return rc;
}

int k8s_url_query(struct buf *out, bool *first, const char *key, const char *value)
{
    int rc;

    if (!value)
        return 0;
    rc = buf_appendf(out, "%c%s=", *first ? '?' : '&', key);
    *first = false;
    return rc == 0 ? k8s_url_escape(out, value) : rc;
}

int k8s_url_query_int(struct buf *out, bool *first, const char *key, long long value)
{
    char num[24];

    snprintf(num, sizeof(num), "%lld", value);
    return k8s_url_query(out, first, key, num);
}
