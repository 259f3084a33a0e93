/* table: separate chaining, doubled when the load factor passes 1. */
#include "k8s/table.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#define TABLE_MIN_BUCKETS 64

void k8s_table_init(struct k8s_table *t)
{
    t->nbuckets = TABLE_MIN_BUCKETS;
    t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
    t->count = 0;
}

void k8s_table_deinit(struct k8s_table *t)
{
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = 0;
    t->count = 0;
}

/* FNV-1a: short keys, no adversary that could choose them against us (names come from
 * our own API server), and a good spread in practice. */
uint32_t k8s_table_hash(const char *key)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

struct k8s_table_node *k8s_table_get(const struct k8s_table *t, const char *key)
{
    uint32_t h = k8s_table_hash(key);

    for (struct k8s_table_node *n = t->buckets[h & (t->nbuckets - 1)]; n; n = n->next) {
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    }
    return NULL;
}

static void grow(struct k8s_table *t)
{
    size_t nb = t->nbuckets * 2;
    struct k8s_table_node **b = xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < t->nbuckets; i++) {
        struct k8s_table_node *n = t->buckets[i], *next;
        for (; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

void k8s_table_insert(struct k8s_table *t, struct k8s_table_node *node)
{
    struct k8s_table_node **head;

    if (t->count + 1 > t->nbuckets)
        grow(t);
    node->hash = k8s_table_hash(node->key);
    head = &t->buckets[node->hash & (t->nbuckets - 1)];
    node->next = *head;
    *head = node;
    t->count++;
}

static struct k8s_table_node **find_link(struct k8s_table *t, struct k8s_table_node *node)
{
    struct k8s_table_node **link = &t->buckets[node->hash & (t->nbuckets - 1)];

    while (*link && *link != node)
        link = &(*link)->next;
    return link;
}

void k8s_table_remove(struct k8s_table *t, struct k8s_table_node *node)
{
    struct k8s_table_node **link = find_link(t, node);

    if (*link) {
        *link = node->next;
        t->count--;
    }
}

void k8s_table_replace(struct k8s_table *t, struct k8s_table_node *old, struct k8s_table_node *repl)
{
    struct k8s_table_node **link = find_link(t, old);

    repl->hash = old->hash;
    repl->next = old->next;
    if (*link)
        *link = repl;
}

struct k8s_table_node *k8s_table_next(const struct k8s_table *t, size_t *bucket,
                                      struct k8s_table_node **next)
{
    struct k8s_table_node *n = *next;

    while (!n && *bucket < t->nbuckets)
        n = t->buckets[(*bucket)++];
    *next = n ? n->next : NULL;
    return n;
}
