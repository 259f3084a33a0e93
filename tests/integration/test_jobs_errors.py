"""JobScheduler API end to end, part 2: every validation error names its field, namespaces
(ALLOWED_NAMESPACES), and Kubernetes failures (API server down, then back; Forbidden)."""
import grpc
import pytest

from conftest import wait_for
from jobs_util import Client, assert_status, rpc_error, timer_request

INVALID = grpc.StatusCode.INVALID_ARGUMENT

# (what to change, words the message must contain)
CASES = [
    (dict(name=""), ["name"]),
    (dict(name="two\nlines"), ["name"]),
    (dict(duration=0), ["timer_job.duration_seconds", "> 0"]),
    (dict(duration=-1), ["timer_job.duration_seconds"]),
    (dict(duration=3601), ["timer_job.duration_seconds", "3600"]),
    (dict(timer_name=""), ["timer_job.timer_name"]),
    (dict(endpoint=""), ["timer_job.control_plane_endpoint"]),
    (dict(endpoint="control-plane:50053"), ["timer_job.control_plane_endpoint"]),
    (dict(endpoint="ftp://control-plane"), ["timer_job.control_plane_endpoint"]),
    (dict(endpoint="http://control plane"), ["timer_job.control_plane_endpoint"]),
    (dict(endpoint="http://cp:99999"), ["timer_job.control_plane_endpoint"]),
    (dict(image="Bad Image!"), ["timer_job.image"]),
    (dict(image="img@sha256:123"), ["timer_job.image"]),
    (dict(image="docker.io/evil/miner:latest"), ["timer_job.image", "IMAGE_ALLOWLIST"]),
    (dict(log_level="verbose"), ["timer_job.log_level"]),
    (dict(env={"1BAD": "x"}), ["timer_job.env", "1BAD"]),
    (dict(env={"BAD-NAME": "x"}), ["timer_job.env", "BAD-NAME"]),
    (dict(env={"JOB_ID": "x"}), ["timer_job.env", "JOB_ID", "reserved"]),
    (dict(env={"TIMER_DURATION_SECONDS": "1"}), ["timer_job.env", "reserved"]),
    (dict(labels={"bad key": "v"}), ["labels", "bad key"]),
    (dict(labels={"k": "-bad-"}), ["labels", "-bad-"]),
    (dict(labels={"k": "v" * 64}), ["labels"]),
    (dict(labels={"jobscheduler.io/type": "x"}), ["labels", "reserved"]),
    (dict(labels={"app.kubernetes.io/managed-by": "me"}), ["labels", "reserved"]),
    (dict(resources={"cpu_request": "lots"}), ["resources.cpu_request"]),
    (dict(resources={"cpu_limit": "-1"}), ["resources.cpu_limit"]),
    (dict(resources={"memory_request": "1GB"}), ["resources.memory_request"]),
    (dict(resources={"memory_limit": "64 Mi"}), ["resources.memory_limit"]),
    (dict(namespace="Not_A_Namespace"), ["namespace"]),
]


@pytest.fixture
def strict_service(sim, service_factory):
    return service_factory(sim, TIMER_MAX_DURATION_SECONDS=3600,
                           IMAGE_ALLOWLIST="timer-service,registry.example.com/").wait_ready()


def test_every_validation_error(stubs, sim, strict_service):
    pb = stubs.pb
    with Client(stubs, strict_service.target) as c:
        for change, words in CASES:
            err = rpc_error(c.schedule, timer_request(pb, **change))
            assert err.code() == INVALID, (change, err.code(), err.details())
            for w in words:
                assert w in err.details(), (change, w, err.details())
        # No job type at all.
        err = rpc_error(c.schedule, pb.ScheduleJobRequest(name="typeless"))
        assert_status(err, INVALID, "job_type", "timer_job")
        # The boundaries themselves are fine.
        ok = [c.schedule(duration=3600, name="max"),
              c.schedule(duration=1, name="min", image="registry.example.com/t/timer:1",
                         log_level="warn", env={"EXTRA_1": "x"}, labels={"a.b/c": ""},
                         resources={"cpu_request": "250m", "memory_limit": "1Gi"})]
        assert all(r.job.state == pb.JOB_STATE_PENDING for r in ok)
    # Nothing invalid reached Kubernetes.
    names = sorted(j["metadata"]["annotations"]["jobscheduler.io/name"]
                   for j in sim.state()["jobs"])
    assert names == ["max", "min"]


def test_invalid_utf8_is_rejected(stubs, sim, service):
    """protobuf-c does not check UTF-8: a raw request with bad bytes must not reach jansson."""
    pb = stubs.pb
    good = timer_request(pb, name="AAAA", timer_name="BBBB", env={"E": "CCCC"},
                         request_id="DDDD")
    raw = good.SerializeToString()
    channel = grpc.insecure_channel(service.target)
    try:
        call = channel.unary_unary("/jobscheduler.JobScheduler/ScheduleJob",
                                   request_serializer=None,
                                   response_deserializer=pb.ScheduleJobResponse.FromString)
        for marker, field in [(b"AAAA", "name"), (b"BBBB", "timer_job.timer_name"),
                              (b"CCCC", "timer_job.env"), (b"DDDD", "request_id")]:
            err = rpc_error(call, raw.replace(marker, b"\xff\xfe\xc3\x28"), timeout=30)
            assert_status(err, INVALID, field)
    finally:
        channel.close()
    assert sim.state()["jobs"] == []
    # The service is still fine.
    with Client(stubs, service.target) as c:
        assert c.schedule(name="Zürich ☃").job.name == "Zürich ☃"


def test_allowed_namespaces(stubs, sim_factory, service_factory):
    pb = stubs.pb
    sim = sim_factory(extra_args=["--namespace", "team-a"])
    svc = service_factory(sim, ALLOWED_NAMESPACES="default,team-a").wait_ready()
    with Client(stubs, svc.target) as c:
        a = c.schedule(name="in-a", namespace="team-a", duration=3000).job
        d = c.schedule(name="in-default", duration=3000).job
        assert a.namespace == "team-a" and d.namespace == "default"
        assert c.get(a.job_id, namespace="team-a").name == "in-a"
        assert_status(rpc_error(c.get, a.job_id), grpc.StatusCode.NOT_FOUND)
        assert [j.job_id for j in c.list(namespace="team-a").jobs] == [a.job_id]
        assert sorted(j.job_id for j in c.list().jobs) == sorted([a.job_id, d.job_id])
        for call in (lambda: c.schedule(name="x", namespace="team-b"),
                     lambda: c.get(a.job_id, namespace="team-b"),
                     lambda: c.cancel(a.job_id, namespace="kube-system"),
                     lambda: c.list(namespace="team-b")):
            assert_status(rpc_error(call), grpc.StatusCode.PERMISSION_DENIED, "namespace")
        assert c.cancel(a.job_id, namespace="team-a").state == pb.JOB_STATE_CANCELLED
    assert {j["metadata"]["namespace"] for j in sim.state()["jobs"]} == {"default", "team-a"}


def test_default_namespace_only(stubs, sim, service):
    with Client(stubs, service.target) as c:
        assert_status(rpc_error(c.schedule, name="x", namespace="team-a"),
                      grpc.StatusCode.PERMISSION_DENIED, "team-a")
        assert c.schedule(name="y", namespace="default").job.namespace == "default"


def test_api_server_down_then_recovery(stubs, sim, service):
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        cached = c.schedule(name="before", duration=3000).job_id
        c.wait_state(cached, "RUNNING")
        sim.control("POST", "/_sim/stop")
        try:
            err = rpc_error(c.schedule, name="while-down", timeout=60)
            assert_status(err, grpc.StatusCode.UNAVAILABLE, "kubernetes")
            assert len(err.details()) > len("kubernetes: "), err.details()
            # Reads of cached jobs need no API call.
            assert c.get(cached).state == pb.JOB_STATE_RUNNING
            assert [j.job_id for j in c.list().jobs] == [cached]
        finally:
            sim.control("POST", "/_sim/start")
        after = wait_for(lambda: c.schedule(name="after", duration=10), 60,
                         what="ScheduleJob to work again")
        c.wait_state(after.job_id, "SUCCEEDED")
    names = sorted(j["metadata"]["annotations"]["jobscheduler.io/name"]
                   for j in sim.state()["jobs"])
    assert "while-down" not in names  # never a half-created job


def test_forbidden_is_permission_denied(stubs, sim, service):
    with Client(stubs, service.target) as c:
        sim.control("POST", "/_sim/faults", {"status": 403, "verb": "create",
                                             "resource": "jobs", "count": 1})
        err = rpc_error(c.schedule, name="forbidden")
        assert_status(err, grpc.StatusCode.PERMISSION_DENIED, "kubernetes")
        sim.control("POST", "/_sim/faults", {"status": 500, "verb": "create",
                                             "resource": "jobs", "count": 100,
                                             "message": "etcd is sad"})
        err = rpc_error(c.schedule, name="server-error", timeout=60)
        assert_status(err, grpc.StatusCode.UNAVAILABLE)
        sim.control("DELETE", "/_sim/faults")
        assert c.schedule(name="fine").job.name == "fine"
    names = sorted(j["metadata"]["annotations"]["jobscheduler.io/name"]
                   for j in sim.state()["jobs"])
    assert names == ["fine"]
