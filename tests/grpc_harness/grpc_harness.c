/* grpc_harness: the gRPC server on one loop with canned JobScheduler methods, for the gRPC
 * integration tests and the benchmark (the real jobs service registers the real ones).
 *   GetJobStatus  answers from memory; job_id "missing" is NOT_FOUND.
 *   ListJobs      waits page_size milliseconds before answering (negative: until cancelled).
 *   WatchJobs     type "count:N" streams N events then OK; "forever" one every 20 ms;
 *                 "flood" as fast as flow control allows (waits on the drain callback).
 *   ScheduleJob   labels["status"]/["message"] choose the final status; labels["size"] makes
 *                 the response's job.message that many bytes; name "__metrics__" returns the
 *                 rendered metrics in job.message.
 * Configuration is the service's environment (GRPC_PORT, GRPC_*, LOG_LEVEL), plus
 * GRPC_HARNESS_SERVING_DELAY_MS (health turns SERVING after it; default 0) and
 * GRPC_HARNESS_GRACE_MS (shutdown grace on SIGTERM; default SHUTDOWN_GRACE_SECONDS).
 * Prints {"grpc_port":N} on stdout once listening. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "grpc/server.h"
#include "jobscheduler.pb-c.h"

struct harness {
    uv_loop_t *loop;
    struct grpc_server *srv;
    struct metrics *metrics;
    struct metric_family *cancels;
    uv_signal_t sigterm, sigint;
    uv_timer_t serving;
    bool stopping;
};

static const char *label(size_t n, Jobscheduler__ScheduleJobRequest__LabelsEntry **l,
                         const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i]->key, key) == 0)
            return l[i]->value;
    return NULL;
}

static void count_cancel(struct harness *h, enum grpc_cancel_reason reason)
{
    static const char *const names[] = {"client", "deadline", "shutdown"};
    const char *v[] = {names[reason], NULL};
    metric_add(metric_family_child(h->cancels, v), 1);
}

static void fill_job(Jobscheduler__Job *job, Google__Protobuf__Timestamp *ts, const char *id,
                     const char *ns)
{
    jobscheduler__job__init(job);
    google__protobuf__timestamp__init(ts);
    ts->seconds = 1764390600;
    job->job_id = (char *)id;
    job->name = (char *)"bench";
    job->namespace_ = (char *)(ns && *ns ? ns : "default");
    job->type = (char *)"timer";
    job->state = JOBSCHEDULER__JOB_STATE__JOB_STATE_RUNNING;
    job->created_at = ts;
    job->active = 1;
}

/* ScheduleJob */

static void on_schedule(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct harness *h = data;
    const Jobscheduler__ScheduleJobRequest *req = (const void *)msg;
    const char *status = label(req->n_labels, req->labels, "status");
    const char *size = label(req->n_labels, req->labels, "size");
    if (status) {
        grpc_call_finish(call, NULL, (enum grpc_status)strtol(status, NULL, 10),
                         label(req->n_labels, req->labels, "message"));
        return;
    }
    Jobscheduler__ScheduleJobResponse resp = JOBSCHEDULER__SCHEDULE_JOB_RESPONSE__INIT;
    Jobscheduler__Job job;
    Google__Protobuf__Timestamp ts;
    char *id = grpc_call_alloc(call, strlen(req->name) + 5);
    snprintf(id, strlen(req->name) + 5, "job-%s", req->name);
    fill_job(&job, &ts, id, req->namespace_);
    struct buf text;
    buf_init(&text, 64u << 20);
    if (strcmp(req->name, "__metrics__") == 0) {
        metrics_render(h->metrics, &text);
        job.message = (char *)buf_cstr(&text);
    } else if (size) {
        size_t n = strtoul(size, NULL, 10);
        memset(buf_reserve(&text, n + 1), 'x', n);
        buf_commit(&text, n);
        job.message = (char *)buf_cstr(&text);
    }
    resp.job_id = id;
    resp.job = &job;
    grpc_call_finish(call, &resp.base, GRPC_STATUS_OK, NULL);
    buf_deinit(&text);
}

/* GetJobStatus */

static void on_get(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Jobscheduler__GetJobStatusRequest *req = (const void *)msg;
    (void)data;
    if (strcmp(req->job_id, "missing") == 0) {
        grpc_call_finish(call, NULL, GRPC_STATUS_NOT_FOUND, "job not found");
        return;
    }
    Jobscheduler__GetJobStatusResponse resp = JOBSCHEDULER__GET_JOB_STATUS_RESPONSE__INIT;
    Jobscheduler__Job job;
    Google__Protobuf__Timestamp ts;
    fill_job(&job, &ts, req->job_id, req->namespace_);
    resp.job = &job;
    grpc_call_finish(call, &resp.base, GRPC_STATUS_OK, NULL);
}

/* ListJobs and WatchJobs keep a timer per call. */

struct timed {
    uv_timer_t timer;
    struct harness *h;
    struct grpc_call *call;
    const char *ns;
    long remaining; /* events left; -1 forever */
    bool flood;
};

static void timed_close(struct timed *t)
{
    uv_close((uv_handle_t *)&t->timer, (uv_close_cb)free);
}

static void on_list_timer(uv_timer_t *timer)
{
    struct timed *t = timer->data;
    Jobscheduler__ListJobsResponse resp = JOBSCHEDULER__LIST_JOBS_RESPONSE__INIT;
    Jobscheduler__Job job, *jobs[1] = {&job};
    Google__Protobuf__Timestamp ts;
    fill_job(&job, &ts, "job-1", t->ns);
    resp.n_jobs = 1;
    resp.jobs = jobs;
    grpc_call_finish(t->call, &resp.base, GRPC_STATUS_OK, NULL);
    timed_close(t);
}

static void on_timed_cancel(struct grpc_call *call, enum grpc_cancel_reason reason, void *data)
{
    struct timed *t = data;
    count_cancel(t->h, reason);
    uv_timer_stop(&t->timer);
    grpc_call_finish(call, NULL,
                     reason == GRPC_CANCEL_SHUTDOWN ? GRPC_STATUS_OK : GRPC_STATUS_CANCELLED, NULL);
    timed_close(t);
}

static struct timed *timed_new(struct harness *h, struct grpc_call *call)
{
    struct timed *t = xcalloc(1, sizeof(*t));
    uv_timer_init(h->loop, &t->timer);
    t->timer.data = t;
    t->h = h;
    t->call = call;
    grpc_call_on_cancel(call, on_timed_cancel, t);
    return t;
}

static void on_list(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Jobscheduler__ListJobsRequest *req = (const void *)msg;
    struct timed *t = timed_new(data, call);
    t->ns = req->namespace_;
    if (req->page_size >= 0)
        uv_timer_start(&t->timer, on_list_timer, (uint64_t)req->page_size, 0);
}

static void on_watch_timer(uv_timer_t *timer);

static void on_watch_drain(struct grpc_call *call, void *data)
{
    struct timed *t = data;
    (void)call;
    uv_timer_start(&t->timer, on_watch_timer, 0, 0);
}

static void on_watch_timer(uv_timer_t *timer)
{
    struct timed *t = timer->data;
    Jobscheduler__JobEvent ev = JOBSCHEDULER__JOB_EVENT__INIT;
    Jobscheduler__Job job;
    Google__Protobuf__Timestamp ts;
    fill_job(&job, &ts, "job-1", t->ns);
    ev.type = JOBSCHEDULER__JOB_EVENT__EVENT_TYPE__EVENT_TYPE_MODIFIED;
    ev.job = &job;
    /* Count and flood modes send until the queue is full, then wait for the drain. */
    for (int i = 0; i < 1000 && t->remaining != 0; i++) {
        int rc = grpc_call_send(t->call, &ev.base);
        if (rc == -ENOBUFS)
            return; /* the drain callback restarts us */
        if (rc < 0)
            return; /* cancelled: the cancel callback cleans up */
        if (t->remaining > 0)
            t->remaining--;
        if (!t->flood && t->remaining < 0)
            return; /* forever mode: one per tick */
    }
    if (t->remaining == 0) {
        grpc_call_finish(t->call, NULL, GRPC_STATUS_OK, NULL);
        timed_close(t);
        return;
    }
    if (t->flood || t->remaining > 0)
        uv_timer_start(&t->timer, on_watch_timer, 0, 0);
}

static void on_watch(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Jobscheduler__WatchJobsRequest *req = (const void *)msg;
    struct timed *t = timed_new(data, call);
    t->ns = req->namespace_;
    t->remaining = 3;
    if (strncmp(req->type, "count:", 6) == 0)
        t->remaining = strtol(req->type + 6, NULL, 10);
    else if (strcmp(req->type, "forever") == 0)
        t->remaining = -1;
    else if (strcmp(req->type, "flood") == 0)
        t->remaining = -1, t->flood = true;
    grpc_call_on_drain(call, on_watch_drain, t);
    if (t->remaining < 0 && !t->flood)
        uv_timer_start(&t->timer, on_watch_timer, 0, 20);
    else
        uv_timer_start(&t->timer, on_watch_timer, 0, 0);
}

/* Wiring. */

static int register_methods(struct harness *h)
{
    const struct grpc_method methods[] = {
        {"jobscheduler.JobScheduler", "ScheduleJob", GRPC_METHOD_UNARY,
         &jobscheduler__schedule_job_request__descriptor,
         &jobscheduler__schedule_job_response__descriptor, on_schedule, h},
        {"jobscheduler.JobScheduler", "GetJobStatus", GRPC_METHOD_UNARY,
         &jobscheduler__get_job_status_request__descriptor,
         &jobscheduler__get_job_status_response__descriptor, on_get, h},
        {"jobscheduler.JobScheduler", "ListJobs", GRPC_METHOD_UNARY,
         &jobscheduler__list_jobs_request__descriptor,
         &jobscheduler__list_jobs_response__descriptor, on_list, h},
        {"jobscheduler.JobScheduler", "WatchJobs", GRPC_METHOD_SERVER_STREAMING,
         &jobscheduler__watch_jobs_request__descriptor, &jobscheduler__job_event__descriptor,
         on_watch, h},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (grpc_server_register(h->srv, &methods[i]) < 0)
            return -1;
    return 0;
}

static void on_done(void *data)
{
    struct harness *h = data;
    uv_close((uv_handle_t *)&h->sigterm, NULL);
    uv_close((uv_handle_t *)&h->sigint, NULL);
    uv_close((uv_handle_t *)&h->serving, NULL);
}

static uint64_t env_ms(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct harness *h = s->data;
    (void)signum;
    if (h->stopping)
        return; /* a second signal while draining changes nothing */
    h->stopping = true;
    uv_timer_stop(&h->serving);
    grpc_server_shutdown(h->srv, env_ms("GRPC_HARNESS_GRACE_MS", 5000), on_done, h);
}

static void on_serving(uv_timer_t *t)
{
    struct harness *h = t->data;
    grpc_server_set_serving(h->srv, true);
}

static const char *get_env(const char *name)
{
    return getenv(name);
}

static int run(struct harness *h, struct config *cfg)
{
    char err[512];
    h->srv = grpc_server_new(h->loop, cfg, h->metrics, err, sizeof(err));
    if (!h->srv || register_methods(h) < 0 || grpc_server_start(h->srv, err, sizeof(err)) < 0) {
        fprintf(stderr, "grpc_harness: %s\n", err);
        return 1;
    }
    printf("{\"grpc_port\":%d}\n", cfg->grpc_port);
    fflush(stdout);
    uv_signal_init(h->loop, &h->sigterm);
    uv_signal_init(h->loop, &h->sigint);
    h->sigterm.data = h->sigint.data = h;
    uv_signal_start(&h->sigterm, on_signal, SIGTERM);
    uv_signal_start(&h->sigint, on_signal, SIGINT);
    uv_timer_init(h->loop, &h->serving);
    h->serving.data = h;
    uv_timer_start(&h->serving, on_serving, env_ms("GRPC_HARNESS_SERVING_DELAY_MS", 0), 0);
    uv_run(h->loop, UV_RUN_DEFAULT);
    return 0;
}

int main(void)
{
    static const char *const cancel_labels[] = {"reason", NULL};
    struct harness h = {0};
    struct config cfg;
    char err[512];
    signal(SIGPIPE, SIG_IGN);
    if (config_load(&cfg, get_env, err, sizeof(err)) < 0) {
        fprintf(stderr, "grpc_harness: %s\n", err);
        return 2;
    }
    log_configure(cfg.log_level, cfg.log_format);
    h.loop = uv_default_loop();
    h.metrics = metrics_new();
    h.cancels = metrics_counter(h.metrics, "grpc_harness_cancels_total",
                                "Cancel callbacks the harness handlers received.", cancel_labels);
    int rc = run(&h, &cfg);
    if (rc == 0 && uv_loop_close(h.loop) != 0) {
        fprintf(stderr, "grpc_harness: loop handles left open\n");
        rc = 3;
    }
    grpc_server_free(h.srv);
    metrics_free(h.metrics);
    config_deinit(&cfg);
    return rc;
}
