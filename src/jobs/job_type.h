/* job_type: the interface every job type implements, and the registry that lists them.
 * A type is one file in src/jobs/types/ plus one line in registry.c: it names itself,
 * validates its oneof member with field-level messages, fills the Job's container, and
 * says how long the job may run. Everything common (metadata, labels, resources, security
 * context, deadlines) is built by jobs/manifest, not by the type. */
#ifndef JOBS_JOB_TYPE_H
#define JOBS_JOB_TYPE_H

#include <jansson.h>
#include <stddef.h>

#include "jobscheduler.pb-c.h"

struct config;

struct job_type {
    const char *name;        /* label value and ListJobs/WatchJobs `type` filter: "timer" */
    const char *field;       /* the oneof member: "timer_job" */
    int oneof_case;          /* JOBSCHEDULER__SCHEDULE_JOB_REQUEST__JOB_TYPE_TIMER_JOB */
    const char *description; /* one line for docs and logs */
    /* Checks the type's own fields. Returns 0, or -EINVAL with a message naming the field
     * ("timer_job.duration_seconds must be > 0") written into |err|. */
    int (*validate)(const Jobscheduler__ScheduleJobRequest *req, const struct config *cfg,
                    char *err, size_t errlen);
    /* Fills |container| (which already has "name") with "image" and "env", given the job's
     * id. Returns the longest time in seconds the job should run (for the deadline). */
    long (*build)(const Jobscheduler__ScheduleJobRequest *req, const struct config *cfg,
                  const char *job_id, json_t *container);
};

/* The type for a request's oneof case, or NULL. */
const struct job_type *job_type_for_case(int oneof_case);
/* The type with |name| ("timer"), or NULL. */
const struct job_type *job_type_by_name(const char *name);
/* "timer_job" or "timer_job, weather_job": the oneof members, for error messages. */
const char *job_type_fields(void);

/* Types, one per file in src/jobs/types/. */
extern const struct job_type timer_job_type;

#endif
