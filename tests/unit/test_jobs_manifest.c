/* Tests for jobs/manifest and the timer job type: request validation with field-level
 * messages, the batch/v1 Job built for a request, and the job_id rules (idempotent ids
 * derived from the request_id, random ids otherwise). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/json.h"
#include "jobs/job_type.h"
#include "jobs/manifest.h"
#include "jobs/model.h"
#include "jobs/validate.h"

/* One request under construction, with room for labels and env entries. */
struct req {
    Jobscheduler__ScheduleJobRequest r;
    Jobscheduler__TimerJob timer;
    Jobscheduler__Resources res;
    Jobscheduler__ScheduleJobRequest__LabelsEntry labels[4];
    Jobscheduler__ScheduleJobRequest__LabelsEntry *label_ptrs[4];
    Jobscheduler__TimerJob__EnvEntry env[4];
    Jobscheduler__TimerJob__EnvEntry *env_ptrs[4];
};

static struct config cfg;

static void req_init(struct req *q)
{
    memset(q, 0, sizeof(*q));
    jobscheduler__schedule_job_request__init(&q->r);
    jobscheduler__timer_job__init(&q->timer);
    jobscheduler__resources__init(&q->res);
    q->r.name = "my-timer";
    q->r.job_type_case = JOBSCHEDULER__SCHEDULE_JOB_REQUEST__JOB_TYPE_TIMER_JOB;
    q->r.timer_job = &q->timer;
    q->timer.duration_seconds = 300;
    q->timer.timer_name = "build-timeout";
    q->timer.control_plane_endpoint = "http://control-plane:50053";
    for (int i = 0; i < 4; i++) {
        jobscheduler__schedule_job_request__labels_entry__init(&q->labels[i]);
        q->label_ptrs[i] = &q->labels[i];
        jobscheduler__timer_job__env_entry__init(&q->env[i]);
        q->env_ptrs[i] = &q->env[i];
    }
    q->r.labels = q->label_ptrs;
    q->timer.env = q->env_ptrs;
}

static void add_label(struct req *q, const char *k, const char *v)
{
    q->labels[q->r.n_labels].key = (char *)k;
    q->labels[q->r.n_labels].value = (char *)v;
    q->r.n_labels++;
}

static void add_env(struct req *q, const char *k, const char *v)
{
    q->env[q->timer.n_env].key = (char *)k;
    q->env[q->timer.n_env].value = (char *)v;
    q->timer.n_env++;
}

/* Validates as ScheduleJob does: common fields, then the type's own. */
static int validate(struct req *q, char *err, size_t errlen)
{
    err[0] = '\0';
    int rc = manifest_validate_common(&q->r, err, errlen);
    if (rc)
        return rc;
    const struct job_type *t = job_type_for_case((int)q->r.job_type_case);
    assert_non_null(t);
    return t->validate(&q->r, &cfg, err, errlen);
}

static char *allow[] = {"registry.example.com/", "timer-service", NULL};

static int setup(void **state)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.k8s_namespace = "default";
    cfg.timer_image = "timer-service:latest";
    cfg.timer_max_duration_seconds = 86400;
    cfg.default_cpu_request = "100m";
    cfg.default_memory_request = "64Mi";
    cfg.job_ttl_seconds = 3600;
    cfg.job_backoff_limit = 0;
    cfg.job_deadline_margin_seconds = 300;
    return 0;
}

static void test_valid_request(void **state)
{
    struct req q;
    char err[400];
    req_init(&q);
    assert_int_equal(validate(&q, err, sizeof(err)), 0);
    add_label(&q, "team", "infra");
    add_label(&q, "example.com/tier", "");
    add_env(&q, "EXTRA", "1");
    q.timer.image = "registry.example.com/team/timer:v1";
    q.timer.log_level = "debug";
    q.r.resources = &q.res;
    q.res.cpu_request = "250m";
    q.res.memory_limit = "1Gi";
    assert_int_equal(validate(&q, err, sizeof(err)), 0);
}

/* Each case breaks one field; the message must name it. */
struct bad_case {
    const char *field; /* expected in the message */
    void (*mutate)(struct req *q);
};

static void m_no_name(struct req *q)
{
    q->r.name = "";
}
static void m_name_ctrl(struct req *q)
{
    q->r.name = "a\nb";
}
static void m_name_utf8(struct req *q)
{
    q->r.name = "bad\xff";
}
static void m_request_id_utf8(struct req *q)
{
    q->r.request_id = "\xc3";
}
static void m_duration_zero(struct req *q)
{
    q->timer.duration_seconds = 0;
}
static void m_duration_negative(struct req *q)
{
    q->timer.duration_seconds = -5;
}
static void m_duration_large(struct req *q)
{
    q->timer.duration_seconds = 86401;
}
static void m_no_timer_name(struct req *q)
{
    q->timer.timer_name = "";
}
static void m_timer_name_utf8(struct req *q)
{
    q->timer.timer_name = "\xe0\x80\x80";
}
static void m_no_endpoint(struct req *q)
{
    q->timer.control_plane_endpoint = "";
}
static void m_bad_endpoint(struct req *q)
{
    q->timer.control_plane_endpoint = "control-plane:50053";
}
static void m_bad_image(struct req *q)
{
    q->timer.image = "Not An Image";
}
static void m_image_not_allowed(struct req *q)
{
    q->timer.image = "evil.example.com/miner:1";
}
static void m_log_level(struct req *q)
{
    q->timer.log_level = "verbose";
}
static void m_env_name(struct req *q)
{
    add_env(q, "1BAD", "x");
}
static void m_env_reserved(struct req *q)
{
    add_env(q, "JOB_ID", "x");
}
static void m_env_value_utf8(struct req *q)
{
    add_env(q, "GOOD", "\xff\xfe");
}
static void m_label_key(struct req *q)
{
    add_label(q, "bad key", "v");
}
static void m_label_value(struct req *q)
{
    add_label(q, "k", "-bad-");
}
static void m_label_reserved(struct req *q)
{
    add_label(q, "jobscheduler.io/type", "x");
}
static void m_label_managed_by(struct req *q)
{
    add_label(q, "app.kubernetes.io/managed-by", "me");
}
static void m_cpu(struct req *q)
{
    q->r.resources = &q->res;
    q->res.cpu_request = "lots";
}
static void m_memory_limit(struct req *q)
{
    q->r.resources = &q->res;
    q->res.memory_limit = "1GB";
}

static void test_each_validation_error(void **state)
{
    static const struct bad_case cases[] = {
        {"name", m_no_name},
        {"name", m_name_ctrl},
        {"name", m_name_utf8},
        {"request_id", m_request_id_utf8},
        {"timer_job.duration_seconds", m_duration_zero},
        {"timer_job.duration_seconds", m_duration_negative},
        {"timer_job.duration_seconds", m_duration_large},
        {"timer_job.timer_name", m_no_timer_name},
        {"timer_job.timer_name", m_timer_name_utf8},
        {"timer_job.control_plane_endpoint", m_no_endpoint},
        {"timer_job.control_plane_endpoint", m_bad_endpoint},
        {"timer_job.image", m_bad_image},
        {"IMAGE_ALLOWLIST", m_image_not_allowed},
        {"timer_job.log_level", m_log_level},
        {"timer_job.env", m_env_name},
        {"reserved", m_env_reserved},
        {"timer_job.env", m_env_value_utf8},
        {"labels", m_label_key},
        {"labels value", m_label_value},
        {"reserved", m_label_reserved},
        {"reserved", m_label_managed_by},
        {"resources.cpu_request", m_cpu},
        {"resources.memory_limit", m_memory_limit},
    };
    cfg.image_allowlist = allow;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct req q;
        char err[400];
        req_init(&q);
        cases[i].mutate(&q);
        if (validate(&q, err, sizeof(err)) != -EINVAL)
            fail_msg("case %zu (%s) was accepted", i, cases[i].field);
        if (!strstr(err, cases[i].field))
            fail_msg("case %zu: \"%s\" does not name %s", i, err, cases[i].field);
    }
    cfg.image_allowlist = NULL;
}

static void test_allowlist_default_image(void **state)
{
    static char *only_registry[] = {"registry.example.com/", NULL};
    struct req q;
    char err[400];
    req_init(&q);
    cfg.image_allowlist = only_registry;
    /* The default TIMER_IMAGE is checked too: the allowlist is about what runs. */
    assert_int_equal(validate(&q, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "timer-service:latest"));
    q.timer.image = "registry.example.com/timer:2";
    assert_int_equal(validate(&q, err, sizeof(err)), 0);
    cfg.image_allowlist = NULL;
    q.timer.image = "";
    assert_int_equal(validate(&q, err, sizeof(err)), 0);
}

static void test_duration_bounds(void **state)
{
    struct req q;
    char err[400];
    req_init(&q);
    q.timer.duration_seconds = 1;
    assert_int_equal(validate(&q, err, sizeof(err)), 0);
    q.timer.duration_seconds = 86400;
    assert_int_equal(validate(&q, err, sizeof(err)), 0);
    cfg.timer_max_duration_seconds = 60;
    q.timer.duration_seconds = 61;
    assert_int_equal(validate(&q, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most 60"));
    cfg.timer_max_duration_seconds = 86400;
}

static const char *env_value(const json_t *container, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(container, "env"), i, e)
    {
        if (strcmp(json_path_str(e, "name"), name) == 0)
            return json_path_str(e, "value");
    }
    return NULL;
}

static void test_build_job(void **state)
{
    struct req q;
    char fp[65];
    req_init(&q);
    q.r.name = "My Timer!";
    add_label(&q, "team", "infra");
    add_env(&q, "EXTRA", "yes");
    json_t *job = manifest_build(&q.r, &timer_job_type, &cfg, "team-a", "job-abc123", fp);
    assert_non_null(job);
    assert_string_equal(fp, ""); /* no request_id: no fingerprint */
    assert_string_equal(json_path_str(job, "apiVersion"), "batch/v1");
    assert_string_equal(json_path_str(job, "kind"), "Job");
    assert_string_equal(json_path_str(job, "metadata.name"), "job-abc123");
    assert_string_equal(json_path_str(job, "metadata.namespace"), "team-a");
    json_t *labels = json_path_obj(job, "metadata.labels");
    assert_string_equal(json_string_value(json_object_get(labels, JOBS_LABEL_MANAGED_BY)),
                        "jobscheduler");
    assert_string_equal(json_string_value(json_object_get(labels, JOBS_LABEL_TYPE)), "timer");
    assert_string_equal(json_string_value(json_object_get(labels, JOBS_LABEL_NAME)), "My-Timer");
    assert_string_equal(json_string_value(json_object_get(labels, "team")), "infra");
    json_t *ann = json_path_obj(job, "metadata.annotations");
    assert_string_equal(json_string_value(json_object_get(ann, JOBS_ANNOTATION_NAME)), "My Timer!");
    assert_null(json_object_get(ann, JOBS_ANNOTATION_REQUEST_ID));

    assert_int_equal(json_path_int(job, "spec.backoffLimit", -1), 0);
    assert_int_equal(json_path_int(job, "spec.activeDeadlineSeconds", -1), 600);
    assert_int_equal(json_path_int(job, "spec.ttlSecondsAfterFinished", -1), 3600);
    json_t *pod = json_path_obj(job, "spec.template.spec");
    assert_string_equal(json_path_str(pod, "restartPolicy"), "Never");
    assert_false(json_path_bool(pod, "automountServiceAccountToken", true));
    assert_true(json_path_bool(pod, "securityContext.runAsNonRoot", false));
    assert_string_equal(json_path_str(pod, "securityContext.seccompProfile.type"),
                        "RuntimeDefault");
    /* The pods carry our labels too, so the pod informer's selector finds them. */
    json_t *tl = json_path_obj(job, "spec.template.metadata.labels");
    assert_string_equal(json_string_value(json_object_get(tl, JOBS_LABEL_MANAGED_BY)),
                        "jobscheduler");
    json_t *containers = json_path_array(pod, "containers");
    assert_int_equal(json_array_size(containers), 1);
    json_t *c = json_array_get(containers, 0);
    assert_string_equal(json_path_str(c, "image"), "timer-service:latest");
    assert_true(validate_dns_label(json_path_str(c, "name")));
    assert_string_equal(env_value(c, "JOB_ID"), "job-abc123");
    assert_string_equal(env_value(c, "TIMER_DURATION_SECONDS"), "300");
    assert_string_equal(env_value(c, "TIMER_NAME"), "build-timeout");
    assert_string_equal(env_value(c, "CONTROL_PLANE_ENDPOINT"), "http://control-plane:50053");
    assert_string_equal(env_value(c, "LOG_LEVEL"), "info");
    assert_string_equal(env_value(c, "EXTRA"), "yes");
    assert_string_equal(json_path_str(c, "resources.requests.cpu"), "100m");
    assert_string_equal(json_path_str(c, "resources.requests.memory"), "64Mi");
    assert_null(json_path(c, "resources.limits.cpu"));
    assert_false(json_path_bool(c, "securityContext.allowPrivilegeEscalation", true));
    assert_true(json_path_bool(c, "securityContext.readOnlyRootFilesystem", false));
    assert_true(json_path_bool(c, "securityContext.runAsNonRoot", false));
    assert_string_equal(json_string_value(json_array_get(
                            json_path_array(c, "securityContext.capabilities.drop"), 0)),
                        "ALL");
    json_decref(job);
}

static void test_build_resources_and_ttl(void **state)
{
    struct req q;
    char fp[65];
    req_init(&q);
    q.r.resources = &q.res;
    q.res.cpu_request = "2";
    q.res.cpu_limit = "4";
    cfg.default_memory_limit = "512Mi";
    cfg.job_ttl_seconds = 0;
    json_t *job = manifest_build(&q.r, &timer_job_type, &cfg, "default", "job-x", fp);
    json_t *c = json_array_get(json_path_array(job, "spec.template.spec.containers"), 0);
    assert_string_equal(json_path_str(c, "resources.requests.cpu"), "2");
    assert_string_equal(json_path_str(c, "resources.requests.memory"), "64Mi");
    assert_string_equal(json_path_str(c, "resources.limits.cpu"), "4");
    assert_string_equal(json_path_str(c, "resources.limits.memory"), "512Mi");
    assert_null(json_path(job, "spec.ttlSecondsAfterFinished"));
    json_decref(job);
    cfg.default_memory_limit = NULL;
    cfg.job_ttl_seconds = 3600;
}

static void build_fp(struct req *q, char fp[65])
{
    char id[32];
    manifest_idempotent_id("default", q->r.request_id, id);
    json_t *job = manifest_build(&q->r, &timer_job_type, &cfg, "default", id, fp);
    assert_string_equal(
        json_string_value(json_object_get(json_path_obj(job, "metadata.annotations"),
                                          JOBS_ANNOTATION_REQUEST_HASH)),
        fp);
    assert_string_equal(
        json_string_value(json_object_get(json_path_obj(job, "metadata.annotations"),
                                          JOBS_ANNOTATION_REQUEST_ID)),
        q->r.request_id);
    json_decref(job);
}

static void test_fingerprint(void **state)
{
    struct req a, b;
    char fa[65], fb[65];
    req_init(&a);
    req_init(&b);
    a.r.request_id = b.r.request_id = "req-1";
    add_env(&a, "A", "1");
    add_env(&a, "B", "2");
    add_env(&b, "B", "2"); /* the same map in another order is the same request */
    add_env(&b, "A", "1");
    add_label(&a, "x", "1");
    add_label(&a, "y", "2");
    add_label(&b, "y", "2");
    add_label(&b, "x", "1");
    build_fp(&a, fa);
    build_fp(&b, fb);
    assert_int_equal(strlen(fa), 64);
    assert_string_equal(fa, fb);
    b.timer.duration_seconds = 301;
    build_fp(&b, fb);
    assert_string_not_equal(fa, fb);
    b.timer.duration_seconds = 300;
    b.r.name = "other";
    build_fp(&b, fb);
    assert_string_not_equal(fa, fb);
}

static void test_ids(void **state)
{
    char a[32], b[32], c[32];
    manifest_idempotent_id("default", "req-1", a);
    manifest_idempotent_id("default", "req-1", b);
    manifest_idempotent_id("team-a", "req-1", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 24);
    assert_memory_equal(a, "job-", 4);
    assert_true(validate_dns_label(a));
    manifest_idempotent_id("default", "req-2", b);
    assert_string_not_equal(a, b);

    manifest_random_id(a);
    manifest_random_id(b);
    assert_int_equal(strlen(a), 16);
    assert_memory_equal(a, "job-", 4);
    assert_true(validate_dns_label(a));
    assert_string_not_equal(a, b);
}

static void test_registry(void **state)
{
    assert_ptr_equal(job_type_by_name("timer"), &timer_job_type);
    assert_null(job_type_by_name("weather"));
    assert_ptr_equal(job_type_for_case(JOBSCHEDULER__SCHEDULE_JOB_REQUEST__JOB_TYPE_TIMER_JOB),
                     &timer_job_type);
    assert_null(job_type_for_case(JOBSCHEDULER__SCHEDULE_JOB_REQUEST__JOB_TYPE__NOT_SET));
    assert_string_equal(job_type_fields(), "timer_job");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_request),
        cmocka_unit_test(test_each_validation_error),
        cmocka_unit_test(test_allowlist_default_image),
        cmocka_unit_test(test_duration_bounds),
        cmocka_unit_test(test_build_job),
        cmocka_unit_test(test_build_resources_and_ttl),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
