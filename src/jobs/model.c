/* model: Job object -> compact record -> jobscheduler.Job, and the state rules. */
#include "jobs/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/xalloc.h"

/* Packs strings after the struct: first measure, then copy. */
struct packer {
    char *next;
    size_t need;
};

static const char *pack(struct packer *p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    if (!p->next) {
        p->need += n;
        return NULL;
    }
    char *dst = p->next;
    memcpy(dst, s, n);
    p->next += n;
    return dst;
}

static int64_t timestamp(const json_t *obj, const char *path)
{
    const char *s = json_path_str(obj, path);
    int64_t sec;
    if (!s || clock_parse_rfc3339(s, &sec, NULL) != 0)
        return 0;
    return sec;
}

static bool is_ours(const char *key)
{
    return strncmp(key, JOBS_RESERVED_PREFIX, strlen(JOBS_RESERVED_PREFIX)) == 0 ||
           strcmp(key, JOBS_LABEL_MANAGED_BY) == 0;
}

/* Reads the conditions that decide the state: Complete, Failed and Suspended. */
static void read_conditions(const json_t *job, struct job_record *r, const json_t **reason_cond,
                            int64_t *finished)
{
    json_t *conds = json_path_array(job, "status.conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *type = json_path_str(c, "type");
        const char *status = json_path_str(c, "status");
        if (!type || !status || strcmp(status, "True") != 0)
            continue;
        if (strcmp(type, "Complete") == 0) {
            r->complete = true;
            *finished = timestamp(c, "lastTransitionTime");
        } else if (strcmp(type, "Failed") == 0) {
            r->failed_cond = true;
            *reason_cond = c;
            *finished = timestamp(c, "lastTransitionTime");
        } else if (strcmp(type, "Suspended") == 0 && !*reason_cond) {
            *reason_cond = c;
        }
    }
}

/* Fills the record's strings through |p| (measuring on the first pass). */
static void pack_strings(struct packer *p, struct job_record *r, const json_t *job,
                         const json_t *cond)
{
    r->ns = pack(p, json_path_str(job, "metadata.namespace"));
    r->name = pack(p, json_path_str(job, "metadata.name"));
    json_t *ann = json_path_obj(job, "metadata.annotations");
    /* Annotation keys contain dots, so they are looked up directly, never as a json_path. */
    r->display_name = pack(p, json_string_value(json_object_get(ann, JOBS_ANNOTATION_NAME)));
    r->request_hash =
        pack(p, json_string_value(json_object_get(ann, JOBS_ANNOTATION_REQUEST_HASH)));
    r->type = pack(p, json_string_value(
                          json_object_get(json_path_obj(job, "metadata.labels"), JOBS_LABEL_TYPE)));
    r->cond_reason = pack(p, cond ? json_path_str(cond, "reason") : NULL);
    r->cond_message = pack(p, cond ? json_path_str(cond, "message") : NULL);
    const char *key;
    json_t *v;
    uint32_t n = 0;
    json_object_foreach(json_path_obj(job, "metadata.labels"), key, v)
    {
        if (is_ours(key) || !json_is_string(v))
            continue;
        const char *k = pack(p, key), *val = pack(p, json_string_value(v));
        if (p->next) {
            r->labels[n].key = k;
            r->labels[n].value = val;
        }
        n++;
    }
    r->nlabels = n;
}

struct job_record *job_record_decode(const json_t *job)
{
    if (!json_path_str(job, "metadata.namespace") || !json_path_str(job, "metadata.name"))
        return NULL;
    struct job_record tmp;
    memset(&tmp, 0, sizeof(tmp));
    const json_t *cond = NULL;
    int64_t finished = 0;
    read_conditions(job, &tmp, &cond, &finished);

    struct packer p = {NULL, 0};
    pack_strings(&p, &tmp, job, cond);
    size_t labels_bytes = tmp.nlabels * sizeof(struct job_label);
    struct job_record *r = xmalloc(sizeof(*r) + labels_bytes + p.need);
    *r = tmp;
    r->labels = (struct job_label *)(r + 1);
    p.next = (char *)(r + 1) + labels_bytes;
    pack_strings(&p, r, job, cond);

    json_t *ann = json_path_obj(job, "metadata.annotations");
    r->cancelled = json_object_get(ann, JOBS_ANNOTATION_CANCELLED) != NULL;
    r->suspended = json_path_bool(job, "spec.suspend", false);
    r->active = (int32_t)json_path_int(job, "status.active", 0);
    r->succeeded = (int32_t)json_path_int(job, "status.succeeded", 0);
    r->failed = (int32_t)json_path_int(job, "status.failed", 0);
    r->created = timestamp(job, "metadata.creationTimestamp");
    r->started = timestamp(job, "status.startTime");
    int64_t completion = timestamp(job, "status.completionTime");
    r->finished = completion ? completion : (r->complete || r->failed_cond ? finished : 0);
    return r;
}

Jobscheduler__JobState job_record_state(const struct job_record *r, const char *pod_reason)
{
    if (r->complete)
        return JOBSCHEDULER__JOB_STATE__JOB_STATE_SUCCEEDED;
    /* Only our own record says CANCELLED: a Job suspended by a queue controller is pending. */
    if (r->cancelled)
        return JOBSCHEDULER__JOB_STATE__JOB_STATE_CANCELLED;
    if (r->failed_cond)
        return JOBSCHEDULER__JOB_STATE__JOB_STATE_FAILED;
    if (r->suspended || r->active == 0 || pod_reason)
        return JOBSCHEDULER__JOB_STATE__JOB_STATE_PENDING;
    return JOBSCHEDULER__JOB_STATE__JOB_STATE_RUNNING;
}

bool job_state_is_terminal(Jobscheduler__JobState s)
{
    return s == JOBSCHEDULER__JOB_STATE__JOB_STATE_SUCCEEDED ||
           s == JOBSCHEDULER__JOB_STATE__JOB_STATE_FAILED ||
           s == JOBSCHEDULER__JOB_STATE__JOB_STATE_CANCELLED;
}

const char *job_state_name(Jobscheduler__JobState s)
{
    static const char *const names[] = {"UNSPECIFIED", "PENDING", "RUNNING",
                                        "SUCCEEDED",   "FAILED",  "CANCELLED"};
    return (unsigned)s < 6 ? names[s] : "UNSPECIFIED";
}

static Google__Protobuf__Timestamp *make_ts(int64_t sec, void *(*alloc)(void *, size_t), void *ctx)
{
    if (!sec)
        return NULL;
    Google__Protobuf__Timestamp *ts = alloc(ctx, sizeof(*ts));
    google__protobuf__timestamp__init(ts);
    ts->seconds = sec;
    return ts;
}

/* The human explanation of the state, when Kubernetes gives one. */
static const char *state_message(const struct job_record *r, Jobscheduler__JobState s,
                                 const char *pod_reason, const char *pod_message,
                                 void *(*alloc)(void *, size_t), void *ctx)
{
    const char *reason = NULL, *msg = NULL;
    if (s == JOBSCHEDULER__JOB_STATE__JOB_STATE_CANCELLED)
        return "cancelled through the JobScheduler API";
    if (s == JOBSCHEDULER__JOB_STATE__JOB_STATE_FAILED ||
        (s == JOBSCHEDULER__JOB_STATE__JOB_STATE_PENDING && r->suspended)) {
        reason = r->cond_reason ? r->cond_reason : (r->suspended ? "Suspended" : NULL);
        msg = r->cond_message;
    } else if (s == JOBSCHEDULER__JOB_STATE__JOB_STATE_PENDING && pod_reason) {
        reason = pod_reason;
        msg = pod_message;
    }
    if (!reason)
        return "";
    if (!msg || !*msg)
        return reason;
    size_t n = strlen(reason) + strlen(msg) + 3;
    char *out = alloc(ctx, n);
    snprintf(out, n, "%s: %s", reason, msg);
    return out;
}

void job_record_to_proto(const struct job_record *r, const char *pod_reason,
                         const char *pod_message, void *(*alloc)(void *ctx, size_t n), void *ctx,
                         Jobscheduler__Job *out)
{
    jobscheduler__job__init(out);
    Jobscheduler__JobState s = job_record_state(r, pod_reason);
    out->job_id = (char *)r->name;
    out->name = (char *)(r->display_name ? r->display_name : "");
    out->namespace_ = (char *)r->ns;
    out->type = (char *)(r->type ? r->type : "");
    out->state = s;
    out->message = (char *)state_message(r, s, pod_reason, pod_message, alloc, ctx);
    out->created_at = make_ts(r->created, alloc, ctx);
    out->started_at = make_ts(r->started, alloc, ctx);
    out->finished_at = make_ts(r->finished, alloc, ctx);
    out->active = r->active;
    out->succeeded = r->succeeded;
    out->failed = r->failed;
    out->n_labels = r->nlabels;
    if (r->nlabels) {
        out->labels = alloc(ctx, r->nlabels * sizeof(*out->labels));
        for (uint32_t i = 0; i < r->nlabels; i++) {
            Jobscheduler__Job__LabelsEntry *e = alloc(ctx, sizeof(*e));
            jobscheduler__job__labels_entry__init(e);
            e->key = (char *)r->labels[i].key;
            e->value = (char *)r->labels[i].value;
            out->labels[i] = e;
        }
    }
}
