"""JobScheduler API end to end, part 1: the README's calls, a timer job's life in scaled time
(simulator time factor 0.01: 300 s runs 3 s), failing and missing images, CancelJob in every
state, a Job suspended by someone else, and the job metrics."""
import grpc
import pytest
from google.protobuf import json_format

from conftest import wait_for
from jobs_util import (JOB_ID_RE, JOBS_PATH, README_SCHEDULE, Client, assert_status, job_manifest,
                       metric_value, rpc_error, sim_job, sim_pods_of, timer_request, ts)


def test_readme_calls(stubs, sim, service):
    """The seed README's three grpcurl bodies, parsed from their JSON as grpcurl would."""
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        req = json_format.ParseDict(README_SCHEDULE, pb.ScheduleJobRequest())
        resp = c.stub.ScheduleJob(req, timeout=30)
        assert JOB_ID_RE.match(resp.job_id), resp.job_id
        assert resp.job.job_id == resp.job_id
        assert resp.job.state == pb.JOB_STATE_PENDING
        assert resp.job.name == "my-timer"
        assert resp.job.namespace == "default"
        assert resp.job.type == "timer"
        assert resp.job.HasField("created_at")

        got = c.stub.GetJobStatus(json_format.ParseDict({"job_id": resp.job_id},
                                                        pb.GetJobStatusRequest()), timeout=30)
        assert got.job.job_id == resp.job_id
        assert got.job.name == "my-timer"

        listed = c.stub.ListJobs(json_format.ParseDict({}, pb.ListJobsRequest()), timeout=30)
        assert [j.job_id for j in listed.jobs] == [resp.job_id]
        assert listed.next_page_token == ""

    # The Job in Kubernetes is named by the job_id, so `kubectl get job <job_id>` works.
    job = sim_job(sim, "default", resp.job_id)
    assert job is not None
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "jobscheduler"
    assert labels["jobscheduler.io/type"] == "timer"
    assert labels["jobscheduler.io/name"] == "my-timer"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["JOB_ID"] == resp.job_id
    assert env["TIMER_DURATION_SECONDS"] == "300"
    assert env["TIMER_NAME"] == "build-timeout"
    assert env["CONTROL_PLANE_ENDPOINT"] == "http://control-plane:50053"
    assert job["spec"]["activeDeadlineSeconds"] > 300


def test_timer_lifecycle(stubs, sim, service):
    """PENDING -> RUNNING -> SUCCEEDED with created <= started <= finished."""
    pb = stubs.pb
    seen = []
    with Client(stubs, service.target) as c:
        resp = c.schedule(name="lifecycle", duration=300, labels={"team": "infra"})
        assert resp.job.state == pb.JOB_STATE_PENDING
        job_id = resp.job_id

        def poll():
            job = c.get(job_id)
            if not seen or seen[-1] != job.state:
                seen.append(job.state)
            return job if job.state == pb.JOB_STATE_SUCCEEDED else None
        job = wait_for(poll, 60, interval=0.05, what="the timer job to succeed")
    assert seen[0] == pb.JOB_STATE_PENDING or seen[0] == pb.JOB_STATE_RUNNING
    assert pb.JOB_STATE_RUNNING in seen, seen
    assert seen[-1] == pb.JOB_STATE_SUCCEEDED
    # States only move forward.
    order = [pb.JOB_STATE_PENDING, pb.JOB_STATE_RUNNING, pb.JOB_STATE_SUCCEEDED]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen), seen
    assert job.HasField("created_at") and job.HasField("started_at") and job.HasField("finished_at")
    assert ts(job.created_at) <= ts(job.started_at) <= ts(job.finished_at)
    # 300 s at a time factor of 0.01 is 3 s of running.
    assert ts(job.finished_at) - ts(job.started_at) >= 2
    assert job.succeeded == 1 and job.active == 0 and job.failed == 0
    assert dict(job.labels) == {"team": "infra"}
    assert job.message == ""


def test_failing_image_fails_with_reason(stubs, sim, service):
    with Client(stubs, service.target) as c:
        job_id = c.schedule(name="fails", duration=60, image="registry.local/fail-fast:1").job_id
        job = c.wait_state(job_id, "FAILED")
        assert "BackoffLimitExceeded" in job.message, job.message
        assert job.failed >= 1
        assert job.HasField("finished_at")


def test_missing_image_pending_with_pull_error(stubs, sim, service):
    with Client(stubs, service.target) as c:
        job_id = c.schedule(name="never-pulls", duration=60,
                            image="registry.local/missing-image:1").job_id

        def waiting():
            job = c.get(job_id)
            return job if ("ImagePullBackOff" in job.message or "ErrImagePull" in job.message) \
                else None
        job = wait_for(waiting, 30, what="the pull error in the job's message")
        assert job.state == stubs.pb.JOB_STATE_PENDING
        # It stays pending: the pod never starts.
        for _ in range(10):
            assert c.get(job_id).state == stubs.pb.JOB_STATE_PENDING


def test_cancel_running_job(stubs, sim, service_factory):
    pb = stubs.pb
    svc = service_factory(sim).wait_ready()
    with Client(stubs, svc.target) as c:
        job_id = c.schedule(name="to-cancel", duration=3000).job_id
        c.wait_state(job_id, "RUNNING")
        assert sim_pods_of(sim, job_id), "the running job should have a pod"
        job = c.cancel(job_id)
        assert job.state == pb.JOB_STATE_CANCELLED
        assert c.get(job_id).state == pb.JOB_STATE_CANCELLED
        # Its pods are gone.
        wait_for(lambda: not sim_pods_of(sim, job_id), 30, what="the cancelled job's pods to go")
        # The record is on the Job itself.
        k8s = sim_job(sim, "default", job_id)
        assert k8s["spec"]["suspend"] is True
        assert "jobscheduler.io/cancelled-at" in k8s["metadata"]["annotations"]
        # Cancelling twice is fine.
        assert c.cancel(job_id).state == pb.JOB_STATE_CANCELLED
    assert svc.stop() == 0

    svc2 = service_factory(sim, name="restarted").wait_ready()
    with Client(stubs, svc2.target) as c:
        assert c.get(job_id).state == pb.JOB_STATE_CANCELLED
        assert c.cancel(job_id).state == pb.JOB_STATE_CANCELLED
        listed = c.list(state=pb.JOB_STATE_CANCELLED)
        assert [j.job_id for j in listed.jobs] == [job_id]


def test_cancel_pending_and_uncached(stubs, sim, service):
    """A job created by another replica a moment ago (not in this cache yet) and a pending one."""
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        job_id = c.schedule(name="pending-cancel", duration=3000,
                            image="registry.local/missing:1").job_id
        assert c.cancel(job_id).state == pb.JOB_STATE_CANCELLED
        status, _ = sim.api("POST", JOBS_PATH % "default", job_manifest("job-elsewhere1"))
        assert status == 201
        assert c.cancel("job-elsewhere1").state == pb.JOB_STATE_CANCELLED
        assert c.get("job-elsewhere1").state == pb.JOB_STATE_CANCELLED


def test_cancel_errors(stubs, sim, service):
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        job_id = c.schedule(name="short", duration=100).job_id
        c.wait_state(job_id, "SUCCEEDED")
        err = rpc_error(c.cancel, job_id)
        assert_status(err, grpc.StatusCode.FAILED_PRECONDITION, job_id, "SUCCEEDED")
        assert c.get(job_id).state == pb.JOB_STATE_SUCCEEDED

        failed = c.schedule(name="f", duration=10, image="fail:1").job_id
        c.wait_state(failed, "FAILED")
        assert_status(rpc_error(c.cancel, failed), grpc.StatusCode.FAILED_PRECONDITION)

        assert_status(rpc_error(c.cancel, "job-doesnotexist"), grpc.StatusCode.NOT_FOUND,
                      "job-doesnotexist")
        assert_status(rpc_error(c.get, "job-doesnotexist"), grpc.StatusCode.NOT_FOUND,
                      "job-doesnotexist")
        assert_status(rpc_error(c.get, ""), grpc.StatusCode.INVALID_ARGUMENT, "job_id")
        assert_status(rpc_error(c.cancel, "Not_A_Name"), grpc.StatusCode.INVALID_ARGUMENT,
                      "job_id")
        # A Job of that name that jobscheduler did not create is not ours.
        foreign = job_manifest("job-foreign1")
        del foreign["metadata"]["labels"]["app.kubernetes.io/managed-by"]
        del foreign["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"]
        assert sim.api("POST", JOBS_PATH % "default", foreign)[0] == 201
        assert_status(rpc_error(c.get, "job-foreign1"), grpc.StatusCode.NOT_FOUND)
        # ... so it cannot be cancelled through the API either: it stays untouched.
        assert_status(rpc_error(c.cancel, "job-foreign1"), grpc.StatusCode.NOT_FOUND)
        k8s = sim_job(sim, "default", "job-foreign1")
        assert not k8s["spec"].get("suspend")
        assert "jobscheduler.io/cancelled-at" not in (k8s["metadata"].get("annotations") or {})


def test_suspended_by_someone_else_is_pending(stubs, sim, service):
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        job_id = c.schedule(name="queued", duration=3000).job_id
        c.wait_state(job_id, "RUNNING")
        status, body = sim.api("PATCH", JOBS_PATH % "default" + "/" + job_id,
                               {"spec": {"suspend": True}},
                               content_type="application/merge-patch+json")
        assert status == 200, body

        def suspended():
            job = c.get(job_id)
            return job if job.state == pb.JOB_STATE_PENDING and "Suspended" in job.message \
                else None
        job = wait_for(suspended, 30, what="the suspended job to report PENDING with a reason")
        assert job.state != pb.JOB_STATE_CANCELLED
        wait_for(lambda: not sim_pods_of(sim, job_id), 30, what="the suspended job's pods to go")
        for _ in range(5):
            assert c.get(job_id).state == pb.JOB_STATE_PENDING
        # Resumed by its queue controller, it runs again.
        status, _ = sim.api("PATCH", JOBS_PATH % "default" + "/" + job_id,
                            {"spec": {"suspend": False}},
                            content_type="application/merge-patch+json")
        assert status == 200
        c.wait_state(job_id, "RUNNING")
        # And a Job someone else suspended can still be cancelled by us.
        assert c.cancel(job_id).state == pb.JOB_STATE_CANCELLED


def test_metrics(stubs, sim, service):
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        done = c.schedule(name="m1", duration=50).job_id
        running = c.schedule(name="m2", duration=3000).job_id
        cancelled = c.schedule(name="m3", duration=3000).job_id
        c.wait_state(done, "SUCCEEDED")
        c.wait_state(running, "RUNNING")
        c.cancel(cancelled)
        c.cancel(cancelled)  # a repeat is not a second cancellation
        rpc_error(c.schedule, name="")  # rejected requests are not scheduled jobs

    def scrape():
        status, text = service.http("/metrics")
        assert status == 200
        return text
    text = scrape()
    assert metric_value(text, "jobscheduler_jobs_scheduled_total", {"type": "timer"}) == 3
    assert metric_value(text, "jobscheduler_jobs_cancelled_total") == 1
    assert metric_value(text, "jobscheduler_jobs", {"type": "timer", "state": "succeeded"}) == 1
    assert metric_value(text, "jobscheduler_jobs", {"type": "timer", "state": "running"}) == 1
    assert metric_value(text, "jobscheduler_jobs", {"type": "timer", "state": "cancelled"}) == 1
    assert "# TYPE jobscheduler_jobs gauge" in text
    assert "# TYPE jobscheduler_jobs_scheduled_total counter" in text
