/* scratch: bump allocation in a stack block, then in heap chunks. */
#include "jobs/scratch.h"

#include <stdalign.h>
#include <stdlib.h>

#include "core/xalloc.h"

#define CHUNK_SIZE 65536

struct scratch_chunk {
    struct scratch_chunk *next;
    alignas(max_align_t) char data[];
};

void scratch_init(struct scratch *s)
{
    s->chunks = NULL;
    s->cur = s->first;
    s->left = sizeof(s->first);
}

void scratch_deinit(struct scratch *s)
{
    while (s->chunks) {
        struct scratch_chunk *next = s->chunks->next;
        free(s->chunks);
        s->chunks = next;
    }
}

void *scratch_alloc(void *ctx, size_t n)
{
    struct scratch *s = ctx;
    const size_t align = alignof(max_align_t);
    size_t pad = (align - ((size_t)s->cur & (align - 1))) & (align - 1);
    if (pad + n > s->left) {
        size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        struct scratch_chunk *c = xmalloc(sizeof(*c) + size);
        c->next = s->chunks;
        s->chunks = c;
        s->cur = c->data;
        s->left = size;
        pad = 0;
    }
    void *p = s->cur + pad;
    s->cur += pad + n;
    s->left -= pad + n;
    return p;
}
