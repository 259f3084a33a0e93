/* metrics: a Prometheus registry rendered in text exposition format 0.0.4.
 * Modules register families once at start-up and keep the child (one label set) pointers
 * they update on hot paths, so an update is one add, never a lookup. Collectors run at
 * scrape time for values that are cheaper to read than to track (RSS, cache sizes). */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <stddef.h>

struct buf;
struct metrics;
struct metric_family;
struct metric;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Registers a family. |labels| is a NULL-terminated list of label names (or NULL for none,
 * at most 8). Names and help must be static strings. The registry owns the family. */
struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *const *labels);
struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *const *labels);
/* |bounds| are the upper bounds of the buckets, ascending, without +Inf; copied. */
struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *const *labels, const double *bounds,
                                        size_t nbounds);

/* Returns the child for |values| (one per label name, copied), creating it on first use. */
struct metric *metric_family_child(struct metric_family *f, const char *const *values);
/* Removes every child, for gauges that a collector rebuilds at each scrape. */
void metric_family_clear(struct metric_family *f);

void metric_add(struct metric *c, double delta);
void metric_set(struct metric *c, double value);
void metric_observe(struct metric *c, double value);
double metric_value(const struct metric *c);

typedef void (*metrics_collect_cb)(struct metrics *m, void *data);
/* Runs |cb| before every render. */
void metrics_add_collector(struct metrics *m, metrics_collect_cb cb, void *data);

/* Renders every family into |out|. Returns 0 or -EMSGSIZE. */
int metrics_render(struct metrics *m, struct buf *out);

/* Registers the standard process_* metrics (RSS, CPU, open fds, start time, ...). */
void metrics_add_process_collector(struct metrics *m);

/* Default buckets for request latencies in seconds (as client_golang's DefBuckets). */
extern const double metrics_default_buckets[];
extern const size_t metrics_default_nbuckets;

#endif
