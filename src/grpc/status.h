/* status: gRPC status codes, their names, and the grpc-message percent-encoding.
 * This is the one table that maps our errors to gRPC status codes (grpc_status_from_errno). */
#ifndef GRPC_STATUS_H
#define GRPC_STATUS_H

#include <stddef.h>

struct buf;

enum grpc_status {
    GRPC_STATUS_OK = 0,
    GRPC_STATUS_CANCELLED = 1,
    GRPC_STATUS_UNKNOWN = 2,
    GRPC_STATUS_INVALID_ARGUMENT = 3,
    GRPC_STATUS_DEADLINE_EXCEEDED = 4,
    GRPC_STATUS_NOT_FOUND = 5,
    GRPC_STATUS_ALREADY_EXISTS = 6,
    GRPC_STATUS_PERMISSION_DENIED = 7,
    GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
    GRPC_STATUS_FAILED_PRECONDITION = 9,
    GRPC_STATUS_ABORTED = 10,
    GRPC_STATUS_OUT_OF_RANGE = 11,
    GRPC_STATUS_UNIMPLEMENTED = 12,
    GRPC_STATUS_INTERNAL = 13,
    GRPC_STATUS_UNAVAILABLE = 14,
    GRPC_STATUS_DATA_LOSS = 15,
    GRPC_STATUS_UNAUTHENTICATED = 16,
};

#define GRPC_STATUS_COUNT 17

/* The name grpc-go's codes.Code.String() gives (and go-grpc-prometheus puts in the grpc_code
 * label): "OK", "Canceled", "Unknown", "InvalidArgument", ... "Unauthenticated". Out-of-range
 * values return "Unknown". */
const char *grpc_status_name(enum grpc_status s);

/* The decimal text of |s| for the grpc-status trailer ("0".."16"); static. */
const char *grpc_status_text(enum grpc_status s);

/* Maps a negative errno from our modules to a status: -EINVAL INVALID_ARGUMENT, -ENOENT
 * NOT_FOUND, -EEXIST ALREADY_EXISTS, -EACCES/-EPERM PERMISSION_DENIED, -ENOBUFS/-EMSGSIZE
 * RESOURCE_EXHAUSTED, -ETIMEDOUT DEADLINE_EXCEEDED, -ECANCELED CANCELLED, -ENOSYS
 * UNIMPLEMENTED, -EAGAIN/-ECONNREFUSED/-ECONNRESET UNAVAILABLE, -EPROTO INTERNAL; anything else
 * UNKNOWN. */
enum grpc_status grpc_status_from_errno(int err);

/* Appends |msg| percent-encoded as the gRPC spec asks for grpc-message: bytes outside
 * 0x20..0x7E and '%' become %XX. Returns 0 or -EMSGSIZE. */
int grpc_status_encode_message(struct buf *out, const char *msg);

/* Length of |msg| once percent-encoded. */
size_t grpc_status_encoded_len(const char *msg);

/* Writes |msg| percent-encoded into |out|, which holds grpc_status_encoded_len(msg) + 1 bytes;
 * NUL-terminates. */
void grpc_status_encode_into(char *out, const char *msg);

#endif
