/* call: one gRPC call as a method handler sees it. The handler owns the call from its first
 * handler callback until it calls grpc_call_finish(), exactly once, possibly much later from
 * another callback (for example when a Kubernetes API response arrives). The call stays valid
 * until then even if the client has gone (RST_STREAM, disconnect, deadline, shutdown); in that
 * case grpc_call_finish only frees it. No handler is ever invoked for a stream reset before
 * its request finished. */
#ifndef GRPC_CALL_H
#define GRPC_CALL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "grpc/status.h"

struct grpc_call;

enum grpc_method_kind {
    GRPC_METHOD_UNARY,
    GRPC_METHOD_SERVER_STREAMING,
    GRPC_METHOD_BIDI_STREAMING
};
enum grpc_cancel_reason { GRPC_CANCEL_CLIENT, GRPC_CANCEL_DEADLINE, GRPC_CANCEL_SHUTDOWN };

/* Called once per request message. Unary and server-streaming: exactly once, after the
 * request is complete. Bidi: once per message, then once more with |req| NULL when the client
 * half-closes its side. |req| is unpacked into the call's arena and valid until
 * grpc_call_finish. */
typedef void (*grpc_handler_cb)(struct grpc_call *call, const ProtobufCMessage *req, void *data);
typedef void (*grpc_cancel_cb)(struct grpc_call *call, enum grpc_cancel_reason reason, void *data);
typedef void (*grpc_drain_cb)(struct grpc_call *call, void *data);

struct grpc_method {
    const char *service; /* "jobscheduler.JobScheduler"; copied */
    const char *name;    /* "ScheduleJob"; copied */
    enum grpc_method_kind kind;
    const ProtobufCMessageDescriptor *input;  /* request type; static */
    const ProtobufCMessageDescriptor *output; /* response type; static */
    grpc_handler_cb handler;
    void *data; /* passed to |handler| */
};

/* Ends the call with |status| and |message| (NULL or text, percent-encoded on the wire).
 * |resp| is the unary response, packed before return (NULL unless a unary call ends OK; the
 * caller keeps ownership). Frees the call: it must not be used afterwards. */
void grpc_call_finish(struct grpc_call *call, const ProtobufCMessage *resp, enum grpc_status status,
                      const char *message);

/* Streaming: packs and queues one response message. Returns 0, -ECANCELED when the call is
 * gone, or -ENOBUFS when the per-stream outbound cap (256 KiB queued) is exceeded: the caller
 * then finishes with RESOURCE_EXHAUSTED or waits for the drain callback. A message is always
 * accepted when nothing is queued. */
int grpc_call_send(struct grpc_call *call, const ProtobufCMessage *msg);

bool grpc_call_is_cancelled(const struct grpc_call *call);

/* The cancel callback runs at most once: the client went away, the deadline passed (the
 * DEADLINE_EXCEEDED status is already sent), or the server is shutting down. Streaming calls
 * get GRPC_CANCEL_SHUTDOWN when shutdown begins (a watch handler then ends with OK); unary
 * calls may still finish normally and get it only if the grace period ends first. After
 * GRPC_CANCEL_CLIENT and GRPC_CANCEL_DEADLINE, finishing only frees the call. */
void grpc_call_on_cancel(struct grpc_call *call, grpc_cancel_cb cb, void *data);
/* The drain callback runs after a grpc_call_send returned -ENOBUFS, once the queue has
 * drained to half the cap. */
void grpc_call_on_drain(struct grpc_call *call, grpc_drain_cb cb, void *data);

/* Per-call memory, freed at grpc_call_finish. Never NULL. */
void *grpc_call_alloc(struct grpc_call *call, size_t n);
ProtobufCAllocator *grpc_call_allocator(struct grpc_call *call);

const char *grpc_call_peer(const struct grpc_call *call);   /* "127.0.0.1:5555" */
const char *grpc_call_method(const struct grpc_call *call); /* "/svc/Method" */

#endif
