"""The service foundation (issue 2) against the real binary: configuration errors, --help,
version output, structured logs, the ops HTTP endpoints and graceful shutdown."""
import datetime
import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, wait_for
from foundation_util import RawConn, run_bin, sanitizer_report

VERSION_KEYS = ["version", "git_commit", "build_date", "compiler", "libuv", "nghttp2", "mbedtls",
                "jansson", "protobuf_c", "llhttp"]
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LEVELS = {"trace", "debug", "info", "warn", "error"}


# ---------------------------------------------------------------- configuration errors

CONFIG_ERRORS = [
    # (variable, value, what the line must say is allowed)
    ("GRPC_PORT", "abc", "must be a TCP port number from 1 to 65535"),
    ("GRPC_PORT", "70000", "must be a TCP port number from 1 to 65535"),
    ("HTTP_PORT", "0", "must be a TCP port number from 1 to 65535"),
    ("LOG_LEVEL", "loud", "must be one of trace, debug, info, warn, error"),
    ("LOG_FORMAT", "xml", "must be json or text"),
    ("DEFAULT_CPU_REQUEST", "ten", "must be a Kubernetes quantity"),
    ("DEFAULT_MEMORY_REQUEST", "64mb", "must be a Kubernetes quantity"),
    ("IN_CLUSTER", "maybe", "must be true or false"),
    ("SHUTDOWN_GRACE_SECONDS", "-1", "must be an integer from 0 to 3600"),
    ("K8S_NAMESPACE", "Not_A_Label", "must be a DNS-1123 label"),
]


@pytest.mark.parametrize("name,value,allowed", CONFIG_ERRORS,
                         ids=["%s=%s" % (n, v) for n, v, _ in CONFIG_ERRORS])
def test_config_error_exits_2_with_one_line(name, value, allowed):
    p = run_bin(env={name: value})
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert p.stderr.endswith("\n")
    rec = json.loads(lines[0])
    assert rec["level"] == "error"
    assert rec["component"] == "config"
    assert TS_RE.match(rec["ts"]), rec
    # Names the variable, quotes the value, says what is allowed.
    assert rec["msg"].startswith('invalid %s="%s": ' % (name, value)), rec["msg"]
    assert allowed in rec["msg"], rec["msg"]


def test_config_error_value_cannot_break_the_line():
    p = run_bin(env={"LOG_LEVEL": 'lo"ud\n{"level":"info"}'})
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    rec = json.loads(lines[0])
    assert rec["msg"].startswith('invalid LOG_LEVEL="lo"ud\n{"level":"info"}": ')


def test_unknown_argument_exits_2():
    p = run_bin(["--bogus"])
    assert p.returncode == 2
    assert '"--bogus"' in p.stderr


# ---------------------------------------------------------------- --help

def test_help_lists_every_variable_with_default():
    names = run_bin(["--config-names"])
    assert names.returncode == 0
    names = names.stdout.split()
    assert len(names) == len(set(names))
    for seed in ["GRPC_PORT", "HTTP_PORT", "K8S_NAMESPACE", "IN_CLUSTER", "KUBECONFIG",
                 "K8S_SERVICEACCOUNT_DIR", "LOG_LEVEL", "LOG_FORMAT", "TIMER_IMAGE",
                 "DEFAULT_CPU_REQUEST", "DEFAULT_MEMORY_REQUEST", "SHUTDOWN_GRACE_SECONDS"]:
        assert seed in names
    h = run_bin(["--help"])
    assert h.returncode == 0
    defaults = {}
    for line in h.stdout.splitlines():
        m = re.match(r"^  ([A-Z0-9_]+) .* default: (.*)$", line)
        if m:
            defaults[m.group(1)] = m.group(2)
    assert sorted(defaults) == sorted(names), set(defaults) ^ set(names)
    expected = {"GRPC_PORT": "50054", "HTTP_PORT": "8080", "K8S_NAMESPACE": "default",
                "IN_CLUSTER": "true", "LOG_LEVEL": "info", "LOG_FORMAT": "json",
                "TIMER_IMAGE": "timer-service:latest", "DEFAULT_CPU_REQUEST": "100m",
                "DEFAULT_MEMORY_REQUEST": "64Mi",
                "K8S_SERVICEACCOUNT_DIR": "/var/run/secrets/kubernetes.io/serviceaccount"}
    for k, v in expected.items():
        assert defaults[k] == v, (k, defaults[k])
    assert re.fullmatch(r"\d+", defaults["SHUTDOWN_GRACE_SECONDS"])


# ---------------------------------------------------------------- version

def pkg_version(name: str) -> str:
    return subprocess.run(["pkg-config", "--modversion", name], capture_output=True, text=True,
                          check=True).stdout.strip()


def header_define(path: str, pattern: str) -> str:
    m = re.search(pattern, Path(path).read_text())
    assert m, (path, pattern)
    return m.group(1)


def version_full() -> dict:
    p = run_bin(["version-full"])
    assert p.returncode == 0, p.stderr
    facts = {}
    for line in p.stdout.splitlines():
        key, value = line.split(None, 1)
        facts[key] = value.strip()
    return facts


def test_version_short():
    p = run_bin(["version"])
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and lines[0] and " " not in lines[0], p.stdout
    assert lines[0] == version_full()["version"]


def test_version_full_fields():
    facts = version_full()
    assert list(facts) == VERSION_KEYS
    commit = facts["git_commit"]
    m = re.fullmatch(r"([0-9a-f]{7,40})(-dirty)?", commit)
    assert m, commit
    # The commit is one of this repository's.
    subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", m.group(1) + "^{commit}"], check=True)
    built = datetime.datetime.strptime(facts["build_date"], "%Y-%m-%dT%H:%M:%SZ")
    assert built <= datetime.datetime.utcnow() + datetime.timedelta(minutes=1)
    assert re.match(r"^(gcc|clang) \S*\d+\.\d+", facts["compiler"]), facts["compiler"]
    assert facts["libuv"] == pkg_version("libuv")
    assert facts["nghttp2"] == pkg_version("libnghttp2")
    assert facts["jansson"] == pkg_version("jansson")
    assert facts["protobuf_c"] == pkg_version("libprotobuf-c")
    mbed = "/usr/include/mbedtls/build_info.h"
    if not Path(mbed).exists():
        mbed = "/usr/include/mbedtls/version.h"
    assert facts["mbedtls"] == header_define(mbed, r'#define MBEDTLS_VERSION_STRING\s+"([^"]+)"')
    llhttp_h = "/usr/share/include/llhttp/llhttp.h"
    assert facts["llhttp"] == ".".join(
        header_define(llhttp_h, r"#define LLHTTP_VERSION_%s (\d+)" % part)
        for part in ("MAJOR", "MINOR", "PATCH"))


# ---------------------------------------------------------------- a running service

def test_json_log_lines(service):
    service.http("/healthz")
    svc_logs = service.logs().splitlines()
    assert svc_logs
    for line in svc_logs:
        pairs = json.loads(line, object_pairs_hook=list)
        keys = [k for k, _ in pairs]
        assert keys[:4] == ["ts", "level", "msg", "component"], line
        rec = dict(pairs)
        assert TS_RE.match(rec["ts"]), line
        assert rec["level"] in LEVELS, line
        assert isinstance(rec["msg"], str) and rec["msg"], line
        assert isinstance(rec["component"], str) and rec["component"], line
    started = [r for r in service.log_records() if r["msg"] == "jobscheduler started"]
    assert len(started) == 1
    assert started[0]["http_port"] == service.http_port
    assert started[0]["grpc_port"] == service.grpc_port


def test_log_level_filters(sim, service_factory):
    svc = service_factory(sim, LOG_LEVEL="warn").wait_ready()
    assert svc.stop() == 0
    levels = {r["level"] for r in svc.log_records()}
    assert levels <= {"warn", "error"}, levels
    assert "jobscheduler started" not in svc.logs()


def test_text_log_format(sim, service_factory):
    svc = service_factory(sim, LOG_FORMAT="text").wait_ready()
    assert svc.stop() == 0
    lines = svc.logs().splitlines()
    assert lines
    text_re = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z "
                         r"(trace|debug|info |warn |error) \[[^\]]+\] \S")
    for line in lines:
        assert text_re.match(line), line
    assert any("jobscheduler started" in line and "http_port=%d" % svc.http_port in line
               for line in lines)


def test_healthz_readyz_version(service):
    status, body = service.http("/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = service.http("/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    status, body = service.http("/version")
    assert status == 200
    assert json.loads(body) == version_full()
    status, body = service.http("/healthz?verbose=1")
    assert status == 200


def test_metrics_pass_promtool(service):
    conn = RawConn(service.http_port)
    r = conn.request("GET", "/metrics")
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = r.body.decode()
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples["process_resident_memory_bytes"] > 0
    assert samples["process_cpu_seconds_total"] > 0
    assert samples["process_open_fds"] >= 3
    assert abs(samples["process_start_time_seconds"] - time.time()) < 24 * 3600
    # The ops server counts itself: this scrape is the first /metrics request.
    assert samples['jobscheduler_http_requests_total{path="/metrics"}'] == 1
    # A second scrape on the same keep-alive connection sees its own count.
    r = conn.request("GET", "/metrics")
    assert 'jobscheduler_http_requests_total{path="/metrics"} 2\n' in r.body.decode()
    conn.close()


def test_head_and_errors(service):
    conn = RawConn(service.http_port)
    get = conn.request("GET", "/version")
    head = conn.request("HEAD", "/version")
    assert head.status == 200
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.body == b""
    # No body bytes followed the HEAD response: the next response parses cleanly.
    r = conn.request("GET", "/does-not-exist")
    assert r.status == 404
    r = conn.request("POST", "/healthz", "Content-Length: 0\r\n")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"
    r = conn.request("DELETE", "/metrics")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"
    # Errors that do not break framing keep the connection open.
    assert conn.request("GET", "/healthz").status == 200
    conn.close()


@pytest.mark.parametrize("raw,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(1200)) + b"\r\n", 431),
    (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"POST /healthz HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413),
], ids=["garbage", "no-colon", "tls-hello", "big-header", "many-headers", "long-target",
        "big-body"])
def test_bad_request_answers_and_closes(service, raw, status):
    conn = RawConn(service.http_port)
    conn.send(raw)
    r = conn.read_response()
    assert r.status == status, r
    assert r.headers.get("connection") == "close"
    assert conn.at_eof()
    conn.close()
    assert service.http("/healthz")[0] == 200


def test_keep_alive_and_pipelining(service):
    conn = RawConn(service.http_port)
    for _ in range(5):
        r = conn.request("GET", "/healthz")
        assert r.status == 200
        assert "connection" not in r.headers
    # Three requests in one write come back in order.
    conn.send(b"GET /readyz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
              b"HEAD /healthz HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert conn.read_response().status == 200
    assert conn.read_response().status == 404
    assert conn.read_response(head=True).status == 200
    last = conn.read_response()
    assert json.loads(last.body)["version"]
    assert last.headers["connection"] == "close"
    assert conn.at_eof()
    conn.close()


def test_http10_closes(service):
    conn = RawConn(service.http_port)
    conn.send(b"GET /healthz HTTP/1.0\r\n\r\n")
    r = conn.read_response()
    assert r.status == 200
    assert conn.at_eof()
    conn.close()


def test_request_limit_per_connection(service):
    conn = RawConn(service.http_port)
    n = 0
    while True:
        r = conn.request("GET", "/healthz")
        assert r.status == 200
        n += 1
        if r.headers.get("connection") == "close":
            break
        assert n < 100000
    assert n == 1000
    assert conn.at_eof()
    conn.close()


def test_idle_and_slow_clients_are_closed(sim, service_factory):
    svc = service_factory(sim, HTTP_IDLE_TIMEOUT_SECONDS="1").wait_ready()
    idle = RawConn(svc.http_port)
    assert idle.request("GET", "/healthz").status == 200
    slow = RawConn(svc.http_port)
    slow.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    silent = RawConn(svc.http_port)  # never sends anything
    for c in (idle, slow, silent):
        assert c.at_eof()
        c.close()
    assert svc.http("/healthz")[0] == 200


# ---------------------------------------------------------------- readiness

def test_readyz_503_until_kubernetes_reachable(sim, service_factory):
    sim.stop()  # the kubeconfig now points at a port nobody listens on
    svc = service_factory(sim)
    wait_for(lambda: svc.http("/healthz")[0] == 200, what="healthz")
    status, body = svc.http("/readyz")
    assert status == 503
    doc = json.loads(body)
    assert doc["status"] == "not ready"
    assert isinstance(doc["reason"], str) and doc["reason"]
    assert svc.stop() == 0
    assert not sanitizer_report(svc.logs())


# ---------------------------------------------------------------- shutdown

def schedule_request(stubs, name):
    return stubs.pb.ScheduleJobRequest(
        name=name, namespace="default",
        timer_job=stubs.pb.TimerJob(duration_seconds=1, timer_name=name,
                                    control_plane_endpoint="http://control-plane:8080"))


def test_sigterm_during_traffic_drains_and_exits_0(sim, service_factory, stubs):
    import grpc
    svc = service_factory(sim).wait_ready()
    # Creates are slow, so the gRPC calls below are in flight when SIGTERM arrives.
    calls = 4
    sim.control("POST", "/_sim/faults", {"latency_ms": 2000, "verb": "create",
                                          "resource": "jobs", "count": calls})
    channel = grpc.insecure_channel(svc.target)
    stub = stubs.rpc.JobSchedulerStub(channel)
    futures = [stub.ScheduleJob.future(schedule_request(stubs, "drain-%d" % i), timeout=60)
               for i in range(calls)]
    # Every create has reached the API server (and sleeps there) once the fault is used up.
    wait_for(lambda: not sim.control("GET", "/_sim/faults")["faults"], what="creates in flight")

    seen = []
    stop = threading.Event()

    def http_load():
        while not stop.is_set():
            try:
                seen.append(svc.http("/readyz"))
            except OSError:
                seen.append(("refused", ""))
                time.sleep(0.01)

    t = threading.Thread(target=http_load)
    t.start()
    wait_for(lambda: len(seen) >= 3, what="HTTP traffic")
    svc.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: any(s == 503 for s, _ in seen[3:]), timeout=30,
             what="readiness 503 during the drain")
    rc = svc.proc.wait(60)
    stop.set()
    t.join()
    assert rc == 0, svc.logs()[-3000:]
    assert not sanitizer_report(svc.logs()), svc.logs()[-4000:]
    draining = [json.loads(b) for s, b in seen if s == 503]
    assert all(d == {"status": "not ready", "reason": "shutting down"} for d in draining)
    # After the first 503 the service never reported ready again.
    first = next(i for i, (s, _) in enumerate(seen) if s == 503)
    assert all(s != 200 for s, _ in seen[first:])
    # The in-flight calls were allowed to finish within the grace period.
    for f in futures:
        assert f.code() == grpc.StatusCode.OK, (f.code(), f.details())
    channel.close()


def test_second_signal_exits_at_once(sim, service_factory, stubs):
    import grpc
    svc = service_factory(sim, SHUTDOWN_GRACE_SECONDS="600").wait_ready()
    sim.control("POST", "/_sim/faults", {"latency_ms": 120000, "verb": "create",
                                          "resource": "jobs", "count": 1})
    channel = grpc.insecure_channel(svc.target)
    stub = stubs.rpc.JobSchedulerStub(channel)
    fut = stub.ScheduleJob.future(schedule_request(stubs, "stuck"), timeout=600)
    wait_for(lambda: not sim.control("GET", "/_sim/faults")["faults"], what="create in flight")
    svc.proc.send_signal(signal.SIGINT)
    wait_for(lambda: svc.http("/readyz")[0] == 503, what="drain started")
    assert svc.proc.poll() is None  # still draining the stuck call
    svc.proc.send_signal(signal.SIGINT)
    rc = svc.proc.wait(30)
    assert rc == 128 + signal.SIGINT
    assert "second signal" in svc.logs()
    fut.cancel()
    channel.close()
