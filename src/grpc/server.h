/* server: the gRPC server: listeners on GRPC_PORT, the method table every service registers
 * into, grpc.health.v1.Health, server reflection (v1 and v1alpha) from the embedded descriptor
 * set, go-grpc-prometheus metrics, and graceful shutdown. One libuv loop, no threads. */
#ifndef GRPC_SERVER_H
#define GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "grpc/call.h"
#include "grpc/status.h"

struct config;
struct metrics;
struct grpc_server;

/* Reads the GRPC_* settings from |cfg| (port, TLS files, message size, connection, stream and
 * idle limits; |cfg| need not outlive the call); registers health and reflection; registers
 * its metrics in |metrics| (borrowed; must outlive the server). Returns NULL with one line in
 * |err| on failure (e.g. an unreadable certificate). */
struct grpc_server *grpc_server_new(uv_loop_t *loop, const struct config *cfg,
                                    struct metrics *metrics, char *err, size_t errlen);

/* Before start. The method table entry is copied (service and name strings too). Returns 0,
 * -EEXIST when the method is registered already, or -EINVAL for an incomplete entry or a
 * server that has started. */
int grpc_server_register(struct grpc_server *srv, const struct grpc_method *method);

/* Binds and listens on 0.0.0.0 and :: at cfg->grpc_port. Returns 0 or a negative errno with
 * |err| set. After a failed start, shut the server down as after a successful one. */
int grpc_server_start(struct grpc_server *srv, char *err, size_t errlen);
bool grpc_server_is_listening(const struct grpc_server *srv);

/* Health status of "" and every registered service ("jobscheduler.JobScheduler", ...):
 * NOT_SERVING until called with true. Watchers are notified. */
void grpc_server_set_serving(struct grpc_server *srv, bool serving);

/* Graceful shutdown: health NOT_SERVING, stop accepting, GOAWAY(2^31-1) + PING, then
 * GOAWAY(last stream id) when the PING returns; streaming calls get their cancel callback
 * with GRPC_CANCEL_SHUTDOWN; unary calls in flight may finish until |grace_ms|; then every
 * connection is closed. |done| runs once every loop handle of the server is closed; after it,
 * call grpc_server_free. Handlers may still own detached calls then: finishing them only
 * frees them. Call at most once. */
void grpc_server_shutdown(struct grpc_server *srv, uint64_t grace_ms, void (*done)(void *data),
                          void *data);
/* Frees a server that was never started or whose shutdown has completed. */
void grpc_server_free(struct grpc_server *srv);

/* Calls dispatched to a handler whose status has not been sent yet. */
size_t grpc_server_active_calls(const struct grpc_server *srv);

#endif
