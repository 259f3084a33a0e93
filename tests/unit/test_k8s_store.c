/* Tests for the informer's cache without I/O: watch events in order, stale and duplicate
 * events, read-your-writes, and relists that emit exactly the differences. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/store.h"

struct rec {
    char name[64];
    char rv[16];
};

struct log {
    char events[32][192];
    int n;
    int live; /* records decoded and not yet released */
};

static void *decode(const json_t *obj, void *data)
{
    struct log *l = data;
    struct rec *r;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

    if (strncmp(name, "skip", 4) == 0)
        return NULL;
    r = calloc(1, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(
        r->rv, sizeof(r->rv), "%s",
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")));
    l->live++;
    return r;
}

static void release(void *rec, void *data)
{
    struct log *l = data;
    l->live--;
    free(rec);
}

static void on_event(enum k8s_event_type type, const void *old_rec, const void *new_rec, void *data)
{
    struct log *l = data;
    const struct rec *o = old_rec, *n = new_rec;
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};

    assert_true(l->n < 32);
    snprintf(l->events[l->n++], sizeof(l->events[0]), "%s %s %s->%s", names[type],
             o ? o->name : n->name, o ? o->rv : "-", n ? n->rv : "-");
}

static const struct k8s_informer_ops ops = {decode, release, on_event, NULL};

static json_t *obj(const char *ns, const char *name, const char *rv)
{
    return json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", ns, "name", name,
                     "resourceVersion", rv);
}

static int apply(struct k8s_store *s, enum k8s_event_type t, const char *ns, const char *name,
                 const char *rv)
{
    json_t *o = obj(ns, name, rv);
    int rc = k8s_store_apply(s, t, o);
    json_decref(o);
    return rc;
}

static void relist_add(struct k8s_store_relist *rl, const char *ns, const char *name,
                       const char *rv)
{
    json_t *o = obj(ns, name, rv);
    assert_int_equal(k8s_store_relist_add(rl, o), 0);
    json_decref(o);
}

static void test_watch_events(void **state)
{
    struct log l = {0};
    struct k8s_store *s = k8s_store_new(&ops, &l);
    json_t *bad = json_pack("{s:{s:s}}", "metadata", "name", "x");

    (void)state;
    assert_int_equal(apply(s, K8S_EVENT_ADDED, "a", "j1", "10"), 1);
    assert_int_equal(apply(s, K8S_EVENT_MODIFIED, "a", "j1", "12"), 1);
    /* Stale and duplicate versions are no-ops (read-your-writes then the watch echo). */
    assert_int_equal(apply(s, K8S_EVENT_MODIFIED, "a", "j1", "12"), 0);
    assert_int_equal(apply(s, K8S_EVENT_MODIFIED, "a", "j1", "11"), 0);
    /* A DELETED older than the cached object belongs to an earlier incarnation. */
    assert_int_equal(apply(s, K8S_EVENT_DELETED, "a", "j1", "11"), 0);
    assert_int_equal(apply(s, K8S_EVENT_DELETED, "a", "j1", "13"), 1);
    assert_int_equal(apply(s, K8S_EVENT_DELETED, "a", "j1", "14"), 0);
    assert_int_equal(apply(s, K8S_EVENT_ADDED, "a", "skip-me", "15"), -ENOENT);
    assert_int_equal(k8s_store_apply(s, K8S_EVENT_ADDED, bad), -EINVAL);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.events[0], "ADDED j1 -->10");
    assert_string_equal(l.events[1], "MODIFIED j1 10->12");
    assert_string_equal(l.events[2], "DELETED j1 12->-");
    assert_int_equal(k8s_store_count(s), 0);
    assert_int_equal(l.live, 0);
    json_decref(bad);
    k8s_store_free(s);
}

static void test_relist_diff(void **state)
{
    struct log l = {0};
    struct k8s_store *s = k8s_store_new(&ops, &l);
    struct k8s_store_relist *rl;
    const struct rec *r;

    (void)state;
    apply(s, K8S_EVENT_ADDED, "a", "keep", "5");
    apply(s, K8S_EVENT_ADDED, "a", "change", "6");
    apply(s, K8S_EVENT_ADDED, "a", "gone", "7");
    apply(s, K8S_EVENT_ADDED, "a", "written", "30"); /* applied after the list's snapshot */
    apply(s, K8S_EVENT_ADDED, "b", "other-ns", "8");
    l.n = 0;
    rl = k8s_store_relist_begin(s, "a");
    relist_add(rl, "a", "keep", "5");
    relist_add(rl, "a", "change", "20");
    relist_add(rl, "a", "new", "21");
    k8s_store_relist_end(s, rl, "25");
    assert_int_equal(l.n, 3);
    assert_string_equal(l.events[0], "DELETED gone 7->-");
    /* The staged order is the table's, so check the set rather than the order. */
    assert_true((strcmp(l.events[1], "MODIFIED change 6->20") == 0 &&
                 strcmp(l.events[2], "ADDED new -->21") == 0) ||
                (strcmp(l.events[2], "MODIFIED change 6->20") == 0 &&
                 strcmp(l.events[1], "ADDED new -->21") == 0));
    assert_int_equal(k8s_store_count(s), 5);
    assert_non_null(k8s_store_get(s, "b", "other-ns"));
    assert_non_null(k8s_store_get(s, "a", "written"));
    assert_null(k8s_store_get(s, "a", "gone"));
    r = k8s_store_get(s, "a", "change");
    assert_string_equal(r->rv, "20");
    assert_string_equal(k8s_store_rv(s, "a", "change"), "20");
    /* An aborted relist changes nothing and leaks nothing. */
    rl = k8s_store_relist_begin(s, NULL);
    relist_add(rl, "a", "x", "40");
    k8s_store_relist_abort(s, rl);
    assert_int_equal(k8s_store_count(s), 5);
    /* An all-namespaces relist that is empty deletes everything at or below its version. */
    l.n = 0;
    rl = k8s_store_relist_begin(s, NULL);
    k8s_store_relist_end(s, rl, "100");
    assert_int_equal(l.n, 5);
    assert_int_equal(k8s_store_count(s), 0);
    assert_int_equal(l.live, 0);
    k8s_store_free(s);
}

static void count_cb(const void *rec, void *data)
{
    (void)rec;
    (*(int *)data)++;
}

static void test_foreach_and_rv_compare(void **state)
{
    struct log l = {0};
    struct k8s_store *s = k8s_store_new(&ops, &l);
    int n = 0;

    (void)state;
    apply(s, K8S_EVENT_ADDED, "a", "x", "1");
    apply(s, K8S_EVENT_ADDED, "a", "y", "2");
    k8s_store_foreach(s, count_cb, &n);
    assert_int_equal(n, 2);
    assert_int_equal(k8s_store_rv_compare("9", "10"), -1);
    assert_int_equal(k8s_store_rv_compare("10", "9"), 1);
    assert_int_equal(k8s_store_rv_compare("10", "10"), 0);
    assert_int_equal(k8s_store_rv_compare("abc", "abc"), 0);
    assert_int_equal(k8s_store_rv_compare("abc", "10"), 2);
    k8s_store_free(s);
    assert_int_equal(l.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_events),
        cmocka_unit_test(test_relist_diff),
        cmocka_unit_test(test_foreach_and_rv_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
