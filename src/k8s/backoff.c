/* backoff: capped exponential delays with multiplicative jitter. */
#include "k8s/backoff.h"

void k8s_backoff_init(struct k8s_backoff *b, uint64_t initial_ms, uint64_t max_ms, double jitter,
                      uint64_t reset_ms)
{
    b->initial_ms = initial_ms;
    b->max_ms = max_ms;
    b->jitter = jitter;
    b->reset_ms = reset_ms;
    k8s_backoff_reset(b);
}

void k8s_backoff_init_reflector(struct k8s_backoff *b)
{
    k8s_backoff_init(b, 800, 30000, 1.0, 120000);
}

void k8s_backoff_reset(struct k8s_backoff *b)
{
    b->current_ms = b->initial_ms;
    b->last_ms = 0;
}

uint64_t k8s_backoff_next(struct k8s_backoff *b, uint64_t now_ms, double r)
{
    uint64_t d;

    if (b->last_ms != 0 && now_ms >= b->last_ms && now_ms - b->last_ms >= b->reset_ms)
        b->current_ms = b->initial_ms;
    b->last_ms = now_ms ? now_ms : 1;
    d = b->current_ms;
    b->current_ms = d * 2 > b->max_ms ? b->max_ms : d * 2;
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    return d + (uint64_t)((double)d * b->jitter * r);
}
