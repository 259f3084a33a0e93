"""The README is true: its grpcurl commands run verbatim against the real service (through a
client that, like grpcurl, knows the API only from server reflection), its configuration table
matches the binary, and its Quick start commands exist."""
import json
import re
import shlex
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from conftest import BIN, ROOT

README = (ROOT / "README.md").read_text()
REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def readme_grpcurl_commands():
    """Every grpcurl command in the README's code blocks, continuation lines joined."""
    cmds = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", README, re.S):
        text = block.replace("\\\n", " ")
        cur = None
        for line in text.splitlines():
            if cur is not None:
                cur += "\n" + line
            elif line.strip().startswith("grpcurl "):
                cur = line.strip()
            if cur is not None:
                try:
                    words = shlex.split(cur, comments=True)
                except ValueError:
                    continue  # inside a multi-line quoted -d argument
                cmds.append(words)
                cur = None
    return cmds


class ReflectionOnlyClient:
    """What grpcurl does: ask the server for descriptors, build messages from them, call."""

    def __init__(self, channel, refl_pb2):
        self.ch = channel
        self.refl = refl_pb2
        self.pool = descriptor_pool.DescriptorPool()
        self.added = set()

    def _ask(self, **req):
        call = self.ch.stream_stream(REFLECTION, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=self.refl.ServerReflectionResponse.FromString)
        return list(call(iter([self.refl.ServerReflectionRequest(**req)]), timeout=10))[0]

    def services(self):
        return sorted(s.name for s in self._ask(list_services="").list_services_response.service)

    def load(self, symbol):
        resp = self._ask(file_containing_symbol=symbol)
        protos = {p.name: p for p in (descriptor_pb2.FileDescriptorProto.FromString(b)
                                      for b in resp.file_descriptor_response.file_descriptor_proto)}

        def add(p):
            if p.name in self.added:
                return
            for dep in p.dependency:
                add(protos[dep])
            self.pool.Add(p)
            self.added.add(p.name)
        for p in protos.values():
            add(p)

    def method(self, full):
        service, name = full.rsplit("/", 1) if "/" in full else full.rsplit(".", 1)
        self.load(service)
        return self.pool.FindServiceByName(service).methods_by_name[name]

    def invoke(self, full, body):
        m = self.method(full)
        factory = message_factory.MessageFactory(self.pool)
        req = json_format.Parse(body, factory.GetPrototype(m.input_type)())
        resp_cls = factory.GetPrototype(m.output_type)
        path = "/%s/%s" % (m.containing_service.full_name, m.name)
        if m.server_streaming:
            call = self.ch.unary_stream(path, request_serializer=lambda x: x.SerializeToString(),
                                        response_deserializer=resp_cls.FromString)
            stream = call(req, timeout=10)
            first = next(stream)
            stream.cancel()
            return json.loads(json_format.MessageToJson(first))
        call = self.ch.unary_unary(path, request_serializer=lambda x: x.SerializeToString(),
                                   response_deserializer=resp_cls.FromString)
        return json.loads(json_format.MessageToJson(call(req, timeout=10)))


def run_grpcurl(client, words):
    """Interprets one grpcurl command line the way grpcurl would. The client is already
    connected: the suite runs in parallel, so the service listens on a free port rather than
    the README's 50054, the one thing in the commands this test does not take verbatim."""
    assert words[0] == "grpcurl" and "-plaintext" in words, words
    args = [w for w in words[1:] if w != "-plaintext"]
    body = "{}"
    if "-d" in args:
        i = args.index("-d")
        body = args[i + 1]
        del args[i:i + 2]
    assert args[0] == "localhost:50054", "README commands target localhost:50054: %s" % words
    verb = args[1]
    if verb == "list":
        return client.services()
    if verb == "describe":
        client.load(args[2])
        return [m.name for m in client.pool.FindServiceByName(args[2]).methods]
    return client.invoke(verb, body)


@pytest.fixture(scope="module")
def refl_pb2(tmp_path_factory):
    out = tmp_path_factory.mktemp("refl")
    src = out / "src" / "refl_v1"
    src.mkdir(parents=True)
    (src / "reflection.proto").write_text(
        (ROOT / "proto/grpc/reflection/v1/reflection.proto").read_text())
    subprocess.run(["protoc", "-I", str(out / "src"), "--python_out=%s" % out,
                    "refl_v1/reflection.proto"], check=True)
    (out / "refl_v1" / "__init__.py").touch()
    import sys
    sys.path.insert(0, str(out))
    import importlib
    return importlib.import_module("refl_v1.reflection_pb2")


def test_readme_grpcurl_commands_work_verbatim(sim, service_factory, refl_pb2):
    cmds = readme_grpcurl_commands()
    methods = [c[-1] for c in cmds]
    # The seed's three calls are all there, exactly as the design document printed them.
    for m in ("jobscheduler.JobScheduler/ScheduleJob", "jobscheduler.JobScheduler/GetJobStatus",
              "jobscheduler.JobScheduler/ListJobs"):
        assert m in methods, "README lacks the grpcurl example for %s" % m
    svc = service_factory(sim).wait_ready()
    with grpc.insecure_channel("localhost:%d" % svc.grpc_port) as ch:
        client = ReflectionOnlyClient(ch, refl_pb2)
        results = {}
        for words in cmds:
            key = words[-1] if words[-2] != "describe" else "describe"
            try:
                results[key] = ("OK", run_grpcurl(client, words))
            except grpc.RpcError as e:
                results[key] = (e.code().name, e.details())
    status, sched = results["jobscheduler.JobScheduler/ScheduleJob"]
    assert status == "OK", sched
    assert re.fullmatch(r"job-[a-z0-9]+", sched["jobId"])
    assert sched["job"]["state"] == "JOB_STATE_PENDING" and sched["job"]["name"] == "my-timer"
    # The README says an unknown id (its placeholder) answers NotFound.
    assert results["jobscheduler.JobScheduler/GetJobStatus"][0] == "NOT_FOUND"
    assert results["jobscheduler.JobScheduler/CancelJob"][0] == "NOT_FOUND"
    status, listed = results["jobscheduler.JobScheduler/ListJobs"]
    assert status == "OK" and sched["jobId"] in [j["jobId"] for j in listed["jobs"]]
    assert results["list"] == ("OK", sorted(["grpc.health.v1.Health", "jobscheduler.JobScheduler",
                                             "grpc.reflection.v1.ServerReflection",
                                             "grpc.reflection.v1alpha.ServerReflection"]))
    assert results["describe"] == ("OK", ["ScheduleJob", "GetJobStatus", "ListJobs",
                                          "CancelJob", "WatchJobs"])
    status, event = results["jobscheduler.JobScheduler/WatchJobs"]
    assert status == "OK" and event["type"] == "EVENT_TYPE_ADDED"
    assert results["grpc.health.v1.Health/Check"] == ("OK", {"status": "SERVING"})
    assert svc.stop() == 0


def test_readme_configuration_table_matches_the_binary():
    names = subprocess.run([BIN, "--config-names"], capture_output=True, text=True,
                           check=True).stdout.split()
    help_text = subprocess.run([BIN, "--help"], capture_output=True, text=True,
                               check=True).stdout
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", section, re.M))
    assert sorted(table) == sorted(names)
    for name in names:
        default = re.search(r"^\s+%s\s.*default: (.*)$" % name, help_text, re.M).group(1).strip()
        documented = table[name].strip().strip("`")
        if default == "(unset)":
            assert documented in ("unset", "~/.kube/config"), (name, documented)
        else:
            assert documented == default, (name, documented, default)


def test_readme_quick_start_commands_exist():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["scripts/run-local", "scripts/test"]
    for c in commands:
        p = ROOT / c
        assert p.exists() and p.stat().st_mode & 0o111, c
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec scripts/test" in ci
