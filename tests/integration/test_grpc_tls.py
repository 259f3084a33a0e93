"""gRPC over TLS (ALPN h2) and mutual TLS, with certificates made by the openssl CLI."""
import os
import subprocess
import tempfile

import pytest

from grpc_util import Harness, grpc, pb


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name,
            cwd=d)


def make_leaf(d, name, ca, san):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext",
            cwd=d)


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="grpc-tls-")
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_leaf(d, "server", "ca", "DNS:localhost,IP:127.0.0.1")
    make_leaf(d, "client", "ca", "DNS:client")
    make_leaf(d, "intruder", "otherca", "DNS:intruder")

    def read(name):
        with open(os.path.join(d, name), "rb") as f:
            return f.read()
    return d, read


def tls_channel(h, read, client=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=read("ca.crt"),
        private_key=read(client + ".key") if client else None,
        certificate_chain=read(client + ".crt") if client else None)
    return grpc.secure_channel("localhost:%d" % h.port, creds)


def get(ch):
    return pb.GetJobStatusRequest(job_id="tls")


def test_tls(pki):
    d, read = pki
    with Harness(GRPC_TLS_CERT_FILE=os.path.join(d, "server.crt"),
                 GRPC_TLS_KEY_FILE=os.path.join(d, "server.key")) as h:
        with tls_channel(h, read) as ch:
            assert h.stub(ch).GetJobStatus(get(ch), timeout=10).job.job_id == "tls"
            events = list(h.stub(ch).WatchJobs(pb.WatchJobsRequest(type="count:2000"),
                                               timeout=30))
            assert len(events) == 2000
        # Plaintext h2c against the TLS port fails.
        with h.channel() as ch:
            with pytest.raises(grpc.RpcError) as e:
                h.stub(ch).GetJobStatus(get(ch), timeout=5)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_client_certificate(pki):
    d, read = pki
    with Harness(GRPC_TLS_CERT_FILE=os.path.join(d, "server.crt"),
                 GRPC_TLS_KEY_FILE=os.path.join(d, "server.key"),
                 GRPC_TLS_CLIENT_CA_FILE=os.path.join(d, "ca.crt")) as h:
        with tls_channel(h, read, "client") as ch:
            assert h.stub(ch).GetJobStatus(get(ch), timeout=10).job.job_id == "tls"
        for who in (None, "intruder"):
            with tls_channel(h, read, who) as ch:
                with pytest.raises(grpc.RpcError) as e:
                    h.stub(ch).GetJobStatus(get(ch), timeout=5)
                assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_bad_certificate_file_fails_start(pki):
    d, _ = pki
    with pytest.raises(RuntimeError) as e:
        Harness(GRPC_TLS_CERT_FILE=os.path.join(d, "ca.key"),
                GRPC_TLS_KEY_FILE=os.path.join(d, "server.key"))
    assert "grpc_harness" in str(e.value)
