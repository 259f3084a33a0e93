/* timer: the Timer job — a container that runs for duration_seconds and reports to a
 * control-plane endpoint. Its contract with the container is the environment below. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "jobs/job_type.h"
#include "jobs/validate.h"

/* Set by us; a request's env may not override them. */
static const char *const reserved_env[] = {
    "JOB_ID", "TIMER_DURATION_SECONDS", "TIMER_NAME", "CONTROL_PLANE_ENDPOINT", "LOG_LEVEL", NULL};

static const char *const log_levels[] = {"trace", "debug", "info", "warn", "error", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static bool image_allowed(const char *image, const struct config *cfg)
{
    if (!cfg->image_allowlist)
        return true;
    for (char **p = cfg->image_allowlist; *p; p++)
        if (strncmp(image, *p, strlen(*p)) == 0)
            return true;
    return false;
}

static int validate_env(const Jobscheduler__TimerJob *t, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n_env; i++) {
        const char *k = t->env[i]->key, *v = t->env[i]->value;
        if (!validate_env_name(k))
            return validate_fail(err, errlen,
                                 "timer_job.env key \"%.64s\" is not a valid environment variable "
                                 "name ([A-Za-z_][A-Za-z0-9_]*)",
                                 k);
        if (!validate_utf8(v))
            return validate_fail(err, errlen, "timer_job.env value of \"%s\" is not valid UTF-8",
                                 k);
        if (in_list(k, reserved_env))
            return validate_fail(err, errlen,
                                 "timer_job.env key \"%s\" is reserved and set by "
                                 "jobscheduler",
                                 k);
        total += strlen(k) + strlen(v);
    }
    if (t->n_env > 100 || total > 32768)
        return validate_fail(err, errlen,
                             "timer_job.env is too large (at most 100 variables and "
                             "32 KiB)%s",
                             "");
    return 0;
}

static int timer_validate(const Jobscheduler__ScheduleJobRequest *req, const struct config *cfg,
                          char *err, size_t errlen)
{
    const Jobscheduler__TimerJob *t = req->timer_job;
    if (t->duration_seconds <= 0)
        return validate_fail(err, errlen, "timer_job.duration_seconds must be > 0%s", "");
    if (t->duration_seconds > cfg->timer_max_duration_seconds) {
        snprintf(err, errlen, "timer_job.duration_seconds must be at most %d",
                 cfg->timer_max_duration_seconds);
        return -EINVAL;
    }
    if (!*t->timer_name)
        return validate_fail(err, errlen, "timer_job.timer_name is required%s", "");
    if (!validate_text(t->timer_name, 253))
        return validate_fail(err, errlen,
                             "timer_job.timer_name must be printable text of at most "
                             "253 bytes%s",
                             "");
    if (!*t->control_plane_endpoint)
        return validate_fail(err, errlen, "timer_job.control_plane_endpoint is required%s", "");
    if (!validate_endpoint_url(t->control_plane_endpoint))
        return validate_fail(err, errlen,
                             "timer_job.control_plane_endpoint \"%.200s\" must be "
                             "http(s)://host[:port][/path]",
                             t->control_plane_endpoint);
    if (*t->image && !validate_image_ref(t->image))
        return validate_fail(err, errlen,
                             "timer_job.image \"%.200s\" is not a valid image reference", t->image);
    const char *image = *t->image ? t->image : cfg->timer_image;
    if (!image_allowed(image, cfg))
        return validate_fail(err, errlen,
                             "timer_job.image \"%.200s\" is not allowed by "
                             "IMAGE_ALLOWLIST",
                             image);
    if (*t->log_level && !in_list(t->log_level, log_levels))
        return validate_fail(err, errlen,
                             "timer_job.log_level \"%.32s\" must be one of trace, debug, "
                             "info, warn, error",
                             t->log_level);
    return validate_env(t, err, errlen);
}

static void add_env(json_t *env, const char *name, const char *value)
{
    json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value", value));
}

static int cmp_env(const void *a, const void *b)
{
    const Jobscheduler__TimerJob__EnvEntry *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

static long timer_build(const Jobscheduler__ScheduleJobRequest *req, const struct config *cfg,
                        const char *job_id, json_t *container)
{
    const Jobscheduler__TimerJob *t = req->timer_job;
    char duration[16];
    snprintf(duration, sizeof(duration), "%d", t->duration_seconds);
    json_object_set_new(container, "image", json_string(*t->image ? t->image : cfg->timer_image));
    json_t *env = json_array();
    add_env(env, "JOB_ID", job_id);
    add_env(env, "TIMER_DURATION_SECONDS", duration);
    add_env(env, "TIMER_NAME", t->timer_name);
    add_env(env, "CONTROL_PLANE_ENDPOINT", t->control_plane_endpoint);
    add_env(env, "LOG_LEVEL", *t->log_level ? t->log_level : "info");
    /* Sorted, so the same request always builds the same Job (idempotency fingerprints). */
    Jobscheduler__TimerJob__EnvEntry *sorted[100];
    size_t n = t->n_env < 100 ? t->n_env : 100;
    if (n) { /* an empty map is a NULL array: memcpy must not see it */
        memcpy(sorted, t->env, n * sizeof(sorted[0]));
        qsort(sorted, n, sizeof(sorted[0]), cmp_env);
    }
    for (size_t i = 0; i < n; i++)
        add_env(env, sorted[i]->key, sorted[i]->value);
    json_object_set_new(container, "env", env);
    return t->duration_seconds;
}

const struct job_type timer_job_type = {
    .name = "timer",
    .field = "timer_job",
    .oneof_case = JOBSCHEDULER__SCHEDULE_JOB_REQUEST__JOB_TYPE_TIMER_JOB,
    .description = "runs a container for duration_seconds, then reports to "
                   "control_plane_endpoint",
    .validate = timer_validate,
    .build = timer_build,
};
