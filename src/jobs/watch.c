/* watch: WatchJobs streams. A stream first gets ADDED for every matching cached job, then
 * one event per change. Sends respect the gRPC layer's per-stream cap: a client that reads
 * too slowly is ended with RESOURCE_EXHAUSTED rather than buffered without bound. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "jobs/job_type.h"
#include "jobs/service_int.h"

struct jobs_watch {
    struct jobs_watch *prev, *next;
    struct jobs_service *svc;
    struct grpc_call *call;
    const Jobscheduler__WatchJobsRequest *req; /* in the call's arena */
    const char *ns;                            /* NULL: every namespace served */
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

static void end_watch(struct jobs_watch *w, enum grpc_status status, const char *msg)
{
    unlink_watch(w);
    grpc_call_finish(w->call, NULL, status, msg);
}

/* Returns false when the stream was ended. */
static bool send_event(struct jobs_watch *w, Jobscheduler__JobEvent__EventType type,
                       const struct job_record *r)
{
    struct scratch s;
    scratch_init(&s);
    Jobscheduler__Job job;
    jobs_to_proto(w->svc, r, &s, &job);
    Jobscheduler__JobEvent ev = JOBSCHEDULER__JOB_EVENT__INIT;
    ev.type = type;
    ev.job = &job;
    int rc = grpc_call_send(w->call, &ev.base);
    scratch_deinit(&s);
    if (rc == -ENOBUFS) {
        log_warn("jobs", "WatchJobs client too slow: ending its stream",
                 LOG_STR("peer", grpc_call_peer(w->call)));
        end_watch(w, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "watch stream is not read fast enough; reconnect and resume");
        return false;
    }
    if (rc != 0) {
        end_watch(w, GRPC_STATUS_CANCELLED, "stream closed");
        return false;
    }
    return true;
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
        struct jobs_watch *next = w->next; /* send_event may end and unlink |w| */
        if (matches(w, rec))
            send_event(w, event_types[type], rec);
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
    bool alive;
};

static void send_initial(const void *rec, void *data)
{
    struct snapshot *s = data;
    if (s->alive && matches(s->w, rec))
        s->alive = send_event(s->w, JOBSCHEDULER__JOB_EVENT__EVENT_TYPE__EVENT_TYPE_ADDED, rec);
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
    struct snapshot s = {w, true};
    if (svc->jobs)
        k8s_informer_foreach(svc->jobs, send_initial, &s);
}

void jobs_watch_stop_all(struct jobs_service *svc)
{
    while (svc->watches)
        end_watch(svc->watches, GRPC_STATUS_OK, "server shutting down");
}
