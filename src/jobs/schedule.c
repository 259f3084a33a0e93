/* schedule: ScheduleJob — validate, build the Job, create it, and make replays idempotent.
 * With a request_id the Job's name derives from it, so Kubernetes itself refuses a second
 * Job for the same request across retries, restarts and replicas; the AlreadyExists answer
 * is then resolved to the existing job when its recorded fingerprint matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "jobs/job_type.h"
#include "jobs/manifest.h"
#include "jobs/service_int.h"

#define RANDOM_NAME_ATTEMPTS 3

struct schedule_op {
    struct jobs_service *svc;
    struct grpc_call *call;
    const Jobscheduler__ScheduleJobRequest *req;
    const struct job_type *type;
    const char *ns;
    char job_id[32];
    char fingerprint[65];
    int attempts;
};

static void respond(struct schedule_op *op, const struct job_record *r)
{
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    jobs_to_proto(op->svc, r, &s, &job);
    Jobscheduler__ScheduleJobResponse resp = JOBSCHEDULER__SCHEDULE_JOB_RESPONSE__INIT;
    resp.job_id = job.job_id;
    resp.job = &job;
    grpc_call_finish(op->call, &resp.base, GRPC_STATUS_OK, NULL);
    scratch_deinit(&s);
}

/* A replay of an idempotent request: the same fingerprint is the same request. */
static void resolve_existing(struct schedule_op *op, const struct job_record *r)
{
    if (r->request_hash && strcmp(r->request_hash, op->fingerprint) == 0) {
        log_debug("jobs", "idempotent replay", LOG_STR("job_id", r->name));
        respond(op, r);
        return;
    }
    char msg[400];
    snprintf(msg, sizeof(msg),
             "request_id \"%.200s\" was already used for a different request (job %s)",
             op->req->request_id, r->name);
    grpc_call_finish(op->call, NULL, GRPC_STATUS_ALREADY_EXISTS, msg);
}

static void on_existing(const struct k8s_result *res, void *data)
{
    struct schedule_op *op = data;
    struct job_record *r = jobs_take_job(op->svc, op->call, res, op->ns, op->job_id);
    if (!r)
        return;
    resolve_existing(op, r);
    free(r);
}

static int create(struct schedule_op *op);

static void on_created(const struct k8s_result *res, void *data)
{
    struct schedule_op *op = data;
    if (res->error == K8S_ERR_ALREADY_EXISTS && *op->req->request_id) {
        const struct job_record *cached =
            op->svc->jobs ? k8s_informer_get(op->svc->jobs, op->ns, op->job_id) : NULL;
        if (cached) {
            resolve_existing(op, cached);
            return;
        }
        if (k8s_jobs_get(op->svc->k8s, op->ns, op->job_id, on_existing, op) != 0)
            grpc_call_finish(op->call, NULL, GRPC_STATUS_UNAVAILABLE, "kubernetes: client closed");
        return;
    }
    if (res->error == K8S_ERR_ALREADY_EXISTS && ++op->attempts < RANDOM_NAME_ATTEMPTS) {
        manifest_random_id(op->job_id); /* a random name collided: draw another */
        if (create(op) != 0)
            grpc_call_finish(op->call, NULL, GRPC_STATUS_UNAVAILABLE, "kubernetes: client closed");
        return;
    }
    if (res->error != K8S_OK) { /* e.g. the namespace does not exist: say what Kubernetes said */
        jobs_finish_k8s_error(op->call, res);
        return;
    }
    struct job_record *r = jobs_take_job(op->svc, op->call, res, op->ns, op->job_id);
    if (!r)
        return;
    const char *values[] = {op->type->name};
    metric_add(metric_family_child(op->svc->scheduled, values), 1);
    log_info("jobs", "job scheduled", LOG_STR("job_id", r->name), LOG_STR("namespace", r->ns),
             LOG_STR("type", op->type->name), LOG_STR("name", op->req->name));
    respond(op, r);
    free(r);
}

static int create(struct schedule_op *op)
{
    json_t *job =
        manifest_build(op->req, op->type, op->svc->cfg, op->ns, op->job_id, op->fingerprint);
    int flags = *op->req->request_id ? K8S_CREATE_DETERMINISTIC_NAME : 0;
    int rc = k8s_jobs_create(op->svc->k8s, op->ns, job, flags, on_created, op);
    json_decref(job);
    return rc;
}

void jobs_schedule(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct jobs_service *svc = data;
    const Jobscheduler__ScheduleJobRequest *req = (const Jobscheduler__ScheduleJobRequest *)msg;
    char err[400];
    if (manifest_validate_common(req, err, sizeof(err)) != 0) {
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    const struct job_type *type = job_type_for_case((int)req->job_type_case);
    if (!type) {
        snprintf(err, sizeof(err), "job_type is required: set one of %s", job_type_fields());
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    if (type->validate(req, svc->cfg, err, sizeof(err)) != 0) {
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    const char *ns = jobs_namespace(svc, call, req->namespace_);
    if (!ns)
        return;
    struct schedule_op *op = grpc_call_alloc(call, sizeof(*op));
    memset(op, 0, sizeof(*op));
    op->svc = svc;
    op->call = call;
    op->req = req;
    op->type = type;
    op->ns = ns;
    if (*req->request_id)
        manifest_idempotent_id(ns, req->request_id, op->job_id);
    else
        manifest_random_id(op->job_id);
    if (create(op) != 0)
        grpc_call_finish(call, NULL, GRPC_STATUS_UNAVAILABLE, "kubernetes: client closed");
}
