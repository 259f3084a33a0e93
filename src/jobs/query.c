/* query: GetJobStatus and ListJobs, answered from the watch cache. GetJobStatus asks the API
 * server only for a job the cache does not hold yet (created by another replica a moment
 * ago); ListJobs pages over the cache with an opaque cursor token. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/xalloc.h"
#include "jobs/job_type.h"
#include "jobs/service_int.h"

#define PAGE_SIZE_DEFAULT 100
#define PAGE_SIZE_MAX     1000

/* ---- GetJobStatus ---- */

struct get_op {
    struct jobs_service *svc;
    struct grpc_call *call;
    const char *ns;
    const char *job_id;
};

static void respond_job(struct jobs_service *svc, struct grpc_call *call,
                        const struct job_record *r)
{
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    jobs_to_proto(svc, r, &s, &job);
    Jobscheduler__GetJobStatusResponse resp = JOBSCHEDULER__GET_JOB_STATUS_RESPONSE__INIT;
    resp.job = &job;
    grpc_call_finish(call, &resp.base, GRPC_STATUS_OK, NULL);
    scratch_deinit(&s);
}

static void on_get(const struct k8s_result *res, void *data)
{
    struct get_op *op = data;
    struct job_record *r = jobs_take_job(op->svc, op->call, res, op->ns, op->job_id);
    if (!r)
        return;
    respond_job(op->svc, op->call, r);
    free(r);
}

void jobs_get_status(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct jobs_service *svc = data;
    const Jobscheduler__GetJobStatusRequest *req = (const Jobscheduler__GetJobStatusRequest *)msg;
    if (!jobs_check_job_id(call, req->job_id))
        return;
    const char *ns = jobs_namespace(svc, call, req->namespace_);
    if (!ns)
        return;
    const struct job_record *r = svc->jobs ? k8s_informer_get(svc->jobs, ns, req->job_id) : NULL;
    if (r) {
        respond_job(svc, call, r);
        return;
    }
    struct get_op *op = grpc_call_alloc(call, sizeof(*op));
    *op = (struct get_op){svc, call, ns, req->job_id};
    if (k8s_jobs_get(svc->k8s, ns, req->job_id, on_get, op) != 0)
        grpc_call_finish(call, NULL, GRPC_STATUS_UNAVAILABLE, "kubernetes: client closed");
}

/* ---- ListJobs ---- */

struct list_query {
    struct jobs_service *svc;
    const Jobscheduler__ListJobsRequest *req;
    const char *ns; /* NULL: every namespace served */
    const struct job_type *type;
    /* cursor: the last job of the previous page */
    bool has_cursor;
    int64_t cur_created;
    char cur_ns[128];
    char cur_name[256];
    /* The first |keep| matches in list order, as a max-heap whose root is the last of them:
     * a page costs one pass over the cache and O(log page) per match, never a full sort. */
    const struct job_record **heap;
    size_t n, keep;
};

/* Newest first, then by namespace/name: a total order, so a cursor is exact. */
static int order(int64_t ca, const char *nsa, const char *namea, int64_t cb, const char *nsb,
                 const char *nameb)
{
    if (ca != cb)
        return ca > cb ? -1 : 1;
    int c = strcmp(nsa, nsb);
    return c ? c : strcmp(namea, nameb);
}

static int cmp_records(const void *a, const void *b)
{
    const struct job_record *x = *(const struct job_record *const *)a;
    const struct job_record *y = *(const struct job_record *const *)b;
    return order(x->created, x->ns, x->name, y->created, y->ns, y->name);
}

static bool labels_match(const struct job_record *r,
                         Jobscheduler__ListJobsRequest__LabelsEntry **want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (uint32_t j = 0; j < r->nlabels && !found; j++)
            found = strcmp(r->labels[j].key, want[i]->key) == 0 &&
                    strcmp(r->labels[j].value, want[i]->value) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool after_cursor(const struct list_query *q, const struct job_record *r)
{
    return !q->has_cursor ||
           order(r->created, r->ns, r->name, q->cur_created, q->cur_ns, q->cur_name) > 0;
}

static void heap_sift_down(const struct job_record **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && cmp_records(&h[l], &h[top]) > 0)
            top = l;
        if (r < n && cmp_records(&h[r], &h[top]) > 0)
            top = r;
        if (top == i)
            return;
        const struct job_record *t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

static void heap_push(struct list_query *q, const struct job_record *r)
{
    if (q->n < q->keep) {
        size_t i = q->n++;
        q->heap[i] = r;
        while (i > 0 && cmp_records(&q->heap[i], &q->heap[(i - 1) / 2]) > 0) {
            const struct job_record *t = q->heap[i];
            q->heap[i] = q->heap[(i - 1) / 2];
            q->heap[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (cmp_records(&r, &q->heap[0]) < 0) {
        q->heap[0] = r; /* |r| comes before the current last kept: it takes its place */
        heap_sift_down(q->heap, q->n, 0);
    }
}

static void collect(const void *rec, void *data)
{
    struct list_query *q = data;
    const struct job_record *r = rec;
    const Jobscheduler__ListJobsRequest *req = q->req;
    if (q->ns && strcmp(r->ns, q->ns) != 0)
        return;
    if (q->type && (!r->type || strcmp(r->type, q->type->name) != 0))
        return;
    if (req->state && jobs_state(q->svc, r) != req->state)
        return;
    if (!labels_match(r, req->labels, req->n_labels) || !after_cursor(q, r))
        return;
    heap_push(q, r);
}

static int cmp_entries(const void *a, const void *b)
{
    const Jobscheduler__ListJobsRequest__LabelsEntry *const *x = a, *const *y = b;
    int c = strcmp((*x)->key, (*y)->key);
    return c ? c : strcmp((*x)->value, (*y)->value);
}

/* A token belongs to one set of filters: its fingerprint is checked on the next page. */
static void filter_fingerprint(const Jobscheduler__ListJobsRequest *req, char out[17])
{
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof(text), "%s\n%s\n%d", req->namespace_, req->type,
                                  (int)req->state);
    Jobscheduler__ListJobsRequest__LabelsEntry *sorted[64];
    size_t n = req->n_labels < 64 ? req->n_labels : 64;
    if (n) { /* an empty map is a NULL array: memcpy must not see it */
        memcpy(sorted, req->labels, n * sizeof(sorted[0]));
        qsort(sorted, n, sizeof(sorted[0]), cmp_entries);
    }
    for (size_t i = 0; i < n && len < sizeof(text); i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "\n%s=%s", sorted[i]->key,
                                sorted[i]->value);
    char hex[65];
    digest_sha256_hex(text, len < sizeof(text) ? len : sizeof(text) - 1, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

/* Token text: hex of "v1|<created>|<ns/name>|<filters>". Hex keeps it opaque and URL-safe. */
static char *make_token(struct scratch *s, const struct job_record *last, const char *filters)
{
    char plain[512];
    int n = snprintf(plain, sizeof(plain), "v1|%" PRId64 "|%s/%s|%s", last->created, last->ns,
                     last->name, filters);
    char *tok = scratch_alloc(s, (size_t)n * 2 + 1);
    for (int i = 0; i < n; i++)
        snprintf(tok + 2 * i, 3, "%02x", (unsigned char)plain[i]);
    tok[2 * n] = '\0';
    return tok;
}

static int parse_token(struct list_query *q, const char *tok, const char *filters, const char **err)
{
    size_t n = strlen(tok);
    char plain[512];
    *err = "page_token is invalid";
    if (n == 0 || n % 2 || n / 2 >= sizeof(plain))
        return -EINVAL;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(tok + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        plain[i] = (char)v;
    }
    plain[n / 2] = '\0';
    char key[320], fp[32];
    int64_t created;
    if (sscanf(plain, "v1|%" SCNd64 "|%319[^|]|%31s", &created, key, fp) != 3)
        return -EINVAL;
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= sizeof(q->cur_ns) ||
        strlen(slash + 1) >= sizeof(q->cur_name))
        return -EINVAL;
    if (strcmp(fp, filters) != 0) {
        *err = "page_token does not match the request's filters";
        return -EINVAL;
    }
    q->has_cursor = true;
    q->cur_created = created;
    memcpy(q->cur_ns, key, (size_t)(slash - key));
    q->cur_ns[slash - key] = '\0';
    snprintf(q->cur_name, sizeof(q->cur_name), "%s", slash + 1);
    return 0;
}

static int check_list_request(struct list_query *q, struct grpc_call *call)
{
    const Jobscheduler__ListJobsRequest *req = q->req;
    if (*req->namespace_) {
        q->ns = jobs_namespace(q->svc, call, req->namespace_);
        if (!q->ns)
            return -EINVAL;
    }
    const char *msg = NULL;
    if (*req->type && !(q->type = job_type_by_name(req->type)))
        msg = "type is not a known job type";
    else if (req->state < 0 || req->state > JOBSCHEDULER__JOB_STATE__JOB_STATE_CANCELLED)
        msg = "state is not a valid JobState";
    else if (req->page_size < 0)
        msg = "page_size must not be negative";
    if (msg) {
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, msg);
        return -EINVAL;
    }
    return 0;
}

void jobs_list(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct jobs_service *svc = data;
    struct list_query q = {.svc = svc, .req = (const Jobscheduler__ListJobsRequest *)msg};
    if (check_list_request(&q, call) != 0)
        return;
    char filters[17];
    filter_fingerprint(q.req, filters);
    const char *err;
    if (*q.req->page_token && parse_token(&q, q.req->page_token, filters, &err) != 0) {
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    size_t page = q.req->page_size == 0              ? PAGE_SIZE_DEFAULT
                  : q.req->page_size > PAGE_SIZE_MAX ? PAGE_SIZE_MAX
                                                     : (size_t)q.req->page_size;
    /* One more than the page tells whether a next page exists. */
    q.keep = page + 1;
    q.heap = xmalloc(q.keep * sizeof(*q.heap));
    if (svc->jobs)
        k8s_informer_foreach(svc->jobs, collect, &q);
    if (q.n > 1)
        qsort(q.heap, q.n, sizeof(*q.heap), cmp_records);

    struct scratch s;
    scratch_init(&s);
    Jobscheduler__ListJobsResponse resp = JOBSCHEDULER__LIST_JOBS_RESPONSE__INIT;
    resp.n_jobs = q.n < page ? q.n : page;
    resp.jobs = scratch_alloc(&s, (resp.n_jobs ? resp.n_jobs : 1) * sizeof(*resp.jobs));
    for (size_t i = 0; i < resp.n_jobs; i++) {
        resp.jobs[i] = scratch_alloc(&s, sizeof(Jobscheduler__Job));
        jobs_to_proto(svc, q.heap[i], &s, resp.jobs[i]);
    }
    if (q.n > page)
        resp.next_page_token = make_token(&s, q.heap[page - 1], filters);
    grpc_call_finish(call, &resp.base, GRPC_STATUS_OK, NULL);
    scratch_deinit(&s);
    free(q.heap);
}
