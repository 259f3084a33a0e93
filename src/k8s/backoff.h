/* backoff: exponential delays with jitter for retries and watch restarts, as client-go's
 * reflector does it (0.8 s doubling to 30 s, jitter, reset after two healthy minutes). */
#ifndef K8S_BACKOFF_H
#define K8S_BACKOFF_H

#include <stdint.h>

struct k8s_backoff {
    uint64_t initial_ms; /* first delay */
    uint64_t max_ms;     /* cap on the un-jittered delay */
    double jitter;       /* each delay is d * (1 + jitter * r), r in [0, 1) */
    uint64_t reset_ms;   /* a failure this long after the previous one starts over */
    uint64_t current_ms; /* un-jittered delay the next failure gets */
    uint64_t last_ms;    /* time of the previous failure; 0: none yet */
};

/* The reflector's parameters: 800 ms, 30 s, jitter 1.0, reset after 120 s. */
void k8s_backoff_init_reflector(struct k8s_backoff *b);
void k8s_backoff_init(struct k8s_backoff *b, uint64_t initial_ms, uint64_t max_ms, double jitter,
                      uint64_t reset_ms);

/* Records a failure at |now_ms| and returns how long to wait before trying again. |r| is
 * a random number in [0, 1) (rand_unit() in production; fixed in tests). */
uint64_t k8s_backoff_next(struct k8s_backoff *b, uint64_t now_ms, double r);

/* Forgets past failures. */
void k8s_backoff_reset(struct k8s_backoff *b);

#endif
