/* service: lifecycle of the JobScheduler service, its caches and shared helpers. */
#include "jobs/service_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "grpc/server.h"
#include "jobs/validate.h"

/* ---- pods: why an active job's pod has not started ---- */

struct pod_record {
    const char *ns, *pod, *job;   /* job: the pod's job-name label */
    const char *reason, *message; /* container waiting state, or NULL when not waiting */
};

struct pod_wait {
    struct k8s_table_node node; /* key: "ns/job" */
    char *pod;
    char *reason;
    char *message;
    char key[];
};

/* Waiting reasons that explain a job stuck before its container starts. ContainerCreating
 * and PodInitializing are normal start-up and do not count. */
static bool reason_explains_wait(const char *reason)
{
    return reason && strcmp(reason, "ContainerCreating") != 0 &&
           strcmp(reason, "PodInitializing") != 0;
}

static bool phase_is(const json_t *pod, const char *phase)
{
    const char *p = json_path_str(pod, "status.phase");
    return p && strcmp(p, phase) == 0;
}

static void *pod_decode(const json_t *obj, void *data)
{
    (void)data;
    const char *ns = json_path_str(obj, "metadata.namespace");
    const char *pod = json_path_str(obj, "metadata.name");
    json_t *labels = json_path_obj(obj, "metadata.labels");
    const char *job = json_string_value(json_object_get(labels, "batch.kubernetes.io/job-name"));
    if (!job)
        job = json_string_value(json_object_get(labels, "job-name"));
    if (!ns || !pod || !job)
        return NULL;
    const char *reason = NULL, *message = NULL;
    json_t *statuses = json_path_array(obj, "status.containerStatuses");
    if (json_array_size(statuses) > 0 && phase_is(obj, "Pending")) {
        json_t *cs = json_array_get(statuses, 0);
        reason = json_path_str(cs, "state.waiting.reason");
        message = json_path_str(cs, "state.waiting.message");
    }
    if (!reason_explains_wait(reason))
        reason = message = NULL;
    size_t n = strlen(ns) + strlen(pod) + strlen(job) + 3 + (reason ? strlen(reason) + 1 : 0) +
               (message ? strlen(message) + 1 : 0);
    struct pod_record *r = xmalloc(sizeof(*r) + n);
    char *p = (char *)(r + 1);
#define COPY(field, src)                                                                           \
    do {                                                                                           \
        if (src) {                                                                                 \
            size_t len_ = strlen(src) + 1;                                                         \
            memcpy(p, src, len_);                                                                  \
            r->field = p;                                                                          \
            p += len_;                                                                             \
        } else {                                                                                   \
            r->field = NULL;                                                                       \
        }                                                                                          \
    } while (0)
    COPY(ns, ns);
    COPY(pod, pod);
    COPY(job, job);
    COPY(reason, reason);
    COPY(message, message);
#undef COPY
    return r;
}

static void record_release(void *rec, void *data)
{
    (void)data;
    free(rec);
}

static void pod_wait_free(struct pod_wait *w)
{
    free(w->pod);
    free(w->reason);
    free(w->message);
    free(w);
}

/* Updates the wait entry of the pod's job; returns true when what the job reports changed. */
static bool pod_wait_update(struct jobs_service *svc, const struct pod_record *pod, bool gone)
{
    char key[320];
    snprintf(key, sizeof(key), "%s/%s", pod->ns, pod->job);
    struct k8s_table_node *node = k8s_table_get(&svc->pod_waits, key);
    struct pod_wait *w = node ? (struct pod_wait *)node : NULL;
    if (gone || !pod->reason) {
        if (!w || strcmp(w->pod, pod->pod) != 0)
            return false;
        k8s_table_remove(&svc->pod_waits, &w->node);
        pod_wait_free(w);
        return true;
    }
    if (w && strcmp(w->reason, pod->reason) == 0 &&
        strcmp(w->message ? w->message : "", pod->message ? pod->message : "") == 0)
        return false;
    if (w) {
        k8s_table_remove(&svc->pod_waits, &w->node);
        pod_wait_free(w);
    }
    w = xcalloc(1, sizeof(*w) + strlen(key) + 1);
    memcpy(w->key, key, strlen(key) + 1);
    w->node.key = w->key;
    w->pod = xstrdup(pod->pod);
    w->reason = xstrdup(pod->reason);
    w->message = pod->message ? xstrdup(pod->message) : NULL;
    k8s_table_insert(&svc->pod_waits, &w->node);
    return true;
}

static void pod_event(enum k8s_event_type type, const void *old_rec, const void *new_rec,
                      void *data)
{
    struct jobs_service *svc = data;
    const struct pod_record *pod = new_rec ? new_rec : old_rec;
    if (!pod_wait_update(svc, pod, type == K8S_EVENT_DELETED))
        return;
    /* The job's message (and maybe state) changed: tell WatchJobs streams. */
    const struct job_record *job = k8s_informer_get(svc->jobs, pod->ns, pod->job);
    if (job)
        jobs_watch_notify(svc, K8S_EVENT_MODIFIED, job);
}

static const struct k8s_informer_ops pod_ops = {
    .decode = pod_decode,
    .release = record_release,
    .on_event = pod_event,
};

const char *jobs_pod_reason(const struct jobs_service *svc, const struct job_record *r,
                            const char **message)
{
    *message = NULL;
    if (r->active == 0 || svc->pod_waits.count == 0)
        return NULL;
    char key[320];
    snprintf(key, sizeof(key), "%s/%s", r->ns, r->name);
    struct k8s_table_node *node = k8s_table_get(&svc->pod_waits, key);
    if (!node)
        return NULL;
    const struct pod_wait *w = (const struct pod_wait *)node;
    *message = w->message;
    return w->reason;
}

/* ---- jobs cache ---- */

static void *job_decode(const json_t *obj, void *data)
{
    (void)data;
    return job_record_decode(obj);
}

static void job_event(enum k8s_event_type type, const void *old_rec, const void *new_rec,
                      void *data)
{
    struct jobs_service *svc = data;
    const struct job_record *r = new_rec ? new_rec : old_rec;
    if (type == K8S_EVENT_DELETED) {
        /* Its pods go with it; drop a wait entry that would otherwise linger. */
        struct pod_record gone = {.ns = r->ns, .job = r->name, .pod = ""};
        char key[320];
        snprintf(key, sizeof(key), "%s/%s", r->ns, r->name);
        struct k8s_table_node *node = k8s_table_get(&svc->pod_waits, key);
        if (node) {
            gone.pod = ((struct pod_wait *)node)->pod;
            pod_wait_update(svc, &gone, true);
        }
    }
    jobs_watch_notify(svc, type, r);
}

static void job_synced(void *data)
{
    struct jobs_service *svc = data;
    if (svc->synced)
        return;
    svc->synced = true;
    log_info("jobs", "job cache synced", LOG_INT("jobs", (long long)k8s_informer_count(svc->jobs)));
    if (svc->synced_cb)
        svc->synced_cb(svc->synced_data);
}

static const struct k8s_informer_ops job_ops = {
    .decode = job_decode,
    .release = record_release,
    .on_event = job_event,
    .on_synced = job_synced,
};

void jobs_finish_not_found(struct grpc_call *call, const char *ns, const char *job_id)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "job %.64s not found in namespace %.64s", job_id, ns);
    grpc_call_finish(call, NULL, GRPC_STATUS_NOT_FOUND, msg);
}

/* A Job of the same name that jobscheduler did not create is not one of ours: it is never
 * cached, reported or changed. */
static bool is_managed(const json_t *job)
{
    const char *v = json_string_value(
        json_object_get(json_path_obj(job, "metadata.labels"), JOBS_LABEL_MANAGED_BY));
    return v && strcmp(v, JOBS_MANAGED_BY_VALUE) == 0;
}

struct job_record *jobs_take_job(struct jobs_service *svc, struct grpc_call *call,
                                 const struct k8s_result *res, const char *ns, const char *job_id)
{
    if (res->error == K8S_ERR_NOT_FOUND || (res->error == K8S_OK && !is_managed(res->body))) {
        jobs_finish_not_found(call, ns, job_id);
        return NULL;
    }
    if (res->error != K8S_OK) {
        jobs_finish_k8s_error(call, res);
        return NULL;
    }
    if (svc->jobs)
        k8s_informer_apply(svc->jobs, res->body);
    struct job_record *r = job_record_decode(res->body);
    if (!r)
        grpc_call_finish(call, NULL, GRPC_STATUS_INTERNAL, "kubernetes: malformed Job");
    return r;
}

/* ---- shared helpers ---- */

const char *jobs_namespace(struct jobs_service *svc, struct grpc_call *call, const char *ns)
{
    if (!ns || !*ns)
        return svc->cfg->k8s_namespace;
    for (const char *const *p = config_namespaces(svc->cfg); *p; p++)
        if (strcmp(*p, ns) == 0)
            return *p;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "namespace \"%.64s\" is not allowed (allowed: see "
             "ALLOWED_NAMESPACES)",
             ns);
    if (!validate_dns_label(ns))
        snprintf(msg, sizeof(msg), "namespace \"%.64s\" is not a valid namespace name", ns);
    grpc_call_finish(
        call, NULL,
        validate_dns_label(ns) ? GRPC_STATUS_PERMISSION_DENIED : GRPC_STATUS_INVALID_ARGUMENT, msg);
    return NULL;
}

bool jobs_check_job_id(struct grpc_call *call, const char *job_id)
{
    if (!*job_id) {
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, "job_id is required");
        return false;
    }
    if (!validate_dns_label(job_id)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "job_id \"%.64s\" is not a valid job id", job_id);
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, msg);
        return false;
    }
    return true;
}

static enum grpc_status status_for(enum k8s_error e)
{
    switch (e) {
    case K8S_OK:
        return GRPC_STATUS_OK;
    case K8S_ERR_NOT_FOUND:
        return GRPC_STATUS_NOT_FOUND;
    case K8S_ERR_ALREADY_EXISTS:
        return GRPC_STATUS_ALREADY_EXISTS;
    case K8S_ERR_CONFLICT:
        return GRPC_STATUS_ABORTED;
    case K8S_ERR_INVALID:
    case K8S_ERR_BAD_REQUEST:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case K8S_ERR_FORBIDDEN:
        return GRPC_STATUS_PERMISSION_DENIED;
    case K8S_ERR_GONE:
        return GRPC_STATUS_ABORTED;
    case K8S_ERR_PROTOCOL:
        return GRPC_STATUS_INTERNAL;
    case K8S_ERR_UNAUTHORIZED:
    case K8S_ERR_TOO_MANY_REQUESTS:
    case K8S_ERR_SERVER:
    case K8S_ERR_TIMEOUT:
    case K8S_ERR_UNAVAILABLE:
    case K8S_ERR_CANCELLED:
        return GRPC_STATUS_UNAVAILABLE;
    }
    return GRPC_STATUS_UNKNOWN;
}

void jobs_finish_k8s_error(struct grpc_call *call, const struct k8s_result *res)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "kubernetes: %s", res->message ? res->message : "request failed");
    grpc_call_finish(call, NULL, status_for(res->error), msg);
}

Jobscheduler__JobState jobs_state(const struct jobs_service *svc, const struct job_record *r)
{
    const char *message;
    return job_record_state(r, jobs_pod_reason(svc, r, &message));
}

void jobs_to_proto(const struct jobs_service *svc, const struct job_record *r, struct scratch *s,
                   Jobscheduler__Job *out)
{
    const char *message;
    const char *reason = jobs_pod_reason(svc, r, &message);
    job_record_to_proto(r, reason, message, scratch_alloc, s, out);
}

/* ---- metrics ---- */

static void count_state(const void *rec, void *data)
{
    struct jobs_service *svc = data;
    const struct job_record *r = rec;
    static const char *const lower[] = {"unspecified", "pending", "running",
                                        "succeeded",   "failed",  "cancelled"};
    const char *values[] = {r->type ? r->type : "unknown", lower[jobs_state(svc, r)]};
    metric_add(metric_family_child(svc->by_state, values), 1);
}

/* jobscheduler_jobs{type,state} is counted at scrape time from the cache: states depend on
 * pods too, and one pass over the cache per scrape is cheap next to tracking every edge. */
static void collect_states(struct metrics *m, void *data)
{
    (void)m;
    struct jobs_service *svc = data;
    metric_family_clear(svc->by_state);
    if (svc->jobs && !svc->stopped)
        k8s_informer_foreach(svc->jobs, count_state, svc);
}

static void register_metrics(struct jobs_service *svc, struct metrics *m)
{
    static const char *const type_label[] = {"type", NULL};
    static const char *const state_labels[] = {"type", "state", NULL};
    svc->scheduled = metrics_counter(m, "jobscheduler_jobs_scheduled_total",
                                     "Jobs created through ScheduleJob, by type.", type_label);
    svc->by_state = metrics_gauge(m, "jobscheduler_jobs", "Jobs in the cache, by type and state.",
                                  state_labels);
    svc->cancelled = metric_family_child(metrics_counter(m, "jobscheduler_jobs_cancelled_total",
                                                         "Jobs cancelled through CancelJob.", NULL),
                                         NULL);
    metrics_add_collector(m, collect_states, svc);
}

/* ---- lifecycle ---- */

static const struct grpc_method methods[] = {
    {"jobscheduler.JobScheduler", "ScheduleJob", GRPC_METHOD_UNARY,
     &jobscheduler__schedule_job_request__descriptor,
     &jobscheduler__schedule_job_response__descriptor, jobs_schedule, NULL},
    {"jobscheduler.JobScheduler", "GetJobStatus", GRPC_METHOD_UNARY,
     &jobscheduler__get_job_status_request__descriptor,
     &jobscheduler__get_job_status_response__descriptor, jobs_get_status, NULL},
    {"jobscheduler.JobScheduler", "ListJobs", GRPC_METHOD_UNARY,
     &jobscheduler__list_jobs_request__descriptor, &jobscheduler__list_jobs_response__descriptor,
     jobs_list, NULL},
    {"jobscheduler.JobScheduler", "CancelJob", GRPC_METHOD_UNARY,
     &jobscheduler__cancel_job_request__descriptor, &jobscheduler__cancel_job_response__descriptor,
     jobs_cancel, NULL},
    {"jobscheduler.JobScheduler", "WatchJobs", GRPC_METHOD_SERVER_STREAMING,
     &jobscheduler__watch_jobs_request__descriptor, &jobscheduler__job_event__descriptor,
     jobs_watch, NULL},
};

struct jobs_service *jobs_service_new(const struct config *cfg, struct metrics *metrics,
                                      struct k8s_client *k8s, struct grpc_server *grpc)
{
    struct jobs_service *svc = xcalloc(1, sizeof(*svc));
    svc->cfg = cfg;
    svc->k8s = k8s;
    k8s_table_init(&svc->pod_waits);
    register_metrics(svc, metrics);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct grpc_method m = methods[i];
        m.data = svc;
        grpc_server_register(grpc, &m);
    }
    return svc;
}

void jobs_service_on_synced(struct jobs_service *svc, void (*cb)(void *data), void *data)
{
    svc->synced_cb = cb;
    svc->synced_data = data;
}

int jobs_service_start(struct jobs_service *svc)
{
    const char *const *ns = config_namespaces(svc->cfg);
    svc->jobs = k8s_informer_new(svc->k8s, K8S_RESOURCE_JOBS, ns, JOBS_SELECTOR, &job_ops, svc);
    svc->pods = k8s_informer_new(svc->k8s, K8S_RESOURCE_PODS, ns, JOBS_SELECTOR, &pod_ops, svc);
    int rc = k8s_informer_start(svc->jobs);
    if (rc == 0)
        rc = k8s_informer_start(svc->pods);
    if (rc != 0)
        log_error("jobs", "cannot start the job cache", LOG_INT("error", rc));
    return rc;
}

bool jobs_service_synced(const struct jobs_service *svc)
{
    /* The informer drops its synced flag while its list or watch fails (API server down), so
     * readiness follows the cache's health, not just its first list. */
    return svc->synced && !svc->stopped && k8s_informer_synced(svc->jobs);
}

void jobs_service_stop(struct jobs_service *svc)
{
    if (svc->stopped)
        return;
    svc->stopped = true;
    jobs_watch_stop_all(svc);
    if (svc->pods)
        k8s_informer_free(svc->pods);
    if (svc->jobs)
        k8s_informer_free(svc->jobs);
    svc->pods = svc->jobs = NULL;
}

void jobs_service_free(struct jobs_service *svc)
{
    if (!svc)
        return;
    jobs_service_stop(svc);
    size_t bucket = 0;
    struct k8s_table_node *next = NULL, *node;
    while ((node = k8s_table_next(&svc->pod_waits, &bucket, &next)))
        pod_wait_free((struct pod_wait *)node);
    k8s_table_deinit(&svc->pod_waits);
    free(svc);
}
