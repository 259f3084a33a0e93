/* url: builds API paths and query strings with RFC 3986 percent-encoding, so a label
 * selector such as "tier in (a,b)" or a continue token reaches the server intact. */
#ifndef K8S_URL_H
#define K8S_URL_H

#include <stdbool.h>

#include "core/buf.h"

/* Appends |s| percent-encoded: everything but unreserved characters (A-Z a-z 0-9 - . _ ~)
 * is escaped. Returns 0 or -EMSGSIZE. */
int k8s_url_escape(struct buf *out, const char *s);

/* Appends the collection path of a resource: "/apis/batch/v1/namespaces/NS/jobs", or the
 * all-namespaces form when |ns| is NULL; then "/NAME" when |name| is set. |group_version|
 * is "batch/v1" or "v1" (the core group lives under /api). Returns 0 or -EMSGSIZE. */
int k8s_url_path(struct buf *out, const char *group_version, const char *plural, const char *ns,
                 const char *name);

/* Appends "?key=value" or "&key=value" (|first| chooses), escaping |value|; nothing when
 * |value| is NULL. Returns 0 or -EMSGSIZE. */
int k8s_url_query(struct buf *out, bool *first, const char *key, const char *value);

/* Same for an integer. */
int k8s_url_query_int(struct buf *out, bool *first, const char *key, long long value);

#endif
