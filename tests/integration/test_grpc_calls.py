"""gRPC call shapes and status paths with generated python3-grpcio clients against the gRPC
test harness (tests/grpc_harness)."""
import concurrent.futures
import socket
import threading
import time

import pytest

from grpc_util import Harness, RawConn, grpc, pb, request_block, frame, HEADERS, DATA, \
    END_HEADERS, RST_STREAM, grpc_frame


@pytest.fixture(scope="module")
def server():
    h = Harness()
    yield h
    h.stop()


def test_unary_ok(server):
    resp = server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="j1", namespace="ns"),
                                      timeout=10)
    assert resp.job.job_id == "j1"
    assert resp.job.namespace == "ns"
    assert resp.job.state == pb.JOB_STATE_RUNNING


def test_status_and_message_percent_encoded(server):
    msg = "héllo % wörld\nline two\t✓"
    with pytest.raises(grpc.RpcError) as e:
        server.stub().ScheduleJob(pb.ScheduleJobRequest(
            name="x", labels={"status": "9", "message": msg}), timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == msg


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c != grpc.StatusCode.OK])
def test_every_status_code(server, code):
    with pytest.raises(grpc.RpcError) as e:
        server.stub().ScheduleJob(pb.ScheduleJobRequest(
            name="x", labels={"status": str(code.value[0]), "message": code.name}), timeout=10)
    assert e.value.code() == code
    assert e.value.details() == code.name


def test_not_found(server):
    with pytest.raises(grpc.RpcError) as e:
        server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="missing"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_service_and_method(server):
    with server.channel() as ch:
        for path, want in (("/nope.Service/Call", "unknown service nope.Service"),
                           ("/jobscheduler.JobScheduler/Nope",
                            "unknown method Nope for service jobscheduler.JobScheduler")):
            call = ch.unary_unary(path, request_serializer=lambda m: m,
                                  response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError) as e:
                call(b"", timeout=10)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert e.value.details() == want


def test_unparsable_message_is_internal(server):
    with server.channel() as ch:
        call = ch.unary_unary("/jobscheduler.JobScheduler/GetJobStatus",
                              request_serializer=lambda m: m, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as e:
            call(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)  # a string longer than the message
        assert e.value.code() == grpc.StatusCode.INTERNAL


def test_server_streaming(server):
    events = list(server.stub().WatchJobs(pb.WatchJobsRequest(type="count:25"), timeout=10))
    assert len(events) == 25
    assert all(e.type == pb.JobEvent.EVENT_TYPE_MODIFIED for e in events)


def test_streaming_many_messages_respects_flow_control(server):
    # 20,000 events are far more than one stream's queue cap and window: the harness waits
    # on the drain callback, and every event arrives in order.
    n = 20000
    got = sum(1 for _ in server.stub().WatchJobs(pb.WatchJobsRequest(type="count:%d" % n),
                                                 timeout=60))
    assert got == n


def test_large_response_split_across_frames(server):
    resp = server.stub().ScheduleJob(pb.ScheduleJobRequest(name="big", labels={"size": "3000000"}),
                                     timeout=20)
    assert resp.job.message == "x" * 3000000


def test_request_under_limit_ok_and_5mib_resource_exhausted(server):
    big = server.channel(**{"grpc.max_receive_message_length": 64 << 20})
    ok = server.stub(big).ScheduleJob(pb.ScheduleJobRequest(name="a" * (3 << 20)), timeout=20)
    big.close()
    assert ok.job_id == "job-" + "a" * (3 << 20)
    with pytest.raises(grpc.RpcError) as e:
        server.stub().ScheduleJob(pb.ScheduleJobRequest(name="a" * (5 << 20)), timeout=20)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in e.value.details()


def test_deadline_expiry_mid_call(server):
    before = server.metric("grpc_harness_cancels_total", reason="deadline") or 0
    with pytest.raises(grpc.RpcError) as e:
        server.stub().ListJobs(pb.ListJobsRequest(page_size=-1), timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server enforces the deadline itself (the client may give up at the same moment):
    # the handler's cancel callback ran with GRPC_CANCEL_DEADLINE or GRPC_CANCEL_CLIENT.
    for _ in range(50):
        after = (server.metric("grpc_harness_cancels_total", reason="deadline") or 0) + \
            (server.metric("grpc_harness_cancels_total", reason="client") or 0)
        if after > before:
            break
        time.sleep(0.1)
    assert after > before


def test_client_cancel_mid_stream(server):
    before = server.metric("grpc_harness_cancels_total", reason="client") or 0
    it = server.stub().WatchJobs(pb.WatchJobsRequest(type="forever"), timeout=30)
    assert next(it).type == pb.JobEvent.EVENT_TYPE_MODIFIED
    next(it)
    it.cancel()
    for _ in range(50):
        if (server.metric("grpc_harness_cancels_total", reason="client") or 0) > before:
            break
        time.sleep(0.1)
    assert server.metric("grpc_harness_cancels_total", reason="client") > before


def test_1000_concurrent_calls_one_connection(server):
    with server.channel() as ch:
        stub = server.stub(ch)
        futs = [stub.GetJobStatus.future(pb.GetJobStatusRequest(job_id="c%d" % i), timeout=60)
                for i in range(1000)]
        ids = sorted(f.result().job.job_id for f in futs)
    assert ids == sorted("c%d" % i for i in range(1000))


def test_1000_concurrent_calls_across_50_connections(server):
    chans = [server.channel(**{"grpc.use_local_subchannel_pool": 1}) for _ in range(50)]
    try:
        futs = []
        for i in range(1000):
            stub = server.stub(chans[i % 50])
            futs.append(stub.ListJobs.future(pb.ListJobsRequest(namespace="n%d" % i,
                                                                page_size=20), timeout=60))
        got = sorted(f.result().jobs[0].namespace for f in futs)
        assert got == sorted("n%d" % i for i in range(1000))
    finally:
        for c in chans:
            c.close()


def test_abrupt_disconnects_free_calls(server):
    # Streams left mid-request, mid-handler and mid-stream, then the socket just closes; the
    # harness exit check (LeakSanitizer) proves every call was freed.
    for path, body in (("/jobscheduler.JobScheduler/GetJobStatus", grpc_frame(b"\x0a\x01")),
                       ("/jobscheduler.JobScheduler/ListJobs", grpc_frame(b"\x28\x7f")),
                       ("/jobscheduler.JobScheduler/WatchJobs", grpc_frame(b"\x1a\x07forever"))):
        c = RawConn(server.addr)
        c.send(frame(HEADERS, END_HEADERS, 1, request_block(path)))
        c.send(frame(DATA, 0x1 if "Get" not in path else 0, 1, body))
        time.sleep(0.1)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    # A client RST_STREAM during a slow unary call frees it at once; the server stays healthy.
    c = RawConn(server.addr)
    c.send(frame(HEADERS, END_HEADERS, 1, request_block("/jobscheduler.JobScheduler/ListJobs")))
    c.send(frame(DATA, 0x1, 1, grpc_frame(b"\x28\x7f")))
    c.send(frame(RST_STREAM, 0, 1, b"\x00\x00\x00\x08"))
    time.sleep(0.2)
    c.close()
    assert server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="after"),
                                      timeout=10).job.job_id == "after"


def test_metrics(server):
    server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="m"), timeout=10)
    lab = dict(grpc_type="unary", grpc_service="jobscheduler.JobScheduler",
               grpc_method="GetJobStatus")
    assert server.metric("grpc_server_started_total", **lab) >= 1
    assert server.metric("grpc_server_handled_total", grpc_code="OK", **lab) >= 1
    assert server.metric("grpc_server_handled_total", grpc_code="NotFound", **lab) >= 1
    assert server.metric("grpc_server_msg_received_total", **lab) >= 1
    assert server.metric("grpc_server_msg_sent_total", **lab) >= 1
    assert server.metric("grpc_server_handling_seconds_count", **lab) >= 1
    assert server.metric("grpc_server_handled_total", grpc_code="Unauthenticated",
                         grpc_type="server_stream", grpc_service="jobscheduler.JobScheduler",
                         grpc_method="WatchJobs") == 0
    assert server.metric("grpc_server_open_connections") >= 1


def test_debug_call_log_line():
    with Harness(LOG_LEVEL="debug") as h:
        h.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="log"), timeout=10)
    err = h.stderr()
    line = [l for l in err.splitlines() if '"msg":"call"' in l and "GetJobStatus" in l]
    assert line, err[-2000:]
    assert '"peer":"127.0.0.1:' in line[0]
    assert '"code":"OK"' in line[0] and '"duration_ms":' in line[0]
