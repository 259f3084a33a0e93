/* clock: wall-clock time in milliseconds and RFC 3339 text, as logs and Kubernetes use it. */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t clock_realtime_ms(void);
/* Writes "2026-11-29T04:50:00.123Z" into |out| (at least 25 bytes). */
void clock_format_rfc3339_ms(int64_t ms, char *out, size_t outlen);
/* Writes "2026-11-29T04:50:00Z" into |out| (at least 21 bytes). */
void clock_format_rfc3339(int64_t sec, char *out, size_t outlen);
/* Parses an RFC 3339 timestamp ("2026-11-29T04:50:00Z", optional fraction and offset)
 * into seconds and nanoseconds since the epoch. Returns 0 or -EINVAL. */
int clock_parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec);

#endif
