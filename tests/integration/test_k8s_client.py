"""The Kubernetes client against kube-sim: every credential source, typed errors, retries
and timeouts. Driven through tests/k8s_harness (the client plus a jobs informer)."""

import json
import os
import stat
import subprocess

import pytest

from k8s_util import (Harness, Sim, admin_api, job, kubeconfig_env, metric_value, wait_for,
                      write_kubeconfig)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("sim"), "--namespace", "team-a")
    yield s
    s.stop()


@pytest.fixture
def harnesses():
    started = []

    def start(env, **kw):
        h = Harness(env, **kw)
        started.append(h)
        return h

    yield start
    for h in started:
        assert h.close() == 0, "".join(h.stderr_lines[-30:])


def token_harness(sim, harnesses, **env):
    e = kubeconfig_env(sim.path("kubeconfig"))
    e.update(env)
    return harnesses(e)


def test_kubeconfig_token_jobs_api(sim, harnesses):
    h = token_harness(sim, harnesses)
    assert "ready" in h.hello and "kubeconfig" in h.hello["ready"]
    r = h.create("default", job("api-one"))
    assert (r["error"], r["status"], r["name"]) == ("OK", 201, "api-one")
    r = h.create("default", job("api-one"))
    assert (r["error"], r["reason"]) == ("ALREADY_EXISTS", "AlreadyExists")
    assert "already exists" in r["message"]
    r = h.create("default", job("Bad_Name"))
    assert (r["error"], r["status"]) == ("INVALID", 422)
    r = h.call("get", "default", "api-one")
    assert (r["error"], r["name"]) == ("OK", "api-one")
    r = h.call("get", "default", "missing")
    assert (r["error"], r["status"], r["reason"]) == ("NOT_FOUND", 404, "NotFound")
    r = h.call("patch", "default", "api-one", json.dumps({"metadata": {"labels": {"x": "y"}}}))
    assert r["error"] == "OK"
    for i in range(5):
        assert h.create("default", job(f"page-{i}"))["error"] == "OK"
    # Paging: limit 2 hands out continue tokens until every job was seen.
    seen, cont = 0, "-"
    while True:
        r = h.call("list", "default", "app.kubernetes.io/managed-by=jobscheduler,x!=z", "2", cont)
        assert r["error"] == "OK" and r["items"] <= 2
        seen += r["items"]
        if "continue" not in r:
            break
        cont = r["continue"]
    assert seen == 6
    r = h.call("list", "default", "x=y", "0", "-")
    assert (r["error"], r["items"]) == ("OK", 1)
    r = h.call("delete", "default", "api-one", "Background")
    assert r["error"] == "OK"
    r = h.call("pods", "default", "-")
    assert r["error"] == "OK"
    text = h.metrics()
    assert metric_value(text, "kubernetes_client_requests_total", verb="create", code="201") >= 6
    assert metric_value(text, "kubernetes_client_requests_total", verb="get", code="404") == 1
    assert metric_value(text, "kubernetes_client_request_duration_seconds_count", verb="get") >= 2
    assert metric_value(text, "jobscheduler_cache_synced") == 1


def test_client_certificate(sim, harnesses):
    h = harnesses(kubeconfig_env(sim.path("kubeconfig-cert")))
    r = h.create("team-a", job("cert-job"))
    assert r["error"] == "OK", r
    assert h.call("get", "team-a", "cert-job")["error"] == "OK"


def test_exec_plugin(sim, harnesses, tmp_path):
    runs = tmp_path / "runs"
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(f"""#!/bin/sh
echo run >> {runs}
cat <<JSON
{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
 "status":{{"token":"{sim.token}","expirationTimestamp":"2099-01-01T00:00:00Z"}}}}
JSON
""")
    plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
    kc = write_kubeconfig(tmp_path / "kc", sim.port, sim.path("ca.crt"), f"""    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: {plugin}
      interactiveMode: Never""")
    h = harnesses(kubeconfig_env(kc))
    for i in range(3):
        assert h.call("get", "default", f"none-{i}")["error"] == "NOT_FOUND"
    # The credential is cached until its expiry: one run serves every request.
    assert runs.read_text().count("run") == 1


def in_cluster_env(sim):
    return {"IN_CLUSTER": "true", "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(sim.port),
            "K8S_SERVICEACCOUNT_DIR": sim.path("serviceaccount")}


def test_in_cluster_and_token_rotation(sim, harnesses):
    h = harnesses(in_cluster_env(sim))
    assert "in-cluster" in h.hello["ready"]
    assert h.create("default", job("incluster"))["error"] == "OK"
    sim.control("POST", "/_sim/rotate-sa-token", {"grace_seconds": 0})
    # The old token now gets 401; the client re-reads the file and retries once.
    r = h.call("get", "default", "incluster")
    assert r["error"] == "OK", r
    text = h.metrics()
    assert metric_value(text, "kubernetes_client_requests_total", verb="get", code="401") >= 1


def test_wrong_ca_is_a_clear_error(sim, harnesses, tmp_path):
    ca = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(ca), "-days", "2", "-subj", "/CN=other-ca"],
                   check=True, capture_output=True)
    kc = write_kubeconfig(tmp_path / "kc", sim.port, ca, f"    token: {sim.token}")
    h = harnesses(dict(kubeconfig_env(kc), K8S_REQUEST_TIMEOUT_SECONDS="3",
                       HARNESS_NO_INFORMER="1"))
    r = h.call("get", "default", "x")
    assert r["error"] == "UNAVAILABLE"
    assert "TLS" in r["message"] and "verif" in r["message"].lower(), r["message"]


def test_unauthorized_and_forbidden_messages(sim, harnesses, tmp_path):
    kc = write_kubeconfig(tmp_path / "bad", sim.port, sim.path("ca.crt"), "    token: not-a-token")
    h = harnesses(dict(kubeconfig_env(kc), HARNESS_NO_INFORMER="1"))
    r = h.call("get", "default", "x")
    assert (r["error"], r["status"]) == ("UNAUTHORIZED", 401)
    assert r["message"]
    sim.control("POST", "/_sim/tokens", {"token": "limited-token", "user": "limited",
                                         "namespaces": ["default"]})
    kc = write_kubeconfig(tmp_path / "lim", sim.port, sim.path("ca.crt"), "    token: limited-token")
    h2 = harnesses(dict(kubeconfig_env(kc), HARNESS_NO_INFORMER="1"))
    r = h2.call("get", "team-a", "x")
    assert (r["error"], r["status"], r["reason"]) == ("FORBIDDEN", 403, "Forbidden")
    assert "limited" in r["message"] and "team-a" in r["message"], r["message"]


def test_injected_faults_retries_and_timeouts(sim, harnesses):
    h = token_harness(sim, harnesses, HARNESS_NO_INFORMER="1", K8S_REQUEST_TIMEOUT_SECONDS="4")
    assert h.create("default", job("faulty"))["error"] == "OK"
    try:
        sim.fault(status=500, count=2, verb="get", resource="jobs")
        assert h.call("get", "default", "faulty")["error"] == "OK"
        sim.fault(status=429, retry_after=1, count=1, verb="get", resource="jobs")
        assert h.call("get", "default", "faulty")["error"] == "OK"
        sim.fault(drop=True, count=1, verb="get", resource="jobs")
        assert h.call("get", "default", "faulty")["error"] == "OK"
        sim.fault(latency_ms=300, count=1, verb="get", resource="jobs")
        assert h.call("get", "default", "faulty")["error"] == "OK"
        # A create whose name is not deterministic is not replayed after a 500 ...
        sim.fault(status=500, count=1, verb="create", resource="jobs")
        r = h.create("default", job("once"))
        assert (r["error"], r["status"]) == ("SERVER", 500)
        # ... one with a deterministic name is.
        sim.fault(status=503, count=1, verb="create", resource="jobs")
        assert h.create("default", job("twice"), det=True)["error"] == "OK"
        # A server that keeps failing exhausts the call's time budget.
        sim.fault(status=503, verb="patch", resource="jobs")
        r = h.call("patch", "default", "faulty", json.dumps({"metadata": {"labels": {"a": "b"}}}))
        assert (r["error"], r["status"]) == ("SERVER", 503)
        sim.clear_faults()
        sim.fault(latency_ms=8000, count=1, verb="get", resource="jobs")
        r = h.call("get", "default", "faulty")
        assert r["error"] == "TIMEOUT" and "timed out" in r["message"]
    finally:
        sim.clear_faults()
    text = h.metrics()
    assert metric_value(text, "kubernetes_client_requests_total", verb="get", code="500") == 2
    assert metric_value(text, "kubernetes_client_requests_total", verb="get", code="429") == 1
    assert metric_value(text, "kubernetes_client_requests_total", verb="get", code="<error>") >= 2
    assert metric_value(text, "kubernetes_client_requests_total", verb="create", code="503") == 1
    # The client keeps working after the timed-out connection was dropped.
    assert h.call("get", "default", "faulty")["error"] == "OK"
