"""Helpers for the Kubernetes client suites: a kube-sim process, and the k8s_harness binary
(tests/k8s_harness) driven over its line protocol."""

import json
import os
import queue
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "tests", "kube_sim", "kube_sim.py")
MANAGED = {"app.kubernetes.io/managed-by": "jobscheduler"}


def harness_path():
    build = os.environ.get("JOBSCHEDULER_BUILD_DIR")
    if not build:
        raise RuntimeError("JOBSCHEDULER_BUILD_DIR is not set")
    return os.path.join(build, "src", "k8s", "k8s_harness")


def wait_for(pred, timeout=30.0, interval=0.05, what="condition"):
    """Polls |pred| until it returns a truthy value; fails with |what| after |timeout|."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Sim:
    """A kube-sim process with its control API."""

    def __init__(self, state_dir, *extra, time_factor=0.01):
        self.state_dir = str(state_dir)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", SIM, "--state-dir", self.state_dir, "--port", "0",
             "--control-port", "0", "--time-factor", str(time_factor), "--log-level", "WARNING",
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("kube-sim did not start")
        info = json.loads(line)
        self.port = info["port"]
        self.control_port = info["control_port"]
        self.admin_token = info["admin_token"]
        self.token = info["token"]

    def path(self, name):
        return os.path.join(self.state_dir, name)

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
        return json.loads(text) if text else None

    def state(self):
        return self.control("GET", "/_sim/state")

    def fault(self, **f):
        return self.control("POST", "/_sim/faults", f)

    def clear_faults(self):
        return self.control("DELETE", "/_sim/faults")

    def stats(self):
        return self.control("GET", "/_sim/stats")

    def jobs(self, managed_only=True):
        out = {}
        for j in self.state()["jobs"]:
            md = j["metadata"]
            if managed_only and (md.get("labels") or {}).get(
                    "app.kubernetes.io/managed-by") != "jobscheduler":
                continue
            out[(md["namespace"], md["name"])] = md["resourceVersion"]
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def job(name, duration=3600, labels=None, image="registry.local/timer:1"):
    """A batch/v1 Job whose pod runs |duration| simulated seconds."""
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": dict(MANAGED if labels is None else labels)},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": image,
                            "env": [{"name": "TIMER_DURATION_SECONDS",
                                     "value": str(duration)}]}]}}},
    }


class Harness:
    """The k8s_harness process: commands go in on stdin, replies and events come back."""

    def __init__(self, env, events=False):
        full = dict(os.environ)
        full.update({"LOG_LEVEL": "warn", "LOG_FORMAT": "json"})
        if events:
            full["HARNESS_EVENTS"] = "1"
        full.update(env)
        self.proc = subprocess.Popen([harness_path()], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=full)
        self.replies = {}
        self.events = []
        self.lock = threading.Condition()
        self.next_id = 0
        self.stderr_lines = []
        self.first = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.hello = self.first.get(timeout=30)

    def _read(self):
        first = True
        for line in self.proc.stdout:
            msg = json.loads(line)
            if first:
                self.first.put(msg)
                first = False
                continue
            with self.lock:
                if "event" in msg:
                    self.events.append(msg)
                elif "id" in msg:
                    self.replies[msg["id"]] = msg
                self.lock.notify_all()
        if first:
            self.first.put({"fatal": "exited", "message": "harness exited before ready"})

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def send(self, *words):
        self.next_id += 1
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        return self.next_id

    def wait(self, rid, timeout=60):
        with self.lock:
            ok = self.lock.wait_for(lambda: rid in self.replies, timeout)
            assert ok, f"no reply to command {rid}; stderr: {''.join(self.stderr_lines[-20:])}"
            return self.replies.pop(rid)

    def call(self, *words, timeout=60):
        return self.wait(self.send(*words), timeout)

    def create(self, ns, obj, det=False):
        return self.call("create-det" if det else "create", ns, json.dumps(obj))

    def dump(self):
        return self.call("dump")

    def cache(self):
        return {(j["namespace"], j["name"]): j["rv"] for j in self.dump()["jobs"]}

    def synced(self):
        return self.call("synced")["synced"]

    def metrics(self):
        return self.call("metrics")["text"]

    def close(self):
        """Quits and returns the exit status (0 means a clean close with no leaks)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc


def metric_value(text, name, **labels):
    """Sums the samples of |name| whose labels include |labels|."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head != name and not head.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
            found = True
    return total if found else None


def admin_api(sim, method, path, body=None):
    """Calls the simulated API server as the admin identity (not through our client), so a
    change reaches the cache only through the watch or a relist. Returns (code, object)."""
    import ssl
    import urllib.error
    ctx = ssl.create_default_context(cafile=sim.path("ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"https://127.0.0.1:{sim.port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {sim.admin_token}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def kubeconfig_env(path):
    return {"IN_CLUSTER": "false", "KUBECONFIG": str(path)}


def write_kubeconfig(path, port, ca_file, user_yaml, namespace="default"):
    """A kubeconfig for the simulator with a custom user stanza (indented 4 spaces)."""
    with open(path, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: {ca_file}
users:
- name: u
  user:
{user_yaml}
contexts:
- name: c
  context:
    cluster: sim
    user: u
    namespace: {namespace}
current-context: c
""")
    return path
