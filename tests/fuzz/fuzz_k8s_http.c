/* Fuzzes the HTTP/1 response codec: arbitrary bytes, fed in two pieces split at a point the
 * input chooses, across keep-alive responses, then end of stream. */
#include <stddef.h>
#include <stdint.h>

#include "k8s/http.h"

static int on_headers(void *data)
{
    (void)data;
    return 0;
}

static int on_body(void *data, const uint8_t *p, size_t n)
{
    size_t *total = data;

    (void)p;
    *total += n;
    return *total > (1u << 20) ? -1 : 0;
}

static const struct k8s_http_cbs cbs = {on_headers, on_body};

static void feed(struct k8s_http *h, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used = 0;
        int rc = k8s_http_feed(h, p, n, &used);
        if (rc < 0)
            return;
        if (rc == 0)
            return;
        /* A complete response: the rest is the next one on the same connection. */
        p += used;
        n -= used;
        k8s_http_reset(h);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k8s_http h;
    size_t total = 0;
    size_t cut = size ? data[0] % size : 0;

    k8s_http_init(&h, &cbs, &total);
    feed(&h, data, cut);
    feed(&h, data + cut, size - cut);
    (void)k8s_http_finish(&h);
    k8s_http_deinit(&h);
    return 0;
}
