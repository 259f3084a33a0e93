/* manifest: the Kubernetes Job built for a request. */
#include "jobs/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/digest.h"
#include "core/quantity.h"
#include "core/rand.h"
#include "core/xalloc.h"
#include "jobs/job_type.h"
#include "jobs/model.h"
#include "jobs/validate.h"

static int validate_labels(const Jobscheduler__ScheduleJobRequest *req, char *err, size_t errlen)
{
    if (req->n_labels > 64)
        return validate_fail(err, errlen, "labels: at most 64 labels are allowed%s", "");
    for (size_t i = 0; i < req->n_labels; i++) {
        const char *k = req->labels[i]->key, *v = req->labels[i]->value;
        if (!validate_label_key(k))
            return validate_fail(err, errlen,
                                 "labels key \"%.100s\" is not a valid Kubernetes label "
                                 "key",
                                 k);
        if (strncmp(k, JOBS_RESERVED_PREFIX, strlen(JOBS_RESERVED_PREFIX)) == 0 ||
            strcmp(k, JOBS_LABEL_MANAGED_BY) == 0)
            return validate_fail(err, errlen, "labels key \"%.100s\" is reserved for jobscheduler",
                                 k);
        if (!validate_label_value(v))
            return validate_fail(err, errlen,
                                 "labels value \"%.100s\" is not a valid Kubernetes "
                                 "label value (at most 63 characters [A-Za-z0-9_.-], "
                                 "alphanumeric at both ends)",
                                 v);
    }
    return 0;
}

static int validate_resources(const Jobscheduler__Resources *r, char *err, size_t errlen)
{
    if (!r)
        return 0;
    const struct {
        const char *field, *value;
    } q[] = {{"cpu_request", r->cpu_request},
             {"cpu_limit", r->cpu_limit},
             {"memory_request", r->memory_request},
             {"memory_limit", r->memory_limit}};
    for (size_t i = 0; i < 4; i++) {
        if (*q[i].value && !quantity_is_valid(q[i].value)) {
            snprintf(err, errlen,
                     "resources.%s \"%.64s\" is not a Kubernetes quantity (e.g. "
                     "100m, 0.5, 64Mi)",
                     q[i].field, q[i].value);
            return -EINVAL;
        }
    }
    return 0;
}

int manifest_validate_common(const Jobscheduler__ScheduleJobRequest *req, char *err, size_t errlen)
{
    if (!*req->name)
        return validate_fail(err, errlen, "name is required%s", "");
    if (!validate_text(req->name, 253))
        return validate_fail(err, errlen, "name must be printable text of at most 253 bytes%s", "");
    if (!validate_text(req->request_id, 253))
        return validate_fail(err, errlen,
                             "request_id must be printable text of at most 253 bytes%s", "");
    int rc = validate_labels(req, err, errlen);
    return rc ? rc : validate_resources(req->resources, err, errlen);
}

void manifest_idempotent_id(const char *ns, const char *request_id, char out[32])
{
    char *key = xasprintf("%s\n%s", ns, request_id);
    memcpy(out, "job-", 4);
    digest_sha256_label(key, strlen(key), out + 4, 20);
    free(key);
}

void manifest_random_id(char out[32])
{
    memcpy(out, "job-", 4);
    rand_alnum(out + 4, 12);
    out[16] = '\0';
}

static const char *pick(const char *requested, const char *def)
{
    return requested && *requested ? requested : def;
}

static json_t *resources(const Jobscheduler__ScheduleJobRequest *req, const struct config *cfg)
{
    const Jobscheduler__Resources *r = req->resources;
    json_t *requests = json_object(), *limits = json_object();
    json_object_set_new(requests, "cpu",
                        json_string(pick(r ? r->cpu_request : NULL, cfg->default_cpu_request)));
    json_object_set_new(
        requests, "memory",
        json_string(pick(r ? r->memory_request : NULL, cfg->default_memory_request)));
    const char *cpu_limit = pick(r ? r->cpu_limit : NULL, cfg->default_cpu_limit);
    const char *mem_limit = pick(r ? r->memory_limit : NULL, cfg->default_memory_limit);
    if (cpu_limit)
        json_object_set_new(limits, "cpu", json_string(cpu_limit));
    if (mem_limit)
        json_object_set_new(limits, "memory", json_string(mem_limit));
    return json_pack("{s:o, s:o}", "requests", requests, "limits", limits);
}

/* The restricted Pod Security Standard, so jobs run in namespaces that enforce it. */
static json_t *container_security(void)
{
    return json_pack("{s:b, s:b, s:b, s:{s:[s]}, s:{s:s}}", "runAsNonRoot", 1,
                     "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1, "capabilities",
                     "drop", "ALL", "seccompProfile", "type", "RuntimeDefault");
}

static json_t *labels(const Jobscheduler__ScheduleJobRequest *req, const struct job_type *type,
                      const char *job_id)
{
    json_t *l = json_object();
    for (size_t i = 0; i < req->n_labels; i++)
        json_object_set_new(l, req->labels[i]->key, json_string(req->labels[i]->value));
    json_object_set_new(l, JOBS_LABEL_MANAGED_BY, json_string(JOBS_MANAGED_BY_VALUE));
    json_object_set_new(l, JOBS_LABEL_TYPE, json_string(type->name));
    json_object_set_new(l, JOBS_LABEL_JOB_ID, json_string(job_id));
    char name[64];
    if (validate_sanitize_label_value(req->name, name))
        json_object_set_new(l, JOBS_LABEL_NAME, json_string(name));
    return l;
}

static json_t *pod_template(const Jobscheduler__ScheduleJobRequest *req,
                            const struct job_type *type, const struct config *cfg,
                            const char *job_id, json_t *job_labels, long *max_seconds)
{
    json_t *container = json_pack("{s:s, s:o, s:o}", "name", type->name, "resources",
                                  resources(req, cfg), "securityContext", container_security());
    *max_seconds = type->build(req, cfg, job_id, container);
    json_t *spec =
        json_pack("{s:s, s:b, s:{s:b, s:{s:s}}, s:[o]}", "restartPolicy", "Never",
                  "automountServiceAccountToken", 0, "securityContext", "runAsNonRoot", 1,
                  "seccompProfile", "type", "RuntimeDefault", "containers", container);
    return json_pack("{s:{s:O}, s:o}", "metadata", "labels", job_labels, "spec", spec);
}

/* The fingerprint covers everything the request decided, in a canonical form (sorted keys),
 * so the same request replayed in any field order matches and any real change does not. */
static void fingerprint_of(const json_t *job, const char *display_name, char out[65])
{
    json_t *basis = json_pack("{s:O, s:O, s:s}", "labels",
                              json_object_get(json_object_get(job, "metadata"), "labels"), "spec",
                              json_object_get(job, "spec"), "name", display_name);
    char *text = json_dumps(basis, JSON_SORT_KEYS | JSON_COMPACT);
    digest_sha256_hex(text, strlen(text), out);
    free(text);
    json_decref(basis);
}

json_t *manifest_build(const Jobscheduler__ScheduleJobRequest *req, const struct job_type *type,
                       const struct config *cfg, const char *ns, const char *job_id,
                       char fingerprint[65])
{
    json_t *job_labels = labels(req, type, job_id);
    long max_seconds = 0;
    json_t *tmpl = pod_template(req, type, cfg, job_id, job_labels, &max_seconds);
    json_t *spec = json_pack(
        "{s:i, s:I, s:o}", "backoffLimit", cfg->job_backoff_limit, "activeDeadlineSeconds",
        (json_int_t)(max_seconds + cfg->job_deadline_margin_seconds), "template", tmpl);
    if (cfg->job_ttl_seconds > 0)
        json_object_set_new(spec, "ttlSecondsAfterFinished", json_integer(cfg->job_ttl_seconds));
    json_t *annotations = json_pack("{s:s}", JOBS_ANNOTATION_NAME, req->name);
    json_t *job = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o}, s:o}", "apiVersion", "batch/v1",
                            "kind", "Job", "metadata", "name", job_id, "namespace", ns, "labels",
                            job_labels, "annotations", annotations, "spec", spec);
    fingerprint[0] = '\0';
    if (*req->request_id) {
        /* The job_id itself derives from the request_id, so it is part of the fingerprint
         * only through it; the rest of the Job decides whether a replay is the same. */
        fingerprint_of(job, req->name, fingerprint);
        json_object_set_new(annotations, JOBS_ANNOTATION_REQUEST_ID, json_string(req->request_id));
        json_object_set_new(annotations, JOBS_ANNOTATION_REQUEST_HASH, json_string(fingerprint));
    }
    return job;
}
