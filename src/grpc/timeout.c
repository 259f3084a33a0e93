/* timeout: grpc-timeout parsing. */
#include "grpc/timeout.h"

#include <errno.h>

int grpc_timeout_parse(const char *s, size_t len, uint64_t *ms)
{
    if (len < 2 || len > 9)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    switch (s[len - 1]) {
    case 'H':
        *ms = v * 3600000;
        break;
    case 'M':
        *ms = v * 60000;
        break;
    case 'S':
        *ms = v * 1000;
        break;
    case 'm':
        *ms = v;
        break;
    case 'u':
        *ms = (v + 999) / 1000;
        break;
    case 'n':
        *ms = (v + 999999) / 1000000;
        break;
    default:
        return -EINVAL;
    }
    return 0;
}
