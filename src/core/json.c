/* json: typed path accessors over jansson. */
#include "core/json.h"

#include <errno.h>
#include <string.h>

json_t *json_path(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        p += n + (dot ? 1 : 0);
    }
    return (json_t *)cur;
}

const char *json_path_str(const json_t *root, const char *path)
{
    json_t *v = json_path(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t json_path_int(const json_t *root, const char *path, int64_t def)
{
    json_t *v = json_path(root, path);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

bool json_path_bool(const json_t *root, const char *path, bool def)
{
    json_t *v = json_path(root, path);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *json_path_obj(const json_t *root, const char *path)
{
    json_t *v = json_path(root, path);
    return json_is_object(v) ? v : NULL;
}

json_t *json_path_array(const json_t *root, const char *path)
{
    json_t *v = json_path(root, path);
    return json_is_array(v) ? v : NULL;
}

int json_path_set_new(json_t *root, const char *path, json_t *value)
{
    json_t *cur = root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (!json_is_object(cur)) {
            json_decref(value);
            return -EINVAL;
        }
        if (!dot)
            return json_object_setn_new(cur, p, strlen(p), value) == 0 ? 0 : -EINVAL;
        size_t n = (size_t)(dot - p);
        json_t *next = json_object_getn(cur, p, n);
        if (!next) {
            next = json_object();
            json_object_setn_new(cur, p, n, next);
        }
        cur = next;
        p = dot + 1;
    }
}
