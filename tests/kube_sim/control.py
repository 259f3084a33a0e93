"""Plain-HTTP control API on a loopback port (tests drive the simulator here).

It is deliberately separate from the API port so that faults, stop/start and
token revocation on the API side never lock the tests out of the controls.
"""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from auth import Identity

log = logging.getLogger("kube-sim.control")


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, sim):
        self.sim = sim  # the Simulator object (kube_sim.py) owning everything
        super().__init__(addr, ControlHandler)


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log.debug("control %s", fmt % args)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _reply(self, code, obj):
        data = json.dumps(obj, indent=None).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            return self._reply(400, {"error": f"bad JSON: {e}"})
        path = self.path.split("?")[0].rstrip("/")
        sim = self.server.sim
        try:
            result = self._route(sim, method, path, body)
        except (ValueError, TypeError, KeyError) as e:
            return self._reply(400, {"error": str(e)})
        if result is None:
            return self._reply(404, {"error": f"no control endpoint {method} {path}"})
        self._reply(200, result)

    def _route(self, sim, method, path, body):
        store = sim.store
        if (method, path) == ("GET", "/_sim/state"):
            with store.lock:
                return {"resourceVersion": store.rv, "compactedResourceVersion": store.compacted_rv,
                        "jobs": [store.objects["jobs"][k] for k in sorted(store.objects["jobs"])],
                        "pods": [store.objects["pods"][k] for k in sorted(store.objects["pods"])],
                        "namespaces": sorted(store.namespaces),
                        "watches": len(store.watchers),
                        "api_running": sim.api.running}
        if path == "/_sim/faults":
            if method == "POST":
                return {"added": sim.faults.add(body)}
            if method == "DELETE":
                sim.faults.clear()
                return {"cleared": True}
            if method == "GET":
                return {"faults": sim.faults.list()}
        if (method, path) == ("POST", "/_sim/close-watches"):
            with store.lock:
                n = len(store.watchers)
            store.close_all_watches("closed")
            return {"closed": n}
        if (method, path) == ("POST", "/_sim/compact"):
            store.compact()
            return {"compactedResourceVersion": store.compacted_rv}
        if (method, path) == ("POST", "/_sim/stop"):
            return {"stopped": sim.api.stop()}
        if (method, path) == ("POST", "/_sim/start"):
            return {"started": sim.api.start(), "port": sim.api.port}
        if (method, path) == ("POST", "/_sim/tokens"):
            token = body["token"]
            namespaces = body.get("namespaces")
            if namespaces is not None and not isinstance(namespaces, list):
                raise ValueError("namespaces must be a list or null")
            sim.authn.add_token(token, Identity(body.get("user") or f"token-user-{token[:6]}",
                                                namespaces, admin=bool(body.get("admin"))))
            return {"added": token}
        if method == "DELETE" and path.startswith("/_sim/tokens/"):
            token = path[len("/_sim/tokens/"):]
            return {"revoked": sim.authn.revoke_token(token)}
        if (method, path) == ("POST", "/_sim/rotate-sa-token"):
            return sim.rotate_sa_token(float(body.get("grace_seconds", 0)))
        if (method, path) == ("POST", "/_sim/namespaces"):
            with store.lock:
                store.namespaces.add(body["name"])
            return {"added": body["name"]}
        if path == "/_sim/audit":
            if method == "GET":
                return sim.audit.entries()
            if method == "DELETE":
                sim.audit.reset()
                return {"reset": True}
        if (method, path) == ("GET", "/_sim/stats"):
            stats = sim.ctx.stats.snapshot()
            with store.lock:
                stats["open_watches"] = len(store.watchers)
                stats["overflowed_watches"] = store.overflowed_watches
            return stats
        return None


def start_control(sim, host, port):
    server = ControlServer((host, port), sim)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     name="control", daemon=True).start()
    return server
