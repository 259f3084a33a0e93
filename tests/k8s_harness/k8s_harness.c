/* k8s_harness: drives the Kubernetes client from the integration tests. It loads the
 * service's configuration from the environment, runs a jobs informer (unless
 * HARNESS_NO_INFORMER=1) and answers one JSON line per command read from stdin:
 *
 *   create|create-det NS JSON  get NS NAME            delete NS NAME [PROPAGATION]
 *   patch NS NAME JSON         list NS|* SEL|- LIMIT CONT|-      pods NS|* SEL|-
 *   dump        synced        metrics        rss        events on|off
 *   bench NS COUNT INFLIGHT    (creates COUNT jobs, INFLIGHT at a time; reports latency)
 *   quit
 *
 * Replies are {"id":N,...} where N counts commands from 1; informer events are printed as
 * {"event":TYPE,...} lines while events are on. Exit status 0 after a clean close. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xalloc.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "k8s/jobs.h"
#include "k8s/lines.h"

/* The compact record the cache holds per job: one allocation, strings inline. */
struct job_rec {
    int32_t active, succeeded, failed;
    uint16_t ns_off, rv_off; /* offsets into text; the name starts at 0 */
    char text[];
};

struct harness {
    uv_loop_t *loop;
    struct config cfg;
    struct metrics *metrics;
    struct k8s_client *client;
    struct k8s_informer *informer;
    uv_pipe_t in;
    struct k8s_lines lines;
    long next_id;
    bool events;
    bool quitting;
};

struct pending {
    struct harness *h;
    long id;
    bool apply; /* feed the returned object to the informer (read-your-writes) */
};

struct bench {
    struct harness *h;
    long id;
    char *ns;
    int total, started, done, errors, inflight, limit;
    uint64_t t0;
    double *lat_ms;
    uint64_t *start_ns;
};

static void emit(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(s);
    json_decref(j);
}

static const char *rec_name(const struct job_rec *r)
{
    return r->text;
}

static void *decode(const json_t *obj, void *data)
{
    const char *name = json_path_str(obj, "metadata.name");
    const char *ns = json_path_str(obj, "metadata.namespace");
    const char *rv = json_path_str(obj, "metadata.resourceVersion");
    size_t ln, lns, lrv;
    struct job_rec *r;

    (void)data;
    if (!name || !ns || !rv)
        return NULL;
    ln = strlen(name);
    lns = strlen(ns);
    lrv = strlen(rv);
    r = xmalloc(sizeof(*r) + ln + lns + lrv + 3);
    r->active = (int32_t)json_path_int(obj, "status.active", 0);
    r->succeeded = (int32_t)json_path_int(obj, "status.succeeded", 0);
    r->failed = (int32_t)json_path_int(obj, "status.failed", 0);
    memcpy(r->text, name, ln + 1);
    r->ns_off = (uint16_t)(ln + 1);
    memcpy(r->text + r->ns_off, ns, lns + 1);
    r->rv_off = (uint16_t)(r->ns_off + lns + 1);
    memcpy(r->text + r->rv_off, rv, lrv + 1);
    return r;
}

static void release(void *rec, void *data)
{
    (void)data;
    free(rec);
}

static json_t *rec_json(const struct job_rec *r)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "namespace", r->text + r->ns_off, "name",
                     rec_name(r), "rv", r->text + r->rv_off, "active", r->active, "succeeded",
                     r->succeeded, "failed", r->failed);
}

static void on_event(enum k8s_event_type type, const void *old_rec, const void *new_rec, void *data)
{
    struct harness *h = data;
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
    const struct job_rec *r = new_rec ? new_rec : old_rec;
    json_t *j;

    if (!h->events)
        return;
    j = rec_json(r);
    json_object_set_new(j, "event", json_string(names[type]));
    emit(j);
}

static void on_synced(void *data)
{
    struct harness *h = data;

    if (h->events)
        emit(json_pack("{s:s}", "event", "SYNCED"));
}

static const struct k8s_informer_ops job_ops = {decode, release, on_event, on_synced};

static json_t *result_json(long id, const struct k8s_result *res)
{
    json_t *j = json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "error",
                          k8s_error_name(res->error), "status", res->http_status);

    if (res->reason)
        json_object_set_new(j, "reason", json_string(res->reason));
    if (res->message)
        json_object_set_new(j, "message", json_string(res->message));
    return j;
}

static void on_result(const struct k8s_result *res, void *data)
{
    struct pending *p = data;
    json_t *j = result_json(p->id, res);
    json_t *items = json_path_array(res->body, "items");
    const char *cont = json_path_str(res->body, "metadata.continue");

    if (res->error == K8S_OK && res->body) {
        json_object_set_new(j, "name", json_string(json_path_str(res->body, "metadata.name")));
        json_object_set_new(j, "rv",
                            json_string(json_path_str(res->body, "metadata.resourceVersion")));
        if (items)
            json_object_set_new(j, "items", json_integer((json_int_t)json_array_size(items)));
        if (cont && cont[0])
            json_object_set_new(j, "continue", json_string(cont));
        if (p->apply && p->h->informer)
            k8s_informer_apply(p->h->informer, res->body);
    }
    emit(j);
    free(p);
}

static struct pending *pending_new(struct harness *h, long id, bool apply)
{
    struct pending *p = xcalloc(1, sizeof(*p));

    p->h = h;
    p->id = id;
    p->apply = apply;
    return p;
}

static void reply_errno(long id, int rc)
{
    emit(json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "error", "ERRNO", "errno", rc));
}

static const char *opt(const char *s)
{
    return s && strcmp(s, "-") != 0 ? s : NULL;
}

/* ---- bench: COUNT creates with INFLIGHT outstanding ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_next(struct bench *b);

static void bench_finish(struct bench *b)
{
    double secs = (double)(uv_hrtime() - b->t0) / 1e9;
    int n = b->done;

    qsort(b->lat_ms, (size_t)n, sizeof(double), cmp_double);
    emit(json_pack("{s:I, s:i, s:i, s:f, s:f, s:f, s:f}", "id", (json_int_t)b->id, "created",
                   b->done - b->errors, "errors", b->errors, "seconds", secs, "per_second",
                   n / secs, "p50_ms", n ? b->lat_ms[n / 2] : 0.0, "p99_ms",
                   n ? b->lat_ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0));
    free(b->lat_ms);
    free(b->start_ns);
    free(b->ns);
    free(b);
}

struct bench_req {
    struct bench *b;
    int index;
};

static void bench_done(const struct k8s_result *res, void *data)
{
    struct bench_req *r = data;
    struct bench *b = r->b;

    b->lat_ms[b->done] = (double)(uv_hrtime() - b->start_ns[r->index]) / 1e6;
    b->done++;
    b->inflight--;
    if (res->error != K8S_OK)
        b->errors++;
    free(r);
    if (b->done == b->total)
        bench_finish(b);
    else
        bench_next(b);
}

static void bench_next(struct bench *b)
{
    while (b->inflight < b->limit && b->started < b->total && !b->h->quitting) {
        struct bench_req *r = xcalloc(1, sizeof(*r));
        char name[64];
        json_t *job;
        int rc;

        snprintf(name, sizeof(name), "bench-%ld-%d", b->id, b->started);
        job = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:{s:{s:s, s:[{s:s, s:s}]}}}}",
                        "apiVersion", "batch/v1", "kind", "Job", "metadata", "name", name, "labels",
                        "app.kubernetes.io/managed-by", "jobscheduler", "spec", "template", "spec",
                        "restartPolicy", "Never", "containers", "name", "main", "image",
                        "timer:latest");
        r->b = b;
        r->index = b->started;
        b->start_ns[b->started] = uv_hrtime();
        rc =
            k8s_jobs_create(b->h->client, b->ns, job, K8S_CREATE_DETERMINISTIC_NAME, bench_done, r);
        json_decref(job);
        if (rc < 0) {
            free(r);
            b->errors++;
            b->done++;
            b->started++;
            continue;
        }
        b->started++;
        b->inflight++;
    }
}

static void bench_start(struct harness *h, long id, const char *ns, int total, int inflight)
{
    struct bench *b = xcalloc(1, sizeof(*b));

    b->limit = inflight > 0 ? inflight : 1;
    b->h = h;
    b->id = id;
    b->ns = xstrdup(ns);
    b->total = total > 0 ? total : 1;
    b->lat_ms = xcalloc((size_t)b->total, sizeof(double));
    b->start_ns = xcalloc((size_t)b->total, sizeof(uint64_t));
    b->t0 = uv_hrtime();
    bench_next(b);
}

/* ---- other commands ---- */

static void add_rec(const void *rec, void *data)
{
    json_array_append_new(data, rec_json(rec));
}

static void cmd_dump(struct harness *h, long id)
{
    json_t *jobs = json_array();

    if (h->informer)
        k8s_informer_foreach(h->informer, add_rec, jobs);
    emit(json_pack("{s:I, s:o, s:b, s:I}", "id", (json_int_t)id, "jobs", jobs, "synced",
                   h->informer && k8s_informer_synced(h->informer), "count",
                   (json_int_t)(h->informer ? k8s_informer_count(h->informer) : 0)));
}

static void cmd_metrics(struct harness *h, long id)
{
    struct buf out;

    buf_init(&out, 16 << 20);
    metrics_render(h->metrics, &out);
    emit(json_pack("{s:I, s:s%}", "id", (json_int_t)id, "text", out.data ? (char *)out.data : "",
                   out.len));
    buf_deinit(&out);
}

static void cmd_rss(long id)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    emit(json_pack("{s:I, s:I}", "id", (json_int_t)id, "rss_bytes",
                   (json_int_t)resident * sysconf(_SC_PAGESIZE)));
}

static void on_stdin_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void on_client_closed(void *data)
{
    struct harness *h = data;

    h->client = NULL;
}

static void quit(struct harness *h)
{
    if (h->quitting)
        return;
    h->quitting = true;
    h->informer = NULL; /* freed by the client's close */
    k8s_client_close(h->client, on_client_closed, h);
    uv_close((uv_handle_t *)&h->in, on_stdin_closed);
}

static int run_call(struct harness *h, long id, char **argv, int argc)
{
    const char *cmd = argv[0];
    json_error_t jerr;
    json_t *body;
    int rc = -EINVAL;

    if ((strcmp(cmd, "create") == 0 || strcmp(cmd, "create-det") == 0) && argc >= 3) {
        body = json_loads(argv[2], 0, &jerr);
        if (body)
            rc = k8s_jobs_create(h->client, argv[1], body,
                                 strcmp(cmd, "create-det") == 0 ? K8S_CREATE_DETERMINISTIC_NAME : 0,
                                 on_result, pending_new(h, id, true));
        json_decref(body);
    } else if (strcmp(cmd, "patch") == 0 && argc >= 4) {
        body = json_loads(argv[3], 0, &jerr);
        if (body)
            rc = k8s_jobs_patch(h->client, argv[1], argv[2], body, on_result,
                                pending_new(h, id, true));
        json_decref(body);
    } else if (strcmp(cmd, "get") == 0 && argc >= 3) {
        rc = k8s_jobs_get(h->client, argv[1], argv[2], on_result, pending_new(h, id, false));
    } else if (strcmp(cmd, "delete") == 0 && argc >= 3) {
        rc = k8s_jobs_delete(h->client, argv[1], argv[2], argc > 3 ? argv[3] : NULL, on_result,
                             pending_new(h, id, false));
    } else if (strcmp(cmd, "list") == 0 && argc >= 5) {
        rc = k8s_jobs_list(h->client, strcmp(argv[1], "*") ? argv[1] : NULL, opt(argv[2]),
                           atoi(argv[3]), opt(argv[4]), on_result, pending_new(h, id, false));
    } else if (strcmp(cmd, "pods") == 0 && argc >= 3) {
        rc = k8s_pods_list(h->client, strcmp(argv[1], "*") ? argv[1] : NULL, opt(argv[2]), 0, NULL,
                           on_result, pending_new(h, id, false));
    } else {
        return 1;
    }
    return rc;
}

/* Splits on spaces into at most 5 words; the last word takes the rest of the line, so a
 * JSON body may contain spaces when it is the last argument. */
static int split(char *line, char **argv, int max)
{
    int n = 0;

    while (*line && n < max) {
        while (*line == ' ')
            line++;
        if (!*line)
            break;
        argv[n++] = line;
        if (n == max || *line == '{')
            break;
        while (*line && *line != ' ')
            line++;
        if (*line)
            *line++ = '\0';
    }
    return n;
}

static int on_command(const uint8_t *p, size_t len, void *data)
{
    struct harness *h = data;
    char *line = xmemdup0(p, len);
    char *argv[5] = {0};
    int argc = split(line, argv, 5);
    long id = ++h->next_id;
    int rc;

    if (argc == 0 || h->quitting) {
        free(line);
        return 0;
    }
    if (strcmp(argv[0], "quit") == 0) {
        quit(h);
        free(line);
        return -ECANCELED;
    }
    if (strcmp(argv[0], "dump") == 0) {
        cmd_dump(h, id);
    } else if (strcmp(argv[0], "synced") == 0) {
        emit(json_pack("{s:I, s:b}", "id", (json_int_t)id, "synced",
                       h->informer && k8s_informer_synced(h->informer)));
    } else if (strcmp(argv[0], "metrics") == 0) {
        cmd_metrics(h, id);
    } else if (strcmp(argv[0], "rss") == 0) {
        cmd_rss(id);
    } else if (strcmp(argv[0], "events") == 0 && argc == 2) {
        h->events = strcmp(argv[1], "on") == 0;
        emit(json_pack("{s:I, s:b}", "id", (json_int_t)id, "events", h->events));
    } else if (strcmp(argv[0], "bench") == 0 && argc == 4) {
        bench_start(h, id, argv[1], atoi(argv[2]), atoi(argv[3]));
    } else if ((rc = run_call(h, id, argv, argc)) != 0) {
        if (rc > 0)
            emit(json_pack("{s:I, s:s}", "id", (json_int_t)id, "error", "UNKNOWN_COMMAND"));
        else
            reply_errno(id, rc);
    }
    free(line);
    return 0;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    (void)handle;
    b->base = xmalloc(suggested);
    b->len = suggested;
}

static void on_stdin(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct harness *h = s->data;

    if (nread > 0 && !h->quitting)
        k8s_lines_feed(&h->lines, (const uint8_t *)b->base, (size_t)nread, on_command, h);
    else if (nread < 0)
        quit(h);
    free(b->base);
}

static const char *get_env(const char *name)
{
    return getenv(name);
}

int main(void)
{
    struct harness h = {0};
    char err[512];
    int rc;

    h.loop = uv_default_loop();
    if (config_load(&h.cfg, get_env, err, sizeof(err)) < 0) {
        fprintf(stderr, "k8s_harness: %s\n", err);
        return 2;
    }
    log_configure(h.cfg.log_level, h.cfg.log_format);
    h.metrics = metrics_new();
    rc = k8s_client_new(h.loop, &h.cfg, h.metrics, &h.client, err, sizeof(err));
    if (rc < 0) {
        emit(json_pack("{s:s, s:s}", "fatal", "k8s_client_new", "message", err));
        metrics_free(h.metrics);
        config_deinit(&h.cfg);
        return 3;
    }
    h.events = getenv("HARNESS_EVENTS") && strcmp(getenv("HARNESS_EVENTS"), "1") == 0;
    if (!(getenv("HARNESS_NO_INFORMER") && strcmp(getenv("HARNESS_NO_INFORMER"), "1") == 0)) {
        h.informer = k8s_informer_new(h.client, K8S_RESOURCE_JOBS, config_namespaces(&h.cfg),
                                      "app.kubernetes.io/managed-by=jobscheduler", &job_ops, &h);
        k8s_informer_start(h.informer);
    }
    k8s_lines_init(&h.lines, 16 << 20);
    uv_pipe_init(h.loop, &h.in, 0);
    uv_pipe_open(&h.in, 0);
    h.in.data = &h;
    uv_read_start((uv_stream_t *)&h.in, on_alloc, on_stdin);
    emit(json_pack("{s:s, s:s}", "ready", k8s_client_describe(h.client), "namespace",
                   k8s_client_namespace(h.client) ? k8s_client_namespace(h.client) : ""));
    uv_run(h.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(h.loop) == 0 && h.client == NULL ? 0 : 4;
    k8s_lines_deinit(&h.lines);
    metrics_free(h.metrics);
    config_deinit(&h.cfg);
    return rc;
}
