"""Helpers for test_foundation.py: a raw HTTP/1.1 client over one socket (keep-alive,
pipelining, malformed input) and running the binary for its one-shot commands."""
import os
import socket
import subprocess

from conftest import BIN


class Response:
    def __init__(self, status: int, reason: str, headers: dict, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names
        self.body = body

    def __repr__(self):
        return "Response(%d %s, %r, %r)" % (self.status, self.reason, self.headers, self.body[:200])


class RawConn:
    """One TCP connection to the ops port; requests are written as given, responses read
    one at a time, so keep-alive and pipelining are visible."""

    def __init__(self, port: int, timeout: float = 20.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_response(self, head: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before a response (have %r)" % self.buf)
        head_raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head_raw.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, "duplicate header %s" % name
            headers[name.lower()] = value.strip()
        length = 0 if head else int(headers["content-length"])
        while len(self.buf) < length:
            if not self._fill():
                raise EOFError("connection closed mid-body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(int(status), reason, headers, body)

    def request(self, method: str, path: str, extra: str = "") -> Response:
        self.send(("%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (method, path, extra)).encode())
        return self.read_response(head=(method == "HEAD"))

    def at_eof(self) -> bool:
        """True when the server has closed the connection (waits up to the socket timeout)."""
        if self.buf:
            return False
        try:
            return not self._fill()
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def run_bin(args=(), env=None, timeout=60):
    """Runs the binary with exactly |env| (plus PATH and HOME) and returns the CompletedProcess."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            full[k] = os.environ[k]
    full.update(env or {})
    return subprocess.run([BIN, *args], env=full, capture_output=True, text=True, timeout=timeout)


def sanitizer_report(text: str) -> bool:
    return any(s in text for s in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                   "runtime error:"))
