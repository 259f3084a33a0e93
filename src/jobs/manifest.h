/* manifest: builds the batch/v1 Job for a validated ScheduleJob request. The common part
 * lives here — metadata, our labels and annotations, resources, a restricted pod security
 * context, deadlines and TTL — and the job type fills in its container. */
#ifndef JOBS_MANIFEST_H
#define JOBS_MANIFEST_H

#include <jansson.h>

#include "jobscheduler.pb-c.h"

struct config;
struct job_type;

/* Checks the fields every job type shares: name, labels, resources, request_id. Returns 0
 * or -EINVAL with a message naming the field in |err|. */
int manifest_validate_common(const Jobscheduler__ScheduleJobRequest *req, char *err, size_t errlen);

/* Returns a new Job object (caller decrefs) named |job_id| in |ns|. When the request has a
 * request_id, the request's fingerprint is recorded in an annotation so a replay with a
 * different request can be told apart; |fingerprint| (65 bytes) receives it. */
json_t *manifest_build(const Jobscheduler__ScheduleJobRequest *req, const struct job_type *type,
                       const struct config *cfg, const char *ns, const char *job_id,
                       char fingerprint[65]);

/* The job_id an idempotent request maps to: "job-" + 20 characters derived from the
 * namespace and request_id, so every replica and every retry picks the same name. */
void manifest_idempotent_id(const char *ns, const char *request_id, char out[32]);
/* A fresh random job_id: "job-" + 12 random [a-z0-9]. */
void manifest_random_id(char out[32]);

#endif
