/* validate: syntax checks for what a request puts into a Kubernetes object — names, labels,
 * environment variables, image references and endpoint URLs — as the API server (and the
 * timer container) would judge them, so a bad field is rejected before any API call. */
#ifndef JOBS_VALIDATE_H
#define JOBS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
bool validate_dns_label(const char *s);
/* A label key: optional DNS-1123 subdomain prefix and '/', then a name of at most 63
 * characters [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?. */
bool validate_label_key(const char *s);
/* A label value: empty or a name as above. */
bool validate_label_value(const char *s);
/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool validate_env_name(const char *s);
/* A container image reference: [host[:port]/]path[:tag][@sha256:<64 hex>]. */
bool validate_image_ref(const char *s);
/* http(s)://host[:port][/path] with a DNS name, IPv4 address or [IPv6] host. */
bool validate_endpoint_url(const char *s);
/* Well-formed UTF-8 (control characters allowed). */
bool validate_utf8(const char *s);
/* Printable UTF-8 without control characters, at most |max| bytes. */
bool validate_text(const char *s, size_t max);
/* Writes |s| as a valid label value (invalid characters become '-', trimmed to 63 and to
 * alphanumeric ends) into |out| (64 bytes). Returns false when nothing valid remains. */
bool validate_sanitize_label_value(const char *s, char out[64]);

/* Writes a field-level message (printf format) into |err| and returns -EINVAL: the one way
 * validators and job types report a bad request field. */
int validate_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
