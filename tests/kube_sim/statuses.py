"""Builders for kube-apiserver v1 Status bodies.

Clients (ours included) branch on `reason` and `code`, and humans read
`message`, so the wording here copies what kube-apiserver actually sends
(k8s.io/apimachinery/pkg/api/errors).  Every error leaves the server through
ApiError so the HTTP layer has one place that serialises it.
"""

import json

REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

# Messages used for injected faults (wording of the matching apiserver paths).
DEFAULT_MESSAGE_BY_CODE = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: kube-sim injected fault",
    503: "The server is currently unable to handle the request",
    504: ("The server was unable to return a response in the time allotted, "
          "but may still be processing the request"),
}

# group, plural and Kind for the resources we serve.
RESOURCES = {
    "jobs": {"group": "batch", "version": "v1", "kind": "Job", "list_kind": "JobList"},
    "pods": {"group": "", "version": "v1", "kind": "Pod", "list_kind": "PodList"},
}


def qualified(resource):
    """`jobs.batch` / `pods` – how apiserver names a resource in messages."""
    group = RESOURCES[resource]["group"] if resource in RESOURCES else ""
    return f"{resource}.{group}" if group else resource


def kind_qualified(resource):
    """`Job.batch` / `Pod` – used in Invalid messages (GroupKind.String())."""
    info = RESOURCES[resource]
    return f"{info['kind']}.{info['group']}" if info["group"] else info["kind"]


def status_body(code, reason, message, details=None):
    # Key order follows apiserver output (details sits between reason and code).
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success_status(details):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success", "details": details}


class ApiError(Exception):
    """An error that is turned into a Status response by the HTTP layer."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        return status_body(self.code, self.reason, self.message, self.details)


def _details(resource, name=None):
    d = {}
    if name is not None:
        d["name"] = name
    d["group"] = RESOURCES[resource]["group"] if resource in RESOURCES else ""
    d["kind"] = resource
    if not d["group"]:
        del d["group"]  # omitempty: core group is ""
    return d


def not_found(resource, name):
    return ApiError(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                    _details(resource, name))


def namespace_not_found(ns):
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                    {"name": ns, "kind": "namespaces"})


def already_exists(resource, name):
    return ApiError(409, "AlreadyExists",
                    f'{qualified(resource)} "{name}" already exists',
                    _details(resource, name))


def conflict(resource, name, why="the object has been modified; please apply "
                                 "your changes to the latest version and try again"):
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {why}',
                    _details(resource, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(user, verb, resource, namespace, name=None):
    group = RESOURCES[resource]["group"] if resource in RESOURCES else ""
    subject = qualified(resource) + (f' "{name}"' if name else "")
    scope = (f'in the namespace "{namespace}"' if namespace
             else "at the cluster scope")
    msg = (f'{subject} is forbidden: User "{user}" cannot {verb} resource '
           f'"{resource}" in API group "{group}" {scope}')
    return ApiError(403, "Forbidden", msg, _details(resource, name))


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {})


def expired(message):
    return ApiError(410, "Expired", message)


CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without "
                    "the continue parameter.")


def too_old_rv(requested, oldest):
    return expired(f"too old resource version: {requested} ({oldest})")


class FieldError:
    """One field.Error; `kind` is the field.ErrorType reason."""

    def __init__(self, reason, field, message):
        self.reason = reason
        self.field = field
        self.message = message  # ErrorBody(): 'Invalid value: "x": detail'

    @classmethod
    def invalid(cls, field, value, detail):
        return cls("FieldValueInvalid", field,
                   f"Invalid value: {go_value(value)}: {detail}")

    @classmethod
    def required(cls, field, detail=""):
        return cls("FieldValueRequired", field,
                   "Required value" + (f": {detail}" if detail else ""))

    @classmethod
    def not_supported(cls, field, value, supported):
        quoted = ", ".join(f'"{s}"' for s in supported)
        return cls("FieldValueNotSupported", field,
                   f"Unsupported value: {go_value(value)}: supported values: {quoted}")

    @classmethod
    def too_long(cls, field, limit):
        return cls("FieldValueTooLong", field,
                   f"Too long: must have at most {limit} bytes")

    @classmethod
    def forbidden(cls, field, detail):
        return cls("FieldValueForbidden", field, f"Forbidden: {detail}")


def go_value(v):
    """Render a value the way field.Error does (%q for strings, %d for ints)."""
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def invalid(resource, name, errors):
    """422 Invalid with causes, message formatted like errors.NewInvalid."""
    parts = [f"{e.field}: {e.message}" for e in errors]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = {"name": name, "group": RESOURCES[resource]["group"],
               "kind": RESOURCES[resource]["kind"],
               "causes": [{"reason": e.reason, "message": e.message, "field": e.field}
                          for e in errors]}
    if not details["group"]:
        del details["group"]
    return ApiError(422, "Invalid",
                    f'{kind_qualified(resource)} "{name}" is invalid: {summary}', details)


def too_large_rv(requested, current):
    return ApiError(504, "Timeout",
                    f"Too large resource version: {requested}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


def generic(code, message=None, retry_after=None):
    """Status for an injected fault with an arbitrary HTTP code."""
    reason = REASON_BY_CODE.get(code, "InternalError" if code >= 500 else "BadRequest")
    message = message or DEFAULT_MESSAGE_BY_CODE.get(code, f"kube-sim injected fault ({code})")
    details = None
    headers = {}
    if code == 500:
        details = {"causes": [{"message": "kube-sim injected fault"}]}
    if retry_after is not None:
        details = (details or {}) | {"retryAfterSeconds": int(retry_after)}
        headers["Retry-After"] = str(int(retry_after))
    return ApiError(code, reason, message, details, headers)
