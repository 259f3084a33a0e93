"""Integration tests for tests/kube_sim (the local kube-apiserver simulator).

Run: /usr/bin/python3 -m pytest tests/integration/test_kube_sim.py -q

One simulator process (time factor 0.01) is shared by the module; tests use
unique job names so they do not interfere.  Tests that change global state
(compaction, stop/start, faults, tokens) restore it before returning.
"""

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.join(os.path.dirname(HERE), "kube_sim")
SIM = os.path.join(SIM_DIR, "kube_sim.py")
JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"
SA_USER = "system:serviceaccount:default:jobscheduler"


# ---------------------------------------------------------------- helpers

class Client:
    """Minimal Kubernetes REST client over one keep-alive HTTPS connection."""

    def __init__(self, port, ca, token=None, cert=None):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=ca)
        if cert:
            self.ctx.load_cert_chain(*cert)
        self.conn = None

    def _connect(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=10)

    def request(self, method, path, body=None, ctype="application/json", headers=None):
        if self.conn is None:
            self.conn = self._connect()
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = ctype
        try:
            self.conn.request(method, path, body=data, headers=h)
            resp = self.conn.getresponse()
            raw = resp.read()
        except Exception:
            self.close()
            raise
        ctype_resp = resp.getheader("Content-Type", "")
        parsed = json.loads(raw) if ctype_resp.startswith("application/json") else raw.decode()
        return resp.status, resp, parsed

    def watch(self, path):
        """Open a watch on its own connection; returns (response, event iterator)."""
        conn = self._connect()
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()

        def events():
            try:
                while True:
                    line = resp.readline()
                    if not line:
                        return
                    yield json.loads(line)
            finally:
                conn.close()
        return resp, events()

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def control(sim, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", sim["control_port"], timeout=10)
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 200, data
    return data


def job_body(name, image="busybox:1.36", seconds=1, **spec):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": spec.pop("labels", {"app": "test"})},
            "spec": {"template": {"spec": {
                "restartPolicy": spec.pop("restart_policy", "Never"),
                "containers": [{"name": "main", "image": image, "env": [
                    {"name": "TIMER_DURATION_SECONDS", "value": str(seconds)}]}]}},
                **spec}}


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(fn, timeout=5.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(interval)


def condition(job, ctype):
    for c in job.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def job_pods(admin, name):
    code, _, body = admin.request("GET", f"{PODS}?labelSelector=job-name%3D{name}")
    assert code == 200
    return body["items"]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    state = tmp_path_factory.mktemp("kube-sim")
    audit_log = state / "audit.jsonl"
    proc = subprocess.Popen(
        [sys.executable, SIM, "--state-dir", str(state), "--time-factor", "0.01",
         "--bookmark-interval", "0.3", "--history", "500", "--namespace", "default",
         "--namespace", "team-a", "--audit-log", str(audit_log), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("simulator did not start: " + proc.stderr.read())
    info = json.loads(line)
    info.update(proc=proc, ca=str(state / "ca.crt"), state=str(state),
                audit_log=str(audit_log))
    yield info
    proc.terminate()
    try:
        assert proc.wait(timeout=5) == 0, "simulator must exit cleanly on SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(autouse=True)
def clean_faults(sim):
    yield
    control(sim, "DELETE", "/_sim/faults")


@pytest.fixture
def admin(sim):
    c = Client(sim["port"], sim["ca"], sim["admin_token"])
    yield c
    c.close()


@pytest.fixture
def sa(sim):
    with open(os.path.join(sim["state"], "serviceaccount", "token")) as f:
        c = Client(sim["port"], sim["ca"], f.read().strip())
    yield c
    c.close()


# ---------------------------------------------------------------- unit: selectors

def test_label_selector_parser():
    sys.path.insert(0, SIM_DIR)
    from label_selectors import parse_label_selector
    from statuses import ApiError
    labels = {"app": "web", "tier": "a", "idx": "3"}
    cases = {"app=web": True, "app==web": True, "app!=web": False, "tier in (a,b)": True,
             "tier notin (a,b)": False, "idx": True, "!idx": False, "missing": False,
             "!missing": True, "app=web,tier=b": False, "idx>2": True, "idx<3": False,
             "missing!=x": True, " app = web , tier in ( a ) ": True, "": True}
    for text, expected in cases.items():
        assert parse_label_selector(text).matches(labels) is expected, text
    for bad in ("app=(", "tier in (a", "in in", "a b", "app=web,", "Bad Key=1", "x in ()"):
        with pytest.raises(ApiError) as e:
            parse_label_selector(bad)
        assert e.value.code == 400, bad


# ---------------------------------------------------------------- basics and auth

def test_startup_files_and_kubeconfig(sim):
    state = sim["state"]
    for name in ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key",
                 "kubeconfig", "kubeconfig-cert", "admin-token", "serviceaccount/token",
                 "serviceaccount/ca.crt", "serviceaccount/namespace"):
        assert os.path.getsize(os.path.join(state, name)) > 0, name
    kc = open(os.path.join(state, "kubeconfig")).read()
    assert f"server: https://127.0.0.1:{sim['port']}" in kc
    assert f"token: {sim['token']}" in kc and "current-context: kube-sim" in kc
    kcc = open(os.path.join(state, "kubeconfig-cert")).read()
    assert f"client-certificate: {os.path.join(state, 'client.crt')}" in kcc
    assert open(os.path.join(state, "serviceaccount", "namespace")).read() == "default"


def test_version_health_and_discovery(sim, admin):
    anon = Client(sim["port"], sim["ca"])
    code, _, body = anon.request("GET", "/version")
    assert code == 200 and body["gitVersion"] == "v1.29.0-kube-sim"
    for path in ("/healthz", "/readyz"):
        code, _, text = anon.request("GET", path)
        assert (code, text) == (200, "ok")
    code, _, body = anon.request("GET", "/apis")
    assert code == 401 and body["reason"] == "Unauthorized"
    code, _, body = admin.request("GET", "/apis")
    assert code == 200 and body["groups"][0]["name"] == "batch"
    code, _, body = admin.request("GET", "/api")
    assert code == 200 and body["versions"] == ["v1"]
    anon.close()


def test_authentication_and_rbac(sim, sa, admin):
    anon = Client(sim["port"], sim["ca"])
    code, _, body = anon.request("GET", JOBS)
    assert code == 401
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    bad = Client(sim["port"], sim["ca"], "not-a-token")
    assert bad.request("GET", JOBS)[0] == 401

    assert sa.request("GET", JOBS)[0] == 200
    assert sa.request("GET", "/apis/batch/v1/namespaces/team-a/jobs")[0] == 200
    code, _, body = sa.request("GET", "/apis/batch/v1/namespaces/other/jobs")
    assert code == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        f'jobs.batch is forbidden: User "{SA_USER}" cannot list resource "jobs" in API '
        'group "batch" in the namespace "other"')
    code, _, body = sa.request("GET", "/api/v1/namespaces/other/pods")
    assert code == 403 and body["message"] == (
        f'pods is forbidden: User "{SA_USER}" cannot list resource "pods" in API group "" '
        'in the namespace "other"')
    code, _, body = sa.request("GET", "/apis/batch/v1/jobs")
    assert code == 403 and body["message"].endswith("at the cluster scope")
    assert admin.request("GET", "/apis/batch/v1/jobs")[0] == 200

    state = sim["state"]
    cert = Client(sim["port"], sim["ca"],
                  cert=(os.path.join(state, "client.crt"), os.path.join(state, "client.key")))
    assert cert.request("GET", JOBS)[0] == 200
    code, _, body = cert.request("GET", "/apis/batch/v1/namespaces/other/jobs")
    assert code == 403 and 'User "jobscheduler-user"' in body["message"]
    for c in (anon, bad, cert):
        c.close()


def test_token_add_revoke_and_rotation(sim):
    control(sim, "POST", "/_sim/tokens", {"token": "t2-token", "user": "tester",
                                          "namespaces": ["team-a"]})
    t2 = Client(sim["port"], sim["ca"], "t2-token")
    assert t2.request("GET", "/apis/batch/v1/namespaces/team-a/jobs")[0] == 200
    assert t2.request("GET", JOBS)[0] == 403
    control(sim, "DELETE", "/_sim/tokens/t2-token")
    assert t2.request("GET", "/apis/batch/v1/namespaces/team-a/jobs")[0] == 401
    t2.close()

    token_file = os.path.join(sim["state"], "serviceaccount", "token")
    old = open(token_file).read().strip()
    rotated = control(sim, "POST", "/_sim/rotate-sa-token", {"grace_seconds": 0})
    new = open(token_file).read().strip()
    assert rotated["old_token"] == old and rotated["token"] == new != old
    assert f"token: {new}" in open(os.path.join(sim["state"], "kubeconfig")).read()
    old_c, new_c = Client(sim["port"], sim["ca"], old), Client(sim["port"], sim["ca"], new)
    assert old_c.request("GET", JOBS)[0] == 401
    assert new_c.request("GET", JOBS)[0] == 200
    old_c.close()
    new_c.close()


# ---------------------------------------------------------------- CRUD + validation

def test_create_defaults_get_and_errors(sa, admin):
    name = uniq("create")
    code, _, job = sa.request("POST", JOBS, job_body(name, suspend=True))
    assert code == 201
    md, spec = job["metadata"], job["spec"]
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", md["creationTimestamp"])
    assert md["generation"] == 1 and int(md["resourceVersion"]) > 0 and md["uid"]
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (6, 1, 1)
    assert spec["suspend"] is True
    tl = spec["template"]["metadata"]["labels"]
    for k in ("controller-uid", "batch.kubernetes.io/controller-uid"):
        assert tl[k] == md["uid"]
    for k in ("job-name", "batch.kubernetes.io/job-name"):
        assert tl[k] == name
    assert spec["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": md["uid"]}

    code, _, got = sa.request("GET", f"{JOBS}/{name}")
    assert code == 200 and got["metadata"]["uid"] == md["uid"]

    code, _, body = sa.request("POST", JOBS, job_body(name))
    assert code == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == f'jobs.batch "{name}" already exists'

    code, _, body = sa.request("GET", f"{JOBS}/nope")
    assert code == 404 and body["message"] == 'jobs.batch "nope" not found'
    assert body["details"] == {"name": "nope", "group": "batch", "kind": "jobs"}

    code, _, body = sa.request("POST", JOBS, job_body("Bad_Name"))
    assert code == 422 and body["reason"] == "Invalid"
    assert body["message"] == (
        'Job.batch "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a '
        "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"

    bad = job_body(uniq("bad"), restart_policy="Always")
    bad["spec"]["template"]["spec"]["containers"] = []
    bad["metadata"]["labels"] = {"bad key": "v"}
    code, _, body = sa.request("POST", JOBS, bad)
    fields = sorted(c["field"] for c in body["details"]["causes"])
    assert code == 422 and fields == ["metadata.labels", "spec.template.spec.containers",
                                      "spec.template.spec.restartPolicy"]
    code, _, body = sa.request("POST", JOBS, job_body("x" * 64))
    assert code == 422

    gen = job_body("", suspend=True)
    gen["metadata"] = {"generateName": "gen-"}
    code, _, body = sa.request("POST", JOBS, gen)
    assert code == 201 and re.fullmatch(r"gen-[a-z0-9]{5}", body["metadata"]["name"])

    code, _, body = admin.request("POST", "/apis/batch/v1/namespaces/ghost/jobs", job_body("g"))
    assert code == 404 and body["message"] == 'namespaces "ghost" not found'
    code, _, body = sa.request("POST", JOBS, b"{not json")
    assert code == 400 and body["reason"] == "BadRequest"


def test_patch_conflict_and_immutability(sa):
    name = uniq("patch")
    _, _, job = sa.request("POST", JOBS, job_body(name, suspend=True))
    rv = job["metadata"]["resourceVersion"]
    code, _, patched = sa.request("PATCH", f"{JOBS}/{name}",
                                  {"metadata": {"labels": {"extra": "yes"}}},
                                  ctype="application/merge-patch+json")
    assert code == 200 and patched["metadata"]["labels"]["extra"] == "yes"
    assert patched["metadata"]["labels"]["app"] == "test"
    assert int(patched["metadata"]["resourceVersion"]) > int(rv)
    assert patched["metadata"]["generation"] == 1  # metadata-only change

    code, _, body = sa.request("PATCH", f"{JOBS}/{name}",
                               {"metadata": {"resourceVersion": rv}, "spec": {"parallelism": 2}},
                               ctype="application/merge-patch+json")
    assert code == 409 and body["reason"] == "Conflict"
    assert body["message"].startswith(f'Operation cannot be fulfilled on jobs.batch "{name}"')

    code, _, patched = sa.request("PATCH", f"{JOBS}/{name}", {"spec": {"parallelism": 2}},
                                  ctype="application/strategic-merge-patch+json")
    assert code == 200 and patched["spec"]["parallelism"] == 2
    assert patched["metadata"]["generation"] == 2

    code, _, body = sa.request(
        "PATCH", f"{JOBS}/{name}",
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "other"}]}}}},
        ctype="application/merge-patch+json")
    assert code == 422 and body["details"]["causes"][0]["field"] == "spec.template"
    assert body["message"].endswith("field is immutable")
    code, _, _ = sa.request("PATCH", f"{JOBS}/{name}", [{"op": "add"}],
                            ctype="application/json-patch+json")
    assert code == 415


# ---------------------------------------------------------------- list, paging, selectors

def test_list_paging_selectors_and_expired_continue(sim, sa):
    tag = uniq("page")
    names = sorted(f"{tag}-{i}" for i in range(7))
    for i, n in enumerate(names):
        labels = {"batch": tag, "tier": "a" if i % 2 else "b"}
        if i < 3:
            labels["idx"] = str(i)
        assert sa.request("POST", JOBS, job_body(n, labels=labels, suspend=True))[0] == 201

    base = f"{JOBS}?labelSelector=batch%3D{tag}"
    code, _, page1 = sa.request("GET", base + "&limit=3")
    assert code == 200 and page1["kind"] == "JobList" and len(page1["items"]) == 3
    assert "kind" not in page1["items"][0]
    token, snap_rv = page1["metadata"]["continue"], page1["metadata"]["resourceVersion"]
    # a job created between pages must not show up in the snapshot
    sa.request("POST", JOBS, job_body(f"{tag}-9", labels={"batch": tag}, suspend=True))
    seen = [j["metadata"]["name"] for j in page1["items"]]
    while token:
        code, _, page = sa.request("GET", f"{base}&limit=3&continue={token}")
        assert code == 200 and page["metadata"]["resourceVersion"] == snap_rv
        seen += [j["metadata"]["name"] for j in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == names  # stable order, no duplicates or gaps

    code, _, page = sa.request("GET", f"{JOBS}?limit=2")
    assert page["metadata"]["remainingItemCount"] >= 6  # only without selectors

    def names_for(selector):
        code, _, body = sa.request("GET", f"{JOBS}?labelSelector={selector}")
        assert code == 200, body
        return sorted(j["metadata"]["name"] for j in body["items"]
                      if j["metadata"]["labels"].get("batch") == tag)

    q = "%2C"  # comma
    assert names_for(f"batch%3D{tag}{q}tier%3Da") == names[1::2]
    assert names_for(f"batch%3D{tag}{q}tier!%3Da") == names[0::2] + [f"{tag}-9"]
    assert names_for(f"batch%3D%3D{tag}{q}tier%20in%20(a{q}b)") == names
    assert names_for(f"batch%3D{tag}{q}tier%20notin%20(a)") == names[0::2] + [f"{tag}-9"]
    assert names_for(f"batch%3D{tag}{q}idx") == names[:3]
    assert names_for(f"batch%3D{tag}{q}!idx") == names[3:] + [f"{tag}-9"]
    code, _, body = sa.request("GET", f"{JOBS}?labelSelector=tier%20in%20(a")
    assert code == 400 and body["reason"] == "BadRequest"
    code, _, body = sa.request("GET", f"{JOBS}?fieldSelector=metadata.name%3D{names[2]}")
    assert [j["metadata"]["name"] for j in body["items"]] == [names[2]]

    code, _, page1 = sa.request("GET", base + "&limit=2")
    sa.request("PATCH", f"{JOBS}/{names[0]}", {"metadata": {"labels": {"x": "1"}}},
               ctype="application/merge-patch+json")
    control(sim, "POST", "/_sim/compact")
    code, _, body = sa.request("GET", f"{base}&limit=2&continue={page1['metadata']['continue']}")
    assert code == 410 and body["reason"] == "Expired"
    assert body["message"] == ("The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without "
                               "the continue parameter.")


# ---------------------------------------------------------------- watches

def test_watch_events_bookmarks_and_timeout(sa):
    tag = uniq("watch")
    code, _, lst = sa.request("GET", f"{JOBS}?labelSelector=w%3D{tag}")
    rv = lst["metadata"]["resourceVersion"]
    resp, events = sa.watch(f"{JOBS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"
                            f"&timeoutSeconds=2&labelSelector=w%3D{tag}")
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Type") == "application/json"
    name = uniq("w")
    sa.request("POST", JOBS, job_body(name, labels={"w": tag}, seconds=5))
    started = time.monotonic()
    got = list(events)  # ends by itself at timeoutSeconds
    elapsed = time.monotonic() - started
    assert 1.0 < elapsed < 4.0
    types = [e["type"] for e in got]
    assert types[0] == "ADDED" and got[0]["object"]["metadata"]["name"] == name
    assert "MODIFIED" in types and "BOOKMARK" in types
    bm = next(e for e in got if e["type"] == "BOOKMARK")["object"]
    assert bm["kind"] == "Job" and bm["apiVersion"] == "batch/v1"
    assert int(bm["metadata"]["resourceVersion"]) >= int(rv)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got
           if e["type"] != "BOOKMARK"]
    assert rvs == sorted(rvs) and all(r > int(rv) for r in rvs)
    # The job completed (5 s * 0.01): its final MODIFIED shows Complete.
    last_mod = [e for e in got if e["type"] == "MODIFIED"][-1]["object"]
    assert condition(last_mod, "Complete")

    # resourceVersion=0: synthetic ADDED for existing objects first
    resp, events = sa.watch(f"{JOBS}?watch=1&resourceVersion=0&timeoutSeconds=1"
                            f"&labelSelector=w%3D{tag}")
    got = list(events)
    assert [e["type"] for e in got] == ["ADDED"]
    assert got[0]["object"]["metadata"]["name"] == name


def test_watch_selector_transitions_and_pod_watch(sa):
    tag = uniq("sel")
    name = uniq("sel")
    sa.request("POST", JOBS, job_body(name, suspend=True))
    _, _, lst = sa.request("GET", JOBS)
    resp, events = sa.watch(f"{JOBS}?watch=true&timeoutSeconds=2&labelSelector=s%3D{tag}"
                            f"&resourceVersion={lst['metadata']['resourceVersion']}")
    sa.request("PATCH", f"{JOBS}/{name}", {"metadata": {"labels": {"s": tag}}},
               ctype="application/merge-patch+json")
    sa.request("PATCH", f"{JOBS}/{name}", {"metadata": {"labels": {"s": None}}},
               ctype="application/merge-patch+json")
    first, second = next(events), next(events)
    assert (first["type"], second["type"]) == ("ADDED", "DELETED")
    assert first["object"]["metadata"]["name"] == name
    resp.close()

    _, _, pods = sa.request("GET", PODS)
    pname = uniq("pw")
    resp, events = sa.watch(f"{PODS}?watch=true&timeoutSeconds=3&labelSelector=job-name%3D"
                            f"{pname}&resourceVersion={pods['metadata']['resourceVersion']}")
    sa.request("POST", JOBS, job_body(pname, seconds=10))
    phases = []
    for ev in events:
        assert ev["object"]["kind"] == "Pod"
        phases.append(ev["object"]["status"].get("phase"))
        if phases[-1] == "Succeeded":
            break
    assert phases[0] == "Pending" and "Running" in phases and phases[-1] == "Succeeded"
    resp.close()


def test_watch_expired_after_compaction_and_close_watches(sim, sa):
    _, _, lst = sa.request("GET", JOBS)
    old_rv = int(lst["metadata"]["resourceVersion"])
    sa.request("POST", JOBS, job_body(uniq("cmp"), suspend=True))
    compacted = control(sim, "POST", "/_sim/compact")["compactedResourceVersion"]
    resp, events = sa.watch(f"{JOBS}?watch=true&resourceVersion={old_rv}")
    got = list(events)
    assert resp.status == 200 and len(got) == 1 and got[0]["type"] == "ERROR"
    status = got[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"] == f"too old resource version: {old_rv} ({compacted})"

    # A watch from the current RV works, and close-watches ends it promptly.
    quiet = f"labelSelector=none%3D{uniq('q')}"  # no other test's events
    resp, events = sa.watch(f"{JOBS}?watch=true&resourceVersion={compacted}&{quiet}")
    time.sleep(0.1)
    assert control(sim, "GET", "/_sim/stats")["open_watches"] >= 1
    started = time.monotonic()
    assert control(sim, "POST", "/_sim/close-watches")["closed"] >= 1
    assert list(events) == []
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------- job lifecycle

def get_job(c, name):
    code, _, job = c.request("GET", f"{JOBS}/{name}")
    return job if code == 200 else None


def test_job_succeeds_with_pod_lifecycle(sa, admin):
    name = uniq("ok")
    sa.request("POST", JOBS, job_body(name, seconds=20))  # 0.2 s at factor 0.01
    running = wait_for(lambda: (get_job(sa, name)["status"].get("active") == 1
                                and get_job(sa, name)), what="active pod")
    assert running["status"]["startTime"]
    job = wait_for(lambda: condition(get_job(sa, name), "Complete") and get_job(sa, name),
                   what="Complete")
    st = job["status"]
    assert st["succeeded"] == 1 and "active" not in st and st["completionTime"]
    assert condition(job, "Complete")["status"] == "True"
    pods = job_pods(admin, name)
    assert len(pods) == 1
    pod = pods[0]
    assert re.fullmatch(rf"{name}-[a-z0-9]{{5}}", pod["metadata"]["name"])
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["metadata"]["labels"]["controller-uid"] == job["metadata"]["uid"]
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == \
        ("Job", name, job["metadata"]["uid"], True)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_failing_image_hits_backoff_limit(sa, admin):
    name = uniq("fail")
    sa.request("POST", JOBS, job_body(name, image="registry/fail-app:1", backoffLimit=1))
    job = wait_for(lambda: condition(get_job(sa, name), "Failed") and get_job(sa, name),
                   what="Failed")
    cond = condition(job, "Failed")
    assert (cond["reason"], cond["message"]) == ("BackoffLimitExceeded",
                                                 "Job has reached the specified backoff limit")
    assert job["status"]["failed"] == 2 and "succeeded" not in job["status"]
    pods = job_pods(admin, name)
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Failed"}


def test_missing_image_stays_pending(sa, admin):
    name = uniq("miss")
    sa.request("POST", JOBS, job_body(name, image="example.com/missing:1"))

    def backoff_pod():
        pods = job_pods(admin, name)
        if not pods:
            return None
        waiting = pods[0]["status"].get("containerStatuses", [{}])[0].get("state", {}) \
            .get("waiting", {})
        return pods[0] if waiting.get("reason") == "ImagePullBackOff" else None

    pod = wait_for(backoff_pod, what="ImagePullBackOff")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == \
        'Back-off pulling image "example.com/missing:1"'
    time.sleep(0.3)
    assert get_job(sa, name)["status"].get("active") == 1
    assert not condition(get_job(sa, name), "Complete")


def test_active_deadline_exceeded(sa, admin):
    name = uniq("dl")
    sa.request("POST", JOBS, job_body(name, seconds=1000, activeDeadlineSeconds=20))
    job = wait_for(lambda: condition(get_job(sa, name), "Failed") and get_job(sa, name),
                   what="DeadlineExceeded")
    cond = condition(job, "Failed")
    assert (cond["reason"], cond["message"]) == ("DeadlineExceeded",
                                                 "Job was active longer than specified deadline")
    wait_for(lambda: not job_pods(admin, name), what="pods deleted")


def test_suspend_and_resume(sa, admin):
    name = uniq("susp")
    sa.request("POST", JOBS, job_body(name, seconds=1000))
    wait_for(lambda: get_job(sa, name)["status"].get("active") == 1, what="active")
    sa.request("PATCH", f"{JOBS}/{name}", {"spec": {"suspend": True}},
               ctype="application/merge-patch+json")
    job = wait_for(lambda: condition(get_job(sa, name), "Suspended") and get_job(sa, name),
                   what="Suspended")
    cond = condition(job, "Suspended")
    assert (cond["status"], cond["reason"], cond["message"]) == \
        ("True", "JobSuspended", "Job suspended")
    wait_for(lambda: not job_pods(admin, name), what="pods removed on suspend")
    assert "active" not in get_job(sa, name)["status"]
    assert "failed" not in get_job(sa, name)["status"]  # suspension is not a failure

    sa.request("PATCH", f"{JOBS}/{name}", {"spec": {"suspend": False}},
               ctype="application/merge-patch+json")
    job = wait_for(lambda: get_job(sa, name)["status"].get("active") == 1 and get_job(sa, name),
                   what="resumed")
    cond = condition(job, "Suspended")
    assert (cond["status"], cond["reason"]) == ("False", "JobResumed")


def test_ttl_after_finished_deletes_job_and_pods(sa, admin):
    name = uniq("ttl")
    sa.request("POST", JOBS, job_body(name, seconds=5, ttlSecondsAfterFinished=10))
    wait_for(lambda: get_job(sa, name) and condition(get_job(sa, name), "Complete"),
             what="Complete")
    wait_for(lambda: get_job(sa, name) is None, what="TTL deletion")
    wait_for(lambda: not job_pods(admin, name), what="pods deleted")


def test_delete_propagation(sa, admin):
    def running_job(name):
        sa.request("POST", JOBS, job_body(name, seconds=1000))
        wait_for(lambda: get_job(sa, name)["status"].get("active") == 1, what="active")

    bg = uniq("bg")
    running_job(bg)
    code, _, body = sa.request("DELETE", f"{JOBS}/{bg}?propagationPolicy=Background")
    assert code == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == bg and body["details"]["kind"] == "jobs"
    assert get_job(sa, bg) is None
    wait_for(lambda: not job_pods(admin, bg), what="background pod GC")

    orphan = uniq("orph")
    running_job(orphan)
    code, resp, body = sa.request("DELETE", f"{JOBS}/{orphan}")  # default policy: Orphan
    assert code == 200 and "child pods are preserved" in resp.getheader("Warning", "")
    wait_for(lambda: get_job(sa, orphan) is None, what="orphan deletion")
    pods = job_pods(admin, orphan)
    assert len(pods) == 1 and "ownerReferences" not in pods[0]["metadata"]
    code, _, _ = sa.request("DELETE", f"{PODS}/{pods[0]['metadata']['name']}",
                            {"kind": "DeleteOptions", "apiVersion": "v1",
                             "gracePeriodSeconds": 0})
    assert code == 200 and not job_pods(admin, orphan)

    fg = uniq("fg")
    running_job(fg)
    code, _, body = sa.request("DELETE", f"{JOBS}/{fg}",
                               {"kind": "DeleteOptions", "apiVersion": "v1",
                                "propagationPolicy": "Foreground"})
    assert code == 200 and body["kind"] == "Job"
    assert body["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in body["metadata"]["finalizers"]
    wait_for(lambda: get_job(sa, fg) is None and not job_pods(admin, fg),
             what="foreground deletion")
    code, _, body = sa.request("DELETE", f"{JOBS}/{fg}")
    assert code == 404


def test_deleting_a_running_pod_counts_as_failure(sa, admin):
    name = uniq("podkill")
    sa.request("POST", JOBS, job_body(name, seconds=1000))
    wait_for(lambda: get_job(sa, name)["status"].get("active") == 1, what="active")
    pod = job_pods(admin, name)[0]
    code, _, body = sa.request("DELETE", f"{PODS}/{pod['metadata']['name']}")
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    job = wait_for(lambda: get_job(sa, name)["status"].get("failed") == 1 and get_job(sa, name),
                   what="failed=1")
    wait_for(lambda: any(p["metadata"]["uid"] != pod["metadata"]["uid"]
                         for p in job_pods(admin, name)), what="replacement pod")
    assert job["metadata"]["name"] == name


# ---------------------------------------------------------------- faults / control

def test_injected_faults(sim, sa):
    control(sim, "POST", "/_sim/faults", {"status": 500, "count": 1})
    code, _, body = sa.request("GET", JOBS)
    assert code == 500 and body["reason"] == "InternalError"
    assert sa.request("GET", JOBS)[0] == 200

    control(sim, "POST", "/_sim/faults", {"status": 429, "retry_after": 1, "count": 2,
                                          "verb": "create", "resource": "jobs"})
    assert sa.request("GET", JOBS)[0] == 200  # verb filter: list is untouched
    code, resp, body = sa.request("POST", JOBS, job_body(uniq("f"), suspend=True))
    assert code == 429 and body["reason"] == "TooManyRequests"
    assert resp.getheader("Retry-After") == "1"
    assert sa.request("POST", JOBS, job_body(uniq("f"), suspend=True))[0] == 429
    assert sa.request("POST", JOBS, job_body(uniq("f"), suspend=True))[0] == 201

    control(sim, "POST", "/_sim/faults", {"latency_ms": 300, "count": 1})
    started = time.monotonic()
    assert sa.request("GET", JOBS)[0] == 200
    assert time.monotonic() - started >= 0.3

    control(sim, "POST", "/_sim/faults", {"drop": True, "count": 1})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        sa.request("GET", JOBS)
    assert sa.request("GET", JOBS)[0] == 200  # reconnects

    control(sim, "POST", "/_sim/faults", {"status": 503})
    assert sa.request("GET", JOBS)[0] == 503
    control(sim, "DELETE", "/_sim/faults")
    assert sa.request("GET", JOBS)[0] == 200


def test_stop_and_start_listener(sim, sa):
    resp, events = sa.watch(f"{JOBS}?watch=true&labelSelector=none%3D{uniq('q')}")
    assert sa.request("GET", JOBS)[0] == 200
    assert control(sim, "POST", "/_sim/stop")["stopped"] is True
    try:
        # The open watch is cut (EOF or reset, never a hang or more events).
        cut_started = time.monotonic()
        try:
            leftover = list(events)
        except (OSError, http.client.HTTPException):
            leftover = []
        assert leftover == [] and time.monotonic() - cut_started < 2
        with pytest.raises((ConnectionRefusedError, ConnectionResetError,
                            http.client.RemoteDisconnected, ssl.SSLError, OSError)):
            sa.request("GET", JOBS)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", sim["port"]), timeout=2).close()
    finally:
        started = control(sim, "POST", "/_sim/start")
    assert started == {"started": True, "port": sim["port"]}
    assert sa.request("GET", JOBS)[0] == 200


def test_audit_and_stats(sim, sa, admin):
    control(sim, "DELETE", "/_sim/audit")
    sa.request("GET", "/apis/batch/v1/namespaces/team-a/jobs")
    sa.request("POST", JOBS, job_body(uniq("aud"), suspend=True))
    sa.request("GET", "/apis/batch/v1/namespaces/other/jobs")  # forbidden, still seen
    resp, events = sa.watch(f"{PODS}?watch=true&timeoutSeconds=1")
    list(events)
    admin.request("DELETE", f"{JOBS}/nope")  # admin is never audited
    entries = control(sim, "GET", "/_sim/audit")
    assert {"verb": "list", "group": "batch", "resource": "jobs", "namespace": "team-a"} in entries
    assert {"verb": "create", "group": "batch", "resource": "jobs",
            "namespace": "default"} in entries
    assert {"verb": "watch", "group": "", "resource": "pods", "namespace": "default"} in entries
    assert {"verb": "list", "group": "batch", "resource": "jobs", "namespace": "other"} in entries
    assert not any(e["verb"] == "delete" for e in entries)
    stats = control(sim, "GET", "/_sim/stats")
    assert stats["total"] > 10 and stats["by_verb"]["create"] >= 1
    with open(sim["audit_log"]) as f:
        lines = [json.loads(l) for l in f]
    assert any(l["verb"] == "delete" and l["user"] == "kube-sim-admin" and l["code"] == 404
               for l in lines)
