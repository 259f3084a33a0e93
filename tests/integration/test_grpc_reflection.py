"""Server reflection (v1 and v1alpha) as grpcurl uses it: a client with no .proto files lists
services, fetches descriptors with every dependency, builds request messages from them alone
and calls the service; json_name is kept so JSON output uses lowerCamelCase."""
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from grpc_util import Harness, grpc, reflection_pb2, reflection_pb2_grpc

V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


@pytest.fixture(scope="module")
def server():
    h = Harness()
    yield h
    h.stop()


def ask(h, requests, path=V1):
    """Sends each request on one bidi stream (as grpcurl does) and returns the answers."""
    with h.channel() as ch:
        call = ch.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=reflection_pb2.ServerReflectionResponse
                                .FromString)
        return list(call(iter(requests), timeout=10))


class ReflectionClient:
    """Builds a descriptor pool from reflection answers only."""

    def __init__(self, h, path=V1):
        self.h, self.path = h, path
        self.pool = descriptor_pool.DescriptorPool()
        self.added = set()

    def load_symbol(self, symbol):
        [resp] = ask(self.h, [reflection_pb2.ServerReflectionRequest(
            file_containing_symbol=symbol)], self.path)
        assert resp.WhichOneof("message_response") == "file_descriptor_response", resp
        protos = [descriptor_pb2.FileDescriptorProto.FromString(b)
                  for b in resp.file_descriptor_response.file_descriptor_proto]
        byname = {p.name: p for p in protos}

        def add(p):
            if p.name in self.added:
                return
            for dep in p.dependency:
                assert dep in byname, "dependency %s not sent" % dep
                add(byname[dep])
            self.pool.Add(p)
            self.added.add(p.name)

        for p in protos:
            add(p)
        return protos

    def message(self, name):
        return message_factory.MessageFactory(self.pool).GetPrototype(
            self.pool.FindMessageTypeByName(name))


@pytest.mark.parametrize("path", [V1, V1ALPHA])
def test_list_services(server, path):
    [resp] = ask(server, [reflection_pb2.ServerReflectionRequest(list_services="")], path)
    names = sorted(s.name for s in resp.list_services_response.service)
    assert names == sorted(["jobscheduler.JobScheduler", "grpc.health.v1.Health",
                            "grpc.reflection.v1.ServerReflection",
                            "grpc.reflection.v1alpha.ServerReflection"])


@pytest.mark.parametrize("path", [V1, V1ALPHA])
def test_describe_and_call_from_reflection_only(server, path):
    rc = ReflectionClient(server, path)
    protos = rc.load_symbol("jobscheduler.JobScheduler")
    assert protos[0].name == "jobscheduler.proto"
    assert "google/protobuf/timestamp.proto" in [p.name for p in protos]
    svc = rc.pool.FindServiceByName("jobscheduler.JobScheduler")
    assert [m.name for m in svc.methods] == ["ScheduleJob", "GetJobStatus", "ListJobs",
                                             "CancelJob", "WatchJobs"]
    assert svc.methods_by_name["WatchJobs"].output_type.full_name == "jobscheduler.JobEvent"
    # json_name is in the descriptors themselves, so grpcurl prints lowerCamelCase keys.
    job = [m for m in protos[0].message_type if m.name == "Job"][0]
    fields = {f.name: f for f in job.field}
    assert fields["job_id"].HasField("json_name") and fields["job_id"].json_name == "jobId"
    assert fields["created_at"].json_name == "createdAt"

    Req = rc.message("jobscheduler.ScheduleJobRequest")
    Resp = rc.message("jobscheduler.ScheduleJobResponse")
    req = json_format.Parse('{"name": "refl", "namespace": "ns", '
                            '"timerJob": {"durationSeconds": 5}}', Req())
    with server.channel() as ch:
        call = ch.unary_unary("/jobscheduler.JobScheduler/ScheduleJob",
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=Resp.FromString)
        resp = call(req, timeout=10)
    out = json_format.MessageToDict(resp)
    assert out["jobId"] == "job-refl"
    assert out["job"]["namespace"] == "ns"
    assert out["job"]["createdAt"] == "2025-11-29T04:30:00Z"


def test_symbols_of_every_kind(server):
    for symbol, file in (("jobscheduler.Job", "jobscheduler.proto"),
                         ("jobscheduler.JobScheduler.WatchJobs", "jobscheduler.proto"),
                         ("jobscheduler.JobEvent.EventType", "jobscheduler.proto"),
                         ("google.protobuf.Timestamp", "google/protobuf/timestamp.proto"),
                         ("grpc.health.v1.Health", "grpc/health/v1/health.proto")):
        [resp] = ask(server, [reflection_pb2.ServerReflectionRequest(
            file_containing_symbol=symbol)])
        first = descriptor_pb2.FileDescriptorProto.FromString(
            resp.file_descriptor_response.file_descriptor_proto[0])
        assert first.name == file


def test_file_by_filename_and_not_found_answers(server):
    reqs = [reflection_pb2.ServerReflectionRequest(file_by_filename="jobscheduler.proto"),
            reflection_pb2.ServerReflectionRequest(file_by_filename="nope.proto"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"),
            reflection_pb2.ServerReflectionRequest(file_containing_extension=reflection_pb2
                                                   .ExtensionRequest(containing_type="jobscheduler.Job",
                                                                     extension_number=100)),
            reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="jobscheduler.Job"),
            reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="no.Such")]
    resps = ask(server, reqs)
    assert len(resps) == 6
    names = [descriptor_pb2.FileDescriptorProto.FromString(b).name
             for b in resps[0].file_descriptor_response.file_descriptor_proto]
    assert names == ["jobscheduler.proto", "google/protobuf/timestamp.proto"]
    for r in resps[1:4] + resps[5:]:
        assert r.WhichOneof("message_response") == "error_response"
        assert r.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert resps[4].all_extension_numbers_response.base_type_name == "jobscheduler.Job"
    assert list(resps[4].all_extension_numbers_response.extension_number) == []
    assert resps[2].original_request.file_containing_symbol == "no.Such"
