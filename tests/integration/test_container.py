"""The container image, built and run here: scripts/container-build (which makes the Debian
base image locally with debootstrap + podman import when missing) builds Containerfile, then
the image runs --read-only (no tmpfs either) as UID 65532 on the host network against the
Kubernetes API simulator in in-cluster mode (service-account files mounted where Kubernetes
mounts them), answers /healthz, /readyz and a ScheduleJob, and exits 0 on SIGTERM.

Skipped only where podman cannot be installed or cannot run. The base image and the build
layers stay in podman's storage, so a second run only rebuilds what changed."""
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import pytest

from conftest import BUILD_DIR, ROOT, free_port, wait_for

IMAGE = "localhost/jobscheduler:latest"
# runc, not crun: the runtime known to work on these machines (scripts/install-deps --container
# installs it). Fixed here rather than probed at import time, before the install has run.
PODMAN_OPTS = ["--storage-driver", "vfs", "--runtime", "runc"]
CONTAINERS_CONF = ('[containers]\ndefault_ulimits = []\npids_limit = 0\n'
                   '[engine]\ncgroup_manager = "cgroupfs"\n')


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory):
    """The environment scripts/container-build and this suite's podman calls share."""
    if not shutil.which("podman"):
        r = subprocess.run([str(ROOT / "scripts" / "install-deps"), "--container"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0 or not shutil.which("podman"):
            pytest.skip("podman cannot be installed here (scripts/install-deps --container: %s)"
                        % (r.stderr.strip()[-500:] or "exit %d" % r.returncode))
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(conf), PODMAN_OPTS=" ".join(PODMAN_OPTS))
    r = subprocess.run(["podman", *PODMAN_OPTS, "info"], capture_output=True, text=True,
                       env=env, timeout=120)
    if r.returncode != 0:
        pytest.skip("podman cannot run here: %s" % r.stderr.strip()[-500:])
    return env


def podman(env, *args, timeout=120, check=True):
    r = subprocess.run(["podman", *PODMAN_OPTS, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, "podman %s failed:\n%s" % (" ".join(args), r.stderr)
    return r


@pytest.fixture(scope="module")
def image(podman_env):
    """Builds the image with the container:build task's script; records time and size."""
    start = time.monotonic()
    r = subprocess.run([str(ROOT / "scripts" / "container-build")], capture_output=True,
                       text=True, env=podman_env, timeout=540, cwd=ROOT)
    elapsed = time.monotonic() - start
    assert r.returncode == 0, "scripts/container-build failed:\n%s\n%s" % (
        r.stdout[-4000:], r.stderr[-4000:])
    info = json.loads(podman(podman_env, "image", "inspect", IMAGE).stdout)[0]
    report = {"image": IMAGE, "size_bytes": info["Size"], "build_seconds": round(elapsed, 1)}
    try:
        (BUILD_DIR / "container-image.json").write_text(json.dumps(report) + "\n")
    except OSError:
        pass
    print("container image: %s" % report)
    return info


def git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                          text=True).stdout.strip()


def test_image_metadata(image):
    cfg = image["Config"]
    assert cfg["User"] == "65532:65532"
    assert set(cfg["ExposedPorts"]) == {"50054/tcp", "8080/tcp"}
    assert cfg["Entrypoint"] == ["/usr/local/bin/jobscheduler"]
    labels = cfg["Labels"]
    expected_version = git("describe", "--tags", "--always", "--dirty") or "0.1.0"
    assert labels["org.opencontainers.image.version"] == expected_version
    assert labels["org.opencontainers.image.revision"].startswith(
        git("rev-parse", "--short", "HEAD") or "unknown")
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["org.opencontainers.image.source"]
    # A distroless-style image: the binary and its libraries, not a distribution.
    assert image["Size"] < 50 * 1024 * 1024, "image is %d bytes" % image["Size"]


def test_image_holds_only_the_runtime(podman_env, image, tmp_path):
    name = "jobscheduler-export-%s" % uuid.uuid4().hex[:8]
    podman(podman_env, "create", "--name", name, IMAGE)
    try:
        tar = tmp_path / "rootfs.tar"
        podman(podman_env, "export", "-o", str(tar), name)
        with tarfile.open(tar) as t:
            members = {m.name.lstrip("./"): m for m in t.getmembers()}
            passwd = t.extractfile(members["etc/passwd"]).read().decode()
    finally:
        podman(podman_env, "rm", "-f", name, check=False)
    assert members["usr/local/bin/jobscheduler"].isfile()
    for absent in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt-get", "usr/bin/dpkg"):
        assert absent not in members, "%s in the image" % absent
    for pkg in ("libc6", "libuv1", "libnghttp2-14", "libprotobuf-c1", "libjansson4",
                "libmbedtls14", "libmbedx509-1", "libmbedcrypto7", "libyaml-0-2"):
        assert "var/lib/dpkg/status.d/" + pkg in members, "no dpkg record for " + pkg
    assert "nonroot:x:65532:65532:" in passwd
    assert members["tmp"].isdir() and members["tmp"].mode & 0o1777 == 0o1777


def serviceaccount_copy(sim) -> Path:
    """The simulator's service-account files, readable by UID 65532 (pytest's tmp dirs are
    private to root)."""
    d = Path(tempfile.mkdtemp(prefix="jobscheduler-sa-"))
    d.chmod(0o755)
    for f in ("token", "ca.crt", "namespace"):
        shutil.copy(sim.state_dir / "serviceaccount" / f, d / f)
        (d / f).chmod(0o644)
    return d


def http(port, path):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_container_runs_read_only_as_nonroot_and_schedules_a_job(podman_env, image, sim, stubs,
                                                                 tmp_path):
    sa = serviceaccount_copy(sim)
    grpc_port, http_port = free_port(), free_port()
    name = "jobscheduler-test-%s" % uuid.uuid4().hex[:8]
    log_path = tmp_path / "container.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        ["podman", *PODMAN_OPTS, "run", "--rm", "--name", name,
         "--read-only", "--read-only-tmpfs=false", "--user", "65532", "--network", "host",
         "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
         "-v", "%s:/var/run/secrets/kubernetes.io/serviceaccount:ro" % sa,
         "-e", "KUBERNETES_SERVICE_HOST=127.0.0.1", "-e", "KUBERNETES_SERVICE_PORT=%d" % sim.port,
         "-e", "GRPC_PORT=%d" % grpc_port, "-e", "HTTP_PORT=%d" % http_port,
         "-e", "SHUTDOWN_GRACE_SECONDS=5", IMAGE],
        stdout=log, stderr=subprocess.STDOUT, env=podman_env)

    def logs():
        log.flush()
        return log_path.read_text(errors="replace")[-4000:]

    try:
        def alive_and(pred):
            assert proc.poll() is None, "container exited %s:\n%s" % (proc.returncode, logs())
            return pred()
        wait_for(lambda: alive_and(lambda: http(http_port, "/healthz")[0] == 200), 60,
                 what="/healthz from the container")
        wait_for(lambda: alive_and(lambda: http(http_port, "/readyz")[0] == 200), 60,
                 what="/readyz from the container (in-cluster auth, job cache sync)")

        pid = podman(podman_env, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        uids = [line.split()[1:] for line in Path("/proc/%s/status" % pid).read_text().splitlines()
                if line.startswith("Uid:")][0]
        assert uids == ["65532"] * 4

        with grpc.insecure_channel("127.0.0.1:%d" % grpc_port) as ch:
            stub = stubs.rpc.JobSchedulerStub(ch)
            pb = stubs.pb
            resp = stub.ScheduleJob(pb.ScheduleJobRequest(
                name="container-smoke",
                timer_job=pb.TimerJob(duration_seconds=1, timer_name="container-smoke",
                                      control_plane_endpoint="http://control-plane:50053")),
                timeout=30)
            assert resp.job_id
            got = stub.GetJobStatus(pb.GetJobStatusRequest(job_id=resp.job_id), timeout=10)
            assert got.job.job_id == resp.job_id
        code, body = sim.api("GET", "/apis/batch/v1/namespaces/default/jobs")
        assert code == 200 and len(body["items"]) == 1, body

        code, body = http(http_port, "/version")
        assert code == 200
        assert json.loads(body)["version"] == image["Config"]["Labels"][
            "org.opencontainers.image.version"]
        assert http(http_port, "/metrics")[0] == 200

        podman(podman_env, "kill", "--signal", "TERM", name)
        rc = proc.wait(60)
        assert rc == 0, "container exited %d after SIGTERM:\n%s" % (rc, logs())
    finally:
        if proc.poll() is None:
            podman(podman_env, "rm", "-f", name, check=False)
            proc.wait(30)
        log.close()
        shutil.rmtree(sa, ignore_errors=True)
    records = [json.loads(line) for line in log_path.read_text().splitlines()
               if line.startswith("{")]
    assert records, "no JSON log lines:\n" + log_path.read_text()[-2000:]
    assert all({"ts", "level", "msg"} <= set(r) for r in records)
