/* health: grpc.health.v1.Health (Check and Watch) over the statuses the server sets. Every
 * registered service and "" are known; an unknown name is NOT_FOUND for Check and
 * SERVICE_UNKNOWN for Watch (which then keeps watching, as grpc-go does). */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/internal.h"
#include "grpc/server.h"

#define ST(x) GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__##x

struct watcher {
    struct grpc_call *call;
    struct grpc_health *health;
    char *service; /* arena */
    int last;      /* status last sent */
    struct watcher *prev, *next;
};

struct health_service {
    char *name;
    int status;
};

struct grpc_health {
    struct health_service *services;
    size_t nservices;
    bool serving;
    struct watcher *watchers;
};

struct grpc_health *grpc_health_new(void)
{
    return xcalloc(1, sizeof(struct grpc_health));
}

void grpc_health_free(struct grpc_health *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nservices; i++)
        free(h->services[i].name);
    free(h->services);
    free(h);
}

static struct health_service *find(struct grpc_health *h, const char *name)
{
    for (size_t i = 0; i < h->nservices; i++)
        if (strcmp(h->services[i].name, name) == 0)
            return &h->services[i];
    return NULL;
}

void grpc_health_add_service(struct grpc_health *h, const char *service)
{
    if (find(h, service))
        return;
    h->services = xrealloc(h->services, (h->nservices + 1) * sizeof(*h->services));
    h->services[h->nservices].name = xstrdup(service);
    h->services[h->nservices].status = h->serving ? ST(SERVING) : ST(NOT_SERVING);
    h->nservices++;
}

static int status_of(struct grpc_health *h, const char *service)
{
    struct health_service *s = find(h, service);
    return s ? s->status : ST(SERVICE_UNKNOWN);
}

static int send_status(struct watcher *w, int status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = status;
    w->last = status;
    return grpc_call_send(w->call, &resp.base);
}

static void unlink_watcher(struct watcher *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->health->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
}

void grpc_health_set_all(struct grpc_health *h, bool serving)
{
    h->serving = serving;
    for (size_t i = 0; i < h->nservices; i++)
        h->services[i].status = serving ? ST(SERVING) : ST(NOT_SERVING);
    for (struct watcher *w = h->watchers, *next; w; w = next) {
        next = w->next;
        int status = status_of(h, w->service);
        if (status == w->last)
            continue;
        /* A watcher that stopped reading (its queue is full) is dropped, not buffered for. */
        if (send_status(w, status) == -ENOBUFS) {
            unlink_watcher(w);
            grpc_call_finish(w->call, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "health watcher is not reading");
        }
    }
}

static void on_check(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct grpc_health *h = data;
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct health_service *s = find(h, req->service);
    if (!s) {
        grpc_call_finish(call, NULL, GRPC_STATUS_NOT_FOUND, "unknown service");
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = s->status;
    grpc_call_finish(call, &resp.base, GRPC_STATUS_OK, NULL);
}

static void on_watch_cancel(struct grpc_call *call, enum grpc_cancel_reason reason, void *data)
{
    struct watcher *w = data;
    unlink_watcher(w);
    /* At shutdown the stream ends cleanly after the NOT_SERVING update went out. */
    grpc_call_finish(call, NULL,
                     reason == GRPC_CANCEL_SHUTDOWN ? GRPC_STATUS_OK : GRPC_STATUS_CANCELLED, NULL);
}

static void on_watch(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct grpc_health *h = data;
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct watcher *w = grpc_call_alloc(call, sizeof(*w));
    size_t n = strlen(req->service);
    memset(w, 0, sizeof(*w));
    w->call = call;
    w->health = h;
    w->service = grpc_call_alloc(call, n + 1);
    memcpy(w->service, req->service, n + 1);
    send_status(w, status_of(h, w->service));
    w->next = h->watchers;
    if (h->watchers)
        h->watchers->prev = w;
    h->watchers = w;
    grpc_call_on_cancel(call, on_watch_cancel, w);
}

int grpc_health_register(struct grpc_health *h, struct grpc_server *srv)
{
    const struct grpc_method check = {"grpc.health.v1.Health",
                                      "Check",
                                      GRPC_METHOD_UNARY,
                                      &grpc__health__v1__health_check_request__descriptor,
                                      &grpc__health__v1__health_check_response__descriptor,
                                      on_check,
                                      h};
    const struct grpc_method watch = {"grpc.health.v1.Health",
                                      "Watch",
                                      GRPC_METHOD_SERVER_STREAMING,
                                      &grpc__health__v1__health_check_request__descriptor,
                                      &grpc__health__v1__health_check_response__descriptor,
                                      on_watch,
                                      h};
    int rc = grpc_server_register(srv, &check);
    return rc < 0 ? rc : grpc_server_register(srv, &watch);
}
