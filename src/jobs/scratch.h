/* scratch: a short-lived bump allocator for building one response (protobuf-c messages that
 * point into cache records). Everything is released at once by scratch_deinit, so building
 * an event for a long-lived stream never grows the stream's own memory. */
#ifndef JOBS_SCRATCH_H
#define JOBS_SCRATCH_H

#include <stddef.h>

struct scratch_chunk;

struct scratch {
    struct scratch_chunk *chunks; /* heap chunks, newest first */
    char *cur;
    size_t left;
    char first[4096]; /* most responses fit here, so most need no malloc */
};

void scratch_init(struct scratch *s);
void scratch_deinit(struct scratch *s);
/* Returns |n| bytes aligned for any type; never NULL. */
void *scratch_alloc(void *s, size_t n);

#endif
