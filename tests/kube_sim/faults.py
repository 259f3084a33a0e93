"""Fault injection for the API port.

Faults are consumed in the order they were added.  Each matching request
takes one unit of `count` from the first matching fault of each kind: latency
faults delay the request and let it continue (so they combine with an error
or drop fault), while status/drop faults end it.
"""

import threading

import statuses

VERBS = {"get", "list", "watch", "create", "update", "patch", "delete",
         "deletecollection"}


class Fault:
    def __init__(self, spec):
        self.status = spec.get("status")
        self.retry_after = spec.get("retry_after")
        self.message = spec.get("message")
        self.latency_ms = spec.get("latency_ms")
        self.drop = bool(spec.get("drop"))
        self.count = spec.get("count")  # None = until cleared
        self.verb = spec.get("verb")
        self.resource = spec.get("resource")
        if self.status is None and self.latency_ms is None and not self.drop:
            raise ValueError("fault needs one of status, latency_ms, drop")
        if self.status is not None:
            self.status = int(self.status)
        if self.verb is not None and self.verb not in VERBS:
            raise ValueError(f"unknown verb {self.verb!r}")
        if self.count is not None:
            self.count = int(self.count)
            if self.count <= 0:
                raise ValueError("count must be positive")

    def matches(self, verb, resource):
        if self.verb and self.verb != verb:
            return False
        # A fault scoped to a resource never hits /version, /healthz, etc.
        if self.resource and self.resource != resource:
            return False
        return True

    def describe(self):
        return {k: v for k, v in vars(self).items() if v not in (None, False)}


class FaultInjector:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []

    def add(self, spec):
        f = Fault(spec)
        with self.lock:
            self.faults.append(f)
        return f.describe()

    def clear(self):
        with self.lock:
            self.faults.clear()

    def list(self):
        with self.lock:
            return [f.describe() for f in self.faults]

    def take(self, verb, resource):
        """Return (latency_seconds, action) where action is None, "drop" or ApiError."""
        latency, action = 0.0, None
        with self.lock:
            for f in list(self.faults):
                if not f.matches(verb, resource):
                    continue
                is_latency = f.latency_ms is not None and f.status is None and not f.drop
                if is_latency:
                    if latency:
                        continue
                    latency = f.latency_ms / 1000.0
                elif action is None:
                    if f.latency_ms:
                        latency = max(latency, f.latency_ms / 1000.0)
                    action = "drop" if f.drop else statuses.generic(
                        f.status, f.message, f.retry_after)
                else:
                    continue
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        self.faults.remove(f)
        return latency, action
