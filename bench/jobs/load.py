#!/usr/bin/python3
"""End-to-end JobScheduler benchmark driver (bench/jobs/run.sh runs it).

In one run, against the Kubernetes API simulator (tests/kube_sim) on this machine:
  1. the simulator's own Job-create ceiling: direct HTTPS creates, 64 in flight;
  2. ScheduleJob jobs/s and p50/p99 latency through the service, 64 calls in flight;
  3. GetJobStatus and ListJobs(page_size 10) requests/s from a 10,000-job cache, with
     h2load posting a prebuilt gRPC body (5-byte prefix + protobuf);
  4. the service's RSS at 0, 10,000 and 100,000 cached jobs (Jobs written straight into the
     simulator, so the cache fills through the watch).
Every request goes to 127.0.0.1 only; every loop is bounded in count and time."""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from conftest import KubeSim, generate_stubs, wait_for  # noqa: E402
from jobs_util import SimWriter, job_manifest  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values, p):
    values = sorted(values)
    if not values:
        return 0.0
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


class Service:
    def __init__(self, binary, sim, workdir):
        self.grpc_port, self.http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRPC_", "K8S_", "KUBE"))}
        env.update({"IN_CLUSTER": "false", "KUBECONFIG": str(sim.kubeconfig),
                    "GRPC_PORT": str(self.grpc_port), "HTTP_PORT": str(self.http_port),
                    "LOG_LEVEL": "warn", "GRPC_MAX_CONCURRENT_STREAMS": "1000",
                    "K8S_MAX_CONNECTIONS": os.environ.get("BENCH_K8S_MAX_CONNECTIONS", "16"), "SHUTDOWN_GRACE_SECONDS": "5"})
        self.log = open(workdir / "service.log", "w")
        self.proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        wait_for(self.ready, 60, what="service readiness")

    def ready(self):
        if self.proc.poll() is not None:
            raise SystemExit("service exited %s" % self.proc.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.http_port,
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def cached_jobs(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                    timeout=30) as r:
            text = r.read().decode()
        return int(sum(float(m) for m in
                       re.findall(r"^jobscheduler_jobs\{[^}]*\}\s+(\S+)$", text, re.M)))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            self.log.close()


def sim_ceiling(sim, n, inflight):
    """Direct creates against the simulator with |inflight| keep-alive connections, of Jobs
    shaped like ScheduleJob's (not suspended, a pod each, an hour long), so both rows ask the
    simulator for the same work."""
    writer = SimWriter(sim)
    t0 = time.monotonic()
    writer.create_many((job_manifest("job-ceil%06d" % i, duration=3600) for i in range(n)),
                       threads=inflight)
    return n / (time.monotonic() - t0)


def schedule_load(stubs, target, n, inflight):
    """ScheduleJob with |inflight| calls outstanding; returns (jobs/s, p50 ms, p99 ms, errors)."""
    import grpc
    pb = stubs.pb
    channels = [grpc.insecure_channel(target) for _ in range(4)]
    rpcs = [stubs.rpc.JobSchedulerStub(c) for c in channels]
    sem = threading.Semaphore(inflight)
    lat, errors, lock = [], [0], threading.Lock()
    done = threading.Event()
    remaining = [n]

    def finished(fut, start):
        elapsed = time.monotonic() - start
        with lock:
            if fut.exception() is None:
                lat.append(elapsed * 1000)
            else:
                errors[0] += 1
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()
        sem.release()

    t0 = time.monotonic()
    for i in range(n):
        sem.acquire()
        req = pb.ScheduleJobRequest(name="bench-%d" % i, timer_job=pb.TimerJob(
            duration_seconds=3600, timer_name="bench",
            control_plane_endpoint="http://control-plane:50053"))
        start = time.monotonic()
        fut = rpcs[i % 4].ScheduleJob.future(req, timeout=60)
        fut.add_done_callback(lambda f, s=start: finished(f, s))
    done.wait(600)
    wall = time.monotonic() - t0
    for c in channels:
        c.close()
    return len(lat) / wall, percentile(lat, 50), percentile(lat, 99), errors[0]


def grpc_body(msg):
    raw = msg.SerializeToString()
    return b"\x00" + struct.pack(">I", len(raw)) + raw


def h2load(target, method, body, workdir, n, clients=4, streams=32):
    path = workdir / (method + ".bin")
    path.write_bytes(body)
    out = subprocess.run(["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams),
                          "-H", "content-type: application/grpc", "-H", "te: trailers",
                          "-d", str(path), "http://%s/jobscheduler.JobScheduler/%s" % (target, method)],
                         capture_output=True, text=True, timeout=300)
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out.stdout)
    ok = re.search(r"status codes: (\d+) 2xx", out.stdout)
    if not m or not ok or int(ok.group(1)) != n:
        raise SystemExit("h2load failed:\n" + out.stdout + out.stderr)
    return float(m.group(1))


def fill(sim, service, start, count, label):
    """Writes |count| suspended Jobs into the simulator and waits until the cache has them."""
    writer = SimWriter(sim)
    t0 = time.monotonic()
    writer.create_many((job_manifest("job-%s%07d" % (label, i), suspend=True)
                        for i in range(start, start + count)), threads=16)
    target = start + count
    wait_for(lambda: service.cached_jobs() >= target, 900, interval=1.0,
             what="%d jobs in the cache" % target)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--schedule-jobs", type=int, default=3000)
    ap.add_argument("--ceiling-jobs", type=int, default=3000)
    ap.add_argument("--requests", type=int, default=50000)
    ap.add_argument("--big", type=int, default=100000)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    stubs_dir = generate_stubs(work / "stubs")
    sys.path.insert(0, str(stubs_dir))

    class Stubs:
        import jobscheduler_pb2 as pb
        import jobscheduler_pb2_grpc as rpc

    rows = []
    (work / "sim").mkdir()
    # A long tick keeps the simulator's controller from dominating the CPU with 100k Jobs;
    # a deep watch queue keeps the service's watch open while Jobs arrive in bulk.
    sim = KubeSim(work / "sim", time_factor=1.0,
                  extra_args=["--tick", "0.5", "--watch-queue-size", "500000",
                              "--history", "300000", "--log-level", "WARNING"])
    svc = None
    try:
        svc = Service(args.binary, sim, work)
        time.sleep(1)
        rss0 = rss_kib(svc.proc.pid)

        # The ceiling runs first: the simulator slows as it holds more running Jobs, so this
        # order favours the simulator, never the service.
        ceiling = sim_ceiling(sim, args.ceiling_jobs, 64)
        rate, p50, p99, errs = schedule_load(Stubs, "127.0.0.1:%d" % svc.grpc_port,
                                             args.schedule_jobs, 64)
        rows.append(("ScheduleJob, 64 in flight (%d jobs)" % args.schedule_jobs,
                     "%.0f jobs/s" % rate, "p50 %.1f ms, p99 %.1f ms, %d errors" % (p50, p99, errs)))
        rows.append(("kube_sim direct create ceiling, 64 in flight (%d jobs)" % args.ceiling_jobs,
                     "%.0f jobs/s" % ceiling, "same simulator, same run, same Job shape"))

        have = svc.cached_jobs()
        fill_s = fill(sim, svc, 0, max(0, 10000 - have), "fill")
        time.sleep(2)
        rss10k = rss_kib(svc.proc.pid)
        cached = svc.cached_jobs()
        some = "job-fill%07d" % 0
        target = "127.0.0.1:%d" % svc.grpc_port
        get_rps = h2load(target, "GetJobStatus",
                         grpc_body(Stubs.pb.GetJobStatusRequest(job_id=some)), work,
                         args.requests)
        list_rps = h2load(target, "ListJobs", grpc_body(Stubs.pb.ListJobsRequest(page_size=10)),
                          work, max(1000, args.requests // 50))
        rows.append(("GetJobStatus from a %d-job cache (h2load -c4 -m32)" % cached,
                     "%.0f req/s" % get_rps, ""))
        rows.append(("ListJobs page_size=10 from a %d-job cache (h2load -c4 -m32)" % cached,
                     "%.0f req/s" % list_rps, "one pass over the cache, keeps only the page"))

        big_s = fill(sim, svc, 10000, max(0, args.big - svc.cached_jobs()), "big")
        time.sleep(2)
        rss_big = rss_kib(svc.proc.pid)
        rows.append(("RSS at 0 jobs", "%.1f MiB" % (rss0 / 1024), ""))
        rows.append(("RSS at %d jobs" % cached, "%.1f MiB" % (rss10k / 1024),
                     "cache filled via watch in %.0f s" % fill_s))
        rows.append(("RSS at %d jobs" % svc.cached_jobs(), "%.1f MiB" % (rss_big / 1024),
                     "cache filled via watch in %.0f s" % big_s))
    finally:
        if svc:
            rc = svc.stop()
            if rc != 0:
                print("service exited %d" % rc, file=sys.stderr)
        sim.stop()

    width = max(len(r[0]) for r in rows)
    print("\n%-*s | %-14s | %s" % (width, "measurement", "result", "notes"))
    print("-" * width + "-+-" + "-" * 14 + "-+-" + "-" * 40)
    for name, value, note in rows:
        print("%-*s | %-14s | %s" % (width, name, value, note))
    print("\nworkdir: %s" % work)


if __name__ == "__main__":
    main()
