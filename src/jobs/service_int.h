/* service_int: what the RPC files of the jobs service share (not for other modules). */
#ifndef JOBS_SERVICE_INT_H
#define JOBS_SERVICE_INT_H

#include "core/config.h"
#include "core/metrics.h"
#include "grpc/call.h"
#include "grpc/status.h"
#include "jobs/model.h"
#include "jobs/scratch.h"
#include "jobs/service.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "k8s/jobs.h"
#include "k8s/table.h"
#include "jobscheduler.pb-c.h"

struct jobs_watch;

struct jobs_service {
    const struct config *cfg;
    struct k8s_client *k8s;
    struct k8s_informer *jobs;
    struct k8s_informer *pods;
    struct k8s_table pod_waits; /* "ns/job" -> struct pod_wait: why an active job waits */
    struct jobs_watch *watches; /* WatchJobs streams, doubly linked */
    bool synced;
    bool stopped;
    void (*synced_cb)(void *data);
    void *synced_data;
    struct metric_family *scheduled; /* jobscheduler_jobs_scheduled_total{type} */
    struct metric_family *by_state;  /* jobscheduler_jobs{type,state} */
    struct metric *cancelled;        /* jobscheduler_jobs_cancelled_total */
};

/* Resolves the request's namespace (empty: K8S_NAMESPACE) against ALLOWED_NAMESPACES.
 * Returns the namespace or NULL after finishing |call| with PERMISSION_DENIED. */
const char *jobs_namespace(struct jobs_service *svc, struct grpc_call *call, const char *ns);
/* Finishes |call| with the gRPC status for a failed Kubernetes request. */
void jobs_finish_k8s_error(struct grpc_call *call, const struct k8s_result *res);
/* Why an active job waits (pod waiting reason and message), or NULL. */
const char *jobs_pod_reason(const struct jobs_service *svc, const struct job_record *r,
                            const char **message);
/* Fills |out| from |r| with the pod waiting reason applied; allocations from |s|. */
void jobs_to_proto(const struct jobs_service *svc, const struct job_record *r, struct scratch *s,
                   Jobscheduler__Job *out);
Jobscheduler__JobState jobs_state(const struct jobs_service *svc, const struct job_record *r);
/* Checks a job_id argument; finishes |call| with INVALID_ARGUMENT and returns false if bad. */
bool jobs_check_job_id(struct grpc_call *call, const char *job_id);
/* Takes a Kubernetes answer that carries one of our Jobs. On success the Job is applied to the
 * cache first (so reads after this write see it) and its record is returned (caller frees).
 * Otherwise |call| is finished — NOT_FOUND for a missing Job or one jobscheduler does not
 * manage, the mapped status for other errors — and NULL is returned. */
struct job_record *jobs_take_job(struct jobs_service *svc, struct grpc_call *call,
                                 const struct k8s_result *res, const char *ns, const char *job_id);
/* Finishes |call| with NOT_FOUND: "job <id> not found in namespace <ns>". */
void jobs_finish_not_found(struct grpc_call *call, const char *ns, const char *job_id);

/* The RPC handlers, one file each. */
void jobs_schedule(struct grpc_call *call, const ProtobufCMessage *req, void *data);
void jobs_get_status(struct grpc_call *call, const ProtobufCMessage *req, void *data);
void jobs_list(struct grpc_call *call, const ProtobufCMessage *req, void *data);
void jobs_cancel(struct grpc_call *call, const ProtobufCMessage *req, void *data);
void jobs_watch(struct grpc_call *call, const ProtobufCMessage *req, void *data);

/* WatchJobs fan-out: every cache change goes to every matching stream. */
void jobs_watch_notify(struct jobs_service *svc, enum k8s_event_type type,
                       const struct job_record *rec);
void jobs_watch_stop_all(struct jobs_service *svc);

#endif
