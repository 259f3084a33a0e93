"""Helpers for the gRPC integration tests: run the gRPC test harness, generated stubs,
nghttp for requests grpcio cannot make, and a raw HTTP/2 socket for frame-level abuse."""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("JOBSCHEDULER_BUILD_DIR", os.path.join(ROOT, "build"))
HARNESS = os.path.join(BUILD, "tests", "grpc_harness", "grpc_harness")
PROTO = os.path.join(ROOT, "proto")

_STUBS = None


def stubs_dir():
    """Generates python stubs once per process. health and reflection are generated from their
    own folder so their modules do not shadow the grpc package."""
    global _STUBS
    if _STUBS:
        return _STUBS
    d = tempfile.mkdtemp(prefix="grpc-stubs-")
    plugin = "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"
    for inc, files in ((PROTO, ["jobscheduler.proto"]),
                       (os.path.join(PROTO, "grpc/health/v1"), ["health.proto"]),
                       (os.path.join(PROTO, "grpc/reflection/v1"), ["reflection.proto"])):
        subprocess.run(["protoc", "--python_out=" + d, "--grpc_out=" + d, plugin, "-I", inc,
                        "-I", "/usr/include"] + files, check=True)
    sys.path.insert(0, d)
    _STUBS = d
    return d


stubs_dir()
import grpc  # noqa: E402
import jobscheduler_pb2 as pb  # noqa: E402,F401
import jobscheduler_pb2_grpc as pbg  # noqa: E402,F401
import health_pb2  # noqa: E402,F401
import health_pb2_grpc  # noqa: E402,F401
import reflection_pb2  # noqa: E402,F401
import reflection_pb2_grpc  # noqa: E402,F401


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Harness:
    """The gRPC test server in a subprocess. stop() asserts a clean exit: status 0 and no
    sanitizer report (LeakSanitizer runs at exit)."""

    def __init__(self, **env):
        self.port = free_port()
        e = dict(os.environ)
        e.update({"GRPC_PORT": str(self.port), "HTTP_PORT": str(free_port()),
                  "LOG_LEVEL": "info", "GRPC_HARNESS_GRACE_MS": "3000"})
        e.update({k: str(v) for k, v in env.items()})
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([HARNESS], env=e, stdout=subprocess.PIPE, stderr=self.err)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("harness failed: " + self.stderr())
        assert json.loads(line)["grpc_port"] == self.port
        self.addr = "127.0.0.1:%d" % self.port

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def channel(self, **opts):
        return grpc.insecure_channel(self.addr, options=list(opts.items()))

    def stub(self, channel=None):
        return pbg.JobSchedulerStub(channel or self.channel())

    def metrics(self):
        with self.channel() as ch:
            return self.stub(ch).ScheduleJob(pb.ScheduleJobRequest(name="__metrics__"),
                                             timeout=10).job.message

    def metric(self, name, **labels):
        text = self.metrics()
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            m = re.match(r"^(\w+)(\{.*\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
        return None

    def signal(self, sig=signal.SIGTERM):
        self.signaled = True
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        if self.proc.poll() is None and not getattr(self, "signaled", False):
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        err = self.stderr()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        assert rc == 0, "harness exited %d: %s" % (rc, err[-2000:])
        return err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.stop()
        else:
            self.proc.kill()
            self.proc.wait()


def grpc_frame(payload, flag=0):
    return struct.pack(">BI", flag, len(payload)) + payload


def nghttp(addr, path, body=b"", headers=None, timeout=20):
    """POSTs |body| with nghttp and returns (response headers and trailers as a dict, DATA
    bytes, verbose text). Header names repeat for trailers: later values win."""
    hdrs = {"content-type": "application/grpc", "te": "trailers"}
    hdrs.update(headers or {})
    with tempfile.NamedTemporaryFile() as f:
        f.write(body)
        f.flush()
        args = ["nghttp", "-v", "-d", f.name]
        for k, v in hdrs.items():
            args += ["-H", "%s: %s" % (k, v)]
        out = subprocess.run(args + ["http://%s%s" % (addr, path)], capture_output=True,
                             timeout=timeout).stdout.decode(errors="replace")
    got = {}
    for m in re.finditer(r"recv \(stream_id=\d+\) ([^:\s][^:]*|:[a-z]+): (.*)", out):
        got[m.group(1)] = m.group(2)
    return got, out


# Raw HTTP/2: enough to send hand-made frames and read the server's frame headers.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    """A literal header field without indexing, no Huffman."""
    def s(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name.encode()) + s(value.encode())


def request_block(path, extra=()):
    hs = [(":method", "POST"), (":scheme", "http"), (":path", path),
          (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")]
    return b"".join(hpack_literal(k, v) for k, v in hs + list(extra))


class RawConn:
    def __init__(self, addr, settings=True):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buf = b""
        if settings:
            self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self, timeout=10):
        """Returns (type, flags, stream, payload) or None at EOF."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    t, fl = self.buf[3], self.buf[4]
                    sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                    payload = self.buf[9:9 + n]
                    self.buf = self.buf[9 + n:]
                    return t, fl, sid, payload
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def until(self, ftype, timeout=10):
        """Reads frames until one of |ftype| arrives; returns it, or None at EOF."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            f = self.read_frame(timeout=max(0.1, deadline - time.time()))
            if f is None or f[0] == ftype:
                return f
        raise TimeoutError("no frame of type %d" % ftype)

    def goaway(self, timeout=10):
        f = self.until(GOAWAY, timeout)
        assert f is not None, "connection closed without GOAWAY"
        last, code = struct.unpack(">II", f[3][:8])
        return last & 0x7FFFFFFF, code, f[3][8:]

    def closed(self, timeout=10):
        """True once the server closes the connection (frames before that are skipped)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.read_frame(timeout=max(0.1, deadline - time.time())) is None:
                    return True
            except socket.timeout:
                return False
        return False

    def close(self):
        self.sock.close()
