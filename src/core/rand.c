/* rand: kernel randomness (getrandom) for names; xorshift for jitter. */
#include "core/rand.h"

#include <stdlib.h>
#include <sys/random.h>

static void fill(void *p, size_t n)
{
    /* getrandom() never blocks once the pool is initialised, which it is long before a
     * service starts; a short read is retried. */
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r <= 0)
            abort();
        b += r;
        n -= (size_t)r;
    }
}

void rand_alnum(char *out, size_t n)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t raw[64];
    while (n > 0) {
        size_t chunk = n < sizeof(raw) ? n : sizeof(raw);
        fill(raw, chunk);
        for (size_t i = 0; i < chunk; i++) {
            /* 252 = 7 * 36: reject the top bytes so every character is equally likely. */
            if (raw[i] >= 252) {
                fill(&raw[i], 1);
                i--;
                continue;
            }
            *out++ = alphabet[raw[i] % 36];
        }
        n -= chunk;
    }
}

double rand_unit(void)
{
    static uint64_t state;
    if (state == 0)
        fill(&state, sizeof(state));
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}
