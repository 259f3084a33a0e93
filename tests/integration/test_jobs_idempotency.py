"""JobScheduler API end to end, part 5: idempotent ScheduleJob (request_id) under concurrent
duplicates, across a restart and across two replicas, and two replicas giving the same
answers."""
import threading

import grpc

from conftest import wait_for
from jobs_util import JOB_ID_RE, Client, assert_status, rpc_error, timer_request


def concurrent(n, fn):
    """Runs fn(i) in |n| threads at once; returns the results (or exceptions) by index."""
    results = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # inspected by the caller
            results[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def jobs_in_sim(sim):
    return [j["metadata"]["name"] for j in sim.state()["jobs"]]


def test_concurrent_duplicates_make_one_job(stubs, sim, service):
    pb = stubs.pb
    req = timer_request(pb, name="once", duration=3000, request_id="req-concurrent-1",
                        env={"B": "2", "A": "1"}, labels={"x": "1"})
    clients = [Client(stubs, service.target) for _ in range(4)]
    try:
        results = concurrent(20, lambda i: clients[i % 4].schedule(req))
    finally:
        for c in clients:
            c.close()
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    ids = {r.job_id for r in results}
    assert len(ids) == 1, ids
    job_id = ids.pop()
    assert JOB_ID_RE.match(job_id)
    assert all(r.job.name == "once" for r in results)
    assert jobs_in_sim(sim) == [job_id]


def test_request_id_across_restart(stubs, sim, service_factory):
    pb = stubs.pb
    req = timer_request(pb, name="durable", duration=3000, request_id="req-restart-1")
    svc = service_factory(sim).wait_ready()
    with Client(stubs, svc.target) as c:
        first = c.schedule(req).job_id
        assert c.schedule(req).job_id == first
    assert svc.stop() == 0
    svc2 = service_factory(sim, name="restarted").wait_ready()
    with Client(stubs, svc2.target) as c:
        again = c.schedule(req)
        assert again.job_id == first
        assert again.job.name == "durable"
        # The same request in another field order (maps) is the same request.
        reordered = timer_request(pb, name="durable", duration=3000, request_id="req-restart-1")
        assert c.schedule(reordered).job_id == first
        # A different request under the same request_id is refused.
        for change in (dict(duration=3001), dict(name="other"), dict(labels={"k": "v"}),
                       dict(env={"E": "1"}), dict(image="timer-service:2")):
            kw = dict(name="durable", duration=3000, request_id="req-restart-1")
            kw.update(change)
            err = rpc_error(c.schedule, timer_request(pb, **kw))
            assert_status(err, grpc.StatusCode.ALREADY_EXISTS, "req-restart-1")
        # Other request_ids and no request_id make new jobs.
        other = c.schedule(timer_request(pb, name="durable", duration=3000,
                                         request_id="req-restart-2")).job_id
        plain = c.schedule(timer_request(pb, name="durable", duration=3000)).job_id
        assert len({first, other, plain}) == 3
    assert sorted(jobs_in_sim(sim)) == sorted([first, other, plain])


def test_two_replicas(stubs, sim, service_factory):
    pb = stubs.pb
    a = service_factory(sim, name="replica-a").wait_ready()
    b = service_factory(sim, name="replica-b").wait_ready()
    ca, cb = Client(stubs, a.target), Client(stubs, b.target)
    try:
        req = timer_request(pb, name="shared", duration=3000, request_id="req-two-replicas")
        results = concurrent(20, lambda i: (ca if i % 2 else cb).schedule(req))
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors
        ids = {r.job_id for r in results}
        assert len(ids) == 1, ids
        shared = ids.pop()
        assert jobs_in_sim(sim) == [shared]

        # A job made by one replica is visible at once through the other (API fallback),
        # and both give the same answers once their caches agree.
        more = [ca.schedule(name="from-a", duration=50).job_id,
                cb.schedule(name="from-b", duration=3000).job_id]
        assert cb.get(more[0]).name == "from-a"
        assert ca.get(more[1]).name == "from-b"
        ca.wait_state(more[0], "SUCCEEDED")
        ca.wait_state(more[1], "RUNNING")
        ca.cancel(shared)

        def same():
            la, lb = ca.list(), cb.list()
            return la == lb and len(la.jobs) == 3 and \
                {j.job_id: j.state for j in la.jobs}[shared] == pb.JOB_STATE_CANCELLED
        wait_for(same, 30, what="both replicas to list the same jobs")
        # The cancelled job's pod is still being removed, so its counters may move between the
        # two calls: the replicas must agree once the change has reached both caches.
        wait_for(lambda: all(ca.get(j) == cb.get(j) for j in [shared] + more), 30,
                 what="both replicas to answer GetJobStatus the same")
        assert cb.cancel(shared).state == pb.JOB_STATE_CANCELLED
        for c in (ca, cb):
            err = rpc_error(c.cancel, more[0])
            assert_status(err, grpc.StatusCode.FAILED_PRECONDITION)
    finally:
        ca.close()
        cb.close()
