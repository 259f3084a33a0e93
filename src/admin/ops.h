/* ops: the operations endpoints on HTTP_PORT — /healthz, /readyz, /metrics, /version.
 * Liveness is "the loop answers"; readiness asks the application through a callback so this
 * module knows nothing of gRPC or Kubernetes. */
#ifndef ADMIN_OPS_H
#define ADMIN_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct metrics;
struct ops;

/* Returns true when ready; otherwise sets |reason| to a static string. */
typedef bool (*ops_ready_cb)(void *data, const char **reason);

/* Creates the ops server; |metrics| is rendered on /metrics (not owned). Connections idle
 * for |idle_timeout_ms|, or that take that long to send a request, are closed. */
struct ops *ops_new(uv_loop_t *loop, struct metrics *metrics, uint64_t idle_timeout_ms,
                    ops_ready_cb ready, void *data);
/* Listens on |port|. Returns 0 or a negative libuv error. */
int ops_listen(struct ops *ops, int port);
/* Closes every connection and frees |ops|; |done| runs when the handles are closed. */
void ops_close(struct ops *ops, void (*done)(void *data), void *data);

#endif
