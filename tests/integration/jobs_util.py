"""Helpers for the JobScheduler API suites (test_jobs_*.py): request builders, a gRPC client
wrapper, Jobs written straight into the simulator as jobscheduler would write them (for
big caches), and small readers of the simulator's state and of /metrics."""
import http.client
import json
import re
import ssl
import threading
import time

import grpc

from conftest import wait_for

JOBS_PATH = "/apis/batch/v1/namespaces/%s/jobs"
JOB_ID_RE = re.compile(r"^job-[a-z0-9]+$")

# What src/jobs/model.h and manifest.c put on every Job jobscheduler creates.
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TYPE = "jobscheduler.io/type"
LABEL_NAME = "jobscheduler.io/name"
LABEL_JOB_ID = "jobscheduler.io/job-id"
ANNOTATION_NAME = "jobscheduler.io/name"

README_SCHEDULE = {"name": "my-timer",
                   "timer_job": {"duration_seconds": 300, "timer_name": "build-timeout",
                                 "control_plane_endpoint": "http://control-plane:50053"}}


def timer_request(pb, name="my-timer", duration=300, timer_name="build-timeout",
                  endpoint="http://control-plane:50053", image="", labels=None, env=None,
                  namespace="", request_id="", log_level="", resources=None):
    """A ScheduleJobRequest for a timer job; every field can be overridden."""
    req = pb.ScheduleJobRequest(name=name, namespace=namespace, request_id=request_id,
                                timer_job=pb.TimerJob(duration_seconds=duration,
                                                      timer_name=timer_name,
                                                      control_plane_endpoint=endpoint,
                                                      image=image, log_level=log_level))
    for k, v in (labels or {}).items():
        req.labels[k] = v
    for k, v in (env or {}).items():
        req.timer_job.env[k] = v
    if resources:
        req.resources.CopyFrom(pb.Resources(**resources))
    return req


class Client:
    """One channel and JobScheduler stub; use as a context manager so channels close."""

    def __init__(self, stubs, target):
        self.pb = stubs.pb
        self.channel = grpc.insecure_channel(target)
        self.stub = stubs.rpc.JobSchedulerStub(self.channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.channel.close()

    def close(self):
        self.channel.close()

    def schedule(self, req=None, timeout=30, **kw):
        return self.stub.ScheduleJob(req if req is not None else timer_request(self.pb, **kw),
                                     timeout=timeout)

    def get(self, job_id, namespace="", timeout=30):
        return self.stub.GetJobStatus(self.pb.GetJobStatusRequest(job_id=job_id,
                                                                  namespace=namespace),
                                      timeout=timeout).job

    def cancel(self, job_id, namespace="", timeout=30):
        return self.stub.CancelJob(self.pb.CancelJobRequest(job_id=job_id, namespace=namespace),
                                   timeout=timeout).job

    def list(self, timeout=60, **kw):
        labels = kw.pop("labels", None) or {}
        req = self.pb.ListJobsRequest(**kw)
        for k, v in labels.items():
            req.labels[k] = v
        return self.stub.ListJobs(req, timeout=timeout)

    def list_all(self, page_size=0, **kw):
        """Every page; returns (jobs, pages)."""
        jobs, pages, token = [], 0, ""
        while True:
            resp = self.list(page_size=page_size, page_token=token, **kw)
            jobs.extend(resp.jobs)
            pages += 1
            token = resp.next_page_token
            if not token:
                return jobs, pages

    def state_name(self, job):
        return self.pb.JobState.Name(job.state)

    def wait_state(self, job_id, state, timeout=60, namespace=""):
        """Polls GetJobStatus until the job is in |state| ("SUCCEEDED"); returns the Job."""
        want = "JOB_STATE_" + state

        def check():
            job = self.get(job_id, namespace=namespace)
            return job if self.pb.JobState.Name(job.state) == want else None
        return wait_for(check, timeout, interval=0.05, what="%s to be %s" % (job_id, state))


def rpc_error(fn, *args, **kw):
    """Calls |fn| and returns the grpc.RpcError it must raise."""
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("the call succeeded but an error was expected")


def assert_status(err, code, *words):
    assert err.code() == code, (err.code(), err.details())
    for w in words:
        assert w in (err.details() or ""), (w, err.details())


# ---------------------------------------------------------------- the simulator directly

def job_manifest(name, namespace="default", display_name=None, labels=None, suspend=False,
                 duration=3600, image="timer-service:latest", job_type="timer"):
    """A Job labelled and annotated as jobscheduler labels its own (src/jobs/manifest.c)."""
    all_labels = {LABEL_MANAGED_BY: "jobscheduler", LABEL_TYPE: job_type, LABEL_JOB_ID: name,
                  LABEL_NAME: display_name or name}
    all_labels.update(labels or {})
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": all_labels,
                         "annotations": {ANNOTATION_NAME: display_name or name}},
            "spec": {"backoffLimit": 0, "suspend": suspend,
                     "template": {"metadata": {"labels": dict(all_labels)},
                                  "spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "timer", "image": image,
                                                           "env": [{"name": "TIMER_DURATION_SECONDS",
                                                                    "value": str(duration)}]}]}}}}


class SimWriter:
    """Keep-alive HTTPS connections to the simulator with the admin token, one per thread,
    to write thousands of Jobs quickly."""

    def __init__(self, sim):
        self.sim = sim
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            ctx = ssl.create_default_context(cafile=str(self.sim.state_dir / "ca.crt"))
            c = http.client.HTTPSConnection("127.0.0.1", self.sim.port, context=ctx, timeout=60)
            self.local.conn = c
        return c

    def request(self, method, path, body=None, content_type="application/json"):
        for attempt in range(3):
            c = self._conn()
            try:
                c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                          headers={"Authorization": "Bearer " + self.sim.admin_token,
                                   "Content-Type": content_type})
                resp = c.getresponse()
                return resp.status, json.loads(resp.read() or b"null")
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def create(self, manifest):
        status, body = self.request("POST", JOBS_PATH % manifest["metadata"]["namespace"],
                                    manifest)
        assert status == 201, (status, body)
        return body

    def create_many(self, manifests, threads=8):
        """Creates every Job with |threads| connections; returns the number created."""
        items = list(manifests)
        lock = threading.Lock()
        errors = []

        def worker():
            while True:
                with lock:
                    if not items or errors:
                        return
                    m = items.pop()
                try:
                    self.create(m)
                except Exception as e:  # reported once all threads stopped
                    with lock:
                        errors.append(e)
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]


def sim_job(sim, namespace, name):
    return next((j for j in sim.state()["jobs"]
                 if j["metadata"]["namespace"] == namespace and j["metadata"]["name"] == name),
                None)


def sim_pods_of(sim, name, state=None):
    """The pods the simulator holds for Job |name|."""
    pods = (state or sim.state())["pods"]
    return [p for p in pods
            if (p["metadata"].get("labels") or {}).get("job-name") == name
            or (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == name]


def metric_value(text, name, labels=None):
    """The value of |name|{labels} in a Prometheus exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if labels is None or all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def ts(t):
    """A protobuf Timestamp as float seconds (0 when unset)."""
    return t.seconds + t.nanos / 1e9


def now():
    return time.time()
