#!/usr/bin/python3
"""Kubernetes client benchmark against kube-sim (not a test; run by hand).

Measures, in one run against one simulator:
  * the simulator's own ceiling: Jobs created per second by a raw Python HTTPS client
    (64 threads, keep-alive), with p50/p99 latency;
  * the same through our client (tests/k8s_harness "bench": 64 creates in flight);
  * the informer cache's bytes per job at 10,000 and 100,000 jobs: RSS of a fresh harness
    synced on N jobs minus RSS of one synced on an empty namespace, divided by N.

Usage: bench/k8s/bench_k8s.py BUILD_DIR [--jobs 10000,100000] [--create 5000]
BUILD_DIR should be a release build (no sanitizers), e.g.
  meson setup /tmp/build-rel -Db_sanitize=none && ninja -C /tmp/build-rel src/k8s/k8s_harness
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

from k8s_util import Harness, Sim, job, kubeconfig_env, wait_for  # noqa: E402


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


def raw_ceiling(sim, ns, count, threads=64):
    """Creates |count| Jobs from |threads| keep-alive HTTPS connections (the admin token)."""
    ctx = ssl.create_default_context(cafile=sim.path("ca.crt"))
    lat = []
    lock = threading.Lock()
    next_i = [0]
    errors = [0]

    def worker():
        conn = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ctx)
        mine = []
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= count:
                break
            body = json.dumps(job(f"raw-{i}"))
            t = time.perf_counter()
            conn.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", body,
                         {"Authorization": f"Bearer {sim.admin_token}",
                          "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            mine.append((time.perf_counter() - t) * 1000)
            if r.status != 201:
                errors[0] += 1
        conn.close()
        with lock:
            lat.extend(mine)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.perf_counter() - t0
    lat.sort()
    return {"created": count - errors[0], "per_second": count / secs, "p50_ms": pct(lat, 50),
            "p99_ms": pct(lat, 99)}


def harness_env(sim, ns):
    env = kubeconfig_env(sim.path("kubeconfig"))
    env.update({"K8S_NAMESPACE": ns, "ALLOWED_NAMESPACES": ns, "K8S_MAX_CONNECTIONS": "64",
                "LOG_LEVEL": "error"})
    return env


def synced_rss(sim, ns, expect):
    h = Harness(harness_env(sim, ns))
    wait_for(lambda: h.dump_count() >= expect and h.synced(), timeout=600, interval=0.5,
             what=f"{expect} jobs in the cache")
    time.sleep(1)
    rss = h.call("rss")["rss_bytes"]
    h.close()
    return rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--jobs", default="10000,100000")
    ap.add_argument("--create", type=int, default=5000)
    args = ap.parse_args()
    os.environ["JOBSCHEDULER_BUILD_DIR"] = os.path.abspath(args.build_dir)
    Harness.dump_count = lambda self: self.call("synced") and self.call("dump")["count"]

    sizes = [int(x) for x in args.jobs.split(",") if x]
    with tempfile.TemporaryDirectory() as d:
        # Jobs stay pending (time factor 1000) and the controller ticks rarely, so the
        # simulator spends its time on the API, not on simulating pods.
        sim = Sim(os.path.join(d, "sim"), "--namespace", "bench", "--namespace", "empty",
                  "--namespace", "raw", "--history", "200000", "--tick", "30",
                  time_factor=1000)
        try:
            rows = []
            raw = raw_ceiling(sim, "raw", args.create)
            rows.append(("kube-sim ceiling (python, 64 threads)", raw))
            h = Harness(harness_env(sim, "bench"))
            h.call("events", "off")
            r = h.call("bench", "bench", str(args.create), "64", timeout=900)
            rows.append(("k8s client (64 in flight)", r))
            print(f"\n{'creates':40} {'jobs':>7} {'jobs/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
            for name, v in rows:
                print(f"{name:40} {v['created']:>7} {v['per_second']:>9.0f} {v['p50_ms']:>9.1f} "
                      f"{v['p99_ms']:>9.1f}")
            print(f"client/ceiling throughput ratio: {r['per_second'] / raw['per_second']:.2f}")
            created = args.create
            mem = []
            base = synced_rss(sim, "empty", 0)
            for n in sizes:
                if n > created:
                    more = h.call("bench", "bench", str(n - created), "64", timeout=3600)
                    created += more["created"]
                rss = synced_rss(sim, "bench", n)
                mem.append((n, rss, (rss - base) / n))
            h.close()
            print(f"\n{'cache':10} {'RSS MiB':>9} {'base MiB':>9} {'bytes/job':>10}")
            for n, rss, per in mem:
                print(f"{n:>10} {rss / 2**20:>9.1f} {base / 2**20:>9.1f} {per:>10.0f}")
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
