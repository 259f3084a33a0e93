/* watch: WatchJobs streams. A stream first gets ADDED for every matching cached job, then
 * one event per change. The gRPC layer queues at most 256 KiB per stream, far less than a
 * snapshot of a big cache, so sends are paced by the client's reading: the snapshot is a
 * sorted list of job keys sent as the queue drains (each job read from the cache when its
 * turn comes), and live events that find the queue full wait in a per-stream backlog of
 * packed events. A client that lets that backlog pass BACKLOG_CAP bytes is ended with
 * RESOURCE_EXHAUSTED rather than buffered without bound. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "jobs/job_type.h"
#include "jobs/service_int.h"

#define BACKLOG_CAP (4u << 20)

/* One job of the initial snapshot: "ns\0name\0" in one allocation. */
struct snap_key {
    const char *ns;
    const char *name;
};

/* One live event waiting for the client to read: a packed JobEvent. */
struct backlog_item {
    struct backlog_item *next;
    size_t len;
    uint8_t data[];
};

struct jobs_watch {
    struct jobs_watch *prev, *next;
    struct jobs_service *svc;
    struct grpc_call *call;
    const Jobscheduler__WatchJobsRequest *req; /* in the call's arena */
    const char *ns;                            /* NULL: every namespace served */
    struct snap_key *snap;                     /* sorted; [snap_pos, nsnap) not sent yet */
    size_t nsnap, snap_pos;
    struct backlog_item *head, *tail;
    size_t backlog_bytes;
};

static bool matches(const struct jobs_watch *w, const struct job_record *r)
{
    const Jobscheduler__WatchJobsRequest *req = w->req;
    if (w->ns && strcmp(w->ns, r->ns) != 0)
        return false;
    if (*req->job_id && strcmp(req->job_id, r->name) != 0)
        return false;
    if (*req->type && (!r->type || strcmp(req->type, r->type) != 0))
        return false;
    for (size_t i = 0; i < req->n_labels; i++) {
        bool found = false;
        for (uint32_t j = 0; j < r->nlabels && !found; j++)
            found = strcmp(r->labels[j].key, req->labels[i]->key) == 0 &&
                    strcmp(r->labels[j].value, req->labels[i]->value) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void unlink_watch(struct jobs_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->svc->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void free_snapshot(struct jobs_watch *w)
{
    for (size_t i = 0; i < w->nsnap; i++)
        free((char *)w->snap[i].ns);
    free(w->snap);
    w->snap = NULL;
    w->nsnap = w->snap_pos = 0;
}

/* Frees what the stream holds outside the call's arena, then the call (and |w| with it). */
static void end_watch(struct jobs_watch *w, enum grpc_status status, const char *msg)
{
    unlink_watch(w);
    free_snapshot(w);
    while (w->head) {
        struct backlog_item *next = w->head->next;
        free(w->head);
        w->head = next;
    }
    grpc_call_finish(w->call, NULL, status, msg);
}

static void build_event(const struct jobs_watch *w, Jobscheduler__JobEvent__EventType type,
                        const struct job_record *r, struct scratch *s, Jobscheduler__JobEvent *ev,
                        Jobscheduler__Job *job)
{
    jobs_to_proto(w->svc, r, s, job);
    jobscheduler__job_event__init(ev);
    ev->type = type;
    ev->job = job;
}

/* Sends |ev| or reports why not: 0, -ENOBUFS (queue full, try after the drain callback), or
 * another error after which the stream has been ended. */
static int send_msg(struct jobs_watch *w, const Jobscheduler__JobEvent *ev)
{
    int rc = grpc_call_send(w->call, &ev->base);
    if (rc != 0 && rc != -ENOBUFS)
        end_watch(w, GRPC_STATUS_CANCELLED, "stream closed");
    return rc;
}

/* Keeps a live event for later. Returns false when the stream was ended for it. */
static bool push_backlog(struct jobs_watch *w, const Jobscheduler__JobEvent *ev)
{
    size_t len = jobscheduler__job_event__get_packed_size(ev);
    if (w->backlog_bytes + len > BACKLOG_CAP) {
        log_warn("jobs", "WatchJobs client too slow: ending its stream",
                 LOG_STR("peer", grpc_call_peer(w->call)));
        end_watch(w, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "watch stream is not read fast enough; reconnect and resume");
        return false;
    }
    struct backlog_item *it = xmalloc(sizeof(*it) + len);
    it->next = NULL;
    it->len = jobscheduler__job_event__pack(ev, it->data);
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->backlog_bytes += len;
    return true;
}

/* Sends backlog items in order. Returns 1 when it is empty, 0 when the queue is full, -1
 * when the stream was ended. */
static int flush_backlog(struct jobs_watch *w)
{
    while (w->head) {
        struct backlog_item *it = w->head;
        Jobscheduler__JobEvent *ev = jobscheduler__job_event__unpack(NULL, it->len, it->data);
        if (!ev)
            abort(); /* we packed it ourselves */
        int rc = send_msg(w, ev);
        jobscheduler__job_event__free_unpacked(ev, NULL);
        if (rc == -ENOBUFS)
            return 0;
        if (rc != 0)
            return -1;
        w->head = it->next;
        if (!w->head)
            w->tail = NULL;
        w->backlog_bytes -= it->len;
        free(it);
    }
    return 1;
}

/* Sends the next snapshot entries, each as the cache holds it now (a job deleted meanwhile
 * is skipped: the client never saw it). Same returns as flush_backlog. */
static int send_snapshot(struct jobs_watch *w)
{
    while (w->snap_pos < w->nsnap) {
        const struct snap_key *k = &w->snap[w->snap_pos];
        const struct job_record *r =
            w->svc->jobs ? k8s_informer_get(w->svc->jobs, k->ns, k->name) : NULL;
        if (r && matches(w, r)) {
            struct scratch s;
            Jobscheduler__JobEvent ev;
            Jobscheduler__Job job;
            scratch_init(&s);
            build_event(w, JOBSCHEDULER__JOB_EVENT__EVENT_TYPE__EVENT_TYPE_ADDED, r, &s, &ev, &job);
            int rc = send_msg(w, &ev);
            scratch_deinit(&s);
            if (rc == -ENOBUFS)
                return 0;
            if (rc != 0)
                return -1;
        }
        w->snap_pos++;
    }
    free_snapshot(w);
    return 1;
}

/* Moves what waits onto the stream. Backlog items were created after the snapshot entry of
 * their job was sent (see notify_one), so sending them first keeps each job's order. */
static void pump(struct jobs_watch *w)
{
    int rc = flush_backlog(w);
    if (rc == 1)
        send_snapshot(w);
}

static void on_drain(struct grpc_call *call, void *data)
{
    (void)call;
    pump(data);
}

static int cmp_snap(const void *a, const void *b)
{
    const struct snap_key *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

/* True when the job's snapshot entry is still to be sent: that entry will carry its state
 * as of then, so the live event is not needed. */
static bool snapshot_pending(const struct jobs_watch *w, const struct job_record *r)
{
    if (w->snap_pos >= w->nsnap)
        return false;
    struct snap_key key = {r->ns, r->name};
    return bsearch(&key, w->snap + w->snap_pos, w->nsnap - w->snap_pos, sizeof(key), cmp_snap) !=
           NULL;
}

static void notify_one(struct jobs_watch *w, Jobscheduler__JobEvent__EventType type,
                       const struct job_record *r)
{
    if (snapshot_pending(w, r))
        return;
    struct scratch s;
    Jobscheduler__JobEvent ev;
    Jobscheduler__Job job;
    scratch_init(&s);
    build_event(w, type, r, &s, &ev, &job);
    int rc = w->head ? -ENOBUFS : send_msg(w, &ev);
    if (rc == -ENOBUFS)
        push_backlog(w, &ev);
    scratch_deinit(&s);
}

static const Jobscheduler__JobEvent__EventType event_types[] = {
    [K8S_EVENT_ADDED] = JOBSCHEDULER__JOB_EVENT__EVENT_TYPE__EVENT_TYPE_ADDED,
    [K8S_EVENT_MODIFIED] = JOBSCHEDULER__JOB_EVENT__EVENT_TYPE__EVENT_TYPE_MODIFIED,
    [K8S_EVENT_DELETED] = JOBSCHEDULER__JOB_EVENT__EVENT_TYPE__EVENT_TYPE_DELETED,
};

void jobs_watch_notify(struct jobs_service *svc, enum k8s_event_type type,
                       const struct job_record *rec)
{
    struct jobs_watch *w = svc->watches;
    while (w) {
        struct jobs_watch *next = w->next;
        if (matches(w, rec))
            notify_one(w, event_types[type], rec); /* may end and unlink |w| */
        w = next;
    }
}

static void on_cancel(struct grpc_call *call, enum grpc_cancel_reason reason, void *data)
{
    (void)call;
    struct jobs_watch *w = data;
    if (!w->svc)
        return;
    /* A server shutdown ends the stream cleanly; a client that left gets nothing. */
    end_watch(w, reason == GRPC_CANCEL_SHUTDOWN ? GRPC_STATUS_OK : GRPC_STATUS_CANCELLED,
              reason == GRPC_CANCEL_SHUTDOWN ? "server shutting down" : NULL);
}

struct snapshot {
    struct jobs_watch *w;
    size_t cap;
};

static void collect_key(const void *rec, void *data)
{
    struct snapshot *s = data;
    const struct job_record *r = rec;
    struct jobs_watch *w = s->w;
    if (!matches(w, r))
        return;
    if (w->nsnap == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        w->snap = xrealloc(w->snap, s->cap * sizeof(*w->snap));
    }
    size_t nslen = strlen(r->ns) + 1, namelen = strlen(r->name) + 1;
    char *buf = xmalloc(nslen + namelen);
    memcpy(buf, r->ns, nslen);
    memcpy(buf + nslen, r->name, namelen);
    w->snap[w->nsnap++] = (struct snap_key){buf, buf + nslen};
}

void jobs_watch(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct jobs_service *svc = data;
    const Jobscheduler__WatchJobsRequest *req = (const Jobscheduler__WatchJobsRequest *)msg;
    const char *ns = NULL;
    if (*req->namespace_ && !(ns = jobs_namespace(svc, call, req->namespace_)))
        return;
    if (*req->job_id && !jobs_check_job_id(call, req->job_id))
        return;
    if (*req->type && !job_type_by_name(req->type)) {
        grpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT, "type is not a known job type");
        return;
    }
    if (svc->stopped) {
        grpc_call_finish(call, NULL, GRPC_STATUS_UNAVAILABLE, "server shutting down");
        return;
    }
    struct jobs_watch *w = grpc_call_alloc(call, sizeof(*w));
    *w = (struct jobs_watch){NULL, svc->watches, svc, call, req, ns};
    if (svc->watches)
        svc->watches->prev = w;
    svc->watches = w;
    grpc_call_on_cancel(call, on_cancel, w);
    grpc_call_on_drain(call, on_drain, w);
    struct snapshot s = {w, 0};
    if (svc->jobs)
        k8s_informer_foreach(svc->jobs, collect_key, &s);
    if (w->nsnap > 1)
        qsort(w->snap, w->nsnap, sizeof(*w->snap), cmp_snap);
    pump(w);
}

void jobs_watch_stop_all(struct jobs_service *svc)
{
    while (svc->watches)
        end_watch(svc->watches, GRPC_STATUS_OK, "server shutting down");
}
