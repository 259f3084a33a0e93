"""The Kubernetes manifests (k8s/, rendered with kustomize) checked against the real service:
security settings, probe ports and paths served by the binary started with the ConfigMap's
values, ConfigMap keys the binary accepts, graceful-shutdown timing, Service, PDB,
NetworkPolicy and Prometheus annotations; and the seed's task runner (scripts/task)."""
import json
import os
import subprocess

import pytest

from conftest import BIN, ROOT, wait_for
from ship_util import (K8S, NAMESPACE, configmap_env, config_defaults, config_names, container,
                       of_kind, one, port_number, rbac_rules, render, selector_matches)

SEED_TASKS = ["tools:install", "proto:generate", "test", "run:debug", "run", "build", "check",
              "dev", "container:build", "k8s:apply", "k8s:logs", "k8s:port-forward", "health",
              "version:info"]


@pytest.fixture(scope="module")
def docs():
    return render(K8S)


@pytest.fixture(scope="module")
def multi():
    return render(K8S / "multi-namespace")


@pytest.fixture(scope="module")
def defaults():
    return config_defaults(BIN)


def effective(docs, defaults, name):
    """The value the container sees for |name|: the ConfigMap's, else the binary's default."""
    return configmap_env(docs).get(name, defaults.get(name))


def pod_spec(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]


# ------------------------------------------------------------------ rendering and wiring

def test_renders_every_object_in_one_namespace(docs):
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                            "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"])
    assert one(docs, "Namespace")["metadata"]["name"] == NAMESPACE
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == NAMESPACE, d["metadata"]


def test_rbac_binds_the_deployments_service_account(docs):
    sa = one(docs, "ServiceAccount")["metadata"]["name"]
    assert pod_spec(docs)["serviceAccountName"] == sa
    rb = one(docs, "RoleBinding")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": one(docs, "Role")["metadata"]["name"]}
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")


def test_multi_namespace_overlay_binds_a_cluster_role_per_served_namespace(docs, multi):
    assert not of_kind(multi, "Role")
    assert not of_kind(multi, "ClusterRoleBinding"), "the service never calls at cluster scope"
    cr = one(multi, "ClusterRole")
    assert rbac_rules(cr) == rbac_rules(one(docs, "Role"))
    allowed = configmap_env(multi)["ALLOWED_NAMESPACES"].split(",")
    # K8S_NAMESPACE is the pod's namespace; config requires it to be one of ALLOWED_NAMESPACES.
    assert NAMESPACE in allowed
    bindings = of_kind(multi, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(allowed)
    sa = one(multi, "ServiceAccount")["metadata"]["name"]
    for b in bindings:
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": cr["metadata"]["name"]}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    assert {n["metadata"]["name"] for n in of_kind(multi, "Namespace")} == set(allowed)


# ------------------------------------------------------------------ configuration

def test_configmap_keys_are_variables_the_binary_accepts(docs, multi):
    names = config_names(BIN)
    for rendered in (docs, multi):
        for cm in of_kind(rendered, "ConfigMap"):
            unknown = set(cm["data"]) - names
            assert not unknown, "ConfigMap %s has keys jobscheduler does not accept: %s" % (
                cm["metadata"]["name"], sorted(unknown))
            assert all(isinstance(v, str) for v in cm["data"].values())
    env_names = {e["name"] for e in container(one(docs, "Deployment")).get("env", [])}
    assert env_names <= names, env_names - names


def test_container_ports_match_the_configured_ports(docs, defaults):
    c = container(one(docs, "Deployment"))
    assert port_number(c, "grpc") == int(effective(docs, defaults, "GRPC_PORT"))
    assert port_number(c, "http") == int(effective(docs, defaults, "HTTP_PORT"))
    assert int(defaults["GRPC_PORT"]) == 50054 and int(defaults["HTTP_PORT"]) == 8080


def test_termination_grace_exceeds_shutdown_grace(docs, defaults):
    grace = int(effective(docs, defaults, "SHUTDOWN_GRACE_SECONDS"))
    assert pod_spec(docs)["terminationGracePeriodSeconds"] > grace


# ------------------------------------------------------------------ deployment shape and security

def test_deployment_is_highly_available(docs):
    d = one(docs, "Deployment")
    assert d["spec"]["replicas"] == 2
    strategy = d["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    spec = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert selector_matches(d["spec"]["selector"], labels)
    spreads = spec.get("topologySpreadConstraints", [])
    assert any(s["topologyKey"] == "kubernetes.io/hostname" and
               selector_matches(s["labelSelector"], labels) for s in spreads)
    anti = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert selector_matches(anti[0]["podAffinityTerm"]["labelSelector"], labels)


def test_security_settings(docs):
    spec = pod_spec(docs)
    c = container(one(docs, "Deployment"))
    psc, csc = spec["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and csc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 65532 and csc["runAsUser"] == 65532
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc.get("privileged", False) is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(host)
    assert not spec.get("volumes"), "the service writes nothing: no volumes are needed"
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}
    assert c["image"] == "localhost/jobscheduler:latest"  # what scripts/container-build tags
    ns = one(docs, "Namespace")["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_exposes_grpc_and_metrics(docs, defaults):
    svc = one(docs, "Service")
    d = one(docs, "Deployment")
    c = container(d)
    assert selector_matches({"matchLabels": svc["spec"]["selector"]},
                            d["spec"]["template"]["metadata"]["labels"])
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    grpc = ports["grpc"]
    assert grpc["appProtocol"] == "grpc"
    assert grpc["port"] == 50054
    assert port_number(c, grpc["targetPort"]) == int(effective(docs, defaults, "GRPC_PORT"))
    metrics = ports["http-metrics"]
    assert metrics["port"] == 8080
    assert port_number(c, metrics["targetPort"]) == int(effective(docs, defaults, "HTTP_PORT"))


def test_pod_disruption_budget(docs):
    pdb = one(docs, "PodDisruptionBudget")
    d = one(docs, "Deployment")
    assert selector_matches(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
    assert 1 <= pdb["spec"]["minAvailable"] < d["spec"]["replicas"]


def test_network_policy(docs, defaults):
    np_ = one(docs, "NetworkPolicy")["spec"]
    d = one(docs, "Deployment")
    assert selector_matches(np_["podSelector"], d["spec"]["template"]["metadata"]["labels"])
    assert sorted(np_["policyTypes"]) == ["Egress", "Ingress"]
    grpc_port = int(effective(docs, defaults, "GRPC_PORT"))
    http_port = int(effective(docs, defaults, "HTTP_PORT"))
    ingress = {}
    for rule in np_["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` admits everyone: %s" % rule
        for p in rule["ports"]:
            assert p["protocol"] == "TCP"
            ingress[p["port"]] = rule["from"]
    assert set(ingress) == {grpc_port, http_port}
    assert ingress[grpc_port] == [{"namespaceSelector": {},
                                   "podSelector": {"matchLabels": {"jobscheduler-client": "true"}}}]
    assert ingress[http_port] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]
    egress = {(p["protocol"], p["port"]) for rule in np_["egress"] for p in rule["ports"]}
    assert egress == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443)}
    dns = [r for r in np_["egress"] if any(p["port"] == 53 for p in r["ports"])][0]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_prometheus_annotations(docs, defaults):
    http_port = effective(docs, defaults, "HTTP_PORT")
    for obj in (one(docs, "Deployment")["spec"]["template"], one(docs, "Service")):
        ann = obj["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true"
        assert ann["prometheus.io/port"] == http_port
        assert ann["prometheus.io/path"] == "/metrics"


# ------------------------------------------------------------------ probes against the real binary

def probe_env(docs, sim):
    """The ConfigMap's environment with the ports moved to free ones (tests run in parallel)
    and the simulator's kubeconfig instead of the in-cluster service account."""
    env = dict(configmap_env(docs))
    for port in ("GRPC_PORT", "HTTP_PORT"):  # service_factory picks free ones
        env.pop(port, None)
    env.update({"IN_CLUSTER": "false",
                "KUBECONFIG": str(sim.kubeconfig), "K8S_NAMESPACE": "default",
                "SHUTDOWN_GRACE_SECONDS": "5"})
    return env


def probes(docs):
    c = container(one(docs, "Deployment"))
    return {k: c[k] for k in ("startupProbe", "livenessProbe", "readinessProbe")}


def check_probe(svc, c, probe, stubs):
    """Performs |probe| the way the kubelet would; returns True when it passes."""
    if "httpGet" in probe:
        port = port_number(c, probe["httpGet"]["port"])
        target = {50054: svc.grpc_port, 8080: svc.http_port}[port]
        assert target == svc.http_port, "an httpGet probe must target the ops HTTP port"
        code, _ = svc.http(probe["httpGet"]["path"])
        return 200 <= code < 400
    if "grpc" in probe:
        import grpc
        assert probe["grpc"]["port"] == 50054
        with grpc.insecure_channel(svc.target) as ch:
            resp = stubs.health_rpc.HealthStub(ch).Check(
                stubs.health_pb.HealthCheckRequest(service=probe["grpc"].get("service", "")),
                timeout=5)
            return resp.status == stubs.health_pb.HealthCheckResponse.SERVING
    raise AssertionError("unsupported probe %s" % probe)


def test_probes_pass_on_the_service_started_with_the_configmap(docs, sim, service_factory,
                                                              stubs):
    c = container(one(docs, "Deployment"))
    svc = service_factory(sim, **probe_env(docs, sim)).wait_ready()
    for name, probe in probes(docs).items():
        assert check_probe(svc, c, probe, stubs), "%s fails on a ready service" % name
    code, body = svc.http("/metrics")
    assert code == 200 and "process_resident_memory_bytes" in body
    assert svc.stop() == 0


def test_liveness_passes_and_readiness_fails_before_the_cache_syncs(docs, sim, service_factory,
                                                                   stubs):
    """A pod whose API server is unreachable must not be restarted (liveness, startup pass)
    but must get no traffic (readiness fails)."""
    sim.control("POST", "/_sim/stop")
    c = container(one(docs, "Deployment"))
    svc = service_factory(sim, **probe_env(docs, sim))
    p = probes(docs)
    wait_for(lambda: check_probe(svc, c, p["livenessProbe"], stubs), 30, what="liveness")
    assert check_probe(svc, c, p["startupProbe"], stubs)
    code, body = svc.http(p["readinessProbe"]["httpGet"]["path"])
    assert code == 503, body
    assert not check_probe(svc, c, p["readinessProbe"], stubs)
    sim.control("POST", "/_sim/start")
    wait_for(lambda: check_probe(svc, c, p["readinessProbe"], stubs), 60, what="readiness")
    assert svc.stop() == 0


# ------------------------------------------------------------------ the seed's tasks

def task(*args, env=None, timeout=120):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([str(ROOT / "scripts" / "task"), *args], capture_output=True,
                          text=True, env=full, timeout=timeout, cwd=ROOT)


def test_task_list_names_every_seed_task():
    out = task("--list")
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    for name in SEED_TASKS + ["bench:grpc", "bench:k8s", "bench:jobs", "fuzz"]:
        assert name in listed, "scripts/task --list lacks %s:\n%s" % (name, out.stdout)


def test_unknown_task_is_an_error():
    out = task("no-such-task")
    assert out.returncode == 2 and "unknown task" in out.stderr


@pytest.mark.parametrize("name", ["k8s:apply", "k8s:logs", "k8s:port-forward"])
def test_cluster_tasks_fail_clearly_without_a_cluster(tmp_path, name):
    out = task(name, env={"KUBECONFIG": str(tmp_path / "absent")})
    assert out.returncode == 1
    assert "needs a reachable Kubernetes cluster" in out.stderr, out.stderr


def test_version_info_task_prints_what_a_build_embeds():
    out = task("version:info")
    assert out.returncode == 0, out.stderr
    fields = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert set(fields) == {"VERSION", "GIT_COMMIT", "BUILD_DATE", "COMPILER"}
    built = subprocess.run([BIN, "version"], capture_output=True, text=True).stdout.strip()
    # Same git describe as the binary under test (which may have been built a moment earlier).
    assert fields["VERSION"].split("-dirty")[0] == built.split("-dirty")[0]


def test_health_task_checks_http_and_grpc_health(service):
    out = task("health", "--grpc-port", str(service.grpc_port), "--http-port",
               str(service.http_port))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "/healthz  200" in out.stdout
    assert "Health/Check('')  SERVING" in out.stdout
    assert out.stdout.strip().endswith("healthy")


def test_health_task_fails_when_nothing_listens():
    from conftest import free_port
    out = task("health", "--grpc-port", str(free_port()), "--http-port", str(free_port()))
    assert out.returncode == 1
    assert "NOT healthy" in out.stdout


def test_version_endpoint_matches_the_binary(service):
    code, body = service.http("/version")
    assert code == 200
    built = subprocess.run([BIN, "version"], capture_output=True, text=True).stdout.strip()
    assert json.loads(body)["version"] == built
