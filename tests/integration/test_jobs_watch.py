"""JobScheduler API end to end, part 4: WatchJobs — ADDED for what exists, every transition
as it happens, DELETED, filters, a client that cancels, a server that shuts down, and a
snapshot far larger than one stream's send buffer."""
import queue
import threading
import time

import grpc

from conftest import wait_for
from jobs_util import JOBS_PATH, Client, SimWriter, job_manifest


class Watch:
    """A WatchJobs stream read by a thread into a queue; .status is set when it ends."""

    def __init__(self, client, delay=0.0, **kw):
        pb = client.pb
        labels = kw.pop("labels", None) or {}
        req = pb.WatchJobsRequest(**kw)
        for k, v in labels.items():
            req.labels[k] = v
        self.call = client.stub.WatchJobs(req, timeout=300)
        self.events = queue.Queue()
        self.status = None
        self.details = None
        self.delay = delay
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for ev in self.call:
                if self.delay:
                    time.sleep(self.delay)
                    self.delay = 0
                self.events.put(ev)
            self.status = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.status = e.code()
            self.details = e.details()
        self.events.put(None)

    def next(self, timeout=30):
        ev = self.events.get(timeout=timeout)
        assert ev is not None, "stream ended: %s %s" % (self.status, self.details)
        return ev

    def until(self, pred, timeout=60):
        """Events up to and including the first for which |pred| is true."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.1, deadline - time.monotonic()))
            out.append(ev)
            if pred(ev):
                return out

    def ended(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the stream did not end"
        return self.status


def test_watch_sees_every_transition(stubs, sim, service):
    pb = stubs.pb
    ADDED, MODIFIED, DELETED = (pb.JobEvent.EVENT_TYPE_ADDED, pb.JobEvent.EVENT_TYPE_MODIFIED,
                                pb.JobEvent.EVENT_TYPE_DELETED)
    with Client(stubs, service.target) as c:
        old = c.schedule(name="old", duration=3000).job_id
        c.wait_state(old, "RUNNING")
        w = Watch(c)
        first = w.next()
        assert first.type == ADDED and first.job.job_id == old
        assert first.job.state == pb.JOB_STATE_RUNNING

        job_id = c.schedule(name="watched", duration=100).job_id
        events = w.until(lambda e: e.job.job_id == job_id and
                         e.job.state == pb.JOB_STATE_SUCCEEDED)
        mine = [e for e in events if e.job.job_id == job_id]
        assert mine[0].type == ADDED and mine[0].job.state == pb.JOB_STATE_PENDING
        assert all(e.type == MODIFIED for e in mine[1:])
        states = []
        for e in mine:
            if not states or states[-1] != e.job.state:
                states.append(e.job.state)
        assert states == [pb.JOB_STATE_PENDING, pb.JOB_STATE_RUNNING, pb.JOB_STATE_SUCCEEDED]
        assert mine[-1].job.HasField("finished_at")

        status, _ = sim.api("DELETE", JOBS_PATH % "default" + "/" + job_id +
                            "?propagationPolicy=Background")
        assert status == 200
        gone = w.until(lambda e: e.type == DELETED)[-1]
        assert gone.job.job_id == job_id

        c.cancel(old)
        ev = w.until(lambda e: e.job.job_id == old and e.job.state == pb.JOB_STATE_CANCELLED)
        assert ev[-1].type == MODIFIED
        w.call.cancel()
        assert w.ended() == grpc.StatusCode.CANCELLED
        # The service does not mind clients that leave.
        assert c.get(old).state == pb.JOB_STATE_CANCELLED


def test_watch_filters(stubs, sim, service):
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        a = c.schedule(name="a", duration=3000, labels={"team": "a"}).job_id
        by_id = Watch(c, job_id=a)
        by_label = Watch(c, labels={"team": "b"})
        by_type = Watch(c, type="timer")
        by_ns = Watch(c, namespace="default")
        assert by_id.next().job.job_id == a
        assert by_type.next().job.job_id == a
        assert by_ns.next().job.job_id == a
        b = c.schedule(name="b", duration=3000, labels={"team": "b"}).job_id
        c.wait_state(b, "RUNNING")
        c.wait_state(a, "RUNNING")
        ev = by_label.next()
        assert ev.job.job_id == b and ev.type == pb.JobEvent.EVENT_TYPE_ADDED
        by_label.until(lambda e: e.job.state == pb.JOB_STATE_RUNNING)
        by_id.until(lambda e: e.job.state == pb.JOB_STATE_RUNNING)
        c.cancel(a)
        c.cancel(b)
        by_id.until(lambda e: e.job.state == pb.JOB_STATE_CANCELLED)
        by_label.until(lambda e: e.job.state == pb.JOB_STATE_CANCELLED)
        seen_by_type = by_type.until(lambda e: e.job.job_id == b and
                                     e.job.state == pb.JOB_STATE_CANCELLED)
        assert {e.job.job_id for e in seen_by_type} == {a, b}
        for w in (by_id, by_label, by_type, by_ns):
            w.call.cancel()
            w.ended()
        # Nothing of b's reached the job_id watch, nothing of a's the label watch.
        assert all(e is None or e.job.job_id == a for e in list(by_id.events.queue))
        assert all(e is None or e.job.job_id == b for e in list(by_label.events.queue))
        for bad in (dict(type="weather"), dict(job_id="Bad_Id")):
            w = Watch(c, **bad)
            assert w.ended() == grpc.StatusCode.INVALID_ARGUMENT
        w = Watch(c, namespace="team-z")
        assert w.ended() == grpc.StatusCode.PERMISSION_DENIED


def test_watch_ends_ok_on_shutdown(stubs, sim, service_factory):
    svc = service_factory(sim).wait_ready()
    c = Client(stubs, svc.target)
    try:
        job_id = c.schedule(name="x", duration=3000).job_id
        watches = [Watch(c) for _ in range(3)]
        for w in watches:
            assert w.next().job.job_id == job_id
        assert svc.stop() == 0
        for w in watches:
            assert w.ended() == grpc.StatusCode.OK
    finally:
        c.close()


def test_watch_large_snapshot(stubs, sim, service):
    """3,000 ADDED events are far more than one stream may queue: the snapshot is paced by
    the client's reading, not cut off, and live events follow it."""
    total = 3000
    writer = SimWriter(sim)
    names = ["job-snap%05d" % i for i in range(total)]
    writer.create_many(job_manifest(n, suspend=True, display_name="snapshot-%d" % i)
                       for i, n in enumerate(names))
    pb = stubs.pb
    with Client(stubs, service.target) as c:
        wait_for(lambda: len(c.list_all(page_size=1000)[0]) == total, 120, interval=0.5,
                 what="3,000 jobs in the cache")
        w = Watch(c, delay=2.0)  # a reader that starts slowly lets the server's queue fill
        got = [w.next(60) for _ in range(total)]
        assert all(e.type == pb.JobEvent.EVENT_TYPE_ADDED for e in got)
        assert sorted(e.job.job_id for e in got) == sorted(names)
        job_id = c.schedule(name="after-snapshot", duration=3000).job_id
        ev = w.until(lambda e: e.job.job_id == job_id)
        assert ev[-1].type == pb.JobEvent.EVENT_TYPE_ADDED
        # Changes during a slow snapshot are not lost either.
        w2 = Watch(c, delay=2.0)
        writer.request("PATCH", JOBS_PATH % "default" + "/" + names[0],
                       {"spec": {"suspend": False}}, content_type="application/merge-patch+json")
        c.wait_state(names[0], "RUNNING")
        evs = w2.until(lambda e: e.job.job_id == names[0] and
                       e.job.state == pb.JOB_STATE_RUNNING, timeout=120)
        assert len({e.job.job_id for e in evs}) <= total + 1
        w.call.cancel()
        w2.call.cancel()
        w.ended()
        w2.ended()
