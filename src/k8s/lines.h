/* lines: splits a watch stream into its newline-delimited JSON events. A line longer than
 * the limit is an error, never an unbounded buffer; the codec does no I/O. */
#ifndef K8S_LINES_H
#define K8S_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct k8s_lines {
    struct buf partial; /* the incomplete last line, capped at the line limit */
    size_t max_line;
};

/* Receives one line without its "\n" (and without a trailing "\r"); empty lines are
 * skipped. Return 0 to go on, or a negative errno to stop (k8s_lines_feed returns it). */
typedef int (*k8s_lines_cb)(const uint8_t *line, size_t len, void *data);

void k8s_lines_init(struct k8s_lines *l, size_t max_line);
void k8s_lines_deinit(struct k8s_lines *l);
void k8s_lines_reset(struct k8s_lines *l);

/* Feeds |n| bytes and calls |cb| for each completed line. Returns 0, -EMSGSIZE when a line
 * exceeds the limit (the splitter must then be reset), or the callback's error. */
int k8s_lines_feed(struct k8s_lines *l, const uint8_t *p, size_t n, k8s_lines_cb cb, void *data);

/* Bytes held for an incomplete line (0 at a clean end of stream). */
size_t k8s_lines_pending(const struct k8s_lines *l);

#endif
