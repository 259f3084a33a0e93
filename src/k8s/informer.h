/* informer: a watch-driven cache of one resource kind. It lists (paged), then watches from
 * the list's resourceVersion, resumes closed watches, relists after 410 Gone and emits the
 * differences as events, and backs off on failures like client-go's reflector. The cache
 * holds the caller's compact records, keyed by "namespace/name". */
#ifndef K8S_INFORMER_H
#define K8S_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct k8s_client;
struct k8s_informer;

enum k8s_event_type { K8S_EVENT_ADDED, K8S_EVENT_MODIFIED, K8S_EVENT_DELETED };

struct k8s_informer_ops {
    /* Builds the compact record for a full object; NULL = skip the object (logged). The
     * informer owns the record afterwards. */
    void *(*decode)(const json_t *obj, void *data);
    void (*release)(void *record, void *data);
    /* Every change: ADDED (old NULL), MODIFIED (both), DELETED (new NULL). Records are
     * valid during the callback; |old| is released right after. Relists emit the
     * differences as these events. */
    void (*on_event)(enum k8s_event_type type, const void *old_rec, const void *new_rec,
                     void *data);
    /* The first complete list, and every relist after a 410 (optional, may be NULL). */
    void (*on_synced)(void *data);
};

enum k8s_resource { K8S_RESOURCE_JOBS, K8S_RESOURCE_PODS };

/* |namespaces|: NULL-terminated list (one list+watch per namespace), copied; NULL watches
 * all namespaces with one list+watch. |label_selector| (copied, may be NULL) e.g.
 * "app.kubernetes.io/managed-by=jobscheduler". |ops| is borrowed and must outlive the
 * informer. The client keeps a reference so k8s_client_close stops and frees it. */
struct k8s_informer *k8s_informer_new(struct k8s_client *c, enum k8s_resource res,
                                      const char *const *namespaces, const char *label_selector,
                                      const struct k8s_informer_ops *ops, void *data);
/* Starts listing. Returns 0 or -EALREADY. */
int k8s_informer_start(struct k8s_informer *inf);
/* True once every namespace has completed its first list (and again after a relist). */
bool k8s_informer_synced(const struct k8s_informer *inf);
size_t k8s_informer_count(const struct k8s_informer *inf);
/* Returns the record or NULL; valid until the next event callback or loop turn. */
const void *k8s_informer_get(const struct k8s_informer *inf, const char *ns, const char *name);
/* Visits every record (no mutation during the walk). */
void k8s_informer_foreach(const struct k8s_informer *inf, void (*cb)(const void *rec, void *data),
                          void *data);
/* Read-your-writes: applies an object returned by create/patch now (as ADDED/MODIFIED)
 * unless the cache already holds it at the same or a newer resourceVersion; the later watch
 * event for the same version is then a no-op. |obj| is borrowed. */
void k8s_informer_apply(struct k8s_informer *inf, const json_t *obj);
/* Stops the informer's I/O and frees it with every record (released through ops). No
 * callback runs after it returns. Not from inside the informer's own callbacks (ops). */
void k8s_informer_free(struct k8s_informer *inf);

#endif
