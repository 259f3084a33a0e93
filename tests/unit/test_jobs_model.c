/* Tests for jobs/model: decoding a batch/v1 Job into the cache record, the state rules
 * (Complete, Failed, our cancellation record, someone else's suspension, waiting pods) and
 * the record's conversion into a jobscheduler.Job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/model.h"
#include "jobs/scratch.h"

#define PENDING   JOBSCHEDULER__JOB_STATE__JOB_STATE_PENDING
#define RUNNING   JOBSCHEDULER__JOB_STATE__JOB_STATE_RUNNING
#define SUCCEEDED JOBSCHEDULER__JOB_STATE__JOB_STATE_SUCCEEDED
#define FAILED    JOBSCHEDULER__JOB_STATE__JOB_STATE_FAILED
#define CANCELLED JOBSCHEDULER__JOB_STATE__JOB_STATE_CANCELLED

/* A Job as the API server returns it, with |status| and extra metadata spliced in. */
static struct job_record *decode(const char *annotations, const char *spec_extra,
                                 const char *status)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{"
             "\"name\":\"job-abc123\",\"namespace\":\"team-a\","
             "\"creationTimestamp\":\"2026-01-02T03:04:05Z\",\"labels\":{"
             "\"app.kubernetes.io/managed-by\":\"jobscheduler\",\"jobscheduler.io/type\":\"timer\","
             "\"jobscheduler.io/name\":\"my-timer\",\"jobscheduler.io/job-id\":\"job-abc123\","
             "\"env\":\"prod\",\"tier\":\"\"},"
             "\"annotations\":{\"jobscheduler.io/name\":\"my timer\"%s}},"
             "\"spec\":{\"backoffLimit\":0%s},\"status\":%s}",
             annotations, spec_extra, status);
    json_error_t jerr;
    json_t *job = json_loads(text, 0, &jerr);
    if (!job)
        fail_msg("fixture is not JSON: %s: %s", jerr.text, text);
    struct job_record *r = job_record_decode(job);
    json_decref(job);
    assert_non_null(r);
    return r;
}

static const char *label_of(const struct job_record *r, const char *key)
{
    for (uint32_t i = 0; i < r->nlabels; i++)
        if (strcmp(r->labels[i].key, key) == 0)
            return r->labels[i].value;
    return NULL;
}

static void test_decode_fields(void **state)
{
    struct job_record *r = decode(",\"jobscheduler.io/request-hash\":\"abcd\"", "",
                                  "{\"startTime\":\"2026-01-02T03:04:07Z\",\"active\":1}");
    assert_string_equal(r->ns, "team-a");
    assert_string_equal(r->name, "job-abc123");
    assert_string_equal(r->display_name, "my timer");
    assert_string_equal(r->type, "timer");
    assert_string_equal(r->request_hash, "abcd");
    assert_int_equal(r->created, 1767323045);
    assert_int_equal(r->started, 1767323047);
    assert_int_equal(r->finished, 0);
    assert_int_equal(r->active, 1);
    assert_int_equal(r->succeeded, 0);
    assert_int_equal(r->failed, 0);
    /* The request's labels only: ours (managed-by and the jobscheduler.io prefix) are not the
     * user's. */
    assert_int_equal(r->nlabels, 2);
    assert_string_equal(label_of(r, "env"), "prod");
    assert_string_equal(label_of(r, "tier"), "");
    assert_null(label_of(r, "jobscheduler.io/type"));
    assert_null(label_of(r, "app.kubernetes.io/managed-by"));
    assert_false(r->cancelled);
    assert_false(r->suspended);
    assert_int_equal(job_record_state(r, NULL), RUNNING);
    free(r);
}

static void test_decode_rejects_nameless(void **state)
{
    json_t *j = json_pack("{s:{s:s}}", "metadata", "namespace", "default");
    assert_null(job_record_decode(j));
    json_decref(j);
    j = json_pack("{s:{s:s}}", "metadata", "name", "job-x");
    assert_null(job_record_decode(j));
    json_decref(j);
    j = json_pack("{s:{s:s, s:s}}", "metadata", "name", "job-x", "namespace", "default");
    struct job_record *r = job_record_decode(j); /* the bare minimum still decodes */
    json_decref(j);
    assert_non_null(r);
    assert_null(r->display_name);
    assert_null(r->type);
    assert_int_equal(r->nlabels, 0);
    assert_int_equal(job_record_state(r, NULL), PENDING);
    free(r);
}

static void test_state_pending_new(void **state)
{
    /* Zero counters are omitted by the API server: absent means 0. */
    struct job_record *r = decode("", "", "{}");
    assert_int_equal(job_record_state(r, NULL), PENDING);
    free(r);
}

static void test_state_succeeded(void **state)
{
    struct job_record *r = decode("", "",
                                  "{\"startTime\":\"2026-01-02T03:04:07Z\",\"succeeded\":1,"
                                  "\"completionTime\":\"2026-01-02T03:09:07Z\",\"conditions\":["
                                  "{\"type\":\"Complete\",\"status\":\"True\","
                                  "\"lastTransitionTime\":\"2026-01-02T03:09:08Z\"}]}");
    assert_int_equal(job_record_state(r, NULL), SUCCEEDED);
    assert_int_equal(r->finished, 1767323347); /* completionTime wins */
    assert_int_equal(r->succeeded, 1);
    free(r);
}

static void test_state_failed_with_reason(void **state)
{
    struct job_record *r = decode("", "",
                                  "{\"startTime\":\"2026-01-02T03:04:07Z\",\"failed\":1,"
                                  "\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\","
                                  "\"reason\":\"BackoffLimitExceeded\",\"message\":\"Job has "
                                  "reached the specified backoff limit\","
                                  "\"lastTransitionTime\":\"2026-01-02T03:04:10Z\"}]}");
    assert_int_equal(job_record_state(r, NULL), FAILED);
    assert_int_equal(r->finished, 1767323050); /* no completionTime on failure */
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    job_record_to_proto(r, NULL, NULL, scratch_alloc, &s, &job);
    assert_int_equal(job.state, FAILED);
    assert_string_equal(job.message,
                        "BackoffLimitExceeded: Job has reached the specified backoff limit");
    assert_non_null(job.finished_at);
    assert_int_equal(job.finished_at->seconds, 1767323050);
    assert_int_equal(job.failed, 1);
    scratch_deinit(&s);
    free(r);
}

static void test_condition_false_is_ignored(void **state)
{
    struct job_record *r = decode("", "",
                                  "{\"active\":1,\"conditions\":[{\"type\":\"Failed\","
                                  "\"status\":\"False\",\"reason\":\"X\"},{\"type\":"
                                  "\"Complete\",\"status\":\"Unknown\"}]}");
    assert_int_equal(job_record_state(r, NULL), RUNNING);
    assert_int_equal(r->finished, 0);
    free(r);
}

static void test_state_cancelled(void **state)
{
    struct job_record *r =
        decode(",\"jobscheduler.io/cancelled-at\":\"2026-01-02T03:05:00Z\"", ",\"suspend\":true",
               "{\"startTime\":\"2026-01-02T03:04:07Z\",\"conditions\":["
               "{\"type\":\"Suspended\",\"status\":\"True\",\"reason\":"
               "\"JobSuspended\",\"message\":\"Job suspended\"}]}");
    assert_true(r->cancelled);
    assert_int_equal(job_record_state(r, NULL), CANCELLED);
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    job_record_to_proto(r, NULL, NULL, scratch_alloc, &s, &job);
    assert_int_equal(job.state, CANCELLED);
    assert_non_null(strstr(job.message, "cancel"));
    scratch_deinit(&s);
    free(r);
}

static void test_suspended_by_others_is_pending(void **state)
{
    /* A queue controller (Kueue) suspends Jobs until it admits them: never CANCELLED. */
    struct job_record *r = decode("", ",\"suspend\":true",
                                  "{\"conditions\":[{\"type\":\"Suspended\",\"status\":"
                                  "\"True\",\"reason\":\"JobSuspended\",\"message\":"
                                  "\"Job suspended\"}]}");
    assert_false(r->cancelled);
    assert_int_equal(job_record_state(r, NULL), PENDING);
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    job_record_to_proto(r, NULL, NULL, scratch_alloc, &s, &job);
    assert_int_equal(job.state, PENDING);
    assert_string_equal(job.message, "JobSuspended: Job suspended");
    scratch_deinit(&s);
    free(r);

    /* Suspended before the controller wrote a condition: still says why. */
    r = decode("", ",\"suspend\":true", "{}");
    scratch_init(&s);
    job_record_to_proto(r, NULL, NULL, scratch_alloc, &s, &job);
    assert_int_equal(job.state, PENDING);
    assert_non_null(strstr(job.message, "Suspended"));
    scratch_deinit(&s);
    free(r);
}

static void test_resumed_is_not_suspended(void **state)
{
    struct job_record *r = decode("", ",\"suspend\":false",
                                  "{\"active\":1,\"conditions\":[{\"type\":\"Suspended\","
                                  "\"status\":\"False\",\"reason\":\"JobResumed\"}]}");
    assert_int_equal(job_record_state(r, NULL), RUNNING);
    free(r);
}

static void test_waiting_pod_keeps_pending(void **state)
{
    struct job_record *r = decode("", "", "{\"startTime\":\"2026-01-02T03:04:07Z\",\"active\":1}");
    assert_int_equal(job_record_state(r, "ImagePullBackOff"), PENDING);
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    job_record_to_proto(r, "ImagePullBackOff", "Back-off pulling image \"missing:1\"",
                        scratch_alloc, &s, &job);
    assert_int_equal(job.state, PENDING);
    assert_string_equal(job.message, "ImagePullBackOff: Back-off pulling image \"missing:1\"");
    scratch_deinit(&s);
    scratch_init(&s);
    job_record_to_proto(r, "ErrImagePull", NULL, scratch_alloc, &s, &job);
    assert_string_equal(job.message, "ErrImagePull");
    scratch_deinit(&s);
    free(r);
}

static void test_terminal_states_win(void **state)
{
    /* Complete beats our cancellation (it finished before the patch landed). */
    struct job_record *r = decode(",\"jobscheduler.io/cancelled-at\":\"x\"", ",\"suspend\":true",
                                  "{\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\"}]}");
    assert_int_equal(job_record_state(r, NULL), SUCCEEDED);
    free(r);
    /* A pod reason never hides a failure. */
    r = decode("", "",
               "{\"active\":1,\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\","
               "\"reason\":\"DeadlineExceeded\"}]}");
    assert_int_equal(job_record_state(r, "ImagePullBackOff"), FAILED);
    free(r);
}

static void test_state_names(void **state)
{
    assert_string_equal(job_state_name(PENDING), "PENDING");
    assert_string_equal(job_state_name(CANCELLED), "CANCELLED");
    assert_string_equal(job_state_name((Jobscheduler__JobState)42), "UNSPECIFIED");
    assert_true(job_state_is_terminal(SUCCEEDED));
    assert_true(job_state_is_terminal(FAILED));
    assert_true(job_state_is_terminal(CANCELLED));
    assert_false(job_state_is_terminal(PENDING));
    assert_false(job_state_is_terminal(RUNNING));
}

static void test_to_proto(void **state)
{
    struct job_record *r = decode("", "",
                                  "{\"startTime\":\"2026-01-02T03:04:07Z\",\"active\":1,"
                                  "\"succeeded\":0,\"failed\":2}");
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    job_record_to_proto(r, NULL, NULL, scratch_alloc, &s, &job);
    assert_string_equal(job.job_id, "job-abc123");
    assert_string_equal(job.name, "my timer");
    assert_string_equal(job.namespace_, "team-a");
    assert_string_equal(job.type, "timer");
    assert_int_equal(job.state, RUNNING);
    assert_string_equal(job.message, "");
    assert_int_equal(job.created_at->seconds, 1767323045);
    assert_int_equal(job.started_at->seconds, 1767323047);
    assert_null(job.finished_at);
    assert_int_equal(job.active, 1);
    assert_int_equal(job.failed, 2);
    assert_int_equal(job.n_labels, 2);
    /* The message must survive a protobuf round trip (what a client sees). */
    size_t len = jobscheduler__job__get_packed_size(&job);
    uint8_t *buf = malloc(len);
    jobscheduler__job__pack(&job, buf);
    Jobscheduler__Job *back = jobscheduler__job__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->job_id, "job-abc123");
    assert_int_equal(back->n_labels, 2);
    jobscheduler__job__free_unpacked(back, NULL);
    free(buf);
    scratch_deinit(&s);
    free(r);
}

static void test_scratch_large(void **state)
{
    struct scratch s;
    scratch_init(&s);
    for (int i = 0; i < 100; i++) {
        char *p = scratch_alloc(&s, 1000);
        memset(p, 'x', 1000);
    }
    char *big = scratch_alloc(&s, 200000);
    memset(big, 'y', 200000);
    void *p = scratch_alloc(&s, 3);
    assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
    scratch_deinit(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fields),
        cmocka_unit_test(test_decode_rejects_nameless),
        cmocka_unit_test(test_state_pending_new),
        cmocka_unit_test(test_state_succeeded),
        cmocka_unit_test(test_state_failed_with_reason),
        cmocka_unit_test(test_condition_false_is_ignored),
        cmocka_unit_test(test_state_cancelled),
        cmocka_unit_test(test_suspended_by_others_is_pending),
        cmocka_unit_test(test_resumed_is_not_suspended),
        cmocka_unit_test(test_waiting_pod_keeps_pending),
        cmocka_unit_test(test_terminal_states_win),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_to_proto),
        cmocka_unit_test(test_scratch_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
