/* rand: randomness from the kernel for identifiers, and a fast generator for jitter. */
#ifndef CORE_RAND_H
#define CORE_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fills |out| with |n| random lowercase letters and digits (a DNS-1123 label alphabet). */
void rand_alnum(char *out, size_t n);
/* A uniformly random double in [0, 1), for backoff jitter. Not for secrets. */
double rand_unit(void);

#endif
