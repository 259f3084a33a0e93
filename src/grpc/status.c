/* status: gRPC status names and grpc-message encoding. */
#include "grpc/status.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"

static const char *const names[GRPC_STATUS_COUNT] = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};

static const char *const texts[GRPC_STATUS_COUNT] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
};

const char *grpc_status_name(enum grpc_status s)
{
    if ((unsigned)s >= GRPC_STATUS_COUNT)
        return "Unknown";
    return names[s];
}

const char *grpc_status_text(enum grpc_status s)
{
    if ((unsigned)s >= GRPC_STATUS_COUNT)
        return texts[GRPC_STATUS_UNKNOWN];
    return texts[s];
}

enum grpc_status grpc_status_from_errno(int err)
{
    switch (err) {
    case 0:
        return GRPC_STATUS_OK;
    case -EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case -ENOENT:
        return GRPC_STATUS_NOT_FOUND;
    case -EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case -EACCES:
    case -EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case -ENOBUFS:
    case -EMSGSIZE:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case -ETIMEDOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case -ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case -ENOSYS:
        return GRPC_STATUS_UNIMPLEMENTED;
    case -EAGAIN:
    case -ECONNREFUSED:
    case -ECONNRESET:
        return GRPC_STATUS_UNAVAILABLE;
    case -EPROTO:
        return GRPC_STATUS_INTERNAL;
    default:
        return GRPC_STATUS_UNKNOWN;
    }
}

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c > 0x7e || c == '%';
}

size_t grpc_status_encoded_len(const char *msg)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        n += needs_escape(*p) ? 3 : 1;
    return n;
}

void grpc_status_encode_into(char *out, const char *msg)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (needs_escape(*p)) {
            *out++ = '%';
            *out++ = hex[*p >> 4];
            *out++ = hex[*p & 15];
        } else {
            *out++ = (char)*p;
        }
    }
    *out = '\0';
}

int grpc_status_encode_message(struct buf *out, const char *msg)
{
    size_t n = grpc_status_encoded_len(msg);
    uint8_t *dst = buf_reserve(out, n + 1);
    if (!dst)
        return -EMSGSIZE;
    grpc_status_encode_into((char *)dst, msg);
    buf_commit(out, n);
    return 0;
}
