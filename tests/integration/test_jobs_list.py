"""JobScheduler API end to end, part 3: ListJobs filters (namespace, type, state, labels),
order, and paging over 2,500 jobs with no duplicates or gaps while jobs change."""
import threading

import grpc

from conftest import wait_for
from jobs_util import (JOBS_PATH, Client, SimWriter, assert_status, job_manifest, rpc_error,
                       timer_request)


def order_key(job):
    return (-job.created_at.seconds, job.namespace, job.job_id)


def test_list_filters(stubs, sim, service):
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        done = c.schedule(name="done", duration=50, labels={"team": "a", "env": "prod"}).job_id
        running = c.schedule(name="running", duration=3000, labels={"team": "b"}).job_id
        failed = c.schedule(name="failed", duration=10, image="fail:1",
                            labels={"team": "a", "env": "dev"}).job_id
        cancelled = c.schedule(name="cancelled", duration=3000, labels={"team": "a"}).job_id
        c.wait_state(done, "SUCCEEDED")
        c.wait_state(running, "RUNNING")
        c.wait_state(failed, "FAILED")
        c.cancel(cancelled)
        # A Job of a type this build does not serve (written by a newer replica, say).
        other = job_manifest("job-othertype1", job_type="weather", suspend=True)
        assert sim.api("POST", JOBS_PATH % "default", other)[0] == 201
        wait_for(lambda: len(c.list().jobs) == 5, 30, what="5 jobs in the cache")

        def ids(**kw):
            return sorted(j.job_id for j in c.list(**kw).jobs)
        everything = c.list().jobs
        assert [order_key(j) for j in everything] == sorted(order_key(j) for j in everything)
        assert ids(type="timer") == sorted([done, running, failed, cancelled])
        assert ids(state=pb.JOB_STATE_SUCCEEDED) == [done]
        assert ids(state=pb.JOB_STATE_RUNNING) == [running]
        assert ids(state=pb.JOB_STATE_FAILED) == [failed]
        assert ids(state=pb.JOB_STATE_CANCELLED) == [cancelled]
        assert ids(state=pb.JOB_STATE_PENDING) == ["job-othertype1"]
        assert ids(labels={"team": "a"}) == sorted([done, failed, cancelled])
        assert ids(labels={"team": "a", "env": "prod"}) == [done]
        assert ids(labels={"team": "c"}) == []
        assert ids(labels={"team": "a"}, state=pb.JOB_STATE_FAILED, type="timer",
                   namespace="default") == [failed]
        assert ids(namespace="default") == ids()
        got = {j.job_id: j for j in c.list().jobs}
        assert dict(got[done].labels) == {"team": "a", "env": "prod"}
        assert got["job-othertype1"].type == "weather"
        assert_status(rpc_error(c.list, type="weather"), grpc.StatusCode.INVALID_ARGUMENT, "type")
        assert_status(rpc_error(c.list, state=42), grpc.StatusCode.INVALID_ARGUMENT, "state")
        assert_status(rpc_error(c.list, page_size=-1), grpc.StatusCode.INVALID_ARGUMENT,
                      "page_size")
        assert_status(rpc_error(c.list, namespace="team-z"), grpc.StatusCode.PERMISSION_DENIED)


def test_paging_over_2500_jobs(stubs, sim, service):
    total = 2500
    writer = SimWriter(sim)
    names = ["job-page%05d" % i for i in range(total)]
    # Suspended, so the simulator runs no pods for them; labels split them in two groups.
    writer.create_many(job_manifest(n, suspend=True, labels={"half": str(i % 2)})
                       for i, n in enumerate(names))
    with Client(stubs, service.target) as c:
        wait_for(lambda: len(c.list_all(page_size=1000)[0]) == total, 120,
                 interval=0.5, what="2,500 jobs in the cache")

        # Defaults and caps.
        first = c.list()
        assert len(first.jobs) == 100 and first.next_page_token
        assert len(c.list(page_size=5000).jobs) == 1000
        assert len(c.list(page_size=7).jobs) == 7

        for size, pages in ((0, 25), (100, 25), (1000, 3), (333, 8)):
            jobs, n = c.list_all(page_size=size)
            assert n == pages, (size, n)
            got = [j.job_id for j in jobs]
            assert len(got) == len(set(got)) == total, size
            assert set(got) == set(names)
            assert [order_key(j) for j in jobs] == sorted(order_key(j) for j in jobs)

        # A filter pages too, and its token is bound to it.
        half, _ = c.list_all(page_size=100, labels={"half": "1"})
        assert sorted(j.job_id for j in half) == sorted(names[1::2])
        token = c.list(page_size=10, labels={"half": "1"}).next_page_token
        assert_status(rpc_error(c.list, page_size=10, page_token=token),
                      grpc.StatusCode.INVALID_ARGUMENT, "page_token")
        for bad in ("garbage", "zz", "00", "76317c", first.next_page_token[:-2]):
            assert_status(rpc_error(c.list, page_token=bad), grpc.StatusCode.INVALID_ARGUMENT,
                          "page_token")

        # Page while jobs are created and deleted: every job that existed throughout shows up
        # exactly once.
        deleted = set(names[500:600])
        stop = threading.Event()

        def churn():
            for i in range(200):
                if stop.is_set():
                    return
                writer.create(job_manifest("job-new%05d" % i, suspend=True))
                if i < len(deleted):
                    victim = sorted(deleted)[i]
                    writer.request("DELETE", JOBS_PATH % "default" + "/" + victim)
        seen, token, pages = [], "", 0
        t = threading.Thread(target=churn)
        t.start()
        try:
            while True:
                resp = c.list(page_size=100, page_token=token)
                seen.extend(j.job_id for j in resp.jobs)
                pages += 1
                if pages == 3:
                    t.join()  # all the churn lands in the middle of the walk
                token = resp.next_page_token
                if not token:
                    break
        finally:
            stop.set()
            t.join()
        assert len(seen) == len(set(seen)), "a job was listed twice"
        kept = set(names) - deleted
        assert kept <= set(seen), "jobs missing: %s" % sorted(kept - set(seen))[:10]
        assert set(seen) <= set(names) | {"job-new%05d" % i for i in range(200)}
