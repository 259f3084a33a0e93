/* timeout: the grpc-timeout header value ("1S", "250m", "30000000n": at most 8 digits and one
 * unit of H, M, S, m, u or n). I/O-free. */
#ifndef GRPC_TIMEOUT_H
#define GRPC_TIMEOUT_H

#include <stddef.h>
#include <stdint.h>

/* Parses |len| bytes of |s| into milliseconds, rounding sub-millisecond remainders up so a
 * non-zero timeout never becomes zero. Returns 0 or -EINVAL (empty, more than 8 digits, a
 * non-digit, or an unknown unit). */
int grpc_timeout_parse(const char *s, size_t len, uint64_t *ms);

#endif
