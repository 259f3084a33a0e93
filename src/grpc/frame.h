/* frame: the gRPC length-prefixed message codec (1 flag byte, 4-byte big-endian length,
 * payload). Bytes in, messages out; no I/O. A message is reassembled across any number of
 * input chunks, and a message whose announced length exceeds the limit is refused from its
 * prefix alone, before any of its payload is buffered. */
#ifndef GRPC_FRAME_H
#define GRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define GRPC_FRAME_PREFIX_LEN 5

struct grpc_frame_decoder {
    uint8_t prefix[GRPC_FRAME_PREFIX_LEN];
    size_t prefix_len; /* prefix bytes seen of the current message */
    uint32_t msg_len;  /* announced payload length, valid once prefix_len == 5 */
    bool compressed;
    struct buf body; /* payload reassembled across chunks (only when split) */
    size_t max_msg;  /* largest payload accepted */
};

/* One decoded message. |data| points into the decoder's buffer or into the caller's input
 * and stays valid until the next grpc_frame_decode call. */
struct grpc_frame_msg {
    bool compressed;
    struct iov data;
};

void grpc_frame_decoder_init(struct grpc_frame_decoder *d, size_t max_msg);
void grpc_frame_decoder_deinit(struct grpc_frame_decoder *d);

/* Consumes bytes of |in| up to the end of at most one message. Returns the number of bytes
 * consumed (>= 0) and sets *done when |out| holds a complete message; call again with the rest
 * of the input. Errors (the decoder is then unusable):
 *   -EMSGSIZE  the announced length exceeds max_msg (*announced holds it);
 *   -EPROTO    a flag byte other than 0 or 1.
 * |err| receives a static description. */
ssize_t grpc_frame_decode(struct grpc_frame_decoder *d, const uint8_t *in, size_t len,
                          struct grpc_frame_msg *out, bool *done, uint32_t *announced,
                          const char **err);

/* True when a message has begun but not completed: at end of stream that is a truncated
 * message. */
bool grpc_frame_decoder_partial(const struct grpc_frame_decoder *d);

/* Writes the 5-byte prefix for a payload of |len| bytes. */
void grpc_frame_encode_prefix(uint8_t out[GRPC_FRAME_PREFIX_LEN], bool compressed, uint32_t len);

#endif
