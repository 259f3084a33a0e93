"""Shared fixtures for the integration suites: generated gRPC stubs, the Kubernetes API
simulator, and the real jobscheduler binary started with a chosen environment."""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("JOBSCHEDULER_BUILD_DIR", ROOT / "build-asan"))
BIN = os.environ.get("JOBSCHEDULER_BIN", str(BUILD_DIR / "src" / "jobscheduler"))
PY = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=30.0, interval=0.05, what="condition"):
    """Polls |pred| until it returns a truthy value; fails the test with |what| on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the thing waited for may not be up yet
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


# ---------------------------------------------------------------- generated stubs

def generate_stubs(out: Path) -> Path:
    """Generates Python stubs for jobscheduler.proto and the health service. The health proto
    is copied to health_v1/health.proto first: generated under its real path it would become a
    Python package named "grpc" that shadows grpcio itself."""
    out.mkdir(parents=True, exist_ok=True)
    src = out / "src"
    (src / "health_v1").mkdir(parents=True, exist_ok=True)
    (src / "health_v1" / "health.proto").write_text(
        (ROOT / "proto" / "grpc" / "health" / "v1" / "health.proto").read_text())
    subprocess.run(["protoc", "-I", str(ROOT / "proto"), "-I", str(src), "-I", "/usr/include",
                    "--python_out=%s" % out, "--grpc_out=%s" % out,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    "jobscheduler.proto", "health_v1/health.proto"], check=True)
    (out / "health_v1" / "__init__.py").touch()
    return out


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """jobscheduler_pb2 / _grpc and the health stubs, generated with protoc and
    grpc_python_plugin exactly as a user of the API would generate them."""
    import importlib
    out = generate_stubs(tmp_path_factory.mktemp("stubs"))
    sys.path.insert(0, str(out))

    class Stubs:
        pb = importlib.import_module("jobscheduler_pb2")
        rpc = importlib.import_module("jobscheduler_pb2_grpc")
        health_pb = importlib.import_module("health_v1.health_pb2")
        health_rpc = importlib.import_module("health_v1.health_pb2_grpc")
    return Stubs


# ---------------------------------------------------------------- Kubernetes API simulator

class KubeSim:
    def __init__(self, state_dir: Path, time_factor: float = 0.01, extra_args=()):
        self.state_dir = state_dir
        self.log = open(state_dir / "kube_sim.log", "w")
        self.proc = subprocess.Popen(
            [PY, str(ROOT / "tests" / "kube_sim" / "kube_sim.py"), "--state-dir", str(state_dir),
             "--port", "0", "--control-port", "0", "--time-factor", str(time_factor),
             *extra_args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("kube_sim did not start: %s" % (state_dir / "kube_sim.log").read_text())
        info = json.loads(line)
        self.port = info["port"]
        self.control_port = info["control_port"]
        self.admin_token = info["admin_token"]
        self.token = info["token"]
        self.kubeconfig = state_dir / "kubeconfig"
        self.ctx = ssl.create_default_context(cafile=str(state_dir / "ca.crt"))

    def control(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control_port, path),
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def api(self, method: str, path: str, body=None, token=None, content_type="application/json"):
        """Calls the simulated API server; returns (status, parsed JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     method=method,
                                     headers={"Authorization": "Bearer %s" % (token or self.admin_token),
                                              "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ctx) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def state(self):
        return self.control("GET", "/_sim/state")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _start_sim(d: Path, **kw) -> KubeSim:
    d.mkdir(parents=True, exist_ok=True)
    return KubeSim(d, **kw)


@pytest.fixture
def sim_factory(tmp_path):
    """Starts simulators on demand: sim_factory(time_factor=0.01)."""
    started = []

    def start(**kw):
        sim = _start_sim(tmp_path / ("s%d" % len(started)), **kw)
        started.append(sim)
        return sim
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def sim(sim_factory):
    return sim_factory()


# ---------------------------------------------------------------- the service under test

class Service:
    """The real binary, started with IN_CLUSTER=false against a kubeconfig (or any env)."""

    def __init__(self, env: dict, tmp_path: Path, name: str = "svc"):
        self.grpc_port = int(env.get("GRPC_PORT") or free_port())
        self.http_port = int(env.get("HTTP_PORT") or free_port())
        full = {k: v for k, v in os.environ.items() if not k.startswith(("GRPC_", "K8S_", "KUBE"))}
        full.update({"GRPC_PORT": str(self.grpc_port), "HTTP_PORT": str(self.http_port),
                     "LOG_LEVEL": "debug", "SHUTDOWN_GRACE_SECONDS": "5"})
        full.update({k: str(v) for k, v in env.items() if v is not None})
        for k in [k for k, v in env.items() if v is None]:
            full.pop(k, None)
        self.log_path = tmp_path / ("%s.log" % name)
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN], env=full, stdout=subprocess.DEVNULL,
                                     stderr=self.log_file)

    @property
    def target(self) -> str:
        return "127.0.0.1:%d" % self.grpc_port

    def logs(self) -> str:
        if not self.log_file.closed:  # stop() closes it; the logs stay readable after
            self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def http(self, path: str, method: str = "GET"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path), method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=60.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("service exited %s:\n%s" % (self.proc.returncode, self.logs()))
            return self.http("/readyz")[0] == 200
        wait_for(ready, timeout, what="readiness of the service\n" + self.logs()[-3000:])
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("service did not exit after %s:\n%s" % (sig, self.logs()[-3000:]))
        self.log_file.close()
        return self.proc.returncode


@pytest.fixture
def service_factory(tmp_path):
    """Starts the real binary: service_factory(sim, **env) -> Service (not yet ready).
    Every service still running at the end of the test is stopped and must exit 0 with no
    sanitizer report."""
    started = []

    def start(sim=None, name=None, **env):
        if sim is not None:
            env.setdefault("IN_CLUSTER", "false")
            env.setdefault("KUBECONFIG", str(sim.kubeconfig))
        svc = Service(env, tmp_path, name or "svc%d" % len(started))
        started.append(svc)
        return svc
    yield start
    for svc in started:
        if svc.proc.poll() is None:
            rc = svc.stop()
            logs = svc.logs()
            assert rc == 0, "service exited %d at teardown:\n%s" % (rc, logs[-4000:])
        assert "ERROR: AddressSanitizer" not in svc.logs(), svc.logs()[-4000:]
        assert "ERROR: LeakSanitizer" not in svc.logs(), svc.logs()[-4000:]
        assert "runtime error:" not in svc.logs(), svc.logs()[-4000:]


@pytest.fixture
def service(sim, service_factory):
    """A ready service against a fresh simulator."""
    return service_factory(sim).wait_ready()
