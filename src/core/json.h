/* json: small typed accessors over jansson, so callers never juggle json_t type checks.
 * Paths are dot-separated object keys ("metadata.labels"); a missing key or a value of
 * another type reads as absent. */
#ifndef CORE_JSON_H
#define CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Returns the value at |path| under |root| or NULL. */
json_t *json_path(const json_t *root, const char *path);
/* Returns the string at |path| or NULL when absent or not a string. Borrowed from |root|. */
const char *json_path_str(const json_t *root, const char *path);
/* Returns the integer at |path| or |def|. */
int64_t json_path_int(const json_t *root, const char *path, int64_t def);
/* Returns the boolean at |path| or |def|. */
bool json_path_bool(const json_t *root, const char *path, bool def);
/* Returns the object at |path| or NULL. */
json_t *json_path_obj(const json_t *root, const char *path);
/* Returns the array at |path| or NULL. */
json_t *json_path_array(const json_t *root, const char *path);
/* Sets |root|[key] = value, creating intermediate objects along |path|; takes ownership of
 * |value|. Returns 0 or -EINVAL when a path element exists and is not an object. */
int json_path_set_new(json_t *root, const char *path, json_t *value);

#endif
