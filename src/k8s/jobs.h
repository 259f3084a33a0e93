/* jobs: the batch/v1 Jobs API (create, get, list, merge-patch, delete) and the core/v1 Pods
 * list, as asynchronous calls whose errors arrive typed (k8s/error.h). */
#ifndef K8S_JOBS_H
#define K8S_JOBS_H

#include <jansson.h>

#include "k8s/client.h"

enum k8s_create_flags {
    /* The name is derived from the request, so a replayed create answers AlreadyExists
     * (which the caller resolves) instead of creating a duplicate: the create is retried. */
    K8S_CREATE_DETERMINISTIC_NAME = 1,
};

/* Page size the informer lists with. */
#define K8S_LIST_PAGE 500

/* All return 0 (|cb| will run exactly once, always asynchronously) or a negative errno
 * (|cb| never runs): -EINVAL for a missing or over-long argument, -ESHUTDOWN when the
 * client is closing. json arguments are borrowed (serialized before returning). */
int k8s_jobs_create(struct k8s_client *c, const char *ns, json_t *job, int flags, k8s_result_cb cb,
                    void *data);
int k8s_jobs_get(struct k8s_client *c, const char *ns, const char *name, k8s_result_cb cb,
                 void *data);
/* |ns| NULL: all namespaces. |label_selector| and |cont| (a continue token) may be NULL;
 * |limit| <= 0: no limit. */
int k8s_jobs_list(struct k8s_client *c, const char *ns, const char *label_selector, int limit,
                  const char *cont, k8s_result_cb cb, void *data);
/* JSON merge patch (RFC 7386). */
int k8s_jobs_patch(struct k8s_client *c, const char *ns, const char *name, json_t *merge_patch,
                   k8s_result_cb cb, void *data);
/* |propagation|: "Background", "Foreground", "Orphan", or NULL for the server default. */
int k8s_jobs_delete(struct k8s_client *c, const char *ns, const char *name, const char *propagation,
                    k8s_result_cb cb, void *data);
/* Pods: list (same shape as k8s_jobs_list). */
int k8s_pods_list(struct k8s_client *c, const char *ns, const char *label_selector, int limit,
                  const char *cont, k8s_result_cb cb, void *data);

#endif
