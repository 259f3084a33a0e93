/* cancel: CancelJob — suspend the Job (its controller then deletes the pods) and record the
 * cancellation in an annotation on the Job itself, so CANCELLED survives restarts and is
 * never confused with a Job that a queue controller suspended. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "jobs/service_int.h"

struct cancel_op {
    struct jobs_service *svc;
    struct grpc_call *call;
    const char *ns;
    const char *job_id;
};

static void respond(struct cancel_op *op, const struct job_record *r)
{
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    jobs_to_proto(op->svc, r, &s, &job);
    Jobscheduler__CancelJobResponse resp = JOBSCHEDULER__CANCEL_JOB_RESPONSE__INIT;
    resp.job = &job;
    grpc_call_finish(op->call, &resp.base, GRPC_STATUS_OK, NULL);
    scratch_deinit(&s);
}

static void finish_finished(struct cancel_op *op, Jobscheduler__JobState state)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "job %.64s already finished (%s)", op->job_id,
             job_state_name(state));
    grpc_call_finish(op->call, NULL, GRPC_STATUS_FAILED_PRECONDITION, msg);
}

static void on_patched(const struct k8s_result *res, void *data)
{
    struct cancel_op *op = data;
    struct job_record *r = jobs_take_job(op->svc, op->call, res, op->ns, op->job_id);
    if (!r)
        return;
    Jobscheduler__JobState state = jobs_state(op->svc, r);
    if (state == JOBSCHEDULER__JOB_STATE__JOB_STATE_SUCCEEDED) {
        finish_finished(op, state); /* it completed just before the patch landed */
    } else {
        metric_add(op->svc->cancelled, 1);
        log_info("jobs", "job cancelled", LOG_STR("job_id", op->job_id),
                 LOG_STR("namespace", op->ns));
        respond(op, r);
    }
    free(r);
}

static void patch(struct cancel_op *op)
{
    char now[32];
    clock_format_rfc3339(clock_realtime_ms() / 1000, now, sizeof(now));
    json_t *p = json_pack("{s:{s:{s:s}}, s:{s:b}}", "metadata", "annotations",
                          JOBS_ANNOTATION_CANCELLED, now, "spec", "suspend", 1);
    int rc = k8s_jobs_patch(op->svc->k8s, op->ns, op->job_id, p, on_patched, op);
    json_decref(p);
    if (rc != 0)
        grpc_call_finish(op->call, NULL, GRPC_STATUS_UNAVAILABLE, "kubernetes: client closed");
}

/* Decides from the job's current record: finished, already cancelled, or to be patched. */
static void decide(struct cancel_op *op, const struct job_record *r)
{
    Jobscheduler__JobState state = jobs_state(op->svc, r);
    if (state == JOBSCHEDULER__JOB_STATE__JOB_STATE_CANCELLED)
        respond(op, r); /* cancelling twice is fine */
    else if (job_state_is_terminal(state))
        finish_finished(op, state);
    else
        patch(op);
}

static void on_get(const struct k8s_result *res, void *data)
{
    struct cancel_op *op = data;
    struct job_record *r = jobs_take_job(op->svc, op->call, res, op->ns, op->job_id);
    if (!r)
        return;
    decide(op, r);
    free(r);
}

void jobs_cancel(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct jobs_service *svc = data;
    const Jobscheduler__CancelJobRequest *req = (const Jobscheduler__CancelJobRequest *)msg;
    if (!jobs_check_job_id(call, req->job_id))
        return;
    const char *ns = jobs_namespace(svc, call, req->namespace_);
    if (!ns)
        return;
    struct cancel_op *op = grpc_call_alloc(call, sizeof(*op));
    *op = (struct cancel_op){svc, call, ns, req->job_id};
    const struct job_record *r = svc->jobs ? k8s_informer_get(svc->jobs, ns, req->job_id) : NULL;
    if (r) {
        decide(op, r);
        return;
    }
    if (k8s_jobs_get(svc->k8s, ns, req->job_id, on_get, op) != 0)
        grpc_call_finish(call, NULL, GRPC_STATUS_UNAVAILABLE, "kubernetes: client closed");
}
