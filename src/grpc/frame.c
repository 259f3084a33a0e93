/* frame: gRPC length-prefixed message codec. */
#include "grpc/frame.h"

#include <errno.h>
#include <string.h>

void grpc_frame_decoder_init(struct grpc_frame_decoder *d, size_t max_msg)
{
    memset(d, 0, sizeof(*d));
    d->max_msg = max_msg;
    buf_init(&d->body, max_msg);
}

void grpc_frame_decoder_deinit(struct grpc_frame_decoder *d)
{
    buf_deinit(&d->body);
}

bool grpc_frame_decoder_partial(const struct grpc_frame_decoder *d)
{
    return d->prefix_len > 0;
}

/* Fills the prefix from |in|; returns bytes used or a negative errno once it is complete and
 * invalid. */
static ssize_t take_prefix(struct grpc_frame_decoder *d, const uint8_t *in, size_t len,
                           uint32_t *announced, const char **err)
{
    size_t n = GRPC_FRAME_PREFIX_LEN - d->prefix_len;
    if (n > len)
        n = len;
    memcpy(d->prefix + d->prefix_len, in, n);
    d->prefix_len += n;
    if (d->prefix_len < GRPC_FRAME_PREFIX_LEN)
        return (ssize_t)n;
    if (d->prefix[0] > 1) {
        *err = "invalid gRPC message flags";
        return -EPROTO;
    }
    d->compressed = d->prefix[0] == 1;
    d->msg_len = (uint32_t)d->prefix[1] << 24 | (uint32_t)d->prefix[2] << 16 |
                 (uint32_t)d->prefix[3] << 8 | d->prefix[4];
    if (d->msg_len > d->max_msg) {
        *announced = d->msg_len;
        *err = "received message larger than max";
        return -EMSGSIZE;
    }
    return (ssize_t)n;
}

static void emit(struct grpc_frame_decoder *d, struct grpc_frame_msg *out, struct iov data)
{
    out->compressed = d->compressed;
    out->data = data;
    d->prefix_len = 0;
}

ssize_t grpc_frame_decode(struct grpc_frame_decoder *d, const uint8_t *in, size_t len,
                          struct grpc_frame_msg *out, bool *done, uint32_t *announced,
                          const char **err)
{
    size_t used = 0;
    *done = false;
    if (d->prefix_len < GRPC_FRAME_PREFIX_LEN) {
        ssize_t n = take_prefix(d, in, len, announced, err);
        if (n < 0)
            return n;
        used = (size_t)n;
        if (d->prefix_len < GRPC_FRAME_PREFIX_LEN)
            return (ssize_t)used;
        buf_reset(&d->body);
    }
    size_t want = d->msg_len - d->body.len;
    size_t avail = len - used;
    /* The common case: the whole payload sits in this chunk, so hand out a view of it. */
    if (d->body.len == 0 && avail >= want) {
        emit(d, out, iov_make(in + used, want));
        *done = true;
        return (ssize_t)(used + want);
    }
    size_t n = avail < want ? avail : want;
    if (buf_append(&d->body, in + used, n) < 0) {
        *err = "received message larger than max";
        return -EMSGSIZE; /* unreachable: max_msg bounds msg_len */
    }
    used += n;
    if (d->body.len == d->msg_len) {
        emit(d, out, iov_make(d->body.data, d->body.len));
        *done = true;
    }
    return (ssize_t)used;
}

void grpc_frame_encode_prefix(uint8_t out[GRPC_FRAME_PREFIX_LEN], bool compressed, uint32_t len)
{
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}
