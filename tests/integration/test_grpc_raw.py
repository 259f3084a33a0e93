"""gRPC requests grpcio cannot make (via nghttp) and HTTP/2 abuse (via raw frames) against the
gRPC test harness: every protocol error path and every connection limit."""
import socket
import struct
import time

import pytest

from grpc_util import Harness, RawConn, nghttp, grpc_frame, frame, request_block, \
    hpack_literal, pb, DATA, HEADERS, CONTINUATION, PING, RST_STREAM, SETTINGS, GOAWAY, \
    END_HEADERS, END_STREAM, ACK

GET = "/jobscheduler.JobScheduler/GetJobStatus"
LIST = "/jobscheduler.JobScheduler/ListJobs"
REQ = grpc_frame(pb.GetJobStatusRequest(job_id="raw").SerializeToString())
ENHANCE_YOUR_CALM = 0xB


@pytest.fixture(scope="module")
def server():
    h = Harness()
    yield h
    h.stop()


def test_ok_over_nghttp(server):
    got, _ = nghttp(server.addr, GET, REQ)
    assert got[":status"] == "200" and got["grpc-status"] == "0"


def test_bad_content_type_is_415(server):
    got, _ = nghttp(server.addr, GET, REQ, {"content-type": "text/plain"})
    assert got[":status"] == "415"
    assert got["grpc-status"] == "3"


def test_bad_grpc_timeout_is_internal(server):
    got, _ = nghttp(server.addr, GET, REQ, {"grpc-timeout": "12x"})
    assert got["grpc-status"] == "13"
    assert got["grpc-message"] == "malformed grpc-timeout"


def test_server_enforces_deadline(server):
    # No client-side deadline here: only the server's timer can end this call.
    body = grpc_frame(pb.ListJobsRequest(page_size=-1).SerializeToString())
    t = time.time()
    got, _ = nghttp(server.addr, LIST, body, {"grpc-timeout": "300m"})
    assert got["grpc-status"] == "4"
    assert time.time() - t < 10


def test_truncated_message_prefix_is_internal(server):
    got, _ = nghttp(server.addr, GET, b"\x00\x00\x00")
    assert got["grpc-status"] == "13"
    got, _ = nghttp(server.addr, GET, REQ[:-1])
    assert got["grpc-status"] == "13"


def test_zero_and_two_messages_on_unary(server):
    got, _ = nghttp(server.addr, GET, b"")
    assert got["grpc-status"] == "12"
    got, _ = nghttp(server.addr, GET, REQ + REQ)
    assert got["grpc-status"] == "12"


def test_compressed_flag_without_encoding_is_internal(server):
    got, _ = nghttp(server.addr, GET, grpc_frame(b"\x0a\x01x", flag=1))
    assert got["grpc-status"] == "13"


def test_unsupported_encoding_is_unimplemented(server):
    got, _ = nghttp(server.addr, GET, grpc_frame(b"junk", flag=1), {"grpc-encoding": "snappy"})
    assert got["grpc-status"] == "12"
    assert got["grpc-accept-encoding"] == "identity"


def test_unparsable_message_is_internal(server):
    got, _ = nghttp(server.addr, GET, grpc_frame(b"\xff\xff\xff"))
    assert got["grpc-status"] == "13"


def test_oversized_header_list(server):
    got, _ = nghttp(server.addr, GET, REQ, {"x-big": "v" * 9000})
    assert got[":status"] == "431"
    assert got["grpc-status"] == "8"
    many = {"x-h%d" % i: "v" for i in range(80)}
    got, _ = nghttp(server.addr, GET, REQ, many)
    assert got["grpc-status"] == "8"


def test_settings_advertise_limits(server):
    c = RawConn(server.addr)
    f = c.until(SETTINGS)
    settings = dict(struct.unpack(">HI", f[3][i:i + 6]) for i in range(0, len(f[3]), 6))
    assert settings[0x3] == 100    # MAX_CONCURRENT_STREAMS
    assert settings[0x9] == 1      # NO_RFC7540_PRIORITIES
    assert settings[0x6] == 8192   # MAX_HEADER_LIST_SIZE
    c.close()


def test_ping_flood_goaway_too_many_pings(server):
    c = RawConn(server.addr)
    for i in range(10):
        try:
            c.send(frame(PING, 0, 0, struct.pack(">Q", i)))
        except (BrokenPipeError, ConnectionResetError):
            break
    last, code, debug = c.goaway()
    assert code == ENHANCE_YOUR_CALM
    assert debug == b"too_many_pings"
    assert c.closed()


def test_pings_after_data_are_not_strikes(server):
    # grpc-go resets strikes whenever it sends data: a client pinging once per response is
    # fine forever.
    c = RawConn(server.addr)
    for i in range(6):
        sid = 1 + 2 * i
        c.send(frame(HEADERS, END_HEADERS, sid, request_block(GET)))
        c.send(frame(DATA, END_STREAM, sid, REQ))
        f = c.until(HEADERS)
        while not (f[0] == HEADERS and f[1] & END_STREAM):
            f = c.read_frame()
        c.send(frame(PING, 0, 0, struct.pack(">Q", i)))
        assert c.until(PING)[1] & ACK
    c.close()


def test_rapid_reset_goaway(server):
    c = RawConn(server.addr)
    block = request_block(LIST)
    out = b""
    for i in range(2000):
        sid = 1 + 2 * i
        out += frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, b"\x00\x00\x00\x08")
    try:
        c.send(out)
    except (BrokenPipeError, ConnectionResetError):
        pass
    last, code, _ = c.goaway()
    # nghttp2's limiter tears the connection down with INTERNAL_ERROR before all 2000
    # streams were processed.
    assert code in (ENHANCE_YOUR_CALM, 0x2)
    assert last < 3999
    c.close()
    assert server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="x"), timeout=10)


def test_continuation_flood_goaway(server):
    c = RawConn(server.addr)
    block = request_block(GET)
    c.send(frame(HEADERS, 0, 1, block[:10]))
    try:
        for i in range(20):
            c.send(frame(CONTINUATION, 0, 1, hpack_literal("x-c%d" % i, "v")))
    except (BrokenPipeError, ConnectionResetError):
        pass
    # More than 8 CONTINUATION frames is a fatal session error in nghttp2: the connection is
    # dropped (without a GOAWAY, which nghttp2 cannot send any more), and the server goes on.
    f = c.read_frame()
    while f is not None and f[0] != GOAWAY:
        f = c.read_frame()
    c.close()
    assert server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="z"), timeout=10)


def test_max_concurrent_streams_refused_beyond_100(server):
    c = RawConn(server.addr)
    block = request_block(LIST)
    body = grpc_frame(pb.ListJobsRequest(page_size=-1).SerializeToString())
    c.until(SETTINGS)
    c.send(frame(SETTINGS, ACK, 0))
    out = b""
    for i in range(101):
        sid = 1 + 2 * i
        out += frame(HEADERS, END_HEADERS, sid, block) + frame(DATA, END_STREAM, sid, body)
    c.send(out)
    # Stream 201 exceeds the acknowledged limit: nghttp2 treats that as a connection error
    # (RFC 9113 5.1.2 allows it) after processing the first 100 streams.
    last, code, debug = c.goaway()
    assert code == 0x1
    assert last == 199
    assert b"max concurrent streams" in debug
    c.close()


def test_idle_and_preface_timeouts_and_max_connections():
    with Harness(GRPC_IDLE_TIMEOUT_SECONDS=1, GRPC_MAX_CONNECTIONS=2) as h:
        idle = RawConn(h.addr)
        t = time.time()
        last, code, debug = idle.goaway(timeout=10)
        assert code == 0 and debug == b"idle"
        assert idle.closed()
        assert time.time() - t >= 0.9
        idle.close()
        a, b = RawConn(h.addr), RawConn(h.addr)
        a.until(SETTINGS)
        b.until(SETTINGS)
        third = RawConn(h.addr)
        assert third.closed(timeout=5)
        for c in (a, b, third):
            c.close()
        # A client that never sends the preface is dropped after 10 s.
        time.sleep(0.5)
        silent = RawConn(h.addr, settings=False)
        t = time.time()
        assert silent.closed(timeout=15)
        assert time.time() - t >= 9
        silent.close()


def test_outbound_cap_with_zero_window_reader(server):
    # A client that opens its window to nothing and never reads: the server must not buffer
    # the stream's output without bound; the stream is ended and other clients are served.
    c = RawConn(server.addr, settings=False)
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))
    c.send(frame(HEADERS, END_HEADERS, 1, request_block("/jobscheduler.JobScheduler/WatchJobs")))
    c.send(frame(DATA, END_STREAM, 1, grpc_frame(pb.WatchJobsRequest(type="flood")
                                                  .SerializeToString())))
    time.sleep(1.0)
    assert server.stub().GetJobStatus(pb.GetJobStatusRequest(job_id="y"), timeout=10)
    c.close()
