/* main: reads the configuration, wires the modules into one struct app on one libuv loop,
 * runs it, and turns SIGTERM/SIGINT into a graceful shutdown. Exit codes: 0 after a clean
 * shutdown, 1 for a start-up failure (e.g. a port in use), 2 for bad configuration. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "admin/ops.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/version.h"
#include "grpc/server.h"
#include "jobs/service.h"
#include "k8s/client.h"

#define EXIT_CONFIG 2

struct app {
    uv_loop_t loop;
    struct config cfg;
    struct metrics *metrics;
    struct ops *ops;
    struct grpc_server *grpc;
    struct k8s_client *k8s;
    struct jobs_service *jobs;
    uv_signal_t sigterm, sigint;
    uv_timer_t health_timer; /* keeps gRPC health in step with readiness */
    bool serving;
    bool shutting_down;
};

static const char *env_get(const char *name)
{
    return getenv(name);
}

static bool app_ready(void *data, const char **reason)
{
    struct app *app = data;
    if (app->shutting_down)
        *reason = "shutting down";
    else if (!app->grpc || !grpc_server_is_listening(app->grpc))
        *reason = "gRPC server not listening";
    else if (!app->jobs || !jobs_service_synced(app->jobs))
        *reason = "Kubernetes job cache not synced";
    else
        return true;
    return false;
}

/* gRPC health says SERVING exactly when /readyz says ready. The cache reports its first sync
 * at once; losing and regaining the API server is noticed by a one-second check. */
static void update_serving(struct app *app)
{
    const char *reason = NULL;
    bool ready = app_ready(app, &reason);
    if (ready == app->serving || app->shutting_down)
        return;
    app->serving = ready;
    grpc_server_set_serving(app->grpc, ready);
    if (ready)
        log_info("main", "ready: serving");
    else
        log_warn("main", "not ready: not serving", LOG_STR("reason", reason));
}

static void on_jobs_synced(void *data)
{
    update_serving(data);
}

static void on_health_timer(uv_timer_t *t)
{
    update_serving(t->data);
}

/* ---- shutdown: gRPC drains first, then the Kubernetes client, then ops ---- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_ops_closed(void *data)
{
    struct app *app = data;
    app->ops = NULL;
    uv_close((uv_handle_t *)&app->health_timer, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigint, on_handle_closed);
}

/* Calls still waiting for Kubernetes were finished (UNAVAILABLE) while the client closed, so
 * nothing refers to the jobs service or the gRPC server any more. */
static void on_k8s_closed(void *data)
{
    struct app *app = data;
    app->k8s = NULL;
    jobs_service_free(app->jobs);
    app->jobs = NULL;
    grpc_server_free(app->grpc);
    app->grpc = NULL;
    ops_close(app->ops, on_ops_closed, app);
}

static void on_grpc_drained(void *data)
{
    struct app *app = data;
    log_info("main", "gRPC server drained");
    jobs_service_stop(app->jobs);
    k8s_client_close(app->k8s, on_k8s_closed, app);
}

static void app_shutdown(struct app *app, int signum)
{
    app->shutting_down = true;
    uv_timer_stop(&app->health_timer);
    log_info("main", "shutting down", LOG_STR("signal", strsignal(signum)),
             LOG_INT("grace_seconds", app->cfg.shutdown_grace_seconds));
    grpc_server_shutdown(app->grpc, (uint64_t)app->cfg.shutdown_grace_seconds * 1000,
                         on_grpc_drained, app);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *app = s->data;
    if (app->shutting_down) {
        /* A second signal means the operator will not wait: leave at once. */
        log_warn("main", "second signal: exiting now", LOG_STR("signal", strsignal(signum)));
        _exit(128 + signum);
    }
    app_shutdown(app, signum);
}

/* ---- start-up ---- */

static int parse_args(int argc, char **argv)
{
    if (argc < 2)
        return -1;
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("%s\n", version_string());
        return 0;
    }
    if (strcmp(cmd, "version-full") == 0) {
        version_print_full(stdout);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        config_print_help(stdout);
        return 0;
    }
    if (strcmp(cmd, "--config-names") == 0) {
        config_print_names(stdout);
        return 0;
    }
    fprintf(stderr, "jobscheduler: unknown argument \"%s\"\n", cmd);
    config_print_help(stderr);
    return EXIT_CONFIG;
}

static void register_build_info(struct metrics *m)
{
    static const char *const labels[] = {"version", NULL};
    const char *values[] = {version_string()};
    metric_set(metric_family_child(metrics_gauge(m, "jobscheduler_build_info",
                                                 "Build information; the value is 1.", labels),
                                   values),
               1);
}

/* Creates every module; returns 0, or an exit code after logging why. */
static int app_init(struct app *app)
{
    char err[512];
    app->metrics = metrics_new();
    metrics_add_process_collector(app->metrics);
    register_build_info(app->metrics);

    if (k8s_client_new(&app->loop, &app->cfg, app->metrics, &app->k8s, err, sizeof(err)) != 0) {
        log_error("k8s", err);
        return EXIT_CONFIG;
    }
    app->grpc = grpc_server_new(&app->loop, &app->cfg, app->metrics, err, sizeof(err));
    if (!app->grpc) {
        log_error("grpc", err);
        return EXIT_CONFIG;
    }
    app->jobs = jobs_service_new(&app->cfg, app->metrics, app->k8s, app->grpc);
    jobs_service_on_synced(app->jobs, on_jobs_synced, app);
    app->ops = ops_new(&app->loop, app->metrics,
                       (uint64_t)app->cfg.http_idle_timeout_seconds * 1000, app_ready, app);
    return 0;
}

static int app_start(struct app *app)
{
    char err[512];
    int rc = ops_listen(app->ops, app->cfg.http_port);
    if (rc != 0) {
        log_error("admin", "cannot listen", LOG_INT("port", app->cfg.http_port),
                  LOG_STR("error", uv_strerror(rc)));
        return 1;
    }
    if (grpc_server_start(app->grpc, err, sizeof(err)) != 0) {
        log_error("grpc", err);
        return 1;
    }
    if (jobs_service_start(app->jobs) != 0)
        return 1;
    uv_signal_init(&app->loop, &app->sigterm);
    uv_signal_init(&app->loop, &app->sigint);
    app->sigterm.data = app->sigint.data = app;
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_timer_init(&app->loop, &app->health_timer);
    app->health_timer.data = app;
    uv_timer_start(&app->health_timer, on_health_timer, 1000, 1000);
    log_info("main", "jobscheduler started", LOG_STR("version", version_string()),
             LOG_INT("grpc_port", app->cfg.grpc_port), LOG_INT("http_port", app->cfg.http_port),
             LOG_STR("kubernetes", k8s_client_describe(app->k8s)),
             LOG_STR("namespace", app->cfg.k8s_namespace));
    return 0;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc >= 0)
        return rc;

    struct app app;
    memset(&app, 0, sizeof(app));
    char err[512];
    if (config_load(&app.cfg, env_get, err, sizeof(err)) != 0) {
        log_error("config", err);
        return EXIT_CONFIG;
    }
    log_configure(app.cfg.log_level, app.cfg.log_format);
    signal(SIGPIPE, SIG_IGN); /* a peer closing mid-write is an error return, not a kill */
    uv_loop_init(&app.loop);

    rc = app_init(&app);
    if (rc == 0)
        rc = app_start(&app);
    if (rc != 0) {
        /* Start-up failed: nothing is serving yet, so no graceful drain is owed. */
        _exit(rc);
    }
    uv_run(&app.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&app.loop) != 0)
        log_warn("main", "loop closed with handles still open");
    metrics_free(app.metrics);
    config_deinit(&app.cfg);
    log_info("main", "stopped");
    return 0;
}
