/* Fuzzes the watch-line splitter: every line it emits must be non-empty, free of '\n' and
 * within the limit, whatever the split points. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/lines.h"

#define MAX_LINE 64

static int check(const uint8_t *line, size_t len, void *data)
{
    (void)data;
    if (len == 0 || len > MAX_LINE || memchr(line, '\n', len))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k8s_lines l;
    size_t off = 0;

    k8s_lines_init(&l, MAX_LINE);
    while (off < size) {
        size_t n = 1 + (data[off] % 17);
        if (n > size - off)
            n = size - off;
        if (k8s_lines_feed(&l, data + off, n, check, NULL) < 0)
            k8s_lines_reset(&l);
        off += n;
    }
    k8s_lines_deinit(&l);
    return 0;
}
