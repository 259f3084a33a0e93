"""The jobs informer against kube-sim: resume after closed watches, relist after compaction
with exact differences, recovery after the API server is down, and deletions noticed while
the watch was down. The cache is compared with the simulator's own state."""

import collections
import time

import pytest

from k8s_util import Harness, Sim, admin_api, job, kubeconfig_env, metric_value, wait_for

JOBS = "/apis/batch/v1/namespaces/default/jobs"


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "sim")
    yield s
    s.stop()


@pytest.fixture
def harness(sim):
    h = Harness(kubeconfig_env(sim.path("kubeconfig")), events=True)
    wait_for(h.synced, what="first sync")
    yield h
    assert h.close() == 0, "".join(h.stderr_lines[-30:])


def admin_create(sim, name, **kw):
    code, _ = admin_api(sim, "POST", JOBS, job(name, **kw))
    assert code == 201


def admin_delete(sim, name):
    code, _ = admin_api(sim, "DELETE", f"{JOBS}/{name}?propagationPolicy=Background")
    assert code == 200


def converged(h, sim):
    def same():
        cache, truth = h.cache(), sim.jobs()
        return cache == truth and h.synced()
    wait_for(same, timeout=60, what="cache to match the simulator")


def watching(sim):
    """Waits until the informer's watch is registered at the server, so closing watches or
    compacting acts on it rather than racing its start."""
    wait_for(lambda: sim.stats()["open_watches"] >= 1, what="the informer's watch")


def no_duplicates(h):
    """Every (type, name, resourceVersion) event arrives once."""
    seen = collections.Counter((e["event"], e.get("name"), e.get("rv")) for e in h.events
                               if e["event"] != "SYNCED")
    dups = [k for k, n in seen.items() if n > 1]
    assert not dups, dups


def test_watch_resumes_after_every_watch_closes(sim, harness):
    for i in range(3):
        admin_create(sim, f"before-{i}")
    converged(harness, sim)
    watching(sim)
    sim.control("POST", "/_sim/close-watches")
    for i in range(3):
        admin_create(sim, f"after-{i}")
    admin_delete(sim, "before-0")
    converged(harness, sim)
    no_duplicates(harness)
    deleted = [e for e in harness.events if e["event"] == "DELETED"]
    assert [e["name"] for e in deleted] == ["before-0"]
    text = harness.metrics()
    assert metric_value(text, "kubernetes_watch_restarts_total", reason="closed") >= 1
    assert metric_value(text, "jobscheduler_cache_jobs") == len(sim.jobs())
    # Resumed from its resourceVersion: no relist happened.
    assert metric_value(text, "kubernetes_watch_restarts_total", reason="expired") is None


def test_relist_after_compaction_emits_exact_differences(sim, harness):
    for i in range(4):
        admin_create(sim, f"keep-{i}")
    converged(harness, sim)
    before = {e["name"] for e in harness.events if e["event"] == "ADDED"}
    watching(sim)
    # Take the watch down (reconnects fail) while jobs change, then compact the history so
    # the old resourceVersion is gone: only a relist can find what changed.
    sim.fault(status=500, verb="watch", resource="jobs")
    sim.control("POST", "/_sim/close-watches")
    wait_for(lambda: sim.stats()["by_code"].get("500", 0) >= 1, what="a refused re-watch")
    admin_delete(sim, "keep-0")
    admin_create(sim, "while-down")
    sim.control("POST", "/_sim/compact")
    sim.clear_faults()
    converged(harness, sim)
    no_duplicates(harness)
    deleted = [e["name"] for e in harness.events if e["event"] == "DELETED"]
    assert deleted == ["keep-0"]
    added = [e["name"] for e in harness.events if e["event"] == "ADDED"]
    assert added.count("while-down") == 1 and set(added) - before == {"while-down"}
    text = harness.metrics()
    assert metric_value(text, "kubernetes_watch_restarts_total", reason="expired") >= 1
    assert metric_value(text, "kubernetes_watch_restarts_total", reason="error") >= 1
    # Watching again after the relist: a new job shows up through the watch.
    admin_create(sim, "after-relist")
    converged(harness, sim)


def test_api_server_down_then_back(sim, harness):
    for i in range(3):
        admin_create(sim, f"up-{i}")
    converged(harness, sim)
    sim.control("POST", "/_sim/stop")
    wait_for(lambda: not harness.synced(), timeout=30, what="sync to be lost")
    r = harness.call("get", "default", "up-0")
    assert r["error"] in ("UNAVAILABLE", "TIMEOUT"), r
    time.sleep(10)
    sim.control("POST", "/_sim/start")
    admin_create(sim, "after-restart")
    converged(harness, sim)
    assert harness.call("get", "default", "up-0")["error"] == "OK"
    no_duplicates(harness)
    assert metric_value(harness.metrics(), "jobscheduler_cache_synced") == 1
