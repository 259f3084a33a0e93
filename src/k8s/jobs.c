/* jobs: request building for the Jobs and Pods APIs; transport and errors are the
 * client's. */
#include "k8s/jobs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "k8s/url.h"

#define JOBS_MAX_PATH 8192

struct res_info {
    const char *group_version;
    const char *plural;
};

static const struct res_info jobs_res = {"batch/v1", "jobs"};
static const struct res_info pods_res = {"v1", "pods"};

static bool valid_arg(const char *s)
{
    return s && s[0] && strlen(s) <= 253;
}

static int submit(struct k8s_client *c, struct k8s_call_opts *o, struct buf *path, k8s_result_cb cb,
                  void *data)
{
    const char *p = buf_cstr(path);
    int rc;

    if (!p) {
        buf_deinit(path);
        return -EINVAL;
    }
    o->path = p;
    rc = k8s_client_submit(c, o, cb, data, NULL);
    buf_deinit(path);
    return rc;
}

static int submit_json(struct k8s_client *c, struct k8s_call_opts *o, struct buf *path,
                       json_t *body, k8s_result_cb cb, void *data)
{
    char *text = json_dumps(body, JSON_COMPACT);
    int rc;

    if (!text) {
        buf_deinit(path);
        return -EINVAL;
    }
    o->body = text;
    o->body_len = strlen(text);
    rc = submit(c, o, path, cb, data);
    free(text);
    return rc;
}

int k8s_jobs_create(struct k8s_client *c, const char *ns, json_t *job, int flags, k8s_result_cb cb,
                    void *data)
{
    struct buf path;
    struct k8s_call_opts o = {
        .method = "POST", .verb = "create", .resource = "jobs", .content_type = "application/json"};

    if (!valid_arg(ns) || !json_is_object(job))
        return -EINVAL;
    if (flags & K8S_CREATE_DETERMINISTIC_NAME)
        o.flags |= K8S_CALL_IDEMPOTENT;
    buf_init(&path, JOBS_MAX_PATH);
    if (k8s_url_path(&path, jobs_res.group_version, jobs_res.plural, ns, NULL) < 0) {
        buf_deinit(&path);
        return -EINVAL;
    }
    return submit_json(c, &o, &path, job, cb, data);
}

static int one_object(struct k8s_client *c, struct k8s_call_opts *o, const char *ns,
                      const char *name, struct buf *path)
{
    (void)c;
    (void)o;
    if (!valid_arg(ns) || !valid_arg(name))
        return -EINVAL;
    buf_init(path, JOBS_MAX_PATH);
    if (k8s_url_path(path, jobs_res.group_version, jobs_res.plural, ns, name) < 0) {
        buf_deinit(path);
        return -EINVAL;
    }
    return 0;
}

int k8s_jobs_get(struct k8s_client *c, const char *ns, const char *name, k8s_result_cb cb,
                 void *data)
{
    struct buf path;
    struct k8s_call_opts o = {
        .method = "GET", .verb = "get", .resource = "jobs", .flags = K8S_CALL_IDEMPOTENT};
    int rc = one_object(c, &o, ns, name, &path);

    return rc < 0 ? rc : submit(c, &o, &path, cb, data);
}

int k8s_jobs_patch(struct k8s_client *c, const char *ns, const char *name, json_t *merge_patch,
                   k8s_result_cb cb, void *data)
{
    struct buf path;
    struct k8s_call_opts o = {.method = "PATCH",
                              .verb = "patch",
                              .resource = "jobs",
                              .flags = K8S_CALL_IDEMPOTENT,
                              .content_type = "application/merge-patch+json"};
    int rc;

    if (!json_is_object(merge_patch))
        return -EINVAL;
    rc = one_object(c, &o, ns, name, &path);
    return rc < 0 ? rc : submit_json(c, &o, &path, merge_patch, cb, data);
}

int k8s_jobs_delete(struct k8s_client *c, const char *ns, const char *name, const char *propagation,
                    k8s_result_cb cb, void *data)
{
    struct buf path;
    struct k8s_call_opts o = {
        .method = "DELETE", .verb = "delete", .resource = "jobs", .flags = K8S_CALL_IDEMPOTENT};
    bool first = true;
    int rc = one_object(c, &o, ns, name, &path);

    if (rc < 0)
        return rc;
    /* The query form of propagationPolicy needs no DeleteOptions body. */
    if (k8s_url_query(&path, &first, "propagationPolicy", propagation) < 0) {
        buf_deinit(&path);
        return -EINVAL;
    }
    return submit(c, &o, &path, cb, data);
}

static int list(struct k8s_client *c, const struct res_info *r, const char *ns,
                const char *label_selector, int limit, const char *cont, k8s_result_cb cb,
                void *data)
{
    struct buf path;
    struct k8s_call_opts o = {
        .method = "GET", .verb = "list", .resource = r->plural, .flags = K8S_CALL_IDEMPOTENT};
    bool first = true;
    int rc;

    if (ns && !valid_arg(ns))
        return -EINVAL;
    buf_init(&path, JOBS_MAX_PATH);
    rc = k8s_url_path(&path, r->group_version, r->plural, ns, NULL);
    if (rc == 0 && label_selector && label_selector[0])
        rc = k8s_url_query(&path, &first, "labelSelector", label_selector);
    if (rc == 0 && limit > 0)
        rc = k8s_url_query_int(&path, &first, "limit", limit);
    if (rc == 0 && cont && cont[0])
        rc = k8s_url_query(&path, &first, "continue", cont);
    if (rc < 0) {
        buf_deinit(&path);
        return -EINVAL;
    }
    return submit(c, &o, &path, cb, data);
}

int k8s_jobs_list(struct k8s_client *c, const char *ns, const char *label_selector, int limit,
                  const char *cont, k8s_result_cb cb, void *data)
{
    return list(c, &jobs_res, ns, label_selector, limit, cont, cb, data);
}

int k8s_pods_list(struct k8s_client *c, const char *ns, const char *label_selector, int limit,
                  const char *cont, k8s_result_cb cb, void *data)
{
    return list(c, &pods_res, ns, label_selector, limit, cont, cb, data);
}
