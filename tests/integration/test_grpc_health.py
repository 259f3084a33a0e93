"""grpc.health.v1.Health and graceful shutdown of the gRPC server (test harness)."""
import queue
import signal
import struct
import threading
import time

import pytest

from grpc_util import Harness, RawConn, grpc, pb, health_pb2, health_pb2_grpc, frame, \
    request_block, grpc_frame, DATA, HEADERS, GOAWAY, PING, SETTINGS, END_HEADERS, END_STREAM, \
    ACK

S = health_pb2.HealthCheckResponse


def check(h, service):
    with h.channel() as ch:
        return health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_check_transitions_and_unknown_service():
    with Harness(GRPC_HARNESS_SERVING_DELAY_MS=1500) as h:
        assert check(h, "") == S.NOT_SERVING
        assert check(h, "jobscheduler.JobScheduler") == S.NOT_SERVING
        with pytest.raises(grpc.RpcError) as e:
            check(h, "no.Such")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        for _ in range(100):
            if check(h, "") == S.SERVING:
                break
            time.sleep(0.05)
        assert check(h, "") == S.SERVING
        assert check(h, "jobscheduler.JobScheduler") == S.SERVING
        assert check(h, "grpc.health.v1.Health") == S.SERVING


def test_watch_sees_serving_then_not_serving_at_shutdown():
    h = Harness(GRPC_HARNESS_SERVING_DELAY_MS=800)
    ch = h.channel()
    stub = health_pb2_grpc.HealthStub(ch)
    got = queue.Queue()
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="jobscheduler.JobScheduler"))

    def reader():
        try:
            for r in stream:
                got.put(r.status)
            got.put(("end", stream.code()))
        except grpc.RpcError as e:
            got.put(("end", e.code()))

    threading.Thread(target=reader, daemon=True).start()
    assert got.get(timeout=10) == S.NOT_SERVING
    assert got.get(timeout=10) == S.SERVING
    unknown = stub.Watch(health_pb2.HealthCheckRequest(service="no.Such"))
    assert next(unknown).status == S.SERVICE_UNKNOWN
    unknown.cancel()
    h.signal(signal.SIGTERM)
    assert got.get(timeout=10) == S.NOT_SERVING
    assert got.get(timeout=10) == ("end", grpc.StatusCode.OK)
    ch.close()
    h.stop()


def test_graceful_shutdown_goaway_sequence_and_inflight_unary_finishes():
    h = Harness(GRPC_HARNESS_GRACE_MS=5000)
    c = RawConn(h.addr)
    c.until(SETTINGS)
    c.send(frame(SETTINGS, ACK, 0))
    # An in-flight unary call that answers after 700 ms.
    c.send(frame(HEADERS, END_HEADERS, 1, request_block("/jobscheduler.JobScheduler/ListJobs")))
    c.send(frame(DATA, END_STREAM, 1, grpc_frame(pb.ListJobsRequest(page_size=700)
                                                  .SerializeToString())))
    time.sleep(0.2)
    h.signal(signal.SIGTERM)
    # nghttp2 queues PING ahead of GOAWAY; the order between the two does not matter.
    first, ping = None, None
    while first is None or ping is None:
        f = c.read_frame()
        assert f is not None
        if f[0] == GOAWAY:
            first = struct.unpack(">II", f[3][:8])
        elif f[0] == PING:
            ping = f
    assert first == (2**31 - 1, 0)
    assert not ping[1] & ACK
    c.send(frame(PING, ACK, 0, ping[3]))
    last, code, _ = c.goaway()
    assert (last, code) == (1, 0)
    # The call still completes: response HEADERS, DATA, then trailers with grpc-status 0.
    seen = []
    f = c.read_frame()
    while f is not None:
        seen.append(f[0])
        if f[0] == HEADERS and f[1] & END_STREAM:
            break
        f = c.read_frame()
    assert seen.count(HEADERS) == 2 and DATA in seen
    assert c.closed()
    c.close()
    h.stop()


def test_grace_expiry_closes_stuck_calls():
    h = Harness(GRPC_HARNESS_GRACE_MS=500)
    ch = h.channel()
    fut = h.stub(ch).ListJobs.future(pb.ListJobsRequest(page_size=-1), timeout=30)
    time.sleep(0.3)
    t = time.time()
    h.signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as e:
        fut.result()
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    h.stop()
    assert time.time() - t < 10
    ch.close()
