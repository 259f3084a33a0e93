/* log: one structured record per line on stderr.
 * JSON by default ({"ts","level","msg","component", fields...}), or aligned text for humans.
 * Every string is escaped, so a job name with quotes or newlines cannot break a line.
 *
 *   log_info("grpc", "call finished", LOG_STR("method", path), LOG_INT("status", code));
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

enum log_field_type { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_DBL, LOG_FIELD_BOOL };

struct log_field {
    const char *key;
    enum log_field_type type;
    union {
        const char *s; /* NULL prints as null */
        long long i;
        double d;
        bool b;
    } v;
};

#define LOG_STR(k, val)  ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .v.s = (val)})
#define LOG_INT(k, val)  ((struct log_field){.key = (k), .type = LOG_FIELD_INT, .v.i = (val)})
#define LOG_DBL(k, val)  ((struct log_field){.key = (k), .type = LOG_FIELD_DBL, .v.d = (val)})
#define LOG_BOOL(k, val) ((struct log_field){.key = (k), .type = LOG_FIELD_BOOL, .v.b = (val)})

void log_configure(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);
/* Writes one record with a single write(2). Never fails; an over-long record is truncated
 * at a field boundary and stays valid JSON. */
void log_emit(enum log_level level, const char *component, const char *msg,
              const struct log_field *fields, size_t nfields);

/* Parses "trace".."error"; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Escapes |len| bytes of |s| as the inside of a JSON string into |out| (a struct buf *);
 * invalid UTF-8 becomes U+FFFD. Shared with every module that writes JSON by hand. */
struct buf;
int log_json_escape(struct buf *out, const char *s, size_t len);

#define log_at(lvl, comp, msg, ...)                                                                \
    do {                                                                                           \
        if (log_enabled(lvl)) {                                                                    \
            const struct log_field log_f_[] = {__VA_ARGS__};                                       \
            log_emit(lvl, comp, msg, log_f_, sizeof(log_f_) / sizeof(log_f_[0]));                  \
        }                                                                                          \
    } while (0)

#define log_trace(comp, msg, ...) log_at(LOG_TRACE, comp, msg, __VA_ARGS__)
#define log_debug(comp, msg, ...) log_at(LOG_DEBUG, comp, msg, __VA_ARGS__)
#define log_info(comp, msg, ...)  log_at(LOG_INFO, comp, msg, __VA_ARGS__)
#define log_warn(comp, msg, ...)  log_at(LOG_WARN, comp, msg, __VA_ARGS__)
#define log_error(comp, msg, ...) log_at(LOG_ERROR, comp, msg, __VA_ARGS__)

#endif
