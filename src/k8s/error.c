/* error: maps HTTP status codes and v1 Status reasons to enum k8s_error. */
#include "k8s/error.h"

#include <stdbool.h>
#include <string.h>

static const char *const error_names[] = {
    [K8S_OK] = "OK",
    [K8S_ERR_NOT_FOUND] = "NOT_FOUND",
    [K8S_ERR_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [K8S_ERR_CONFLICT] = "CONFLICT",
    [K8S_ERR_INVALID] = "INVALID",
    [K8S_ERR_BAD_REQUEST] = "BAD_REQUEST",
    [K8S_ERR_FORBIDDEN] = "FORBIDDEN",
    [K8S_ERR_UNAUTHORIZED] = "UNAUTHORIZED",
    [K8S_ERR_TOO_MANY_REQUESTS] = "TOO_MANY_REQUESTS",
    [K8S_ERR_GONE] = "GONE",
    [K8S_ERR_SERVER] = "SERVER",
    [K8S_ERR_TIMEOUT] = "TIMEOUT",
    [K8S_ERR_UNAVAILABLE] = "UNAVAILABLE",
    [K8S_ERR_CANCELLED] = "CANCELLED",
    [K8S_ERR_PROTOCOL] = "PROTOCOL",
};

const char *k8s_error_name(enum k8s_error e)
{
    if ((unsigned)e >= sizeof(error_names) / sizeof(error_names[0]))
        return "UNKNOWN";
    return error_names[e];
}

/* The StatusReason values of k8s.io/apimachinery that decide the class on their own. */
static const struct {
    const char *reason;
    enum k8s_error error;
} reason_table[] = {
    {"NotFound", K8S_ERR_NOT_FOUND},
    {"AlreadyExists", K8S_ERR_ALREADY_EXISTS},
    {"Conflict", K8S_ERR_CONFLICT},
    {"Invalid", K8S_ERR_INVALID},
    {"BadRequest", K8S_ERR_BAD_REQUEST},
    {"MethodNotAllowed", K8S_ERR_BAD_REQUEST},
    {"NotAcceptable", K8S_ERR_BAD_REQUEST},
    {"UnsupportedMediaType", K8S_ERR_BAD_REQUEST},
    {"RequestEntityTooLarge", K8S_ERR_BAD_REQUEST},
    {"Forbidden", K8S_ERR_FORBIDDEN},
    {"Unauthorized", K8S_ERR_UNAUTHORIZED},
    {"TooManyRequests", K8S_ERR_TOO_MANY_REQUESTS},
    {"Gone", K8S_ERR_GONE},
    {"Expired", K8S_ERR_GONE},
    {"Timeout", K8S_ERR_TIMEOUT},
    {"ServerTimeout", K8S_ERR_TIMEOUT},
    {"InternalError", K8S_ERR_SERVER},
    {"ServiceUnavailable", K8S_ERR_SERVER},
};

static enum k8s_error from_code(int code)
{
    if (code >= 200 && code < 300)
        return K8S_OK;
    switch (code) {
    case 401:
        return K8S_ERR_UNAUTHORIZED;
    case 403:
        return K8S_ERR_FORBIDDEN;
    case 404:
        return K8S_ERR_NOT_FOUND;
    case 409:
        return K8S_ERR_CONFLICT;
    case 410:
        return K8S_ERR_GONE;
    case 422:
        return K8S_ERR_INVALID;
    case 429:
        return K8S_ERR_TOO_MANY_REQUESTS;
    case 504:
        return K8S_ERR_TIMEOUT;
    }
    if (code >= 500 && code < 600)
        return K8S_ERR_SERVER;
    if (code >= 400 && code < 500)
        return K8S_ERR_BAD_REQUEST;
    /* 1xx and 3xx are never valid final answers from the API server. */
    return K8S_ERR_PROTOCOL;
}

static bool is_status(const json_t *body)
{
    const json_t *kind = json_is_object(body) ? json_object_get(body, "kind") : NULL;
    return kind && json_is_string(kind) && strcmp(json_string_value(kind), "Status") == 0;
}

static const char *status_str(const json_t *body, const char *key)
{
    const json_t *v = is_status(body) ? json_object_get(body, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s && s[0] ? s : NULL;
}

enum k8s_error k8s_error_from_response(int http_status, const json_t *body)
{
    const char *reason;

    if (http_status >= 200 && http_status < 300)
        return K8S_OK;
    reason = status_str(body, "reason");
    if (reason) {
        for (size_t i = 0; i < sizeof(reason_table) / sizeof(reason_table[0]); i++) {
            if (strcmp(reason_table[i].reason, reason) == 0)
                return reason_table[i].error;
        }
    }
    return from_code(http_status);
}

static const char *code_text(int code)
{
    switch (code) {
    case 400:
        return "bad request";
    case 401:
        return "Unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "the server could not find the requested resource";
    case 409:
        return "conflict";
    case 410:
        return "the requested resourceVersion is gone";
    case 422:
        return "the object is invalid";
    case 429:
        return "too many requests";
    case 500:
        return "internal server error";
    case 502:
        return "bad gateway";
    case 503:
        return "service unavailable";
    case 504:
        return "gateway timeout";
    }
    return "unexpected HTTP status from the API server";
}

void k8s_error_fill_result(struct k8s_result *res, int http_status, json_t *body)
{
    res->http_status = http_status;
    res->body = body;
    res->error = k8s_error_from_response(http_status, body);
    res->reason = NULL;
    res->message = NULL;
    if (res->error == K8S_OK)
        return;
    res->reason = status_str(body, "reason");
    res->message = status_str(body, "message");
    if (!res->message)
        res->message = code_text(http_status);
}

bool k8s_error_is_retryable(enum k8s_error e, int http_status)
{
    if (e == K8S_ERR_UNAVAILABLE)
        return true;
    switch (http_status) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    }
    return false;
}
