"""Least privilege, checked not claimed: a representative end-to-end session (cache sync,
schedule, idempotent replay, get, list, watch, cancel, a job whose image never pulls, a job
that completes) runs against a fresh Kubernetes API simulator with the deployed ConfigMap's
settings, and the simulator's audit of what the service called must equal what the Role in
k8s/ grants: every grant used, every call granted, and no namespace outside the bindings.
Each test starts its own simulator, so the result does not depend on test order."""
import json
import uuid

import grpc

from conftest import wait_for
from ship_util import K8S, NAMESPACE, configmap_env, of_kind, one, rbac_rules, render


def session_env(docs, sim):
    env = dict(configmap_env(docs))
    for port in ("GRPC_PORT", "HTTP_PORT"):  # service_factory picks free ones
        env.pop(port, None)
    env.update({"IN_CLUSTER": "false",
                "KUBECONFIG": str(sim.kubeconfig), "K8S_NAMESPACE": NAMESPACE,
                "SHUTDOWN_GRACE_SECONDS": "5"})
    return env


def timer(pb, name, ns, seconds=1, image="", request_id=""):
    return pb.ScheduleJobRequest(
        name=name, namespace=ns, request_id=request_id,
        timer_job=pb.TimerJob(duration_seconds=seconds, timer_name=name, image=image,
                              control_plane_endpoint="http://control-plane:50053"))


def status(stub, pb, job_id, ns):
    return stub.GetJobStatus(pb.GetJobStatusRequest(job_id=job_id, namespace=ns), timeout=10).job


def exercise(stub, pb, ns):
    """Every RPC, in namespace |ns|, including the paths that make distinct API calls."""
    rid = str(uuid.uuid4())
    first = stub.ScheduleJob(timer(pb, "lp-done", ns, request_id=rid), timeout=30)
    replay = stub.ScheduleJob(timer(pb, "lp-done", ns, request_id=rid), timeout=30)
    assert replay.job_id == first.job_id
    try:  # the same name without the request id: a conflict, however the service words it
        stub.ScheduleJob(timer(pb, "lp-done", ns), timeout=30)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e.details()

    long = stub.ScheduleJob(timer(pb, "lp-cancel", ns, seconds=3600), timeout=30)
    cancelled = stub.CancelJob(pb.CancelJobRequest(job_id=long.job_id, namespace=ns), timeout=30)
    assert cancelled.job.job_id == long.job_id

    stuck = stub.ScheduleJob(timer(pb, "lp-pull", ns, image="timer-service:missing"), timeout=30)

    # A job the cache does not hold (created a moment ago by another replica, or unknown) is
    # fetched from the API server: that GET is part of what the Role must allow.
    try:
        stub.GetJobStatus(pb.GetJobStatusRequest(job_id="job-not-created-here", namespace=ns),
                          timeout=10)
        raise AssertionError("an unknown job must not be found")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.details()

    listed = stub.ListJobs(pb.ListJobsRequest(namespace=ns), timeout=10)
    assert {first.job_id, long.job_id, stuck.job_id} <= {j.job_id for j in listed.jobs}

    S = pb.JobState
    wait_for(lambda: status(stub, pb, first.job_id, ns).state == S.Value("JOB_STATE_SUCCEEDED"),
             60, what="lp-done to succeed")
    wait_for(lambda: status(stub, pb, long.job_id, ns).state == S.Value("JOB_STATE_CANCELLED"),
             60, what="lp-cancel to be cancelled")
    # The pull error reaches the job's message through the pod cache.
    wait_for(lambda: status(stub, pb, stuck.job_id, ns).message, 60,
             what="lp-pull to report its image pull failure")
    return {first.job_id, long.job_id, stuck.job_id}


def run_session(sim, service_factory, stubs, env, namespaces):
    svc = service_factory(sim, **env).wait_ready()
    pb = stubs.pb
    with grpc.insecure_channel(svc.target) as ch:
        stub = stubs.rpc.JobSchedulerStub(ch)
        for ns in namespaces:
            watch = stub.WatchJobs(pb.WatchJobsRequest(namespace=ns), timeout=120)
            ids = exercise(stub, pb, ns)
            seen = set()
            for ev in watch:
                seen.add(ev.job.job_id)
                if ids <= seen:
                    break
            watch.cancel()
    assert svc.stop() == 0, svc.logs()[-3000:]
    return settled_audit(sim)


def settled_audit(sim):
    """The simulator audits a request when it ends, and a watch ends only when its connection
    goes: close whatever watches the simulator still holds, wait until none is open, then
    until every listed (resource, namespace) shows its watch too."""
    sim.control("POST", "/_sim/close-watches")
    wait_for(lambda: sim.control("GET", "/_sim/stats")["open_watches"] == 0, 30,
             what="the simulator's watches to close")

    def complete():
        audit = sim.control("GET", "/_sim/audit")
        listed = {(e["resource"], e["namespace"]) for e in audit if e["verb"] == "list"}
        watched = {(e["resource"], e["namespace"]) for e in audit if e["verb"] == "watch"}
        return audit if listed <= watched else None
    return wait_for(complete, 30, what="a watch after every list (the informers' pattern)")


def compare(audit, granted, namespaces, audit_log):
    called = {(e["group"], e["resource"], e["verb"]) for e in audit}
    unused = sorted(granted - called)
    missing = sorted(called - granted)
    detail = "\naudit log (tail):\n" + "".join(audit_log.read_text().splitlines(True)[-40:])
    assert not missing, "the service called what the Role does not grant: %s%s" % (missing,
                                                                                    detail)
    assert not unused, "the Role grants what the service never called: %s%s" % (unused, detail)
    called_ns = {e["namespace"] for e in audit}
    assert "" not in called_ns, "cluster-scope calls: %s" % [e for e in audit
                                                            if not e["namespace"]]
    assert called_ns == set(namespaces), called_ns


def test_role_grants_exactly_what_the_service_calls(tmp_path, sim_factory, service_factory,
                                                   stubs):
    docs = render(K8S)
    log = tmp_path / "audit.jsonl"
    sim = sim_factory(time_factor=0.01,
                      extra_args=["--namespace", NAMESPACE, "--audit-log", str(log)])
    audit = run_session(sim, service_factory, stubs, session_env(docs, sim), [NAMESPACE])
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    compare(audit, rbac_rules(role), [NAMESPACE], log)


def test_cluster_role_grants_exactly_what_a_multi_namespace_service_calls(
        tmp_path, sim_factory, service_factory, stubs):
    docs = render(K8S / "multi-namespace")
    namespaces = configmap_env(docs)["ALLOWED_NAMESPACES"].split(",")
    bound = sorted(b["metadata"]["namespace"] for b in of_kind(docs, "RoleBinding"))
    assert bound == sorted(namespaces)
    log = tmp_path / "audit.jsonl"
    args = ["--audit-log", str(log)]
    for ns in namespaces:
        args += ["--namespace", ns]
    sim = sim_factory(time_factor=0.01, extra_args=args)
    audit = run_session(sim, service_factory, stubs, session_env(docs, sim), namespaces)
    compare(audit, rbac_rules(one(docs, "ClusterRole")), namespaces, log)
    print(json.dumps(audit, indent=1))
