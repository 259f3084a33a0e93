"""The HTTPS API listener: routing, request pipeline, list/watch/CRUD handlers.

Request pipeline (per request, one thread per connection, HTTP/1.1 keep-alive):
  route -> read body -> injected faults -> authenticate (401) -> authorize (403)
  -> handler -> audit + stats.
The body is always read first so a keep-alive connection stays in sync even
when we answer with an error.
"""

import copy
import json
import logging
import queue
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import statuses
import validation
from controller import delete_pod
from label_selectors import parse_field_selector, parse_label_selector
from statuses import ApiError

log = logging.getLogger("kube-sim.api")

VERSION_INFO = {
    "major": "1", "minor": "29", "gitVersion": "v1.29.0-kube-sim",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2023-12-13T08:51:44Z", "goVersion": "go1.21.5", "compiler": "gc",
    "platform": "linux/amd64",
}
PUBLIC_PATHS = ("/version", "/healthz", "/readyz", "/livez")
MAX_BODY = 3 * 1024 * 1024  # apiserver's default request size limit
JOB_DELETE_WARNING = ('299 - "child pods are preserved by default when jobs are deleted; '
                      'set propagationPolicy=Background to remove them or set '
                      'propagationPolicy=Orphan to suppress this warning"')
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


class Route:
    __slots__ = ("verb", "resource", "namespace", "name", "public", "discovery")

    def __init__(self, verb, resource=None, namespace=None, name=None, public=False,
                 discovery=None):
        self.verb, self.resource, self.namespace, self.name = verb, resource, namespace, name
        self.public, self.discovery = public, discovery

    @property
    def group(self):
        return statuses.RESOURCES[self.resource]["group"] if self.resource else ""


_RESOURCE_PREFIXES = {"pods": ("api", "v1"), "jobs": ("apis", "batch", "v1")}


def route_request(method, path, query):
    """Map (method, path) to a Route carrying the RBAC verb; 404/405 otherwise."""
    path = path.rstrip("/") or "/"
    if path in PUBLIC_PATHS or any(path.startswith(p + "/") for p in PUBLIC_PATHS[1:]):
        return Route("get", public=True, discovery=path)
    if path in ("/api", "/apis", "/api/v1", "/apis/batch", "/apis/batch/v1"):
        return Route("get", discovery=path)
    parts = path.strip("/").split("/")
    for resource, prefix in _RESOURCE_PREFIXES.items():
        n = len(prefix)
        if tuple(parts[:n]) != prefix:
            continue
        rest = parts[n:]
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] != resource or len(rest) > 2:
            continue
        name = rest[1] if len(rest) == 2 else None
        if name is not None and namespace is None:
            continue
        watch = query.get("watch", "") in ("true", "1")
        if name is None:
            verb = {"GET": "watch" if watch else "list", "POST": "create",
                    "DELETE": "deletecollection"}.get(method)
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete"}.get(method)
        if verb is None:
            raise statuses.method_not_allowed()
        return Route(verb, resource, namespace or "", name)
    raise statuses.path_not_found()


def _discovery(path):
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1:6443"}]}
    batch_version = {"groupVersion": "batch/v1", "version": "v1"}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "batch", "versions": [batch_version], "preferredVersion": batch_version}]}
    if path == "/apis/batch":
        return {"kind": "APIGroup", "apiVersion": "v1", "name": "batch",
                "versions": [batch_version], "preferredVersion": batch_version}
    verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
             "verbs": verbs, "shortNames": ["po"], "categories": ["all"]}]}
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "batch/v1",
            "resources": [{"name": "jobs", "singularName": "job", "namespaced": True,
                           "kind": "Job", "verbs": verbs, "categories": ["all"]}]}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.by_verb, self.by_code, self.by_resource = {}, {}, {}
        self.connections = 0

    def record(self, verb, resource, code):
        with self.lock:
            self.total += 1
            self.by_verb[verb] = self.by_verb.get(verb, 0) + 1
            self.by_code[str(code)] = self.by_code.get(str(code), 0) + 1
            key = resource or "nonresource"
            self.by_resource[key] = self.by_resource.get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            return {"total": self.total, "by_verb": dict(self.by_verb),
                    "by_code": dict(self.by_code), "by_resource": dict(self.by_resource),
                    "connections_accepted": self.connections}


class _TLSServer(ThreadingHTTPServer):
    """Threading HTTP server doing the TLS handshake in the connection thread.

    Wrapping in the accept loop would let one slow handshake stall every new
    connection.  Open connections are tracked so `stop` can cut them all.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, ssl_ctx, ctx):
        self.ssl_ctx = ssl_ctx
        self.ctx = ctx
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, ApiHandler)

    def finish_request(self, request, client_address):
        with self.ctx.stats.lock:
            self.ctx.stats.connections += 1
        with self.conns_lock:
            self.conns.add(request)
        try:
            request.settimeout(10)
            try:
                tls = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log.debug("TLS handshake failed from %s: %s", client_address, e)
                return
            with self.conns_lock:
                self.conns.discard(request)
                self.conns.add(tls)
            tls.settimeout(None)
            try:
                self.RequestHandlerClass(tls, client_address, self)
            finally:
                with self.conns_lock:
                    self.conns.discard(tls)
                try:
                    tls.close()
                except OSError:
                    pass
        finally:
            with self.conns_lock:
                self.conns.discard(request)

    def handle_error(self, request, client_address):
        log.debug("connection error from %s", client_address, exc_info=True)

    def cut_all_connections(self):
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ApiServer:
    """Owns the listener so the control API can stop and restart it."""

    def __init__(self, ctx, host, port, ssl_ctx):
        self.ctx, self.host, self.port, self.ssl_ctx = ctx, host, port, ssl_ctx
        self.server = None
        self.thread = None
        self.lock = threading.Lock()

    def start(self):
        with self.lock:
            if self.server:
                return False
            self.server = _TLSServer((self.host, self.port), self.ssl_ctx, self.ctx)
            self.port = self.server.server_address[1]  # resolves --port 0 once
            self.thread = threading.Thread(target=self.server.serve_forever,
                                           kwargs={"poll_interval": 0.1},
                                           name="api-accept", daemon=True)
            self.thread.start()
            return True

    def stop(self):
        with self.lock:
            if not self.server:
                return False
            server, self.server = self.server, None
            server.shutdown()
            server.server_close()
            self.ctx.store.close_all_watches("stopped")
            server.cut_all_connections()
            return True

    @property
    def running(self):
        return self.server is not None


class ApiContext:
    """Everything a request handler needs, shared by all connections."""

    def __init__(self, store, authn, audit, faults, controller, bookmark_interval):
        self.store, self.authn, self.audit = store, authn, audit
        self.faults, self.controller = faults, controller
        self.bookmark_interval = bookmark_interval
        self.stats = Stats()


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-sim"
    sys_version = ""

    def log_message(self, fmt, *args):
        log.debug("%s %s", self.client_address[0], fmt % args)

    # --------------------------------------------------------------- methods

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # --------------------------------------------------------------- pipeline

    @property
    def ctx(self):
        return self.server.ctx

    def _dispatch(self, method):
        self.audit_id = str(uuid.uuid4())
        self.response_code = 0
        split = urlsplit(self.path)
        self.query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        route = Route(method.lower())
        identity = None
        try:
            body = self._read_body()
            route = route_request(method, split.path, self.query)
            latency, action = self.ctx.faults.take(route.verb, route.resource)
            if latency:
                time.sleep(latency)
            if action == "drop":
                self._drop()
                return
            if action is not None:
                raise action
            identity = self.ctx.authn.authenticate(self.headers.get("Authorization"),
                                                   self.connection.getpeercert())
            if identity is None and not route.public:
                raise statuses.unauthorized()
            if route.resource:
                self.ctx.authn.authorize(identity, route.verb, route.resource,
                                         route.namespace, route.name)
            self._handle(method, route, body)
        except ApiError as e:
            self._send_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError) as e:
            log.debug("client went away: %s", e)
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug must become a 500, not a hang
            log.exception("unhandled error for %s %s", method, self.path)
            self._send_status(ApiError(500, "InternalError",
                                       f"Internal error occurred: {e}",
                                       {"causes": [{"message": str(e)}]}))
        finally:
            self.ctx.audit.record(identity, route.verb, route.group, route.resource,
                                  route.namespace, route.name, self.path, self.response_code)
            self.ctx.stats.record(route.verb, route.resource, self.response_code)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, "RequestEntityTooLarge", "Request entity too large")
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {MAX_BODY}")
        return self.rfile.read(length) if length else b""

    def _drop(self):
        """Injected fault: close the TCP connection without any response."""
        self.response_code = "dropped"
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --------------------------------------------------------------- responses

    def _start(self, code, headers):
        self.response_code = code
        self.send_response_only(code)
        self.send_header("Date", self.date_time_string())
        self.send_header("Audit-Id", self.audit_id)
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send_json(self, code, obj, headers=None):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        h = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        h.update(headers or {})
        self._start(code, h)
        self.wfile.write(data)
        self.wfile.flush()

    def _send_text(self, code, text):
        data = text.encode()
        self._start(code, {"Content-Type": "text/plain; charset=utf-8",
                           "X-Content-Type-Options": "nosniff",
                           "Content-Length": str(len(data))})
        self.wfile.write(data)
        self.wfile.flush()

    def _send_status(self, err):
        try:
            self._send_json(err.code, err.body(), err.headers)
        except OSError:
            self.close_connection = True

    # --------------------------------------------------------------- handlers

    def _handle(self, method, route, body):
        if route.discovery:
            if method != "GET":
                raise statuses.method_not_allowed()
            if route.discovery == "/version":
                return self._send_json(200, VERSION_INFO)
            if route.public:
                return self._send_text(200, "ok")
            return self._send_json(200, _discovery(route.discovery))
        handler = getattr(self, f"_{route.verb}_{route.resource}", None) or \
            getattr(self, f"_{route.verb}", None)
        if handler is None:
            raise statuses.method_not_allowed()
        if route.verb == "create" and route.namespace not in self.ctx.store.namespaces:
            raise statuses.namespace_not_found(route.namespace)
        handler(route, body)

    def _get(self, route, _body):
        obj = self.ctx.store.get(route.resource, route.namespace, route.name)
        if obj is None:
            raise statuses.not_found(route.resource, route.name)
        self._send_json(200, obj)

    def _selectors(self, route):
        return (parse_label_selector(self.query.get("labelSelector", "")),
                parse_field_selector(route.resource, self.query.get("fieldSelector", "")))

    def _int_param(self, name, default=0):
        raw = self.query.get(name, "")
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise statuses.bad_request(
                f'invalid value for {name}: "{raw}": strconv.ParseInt: parsing '
                f'"{raw}": invalid syntax') from None

    def _list(self, route, _body):
        label_sel, field_sel = self._selectors(route)
        limit = max(self._int_param("limit"), 0)
        rv, items, cont, remaining = self.ctx.store.list(
            route.resource, route.namespace, label_sel, field_sel, limit=limit,
            cont=self.query.get("continue") or None,
            rv_param=self.query.get("resourceVersion", ""),
            rv_match=self.query.get("resourceVersionMatch", ""))
        info = statuses.RESOURCES[route.resource]
        meta = {"resourceVersion": str(rv)}
        if cont:
            meta["continue"] = cont
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        # List items carry no kind/apiVersion on the wire (the list has them).
        stripped = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                    for o in items]
        api_version = "batch/v1" if info["group"] else "v1"
        self._send_json(200, {"kind": info["list_kind"], "apiVersion": api_version,
                              "metadata": meta, "items": stripped})

    # ------------------------------------------------------------ watch

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _write_event(self, type_, obj):
        self._write_chunk(json.dumps({"type": type_, "object": obj},
                                     separators=(",", ":")).encode() + b"\n")

    def _bookmark(self, route, rv, initial_end=False):
        info = statuses.RESOURCES[route.resource]
        md = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        api_version = "batch/v1" if info["group"] else "v1"
        return {"kind": info["kind"], "apiVersion": api_version, "metadata": md}

    def _watch(self, route, _body):
        label_sel, field_sel = self._selectors(route)
        timeout = self._int_param("timeoutSeconds", 0)
        if timeout <= 0:
            timeout = 1800 + (hash(self.audit_id) % 1800)  # apiserver: random 30-60 min
        bookmarks = self.query.get("allowWatchBookmarks", "") in ("true", "1")
        send_initial = self.query.get("sendInitialEvents", "") in ("true", "1")
        rv_param = self.query.get("resourceVersion", "")
        if send_initial:
            rv_param = ""  # initial events + bookmark, then live
        store = self.ctx.store
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        try:
            watcher, initial, start_rv = store.start_watch(
                route.resource, route.namespace, label_sel, field_sel, rv_param)
        except ApiError as e:
            if e.code != 410:
                raise
            # The watch cache reports an expired RV as an ERROR event in a 200 stream.
            self._start(200, headers)
            self._write_event("ERROR", e.body())
            self._write_chunk(b"")
            return
        self._start(200, headers)
        deadline = time.monotonic() + timeout
        interval = self.ctx.bookmark_interval
        next_bookmark = time.monotonic() + interval
        try:
            for type_, obj in initial:
                self._write_event(type_, obj)
            if send_initial and bookmarks:
                self._write_event("BOOKMARK", self._bookmark(route, start_rv, True))
            while not watcher.closed:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline - now, 0.25)
                if bookmarks:
                    wait = min(wait, max(next_bookmark - now, 0.0))
                try:
                    item = watcher.queue.get(timeout=wait)
                except queue.Empty:
                    item = None
                if watcher.closed:
                    break
                if item is not None:
                    self._write_event(*item)
                if bookmarks and time.monotonic() >= next_bookmark:
                    rv = store.bookmark_rv(watcher)
                    if rv is not None:  # else events are pending: retry shortly
                        self._write_event("BOOKMARK", self._bookmark(route, rv))
                        next_bookmark = time.monotonic() + interval
            if watcher.close_reason != "stopped":
                self._write_chunk(b"")  # clean end of stream, connection reusable
            else:
                self.close_connection = True
        except OSError:
            self.close_connection = True
        finally:
            store.stop_watch(watcher)

    # ------------------------------------------------------------ writes

    def _json_body(self, body):
        try:
            obj = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise statuses.bad_request(
                f"couldn't get version/kind; json parse error: {e}") from None
        if not isinstance(obj, dict):
            raise statuses.bad_request(
                "couldn't get version/kind; json parse error: json: cannot unmarshal "
                f"{type(obj).__name__} into Go value of type struct {{ APIVersion string "
                '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }')
        return obj

    def _create_jobs(self, route, body):
        obj = self._json_body(body)
        if obj.get("kind") not in (None, "Job") or \
                obj.get("apiVersion") not in (None, "batch/v1"):
            raise statuses.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                f"expected API version (batch/v1)"
                if obj.get("kind") in (None, "Job") else
                f'Job in version "v1" cannot be handled as a Job: no kind "{obj.get("kind")}" '
                f'is registered for version "{obj.get("apiVersion")}"')
        job = validation.prepare_job_for_create(obj, route.namespace, self.ctx.store)
        created = self.ctx.store.create("jobs", job)
        self._send_json(201, created)

    def _patch_jobs(self, route, body):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in MERGE_PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted "
                           f"media types include: {', '.join(MERGE_PATCH_TYPES)} "
                           f"(kube-sim does not implement {ctype or 'this type'})")
        patch = self._json_body(body)
        store = self.ctx.store
        with store.lock:
            old = store.get("jobs", route.namespace, route.name)
            if old is None:
                raise statuses.not_found("jobs", route.name)
            new = validation.merge_patch(old, patch)
            self._apply_update(route, old, new)

    def _update_jobs(self, route, body):
        new = self._json_body(body)
        store = self.ctx.store
        with store.lock:
            old = store.get("jobs", route.namespace, route.name)
            if old is None:
                raise statuses.not_found("jobs", route.name)
            self._apply_update(route, old, new)

    def _apply_update(self, route, old, new):
        new = validation.prepare_job_for_update(old, new, route.name)
        if new == old:
            return self._send_json(200, old)  # no-op writes do not bump the RV
        self._send_json(200, self.ctx.store.update("jobs", new))

    def _delete_options(self):
        opts = {}
        try:
            raw = self.query.get("propagationPolicy")
            if raw:
                opts["propagationPolicy"] = raw
            if self.query.get("gracePeriodSeconds", "") != "":
                opts["gracePeriodSeconds"] = int(self.query["gracePeriodSeconds"])
            if self.query.get("orphanDependents", "") != "":
                opts["orphanDependents"] = self.query["orphanDependents"] == "true"
        except ValueError:
            raise statuses.bad_request("invalid gracePeriodSeconds") from None
        return opts

    def _delete_body(self, body):
        opts = self._delete_options()
        if body and body.strip():
            data = self._json_body(body)
            for k in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents",
                      "preconditions"):
                if data.get(k) is not None:
                    opts[k] = data[k]
        policy = opts.get("propagationPolicy")
        if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
            raise ApiError(422, "Invalid",
                           f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                           f'Unsupported value: "{policy}": supported values: '
                           f'"Foreground", "Background", "Orphan"',
                           {"kind": "DeleteOptions", "group": "meta.k8s.io",
                            "causes": [{"reason": "FieldValueNotSupported",
                                        "field": "propagationPolicy",
                                        "message": f'Unsupported value: "{policy}": supported '
                                                   'values: "Foreground", "Background", '
                                                   '"Orphan"'}]})
        if policy is None and "orphanDependents" in opts:
            policy = "Orphan" if opts["orphanDependents"] else "Background"
        opts["policy"] = policy
        return opts

    @staticmethod
    def _check_preconditions(resource, obj, opts):
        pre = opts.get("preconditions") or {}
        md = obj["metadata"]
        if pre.get("uid") and pre["uid"] != md["uid"]:
            raise statuses.conflict(resource, md["name"],
                                    f"Precondition failed: UID in precondition: {pre['uid']}, "
                                    f"UID in object meta: {md['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != md["resourceVersion"]:
            raise statuses.conflict(
                resource, md["name"],
                f"Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{md['resourceVersion']}")

    def _delete_one_job(self, job, opts):
        """Returns (status code, body, warning) for deleting one job."""
        store = self.ctx.store
        self._check_preconditions("jobs", job, opts)
        md = job["metadata"]
        policy = opts["policy"]
        warning = None
        if policy is None:
            # batch/v1 Jobs still default to orphaning their pods.
            policy, warning = "Orphan", JOB_DELETE_WARNING
        if md.get("deletionTimestamp"):
            return job, warning
        if policy == "Background":
            store.delete("jobs", md["namespace"], md["name"])
            return statuses.success_status({"name": md["name"], "group": "batch",
                                            "kind": "jobs", "uid": md["uid"]}), warning
        new = copy.deepcopy(job)
        new["metadata"]["deletionTimestamp"] = validation.now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        fin = new["metadata"].setdefault("finalizers", [])
        marker = "foregroundDeletion" if policy == "Foreground" else "orphan"
        if marker not in fin:
            fin.append(marker)
        return store.update("jobs", new), warning

    def _delete_jobs(self, route, body):
        opts = self._delete_body(body)
        with self.ctx.store.lock:
            job = self.ctx.store.get("jobs", route.namespace, route.name)
            if job is None:
                raise statuses.not_found("jobs", route.name)
            result, warning = self._delete_one_job(job, opts)
        self._send_json(200, result, {"Warning": warning} if warning else None)

    def _delete_pods(self, route, body):
        opts = self._delete_body(body)
        with self.ctx.store.lock:
            pod = self.ctx.store.get("pods", route.namespace, route.name)
            if pod is None:
                raise statuses.not_found("pods", route.name)
            self._check_preconditions("pods", pod, opts)
            result = delete_pod(self.ctx.store, pod, opts.get("gracePeriodSeconds"))
        self._send_json(200, result)

    def _deletecollection(self, route, body):
        opts = self._delete_body(body)
        label_sel, field_sel = self._selectors(route)
        store = self.ctx.store
        deleted, warning = [], None
        with store.lock:
            _, items, _, _ = store.list(route.resource, route.namespace, label_sel, field_sel)
            for obj in items:
                if route.resource == "jobs":
                    res, warning = self._delete_one_job(obj, opts)
                    deleted.append(obj if res.get("kind") == "Status" else res)
                else:
                    deleted.append(delete_pod(store, obj, opts.get("gracePeriodSeconds")))
            rv = store.rv
        info = statuses.RESOURCES[route.resource]
        self._send_json(200, {"kind": info["list_kind"],
                              "apiVersion": "batch/v1" if info["group"] else "v1",
                              "metadata": {"resourceVersion": str(rv)},
                              "items": deleted},
                        {"Warning": warning} if warning else None)


def make_ssl_context(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs.server_crt, certs.server_key)
    ctx.load_verify_locations(certs.ca_crt)
    # Optional client certs: token users connect without one, cert users with.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
