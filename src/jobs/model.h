/* model: the compact record the job cache keeps per Kubernetes Job, how it is decoded from
 * the Job object, how a job's state is derived, and how it becomes a jobscheduler.Job.
 * One record is one allocation: the struct and its strings packed together. */
#ifndef JOBS_MODEL_H
#define JOBS_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobscheduler.pb-c.h"

/* Labels and annotations jobscheduler owns on the Jobs it creates. */
#define JOBS_LABEL_MANAGED_BY        "app.kubernetes.io/managed-by"
#define JOBS_MANAGED_BY_VALUE        "jobscheduler"
#define JOBS_SELECTOR                JOBS_LABEL_MANAGED_BY "=" JOBS_MANAGED_BY_VALUE
#define JOBS_LABEL_TYPE              "jobscheduler.io/type"
#define JOBS_LABEL_NAME              "jobscheduler.io/name"
#define JOBS_LABEL_JOB_ID            "jobscheduler.io/job-id"
#define JOBS_ANNOTATION_NAME         "jobscheduler.io/name"
#define JOBS_ANNOTATION_REQUEST_ID   "jobscheduler.io/request-id"
#define JOBS_ANNOTATION_REQUEST_HASH "jobscheduler.io/request-hash"
#define JOBS_ANNOTATION_CANCELLED    "jobscheduler.io/cancelled-at"
#define JOBS_RESERVED_PREFIX         "jobscheduler.io/"

struct job_label {
    const char *key;
    const char *value;
};

struct job_record {
    const char *ns;
    const char *name;         /* the job_id */
    const char *display_name; /* the request's name */
    const char *type;         /* "timer" */
    const char *request_hash; /* fingerprint of an idempotent request, or NULL */
    const char *cond_reason;  /* Failed/Suspended condition reason, or NULL */
    const char *cond_message; /* its message, or NULL */
    struct job_label *labels; /* the request's labels (ours excluded) */
    uint32_t nlabels;
    int32_t active, succeeded, failed;
    int64_t created, started, finished; /* seconds since the epoch; 0 = unset */
    bool complete, failed_cond, suspended, cancelled;
};

/* Decodes a batch/v1 Job into a new record (one allocation, freed with free()), or NULL
 * when the object lacks a namespace or name. */
struct job_record *job_record_decode(const json_t *job);

/* Where the job is. A pod waiting to start (for example in ImagePullBackOff) keeps an active
 * job PENDING: |pod_reason| and |pod_message| (may be NULL) say why. */
Jobscheduler__JobState job_record_state(const struct job_record *r, const char *pod_reason);
bool job_state_is_terminal(Jobscheduler__JobState s);
const char *job_state_name(Jobscheduler__JobState s); /* "SUCCEEDED" */

/* Fills |out| (initialised here) from |r|; strings point into |r|, so |out| is valid while
 * |r| is. Nested messages are allocated with |alloc| (the call's arena). */
void job_record_to_proto(const struct job_record *r, const char *pod_reason,
                         const char *pod_message, void *(*alloc)(void *ctx, size_t n), void *ctx,
                         Jobscheduler__Job *out);

#endif
