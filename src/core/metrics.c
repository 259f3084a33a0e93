/* metrics: Prometheus registry and text exposition. */
#include "core/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/xalloc.h"

#define MAX_LABELS 8

struct metric {
    struct metric *next;
    char **values;
    double value;        /* counter, gauge; histogram sum */
    unsigned long count; /* histogram observations */
    unsigned long *buckets;
    struct metric_family *family;
};

struct metric_family {
    struct metric_family *next;
    const char *name;
    const char *help;
    enum metric_type type;
    const char *labels[MAX_LABELS];
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    struct metric *children;
    struct metric **tail;
};

struct collector {
    struct collector *next;
    metrics_collect_cb cb;
    void *data;
    bool owns_data; /* freed with the registry (the process collector's state) */
};

struct metrics {
    struct metric_family *families;
    struct metric_family **tail;
    struct collector *collectors;
};

const double metrics_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t metrics_default_nbuckets = sizeof(metrics_default_buckets) / sizeof(double);

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    m->tail = &m->families;
    return m;
}

static void free_child(struct metric *c, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(c->values[i]);
    free(c->values);
    free(c->buckets);
    free(c);
}

void metric_family_clear(struct metric_family *f)
{
    struct metric *c = f->children;
    while (c) {
        struct metric *next = c->next;
        free_child(c, f->nlabels);
        c = next;
    }
    f->children = NULL;
    f->tail = &f->children;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    struct metric_family *f = m->families;
    while (f) {
        struct metric_family *next = f->next;
        metric_family_clear(f);
        free(f->bounds);
        free(f);
        f = next;
    }
    struct collector *c = m->collectors;
    while (c) {
        struct collector *next = c->next;
        if (c->owns_data)
            free(c->data);
        free(c);
        c = next;
    }
    free(m);
}

static struct metric_family *add_family(struct metrics *m, const char *name, const char *help,
                                        enum metric_type type, const char *const *labels)
{
    struct metric_family *f = xcalloc(1, sizeof(*f));
    f->name = name;
    f->help = help;
    f->type = type;
    while (labels && labels[f->nlabels]) {
        if (f->nlabels == MAX_LABELS)
            abort(); /* a programming error, caught by the first test run */
        f->labels[f->nlabels] = labels[f->nlabels];
        f->nlabels++;
    }
    f->tail = &f->children;
    *m->tail = f;
    m->tail = &f->next;
    return f;
}

struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *const *labels)
{
    return add_family(m, name, help, METRIC_COUNTER, labels);
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *const *labels)
{
    return add_family(m, name, help, METRIC_GAUGE, labels);
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *const *labels, const double *bounds,
                                        size_t nbounds)
{
    struct metric_family *f = add_family(m, name, help, METRIC_HISTOGRAM, labels);
    f->bounds = xmalloc(nbounds * sizeof(double));
    memcpy(f->bounds, bounds, nbounds * sizeof(double));
    f->nbounds = nbounds;
    return f;
}

/* |values| may be NULL only when the family has no labels (n == 0). */
static bool child_matches(const struct metric *c, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n && values; i++)
        if (strcmp(c->values[i], values[i]) != 0)
            return false;
    return true;
}

struct metric *metric_family_child(struct metric_family *f, const char *const *values)
{
    for (struct metric *c = f->children; c; c = c->next)
        if (child_matches(c, values, f->nlabels))
            return c;
    struct metric *c = xcalloc(1, sizeof(*c));
    c->family = f;
    c->values = xcalloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
    for (size_t i = 0; i < f->nlabels; i++)
        c->values[i] = xstrdup(values[i]);
    if (f->type == METRIC_HISTOGRAM)
        c->buckets = xcalloc(f->nbounds ? f->nbounds : 1, sizeof(unsigned long));
    *f->tail = c;
    f->tail = &c->next;
    return c;
}

void metric_add(struct metric *c, double delta)
{
    c->value += delta;
}

void metric_set(struct metric *c, double value)
{
    c->value = value;
}

double metric_value(const struct metric *c)
{
    return c->value;
}

void metric_observe(struct metric *c, double value)
{
    const struct metric_family *f = c->family;
    c->value += value;
    c->count++;
    for (size_t i = 0; i < f->nbounds; i++)
        if (value <= f->bounds[i])
            c->buckets[i]++; /* stored cumulative, as the exposition format wants */
}

void metrics_add_collector(struct metrics *m, metrics_collect_cb cb, void *data)
{
    struct collector *c = xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->data = data;
    c->next = m->collectors;
    m->collectors = c;
}

static int render_double(struct buf *out, double v)
{
    if (isinf(v))
        return buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    if (isnan(v))
        return buf_append_str(out, "NaN");
    if (v == floor(v) && fabs(v) < 1e15)
        return buf_appendf(out, "%.0f", v);
    return buf_appendf(out, "%.17g", v);
}

/* Label values escape backslash, double quote and newline, per the exposition format. */
static int render_label_value(struct buf *out, const char *v)
{
    int rc = 0;
    for (; *v && rc == 0; v++) {
        if (*v == '\\')
            rc = buf_append_str(out, "\\\\");
        else if (*v == '"')
            rc = buf_append_str(out, "\\\"");
        else if (*v == '\n')
            rc = buf_append_str(out, "\\n");
        else
            rc = buf_append(out, v, 1);
    }
    return rc;
}

/* Writes {a="x",b="y"[,le="..."]} or nothing when there are no labels. */
static int render_labels(struct buf *out, const struct metric_family *f, const struct metric *c,
                         const char *le)
{
    if (f->nlabels == 0 && !le)
        return 0;
    int rc = buf_append(out, "{", 1);
    for (size_t i = 0; i < f->nlabels && rc == 0; i++) {
        rc = buf_appendf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        rc = rc ? rc : render_label_value(out, c->values[i]);
        rc = rc ? rc : buf_append(out, "\"", 1);
    }
    if (le && rc == 0)
        rc = buf_appendf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    return rc ? rc : buf_append(out, "}", 1);
}

static int render_sample(struct buf *out, const struct metric_family *f, const struct metric *c,
                         const char *suffix, const char *le, double v)
{
    int rc = buf_appendf(out, "%s%s", f->name, suffix);
    rc = rc ? rc : render_labels(out, f, c, le);
    rc = rc ? rc : buf_append(out, " ", 1);
    rc = rc ? rc : render_double(out, v);
    return rc ? rc : buf_append(out, "\n", 1);
}

static int render_histogram(struct buf *out, const struct metric_family *f, const struct metric *c)
{
    int rc = 0;
    for (size_t i = 0; i < f->nbounds && rc == 0; i++) {
        char le[32];
        snprintf(le, sizeof(le), "%g", f->bounds[i]);
        rc = render_sample(out, f, c, "_bucket", le, (double)c->buckets[i]);
    }
    rc = rc ? rc : render_sample(out, f, c, "_bucket", "+Inf", (double)c->count);
    rc = rc ? rc : render_sample(out, f, c, "_sum", NULL, c->value);
    return rc ? rc : render_sample(out, f, c, "_count", NULL, (double)c->count);
}

static const char *type_name(enum metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

int metrics_render(struct metrics *m, struct buf *out)
{
    for (struct collector *col = m->collectors; col; col = col->next)
        col->cb(m, col->data);
    int rc = 0;
    for (struct metric_family *f = m->families; f && rc == 0; f = f->next) {
        rc = buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                         type_name(f->type));
        for (struct metric *c = f->children; c && rc == 0; c = c->next) {
            if (f->type == METRIC_HISTOGRAM)
                rc = render_histogram(out, f, c);
            else
                rc = render_sample(out, f, c, "", NULL, c->value);
        }
    }
    return rc;
}

/* ---- process metrics, read from /proc at scrape time ---- */

struct process_metrics {
    struct metric *cpu, *rss, *vsize, *fds, *max_fds, *start;
};

static long count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

static void read_statm(double *vsize, double *rss)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages_v = 0, pages_r = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages_v, &pages_r) != 2)
            pages_v = pages_r = 0;
        fclose(f);
    }
    double page = (double)sysconf(_SC_PAGESIZE);
    *vsize = (double)pages_v * page;
    *rss = (double)pages_r * page;
}

static void collect_process(struct metrics *m, void *data)
{
    (void)m;
    struct process_metrics *pm = data;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    metric_set(pm->cpu, cpu);
    double vsize, rss;
    read_statm(&vsize, &rss);
    metric_set(pm->vsize, vsize);
    metric_set(pm->rss, rss);
    metric_set(pm->fds, (double)count_open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metric_set(pm->max_fds, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

void metrics_add_process_collector(struct metrics *m)
{
    struct process_metrics *pm = xcalloc(1, sizeof(*pm)); /* owned by the registry */
    pm->cpu = metric_family_child(
        metrics_counter(m, "process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.", NULL),
        NULL);
    pm->rss = metric_family_child(
        metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL),
        NULL);
    pm->vsize = metric_family_child(
        metrics_gauge(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL),
        NULL);
    pm->fds = metric_family_child(
        metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", NULL), NULL);
    pm->max_fds = metric_family_child(
        metrics_gauge(m, "process_max_fds", "Maximum number of open file descriptors.", NULL),
        NULL);
    pm->start = metric_family_child(
        metrics_gauge(m, "process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.", NULL),
        NULL);
    metric_set(pm->start, (double)(clock_realtime_ms() / 1000));
    metrics_add_collector(m, collect_process, pm);
    m->collectors->owns_data = true;
}
