/* store: the informer's cache without I/O: records keyed by "namespace/name" with their
 * resourceVersions, watch events applied in order, and relists diffed against what is
 * held so the changes come out as ADDED/MODIFIED/DELETED events. Unit-tested alone. */
#ifndef K8S_STORE_H
#define K8S_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/informer.h"

struct k8s_store;
struct k8s_store_relist;

/* |ops| is borrowed and must outlive the store; |data| is passed to every op. */
struct k8s_store *k8s_store_new(const struct k8s_informer_ops *ops, void *data);
/* Releases every record (without events) and frees the store. */
void k8s_store_free(struct k8s_store *s);

/* Applies one watch event (or a read-your-writes object as ADDED/MODIFIED). An object
 * at the same or an older resourceVersion than the cached one is ignored, as is a DELETED
 * older than the cached object. Returns 1 when the cache changed (and on_event ran), 0 for
 * a no-op, -EINVAL for an object without metadata.name or resourceVersion, or -ENOENT
 * when decode declined it. */
int k8s_store_apply(struct k8s_store *s, enum k8s_event_type type, const json_t *obj);

/* Starts collecting a full list of |ns| (NULL: every namespace), replacing the store's view
 * of that scope when it ends. |ns| is copied. */
struct k8s_store_relist *k8s_store_relist_begin(struct k8s_store *s, const char *ns);
/* Adds one listed object. Returns 0, -EINVAL or -ENOENT as k8s_store_apply. */
int k8s_store_relist_add(struct k8s_store_relist *rl, const json_t *obj);
/* Replaces the scope with the collected objects and emits the differences. Cached entries
 * newer than |list_rv| (applied while the list ran) are kept. Frees |rl|. */
void k8s_store_relist_end(struct k8s_store *s, struct k8s_store_relist *rl, const char *list_rv);
/* Drops a partial list. Frees |rl|. */
void k8s_store_relist_abort(struct k8s_store *s, struct k8s_store_relist *rl);

size_t k8s_store_count(const struct k8s_store *s);
const void *k8s_store_get(const struct k8s_store *s, const char *ns, const char *name);
/* The cached resourceVersion of an object, or NULL. */
const char *k8s_store_rv(const struct k8s_store *s, const char *ns, const char *name);
void k8s_store_foreach(const struct k8s_store *s, void (*cb)(const void *rec, void *data),
                       void *data);

/* Orders resourceVersions. They are opaque strings by contract, but every API server
 * (etcd's revision, the simulator's counter) issues decimal integers; when either is not
 * one, only equality is known and this returns 0 for equal, 2 otherwise. */
int k8s_store_rv_compare(const char *a, const char *b);

#endif
