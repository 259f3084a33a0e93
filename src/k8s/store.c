/* store: entries are one allocation each (table node, record, key and resourceVersion
 * text); an update swaps in a new entry so the key and version always travel together. */
#include "k8s/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "k8s/table.h"

struct entry {
    struct k8s_table_node node; /* node.key points at text */
    void *record;
    const char *rv; /* points into text, after the key's NUL */
    char text[];    /* "namespace/name\0resourceVersion\0" */
};

struct k8s_store {
    const struct k8s_informer_ops *ops;
    void *data;
    struct k8s_table table;
};

struct k8s_store_relist {
    struct k8s_store *store;
    char *ns; /* NULL: every namespace */
    struct k8s_table staged;
};

/* Longest "namespace/name": a DNS-1123 label, "/", and a DNS-1123 subdomain. */
#define STORE_MAX_KEY (63 + 1 + 253 + 1)

struct k8s_store *k8s_store_new(const struct k8s_informer_ops *ops, void *data)
{
    struct k8s_store *s = xcalloc(1, sizeof(*s));

    s->ops = ops;
    s->data = data;
    k8s_table_init(&s->table);
    return s;
}

static void entry_free(struct k8s_store *s, struct entry *e)
{
    if (e->record && s->ops->release)
        s->ops->release(e->record, s->data);
    free(e);
}

static void free_all(struct k8s_store *s, struct k8s_table *t)
{
    size_t bucket = 0;
    struct k8s_table_node *next = NULL, *n;

    while ((n = k8s_table_next(t, &bucket, &next)))
        entry_free(s, (struct entry *)n);
    k8s_table_deinit(t);
}

void k8s_store_free(struct k8s_store *s)
{
    if (!s)
        return;
    free_all(s, &s->table);
    free(s);
}

static bool parse_rv(const char *s, unsigned long long *out)
{
    char *end;

    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return *end == '\0' && errno == 0;
}

int k8s_store_rv_compare(const char *a, const char *b)
{
    unsigned long long x, y;

    if (parse_rv(a, &x) && parse_rv(b, &y))
        return x < y ? -1 : x > y;
    return strcmp(a, b) == 0 ? 0 : 2;
}

/* Decodes |obj| into a new, unlinked entry. */
static int entry_new(struct k8s_store *s, const json_t *obj, struct entry **out)
{
    const char *ns = json_path_str(obj, "metadata.namespace");
    const char *name = json_path_str(obj, "metadata.name");
    const char *rv = json_path_str(obj, "metadata.resourceVersion");
    size_t klen, rvlen;
    struct entry *e;

    if (!ns)
        ns = "";
    if (!name || !rv || strlen(ns) + strlen(name) + 2 > STORE_MAX_KEY)
        return -EINVAL;
    klen = strlen(ns) + 1 + strlen(name);
    rvlen = strlen(rv);
    e = xmalloc(sizeof(*e) + klen + 1 + rvlen + 1);
    memset(e, 0, sizeof(*e));
    snprintf(e->text, klen + 1, "%s/%s", ns, name);
    memcpy(e->text + klen + 1, rv, rvlen + 1);
    e->node.key = e->text;
    e->rv = e->text + klen + 1;
    e->record = s->ops->decode(obj, s->data);
    if (!e->record) {
        log_warn("k8s", "informer skipped an object its decoder declined", LOG_STR("key", e->text),
                 LOG_STR("resourceVersion", rv));
        free(e);
        return -ENOENT;
    }
    *out = e;
    return 0;
}

static void emit(struct k8s_store *s, enum k8s_event_type type, struct entry *old,
                 struct entry *new_e)
{
    if (s->ops->on_event)
        s->ops->on_event(type, old ? old->record : NULL, new_e ? new_e->record : NULL, s->data);
}

static struct entry *lookup(const struct k8s_table *t, const char *key)
{
    return (struct entry *)k8s_table_get(t, key);
}

static int apply_delete(struct k8s_store *s, const json_t *obj)
{
    char key[STORE_MAX_KEY + 1];
    const char *ns = json_path_str(obj, "metadata.namespace");
    const char *name = json_path_str(obj, "metadata.name");
    const char *rv = json_path_str(obj, "metadata.resourceVersion");
    struct entry *old;

    if (!name)
        return -EINVAL;
    snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name);
    old = lookup(&s->table, key);
    /* A DELETED older than what we hold belongs to an earlier incarnation of the name,
     * already superseded by a create we applied ourselves. */
    if (!old || (rv && k8s_store_rv_compare(old->rv, rv) == 1))
        return 0;
    k8s_table_remove(&s->table, &old->node);
    emit(s, K8S_EVENT_DELETED, old, NULL);
    entry_free(s, old);
    return 1;
}

int k8s_store_apply(struct k8s_store *s, enum k8s_event_type type, const json_t *obj)
{
    struct entry *e, *old;
    int rc, cmp;

    if (type == K8S_EVENT_DELETED)
        return apply_delete(s, obj);
    rc = entry_new(s, obj, &e);
    if (rc < 0)
        return rc;
    old = lookup(&s->table, e->node.key);
    cmp = old ? k8s_store_rv_compare(e->rv, old->rv) : 2;
    if (old && (cmp == 0 || cmp == -1)) {
        entry_free(s, e);
        return 0;
    }
    if (old) {
        k8s_table_replace(&s->table, &old->node, &e->node);
        emit(s, K8S_EVENT_MODIFIED, old, e);
        entry_free(s, old);
    } else {
        k8s_table_insert(&s->table, &e->node);
        emit(s, K8S_EVENT_ADDED, NULL, e);
    }
    return 1;
}

struct k8s_store_relist *k8s_store_relist_begin(struct k8s_store *s, const char *ns)
{
    struct k8s_store_relist *rl = xcalloc(1, sizeof(*rl));

    rl->store = s;
    rl->ns = ns ? xstrdup(ns) : NULL;
    k8s_table_init(&rl->staged);
    return rl;
}

int k8s_store_relist_add(struct k8s_store_relist *rl, const json_t *obj)
{
    struct entry *e, *dup;
    int rc = entry_new(rl->store, obj, &e);

    if (rc < 0)
        return rc;
    /* A list never repeats a name; if a broken server did, the later copy wins. */
    dup = lookup(&rl->staged, e->node.key);
    if (dup) {
        k8s_table_replace(&rl->staged, &dup->node, &e->node);
        entry_free(rl->store, dup);
    } else {
        k8s_table_insert(&rl->staged, &e->node);
    }
    return 0;
}

static bool in_scope(const struct k8s_store_relist *rl, const char *key)
{
    size_t n;

    if (!rl->ns)
        return true;
    n = strlen(rl->ns);
    return strncmp(key, rl->ns, n) == 0 && key[n] == '/';
}

/* Cached objects of the scope that the list no longer holds were deleted while we were
 * not watching, unless they are newer than the list (applied by read-your-writes). */
static void remove_missing(struct k8s_store *s, struct k8s_store_relist *rl, const char *list_rv)
{
    size_t bucket = 0;
    struct k8s_table_node *next = NULL, *n, *gone = NULL;

    /* Unlink first, emit after: a subscriber may apply objects from its callback, and the
     * walk must not see the table change under it. */
    while ((n = k8s_table_next(&s->table, &bucket, &next))) {
        struct entry *old = (struct entry *)n;
        if (!in_scope(rl, old->node.key) || lookup(&rl->staged, old->node.key))
            continue;
        if (list_rv && k8s_store_rv_compare(old->rv, list_rv) == 1)
            continue;
        k8s_table_remove(&s->table, &old->node);
        old->node.next = gone;
        gone = &old->node;
    }
    while (gone) {
        struct entry *old = (struct entry *)gone;
        gone = gone->next;
        emit(s, K8S_EVENT_DELETED, old, NULL);
        entry_free(s, old);
    }
}

static void merge_one(struct k8s_store *s, struct entry *e)
{
    struct entry *old = lookup(&s->table, e->node.key);
    int cmp = old ? k8s_store_rv_compare(e->rv, old->rv) : 2;

    if (old && (cmp == 0 || cmp == -1)) {
        entry_free(s, e);
    } else if (old) {
        k8s_table_replace(&s->table, &old->node, &e->node);
        emit(s, K8S_EVENT_MODIFIED, old, e);
        entry_free(s, old);
    } else {
        k8s_table_insert(&s->table, &e->node);
        emit(s, K8S_EVENT_ADDED, NULL, e);
    }
}

void k8s_store_relist_end(struct k8s_store *s, struct k8s_store_relist *rl, const char *list_rv)
{
    size_t bucket = 0;
    struct k8s_table_node *next = NULL, *n;

    remove_missing(s, rl, list_rv);
    while ((n = k8s_table_next(&rl->staged, &bucket, &next)))
        merge_one(s, (struct entry *)n);
    k8s_table_deinit(&rl->staged);
    free(rl->ns);
    free(rl);
}

void k8s_store_relist_abort(struct k8s_store *s, struct k8s_store_relist *rl)
{
    free_all(s, &rl->staged);
    free(rl->ns);
    free(rl);
}

size_t k8s_store_count(const struct k8s_store *s)
{
    return s->table.count;
}

static struct entry *find(const struct k8s_store *s, const char *ns, const char *name)
{
    char key[STORE_MAX_KEY + 1];

    if (snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name) >= (int)sizeof(key))
        return NULL;
    return lookup(&s->table, key);
}

const void *k8s_store_get(const struct k8s_store *s, const char *ns, const char *name)
{
    struct entry *e = find(s, ns, name);
    return e ? e->record : NULL;
}

const char *k8s_store_rv(const struct k8s_store *s, const char *ns, const char *name)
{
    struct entry *e = find(s, ns, name);
    return e ? e->rv : NULL;
}

void k8s_store_foreach(const struct k8s_store *s, void (*cb)(const void *rec, void *data),
                       void *data)
{
    size_t bucket = 0;
    struct k8s_table_node *next = NULL, *n;

    while ((n = k8s_table_next(&s->table, &bucket, &next)))
        cb(((struct entry *)n)->record, data);
}
