/* log: JSON-lines and text logging to stderr, one write(2) per record. */
#include "core/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

#define LOG_LINE_MAX 16384

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_FORMAT_JSON;

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error"};

void log_configure(enum log_level level, enum log_format format)
{
    min_level = level;
    out_format = format;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Returns the length of the valid UTF-8 sequence at |s| or 0 when it is invalid. */
static size_t utf8_seq_len(const uint8_t *s, size_t avail)
{
    size_t n;
    uint32_t min;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    uint32_t cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int log_json_escape(struct buf *out, const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(out, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            rc = buf_appendf(out, "\\u%04x", c);
            i++;
        } else {
            size_t n = utf8_seq_len(s + i, len - i);
            if (n == 0) {
                rc = buf_append_str(out, "\\ufffd");
                i++;
            } else {
                rc = buf_append(out, s + i, n);
                i += n;
            }
        }
    }
    return rc;
}

static int append_json_str(struct buf *b, const char *s)
{
    if (!s)
        return buf_append_str(b, "null");
    int rc = buf_append(b, "\"", 1);
    rc = rc ? rc : log_json_escape(b, s, strlen(s));
    return rc ? rc : buf_append(b, "\"", 1);
}

static int append_value(struct buf *b, const struct log_field *f, bool json)
{
    switch (f->type) {
    case LOG_FIELD_STR:
        if (json || !f->v.s || strpbrk(f->v.s, " \"=\n\t\\") || !*f->v.s)
            return append_json_str(b, f->v.s);
        return buf_append_str(b, f->v.s);
    case LOG_FIELD_INT:
        return buf_appendf(b, "%lld", f->v.i);
    case LOG_FIELD_DBL:
        return buf_appendf(b, "%.6g", f->v.d);
    case LOG_FIELD_BOOL:
        return buf_append_str(b, f->v.b ? "true" : "false");
    }
    return 0;
}

static void format_json(struct buf *b, const char *ts, enum log_level level, const char *component,
                        const char *msg, const struct log_field *fields, size_t n)
{
    buf_appendf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
    append_json_str(b, msg);
    buf_append_str(b, ",\"component\":");
    append_json_str(b, component);
    for (size_t i = 0; i < n; i++) {
        size_t mark = b->len;
        int rc = buf_append(b, ",", 1);
        rc = rc ? rc : append_json_str(b, fields[i].key);
        rc = rc ? rc : buf_append(b, ":", 1);
        rc = rc ? rc : append_value(b, &fields[i], true);
        if (rc) { /* too long: drop this field and the rest, keep the record valid */
            b->len = mark;
            break;
        }
    }
}

static void format_text(struct buf *b, const char *ts, enum log_level level, const char *component,
                        const char *msg, const struct log_field *fields, size_t n)
{
    buf_appendf(b, "%s %-5s [%s] ", ts, level_names[level], component ? component : "-");
    log_json_escape(b, msg, strlen(msg));
    for (size_t i = 0; i < n; i++) {
        size_t mark = b->len;
        int rc = buf_appendf(b, " %s=", fields[i].key);
        rc = rc ? rc : append_value(b, &fields[i], false);
        if (rc) {
            b->len = mark;
            break;
        }
    }
}

void log_emit(enum log_level level, const char *component, const char *msg,
              const struct log_field *fields, size_t nfields)
{
    if (!log_enabled(level))
        return;
    char ts[40];
    clock_format_rfc3339_ms(clock_realtime_ms(), ts, sizeof(ts));

    uint8_t storage[LOG_LINE_MAX];
    struct buf b = {storage, 0, sizeof(storage), sizeof(storage) - 2};
    if (out_format == LOG_FORMAT_JSON) {
        format_json(&b, ts, level, component, msg, fields, nfields);
        b.max = sizeof(storage);
        buf_append_str(&b, "}\n");
    } else {
        format_text(&b, ts, level, component, msg, fields, nfields);
        b.max = sizeof(storage);
        buf_append(&b, "\n", 1);
    }
    /* stderr is the log sink: if it fails there is nowhere to report it. */
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
}
