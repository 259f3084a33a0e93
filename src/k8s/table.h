/* table: a chained hash table of intrusive nodes keyed by string ("namespace/name"), the
 * index of the informer's cache. Nodes live inside the caller's entries, so an entry costs
 * one allocation and the table adds one bucket pointer per entry. */
#ifndef K8S_TABLE_H
#define K8S_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct k8s_table_node {
    struct k8s_table_node *next;
    const char *key; /* owned by the entry that embeds the node */
    uint32_t hash;
};

struct k8s_table {
    struct k8s_table_node **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

void k8s_table_init(struct k8s_table *t);
/* Frees the bucket array only; the caller frees its entries first (see k8s_table_next). */
void k8s_table_deinit(struct k8s_table *t);

uint32_t k8s_table_hash(const char *key);
struct k8s_table_node *k8s_table_get(const struct k8s_table *t, const char *key);
/* Links |node| (whose key is set); the caller has checked that the key is absent. */
void k8s_table_insert(struct k8s_table *t, struct k8s_table_node *node);
/* Unlinks |node|, which must be in the table. */
void k8s_table_remove(struct k8s_table *t, struct k8s_table_node *node);
/* Puts |repl| (same key) where |old| was. */
void k8s_table_replace(struct k8s_table *t, struct k8s_table_node *old,
                       struct k8s_table_node *repl);

/* Iteration: |*bucket| starts at 0 and |node| at NULL; returns NULL at the end. The node
 * returned may be removed before the next call. */
struct k8s_table_node *k8s_table_next(const struct k8s_table *t, size_t *bucket,
                                      struct k8s_table_node **next);

#endif
