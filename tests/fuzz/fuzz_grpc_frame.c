/* Fuzzes the gRPC message codec and grpc-timeout parser: the input is split into chunks at
 * points chosen by its first byte, and every decoded message must lie inside the input or the
 * decoder's own buffer and respect the size limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "grpc/frame.h"
#include "grpc/timeout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t ms;
    if (size < 1)
        return 0;
    grpc_timeout_parse((const char *)data, size < 12 ? size : 12, &ms);
    size_t step = (size_t)(data[0] % 17) + 1;
    struct grpc_frame_decoder d;
    grpc_frame_decoder_init(&d, 4096);
    for (size_t off = 1; off < size;) {
        size_t len = size - off < step ? size - off : step;
        struct grpc_frame_msg msg;
        bool done;
        uint32_t announced;
        const char *err;
        ssize_t n = grpc_frame_decode(&d, data + off, len, &msg, &done, &announced, &err);
        if (n < 0)
            break;
        if (done && msg.data.len > 4096)
            abort();
        if (n == 0 && !done)
            abort(); /* no progress on non-empty input */
        off += (size_t)n;
    }
    grpc_frame_decoder_deinit(&d);
    return 0;
}
