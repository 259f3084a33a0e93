/* Tests for the intrusive string-keyed hash table: insert, lookup, growth, replace,
 * removal during iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/table.h"

struct item {
    struct k8s_table_node node;
    char key[32];
    int value;
};

static void test_insert_grow_lookup_remove(void **state)
{
    struct k8s_table t;
    struct item *items = calloc(5000, sizeof(*items));
    size_t bucket = 0, seen = 0;
    struct k8s_table_node *next = NULL, *n;

    (void)state;
    k8s_table_init(&t);
    for (int i = 0; i < 5000; i++) {
        snprintf(items[i].key, sizeof(items[i].key), "ns-%d/job-%d", i % 7, i);
        items[i].node.key = items[i].key;
        items[i].value = i;
        k8s_table_insert(&t, &items[i].node);
    }
    assert_int_equal(t.count, 5000);
    assert_true(t.nbuckets >= 5000);
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "ns-%d/job-%d", i % 7, i);
        n = k8s_table_get(&t, key);
        assert_non_null(n);
        assert_int_equal(((struct item *)n)->value, i);
    }
    assert_null(k8s_table_get(&t, "ns-0/job-1"));
    /* Remove every odd item while walking. */
    while ((n = k8s_table_next(&t, &bucket, &next))) {
        seen++;
        if (((struct item *)n)->value % 2)
            k8s_table_remove(&t, n);
    }
    assert_int_equal(seen, 5000);
    assert_int_equal(t.count, 2500);
    assert_null(k8s_table_get(&t, "ns-1/job-1"));
    assert_non_null(k8s_table_get(&t, "ns-2/job-2"));
    k8s_table_deinit(&t);
    free(items);
}

static void test_replace(void **state)
{
    struct k8s_table t;
    struct item a = {.value = 1}, b = {.value = 2}, c = {.value = 3};

    (void)state;
    k8s_table_init(&t);
    snprintf(a.key, sizeof(a.key), "%s", "x/a");
    snprintf(b.key, sizeof(b.key), "%s", "x/a");
    snprintf(c.key, sizeof(c.key), "%s", "x/c");
    a.node.key = a.key;
    b.node.key = b.key;
    c.node.key = c.key;
    k8s_table_insert(&t, &a.node);
    k8s_table_insert(&t, &c.node);
    k8s_table_replace(&t, &a.node, &b.node);
    assert_int_equal(((struct item *)k8s_table_get(&t, "x/a"))->value, 2);
    assert_int_equal(((struct item *)k8s_table_get(&t, "x/c"))->value, 3);
    assert_int_equal(t.count, 2);
    k8s_table_deinit(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_grow_lookup_remove),
        cmocka_unit_test(test_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
