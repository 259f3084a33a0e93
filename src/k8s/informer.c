/* informer: one reflector per namespace runs LISTING (paged) -> WATCHING, and RELISTING
 * after 410 Gone; every list and watch is a client call, so backoff is a call's start
 * delay and the informer owns no loop handles (it frees synchronously). */
#include "k8s/informer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/xalloc.h"
#include "k8s/backoff.h"
#include "k8s/client.h"
#include "k8s/jobs.h"
#include "k8s/lines.h"
#include "k8s/store.h"
#include "k8s/url.h"

/* One watch event (a whole object) may be at most this long: etcd caps objects at
 * 1.5 MiB, and JSON framing adds little. */
#define INFORMER_MAX_LINE (3u * 1024 * 1024)
/* A watch that ends this soon without an event counts as a failure (client-go). */
#define INFORMER_EARLY_CLOSE_MS 1000
/* client-go's minWatchTimeout: watches last 5..10 minutes, jittered. */
#define INFORMER_WATCH_MIN_S 300

enum refl_state { REFL_IDLE, REFL_LISTING, REFL_WATCHING, REFL_RELISTING, REFL_STOPPED };

struct reflector {
    struct k8s_informer *inf;
    char *ns; /* NULL: all namespaces */
    enum refl_state state;
    char *rv;   /* last resourceVersion seen */
    char *cont; /* continue token of the list in progress */
    struct k8s_store_relist *relist;
    struct k8s_call *call;
    struct k8s_backoff backoff;
    struct k8s_lines lines;
    uint64_t watch_start_ms;
    unsigned watch_events;
    const char *stop_reason; /* why we ended the watch from inside the stream */
    bool healthy;            /* listed and its watch is up (or about to be) */
};

struct k8s_informer {
    struct k8s_client *c;
    const char *group_version;
    const char *plural;
    char *label_selector;
    const struct k8s_informer_ops *ops;
    void *data;
    struct k8s_store *store;
    struct reflector *refl;
    size_t nrefl;
    bool started;
    bool synced;
    struct metric *g_jobs, *g_synced;
};

static void list_page(struct reflector *r, uint64_t delay_ms);
static void watch(struct reflector *r, uint64_t delay_ms);

static const char *state_name(enum refl_state s)
{
    static const char *const names[] = {"IDLE", "LISTING", "WATCHING", "RELISTING", "STOPPED"};
    return names[s];
}

static void set_state(struct reflector *r, enum refl_state s)
{
    log_debug("k8s", "informer state", LOG_STR("resource", r->inf->plural),
              LOG_STR("namespace", r->ns ? r->ns : "*"), LOG_STR("from", state_name(r->state)),
              LOG_STR("to", state_name(s)));
    r->state = s;
}

static uint64_t now_ms(const struct reflector *r)
{
    return uv_now(k8s_client_loop(r->inf->c));
}

static void update_gauges(struct k8s_informer *inf)
{
    if (inf->g_jobs)
        metric_set(inf->g_jobs, (double)k8s_store_count(inf->store));
    if (inf->g_synced)
        metric_set(inf->g_synced, inf->synced ? 1 : 0);
}

/* Synced means every namespace has listed and none is failing; |announce| is set after a
 * completed list, when subscribers hear on_synced. */
static void update_synced(struct k8s_informer *inf, bool announce)
{
    bool all = true;

    for (size_t i = 0; i < inf->nrefl; i++)
        all = all && inf->refl[i].healthy;
    if (all != inf->synced)
        log_info("k8s", all ? "informer synced" : "informer lost sync",
                 LOG_STR("resource", inf->plural),
                 LOG_INT("objects", (long long)k8s_store_count(inf->store)));
    inf->synced = all;
    update_gauges(inf);
    if (all && announce && inf->ops->on_synced)
        inf->ops->on_synced(inf->data);
}

static void set_healthy(struct reflector *r, bool healthy, bool announce)
{
    r->healthy = healthy;
    update_synced(r->inf, announce);
}

static void set_rv(struct reflector *r, const char *rv)
{
    if (!rv || !rv[0])
        return;
    free(r->rv);
    r->rv = xstrdup(rv);
}

static uint64_t next_backoff(struct reflector *r)
{
    return k8s_backoff_next(&r->backoff, now_ms(r), rand_unit());
}

/* ---- listing ---- */

static void start_list(struct reflector *r, uint64_t delay_ms, enum refl_state s)
{
    if (r->relist)
        k8s_store_relist_abort(r->inf->store, r->relist);
    r->relist = k8s_store_relist_begin(r->inf->store, r->ns);
    free(r->cont);
    r->cont = NULL;
    set_state(r, s);
    list_page(r, delay_ms);
}

static void list_failed(struct reflector *r, const struct k8s_result *res)
{
    uint64_t wait = next_backoff(r);

    log_warn("k8s", "informer list failed", LOG_STR("resource", r->inf->plural),
             LOG_STR("namespace", r->ns ? r->ns : "*"),
             LOG_STR("error", k8s_error_name(res->error)), LOG_INT("status", res->http_status),
             LOG_STR("message", res->message), LOG_INT("retry_ms", (long long)wait));
    set_healthy(r, false, false);
    start_list(r, wait, r->state);
}

static void list_complete(struct reflector *r, const char *list_rv)
{
    struct k8s_informer *inf = r->inf;
    struct k8s_store_relist *rl = r->relist;

    r->relist = NULL;
    k8s_store_relist_end(inf->store, rl, list_rv);
    set_rv(r, list_rv);
    log_info("k8s", "informer listed", LOG_STR("resource", inf->plural),
             LOG_STR("namespace", r->ns ? r->ns : "*"), LOG_STR("resourceVersion", r->rv),
             LOG_INT("objects", (long long)k8s_store_count(inf->store)));
    set_healthy(r, true, true);
    watch(r, 0);
}

static void on_list(const struct k8s_result *res, void *data)
{
    struct reflector *r = data;
    json_t *items = res->body ? json_object_get(res->body, "items") : NULL;
    const char *cont;
    size_t i;
    json_t *item;

    r->call = NULL;
    if (res->error != K8S_OK || !json_is_array(items)) {
        if (res->error == K8S_OK) {
            struct k8s_result bad = {.error = K8S_ERR_PROTOCOL, .message = "list without items"};
            list_failed(r, &bad);
        } else {
            list_failed(r, res);
        }
        return;
    }
    json_array_foreach(items, i, item) k8s_store_relist_add(r->relist, item);
    cont = json_path_str(res->body, "metadata.continue");
    if (cont && cont[0]) {
        free(r->cont);
        r->cont = xstrdup(cont);
        list_page(r, 0);
        return;
    }
    list_complete(r, json_path_str(res->body, "metadata.resourceVersion"));
}

static void list_page(struct reflector *r, uint64_t delay_ms)
{
    struct k8s_informer *inf = r->inf;
    struct buf path;
    bool first = true;
    struct k8s_call_opts o = {.method = "GET",
                              .verb = "list",
                              .resource = inf->plural,
                              .flags = K8S_CALL_IDEMPOTENT,
                              .delay_ms = delay_ms};
    int rc;

    buf_init(&path, 8192);
    rc = k8s_url_path(&path, inf->group_version, inf->plural, r->ns, NULL);
    if (rc == 0)
        rc = k8s_url_query(&path, &first, "labelSelector", inf->label_selector);
    if (rc == 0)
        rc = k8s_url_query_int(&path, &first, "limit", K8S_LIST_PAGE);
    if (rc == 0)
        rc = k8s_url_query(&path, &first, "continue", r->cont);
    o.path = buf_cstr(&path);
    if (rc == 0 && o.path)
        rc = k8s_client_submit(inf->c, &o, on_list, r, &r->call);
    buf_deinit(&path);
    if (rc < 0)
        log_error("k8s", "informer cannot list", LOG_STR("resource", inf->plural),
                  LOG_INT("errno", rc));
}

/* ---- watching ---- */

static int handle_event(struct reflector *r, const char *type, json_t *obj)
{
    struct k8s_informer *inf = r->inf;
    enum k8s_event_type t;

    if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(r, json_path_str(obj, "metadata.resourceVersion"));
        return 0;
    }
    if (strcmp(type, "ERROR") == 0) {
        int code = (int)json_path_int(obj, "code", 0);
        const char *reason = json_path_str(obj, "reason");
        bool expired = code == 410 ||
                       (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0));
        r->stop_reason = expired ? "expired" : "error_event";
        log_info("k8s", "watch ended by an ERROR event", LOG_STR("resource", inf->plural),
                 LOG_INT("code", code), LOG_STR("message", json_path_str(obj, "message")));
        return -ECANCELED;
    }
    if (strcmp(type, "ADDED") == 0)
        t = K8S_EVENT_ADDED;
    else if (strcmp(type, "MODIFIED") == 0)
        t = K8S_EVENT_MODIFIED;
    else if (strcmp(type, "DELETED") == 0)
        t = K8S_EVENT_DELETED;
    else
        return 0; /* unknown types are for newer servers; skip */
    r->watch_events++;
    k8s_store_apply(inf->store, t, obj);
    set_rv(r, json_path_str(obj, "metadata.resourceVersion"));
    update_gauges(inf);
    return 0;
}

static int on_line(const uint8_t *line, size_t len, void *data)
{
    struct reflector *r = data;
    json_error_t jerr;
    json_t *ev = json_loadb((const char *)line, len, 0, &jerr);
    const char *type = json_path_str(ev, "type");
    json_t *obj = json_path_obj(ev, "object");
    int rc;

    if (!type || !obj) {
        log_warn("k8s", "watch sent an event that is not a JSON event object",
                 LOG_STR("resource", r->inf->plural), LOG_STR("error", jerr.text));
        json_decref(ev);
        r->stop_reason = "bad_event";
        return -ECANCELED;
    }
    rc = handle_event(r, type, obj);
    json_decref(ev);
    return rc;
}

static int on_watch_chunk(const uint8_t *p, size_t n, void *data)
{
    struct reflector *r = data;
    int rc = k8s_lines_feed(&r->lines, p, n, on_line, r);

    if (rc == -EMSGSIZE) {
        log_warn("k8s", "watch event over the line limit rejected",
                 LOG_STR("resource", r->inf->plural), LOG_INT("limit", INFORMER_MAX_LINE));
        r->stop_reason = "too_large";
    }
    return rc;
}

static void on_watch_open(void *data)
{
    struct reflector *r = data;

    if (!r->healthy)
        set_healthy(r, true, false);
}

static void restart(struct reflector *r, const char *reason)
{
    k8s_client_count_watch_restart(r->inf->c, reason);
}

static void on_watch_done(const struct k8s_result *res, void *data)
{
    struct reflector *r = data;
    const char *reason = r->stop_reason;
    uint64_t lived = now_ms(r) - r->watch_start_ms;

    r->call = NULL;
    r->stop_reason = NULL;
    if ((reason && strcmp(reason, "expired") == 0) || res->error == K8S_ERR_GONE) {
        /* Our resourceVersion fell out of the server's window: only a relist can tell
         * what changed (deletions included). */
        restart(r, "expired");
        set_healthy(r, false, false);
        start_list(r, 0, REFL_RELISTING);
    } else if (reason) {
        /* An event was lost (too large or unreadable): the cache can only be trusted
         * again after a relist. */
        restart(r, reason);
        set_healthy(r, false, false);
        start_list(r, next_backoff(r), REFL_RELISTING);
    } else if (res->error == K8S_OK && (lived >= INFORMER_EARLY_CLOSE_MS || r->watch_events > 0)) {
        restart(r, "closed");
        watch(r, 0);
    } else if (res->error == K8S_OK) {
        restart(r, "closed_early");
        watch(r, next_backoff(r));
    } else {
        uint64_t wait = next_backoff(r);
        log_warn("k8s", "watch failed", LOG_STR("resource", r->inf->plural),
                 LOG_STR("namespace", r->ns ? r->ns : "*"),
                 LOG_STR("error", k8s_error_name(res->error)), LOG_INT("status", res->http_status),
                 LOG_STR("message", res->message), LOG_INT("retry_ms", (long long)wait));
        restart(r, "error");
        set_healthy(r, false, false);
        watch(r, wait);
    }
}

static void watch(struct reflector *r, uint64_t delay_ms)
{
    struct k8s_informer *inf = r->inf;
    struct buf path;
    bool first = true;
    int timeout_s = INFORMER_WATCH_MIN_S + (int)(rand_unit() * INFORMER_WATCH_MIN_S);
    struct k8s_call_opts o = {.method = "GET",
                              .verb = "watch",
                              .resource = inf->plural,
                              .flags = K8S_CALL_STREAM,
                              .delay_ms = delay_ms,
                              .timeout_ms = delay_ms + (uint64_t)(timeout_s + 60) * 1000,
                              .on_chunk = on_watch_chunk,
                              .on_open = on_watch_open};
    int rc;

    set_state(r, REFL_WATCHING);
    k8s_lines_reset(&r->lines);
    r->watch_events = 0;
    r->watch_start_ms = now_ms(r) + delay_ms;
    buf_init(&path, 8192);
    rc = k8s_url_path(&path, inf->group_version, inf->plural, r->ns, NULL);
    if (rc == 0)
        rc = k8s_url_query(&path, &first, "watch", "true");
    if (rc == 0)
        rc = k8s_url_query(&path, &first, "allowWatchBookmarks", "true");
    if (rc == 0)
        rc = k8s_url_query(&path, &first, "resourceVersion", r->rv);
    if (rc == 0)
        rc = k8s_url_query_int(&path, &first, "timeoutSeconds", timeout_s);
    if (rc == 0)
        rc = k8s_url_query(&path, &first, "labelSelector", inf->label_selector);
    o.path = buf_cstr(&path);
    if (rc == 0 && o.path)
        rc = k8s_client_submit(inf->c, &o, on_watch_done, r, &r->call);
    buf_deinit(&path);
    if (rc < 0)
        log_error("k8s", "informer cannot watch", LOG_STR("resource", inf->plural),
                  LOG_INT("errno", rc));
}

/* ---- the informer ---- */

struct k8s_informer *k8s_informer_new(struct k8s_client *c, enum k8s_resource res,
                                      const char *const *namespaces, const char *label_selector,
                                      const struct k8s_informer_ops *ops, void *data)
{
    struct k8s_informer *inf = xcalloc(1, sizeof(*inf));
    size_t n = 0;

    inf->c = c;
    inf->group_version = res == K8S_RESOURCE_JOBS ? "batch/v1" : "v1";
    inf->plural = res == K8S_RESOURCE_JOBS ? "jobs" : "pods";
    inf->label_selector = label_selector ? xstrdup(label_selector) : NULL;
    inf->ops = ops;
    inf->data = data;
    inf->store = k8s_store_new(ops, data);
    while (namespaces && namespaces[n])
        n++;
    inf->nrefl = n ? n : 1;
    inf->refl = xcalloc(inf->nrefl, sizeof(*inf->refl));
    for (size_t i = 0; i < inf->nrefl; i++) {
        struct reflector *r = &inf->refl[i];
        r->inf = inf;
        r->ns = n ? xstrdup(namespaces[i]) : NULL;
        k8s_backoff_init_reflector(&r->backoff);
        k8s_lines_init(&r->lines, INFORMER_MAX_LINE);
    }
    if (res == K8S_RESOURCE_JOBS) {
        inf->g_jobs = k8s_client_cache_jobs_gauge(c);
        inf->g_synced = k8s_client_cache_synced_gauge(c);
    }
    update_gauges(inf);
    k8s_client_add_informer(c, inf);
    return inf;
}

int k8s_informer_start(struct k8s_informer *inf)
{
    if (inf->started)
        return -EALREADY;
    inf->started = true;
    for (size_t i = 0; i < inf->nrefl; i++)
        start_list(&inf->refl[i], 0, REFL_LISTING);
    return 0;
}

bool k8s_informer_synced(const struct k8s_informer *inf)
{
    return inf->synced;
}

size_t k8s_informer_count(const struct k8s_informer *inf)
{
    return k8s_store_count(inf->store);
}

const void *k8s_informer_get(const struct k8s_informer *inf, const char *ns, const char *name)
{
    return k8s_store_get(inf->store, ns, name);
}

void k8s_informer_foreach(const struct k8s_informer *inf, void (*cb)(const void *rec, void *data),
                          void *data)
{
    k8s_store_foreach(inf->store, cb, data);
}

void k8s_informer_apply(struct k8s_informer *inf, const json_t *obj)
{
    k8s_store_apply(inf->store, K8S_EVENT_MODIFIED, obj);
    update_gauges(inf);
}

void k8s_informer_free(struct k8s_informer *inf)
{
    if (!inf)
        return;
    k8s_client_remove_informer(inf->c, inf);
    for (size_t i = 0; i < inf->nrefl; i++) {
        struct reflector *r = &inf->refl[i];
        set_state(r, REFL_STOPPED);
        if (r->call)
            k8s_call_cancel(r->call);
        if (r->relist)
            k8s_store_relist_abort(inf->store, r->relist);
        k8s_lines_deinit(&r->lines);
        free(r->ns);
        free(r->rv);
        free(r->cont);
    }
    if (inf->g_synced)
        metric_set(inf->g_synced, 0);
    k8s_store_free(inf->store);
    free(inf->refl);
    free(inf->label_selector);
    free(inf);
}
