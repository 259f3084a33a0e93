"""Helpers for the shipping suites (manifests, RBAC, container): rendering the kustomize
trees, reading the binary's own view of its configuration, and a few manifest lookups."""
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
NAMESPACE = "jobscheduler"


def render(path: Path) -> list:
    """`kubectl kustomize PATH`, parsed: the list of rendered objects."""
    out = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, "kubectl kustomize %s failed:\n%s" % (path, out.stderr)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs: list, kind: str) -> list:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list, kind: str) -> dict:
    found = of_kind(docs, kind)
    assert len(found) == 1, "expected exactly one %s, found %d" % (kind, len(found))
    return found[0]


def config_names(binary: str) -> set:
    """Every environment variable the binary accepts (`jobscheduler --config-names`)."""
    out = subprocess.run([binary, "--config-names"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    names = set(out.stdout.split())
    assert "GRPC_PORT" in names and "HTTP_PORT" in names, out.stdout
    return names


def config_defaults(binary: str) -> dict:
    """NAME -> default (None when unset) from `jobscheduler --help`."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    defaults = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^\s+([A-Z][A-Z0-9_]+)\s.*default: (.*?)\s*$", line)
        if m:
            defaults[m.group(1)] = None if m.group(2) == "(unset)" else m.group(2)
    assert defaults.get("GRPC_PORT") and defaults.get("HTTP_PORT"), out.stdout
    return defaults


def rbac_rules(role: dict) -> set:
    """A Role's or ClusterRole's grants as {(apiGroup, resource, verb)}; wildcards and
    resourceNames are rejected: least privilege is stated explicitly."""
    granted = set()
    for rule in role.get("rules", []):
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    assert "*" not in (group, res, verb), "wildcard in %s" % rule
                    granted.add((group, res, verb))
    return granted


def container(deploy: dict) -> dict:
    containers = deploy["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, containers
    return containers[0]


def port_number(c: dict, port) -> int:
    """Resolves a probe's or Service's port (a number or a container port name)."""
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError("port %r is not a named port of container %s" % (port, c["name"]))


def configmap_env(docs: list) -> dict:
    """The environment the Deployment's ConfigMap gives the container."""
    deploy = one(docs, "Deployment")
    refs = [e["configMapRef"]["name"] for e in container(deploy).get("envFrom", [])
            if "configMapRef" in e]
    env = {}
    for cm in of_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"] in refs:
            env.update(cm.get("data", {}))
    return env


def selector_matches(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are expected"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
