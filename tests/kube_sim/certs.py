"""Certificate generation with the openssl CLI (stdlib has no X.509 writer).

Creates a CA, a server certificate valid for localhost/127.0.0.1 and a client
certificate (CN=jobscheduler-user, O=jobscheduler).  Existing files are reused
so a restarted simulator keeps the CA that clients already trust.
"""

import os
import subprocess
import tempfile


class CertPaths:
    def __init__(self, state_dir):
        self.dir = state_dir
        for name in ("ca", "server", "client"):
            setattr(self, f"{name}_crt", os.path.join(state_dir, f"{name}.crt"))
            setattr(self, f"{name}_key", os.path.join(state_dir, f"{name}.key"))

    def all_exist(self):
        return all(os.path.exists(p) for p in (self.ca_crt, self.ca_key, self.server_crt,
                                               self.server_key, self.client_crt,
                                               self.client_key))


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _signed(paths, name, subject, extensions, workdir):
    key = getattr(paths, f"{name}_key")
    crt = getattr(paths, f"{name}_crt")
    csr = os.path.join(workdir, f"{name}.csr")
    ext = os.path.join(workdir, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(extensions)
    # EC P-256 keys: generated instantly and accepted by OpenSSL/curl clients.
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", csr, "-subj", subject)
    _openssl("x509", "-req", "-in", csr, "-CA", paths.ca_crt, "-CAkey", paths.ca_key,
             "-CAcreateserial", "-out", crt, "-days", "3650", "-sha256", "-extfile", ext)
    os.chmod(key, 0o600)


def ensure_certs(state_dir):
    paths = CertPaths(state_dir)
    if paths.all_exist():
        return paths
    with tempfile.TemporaryDirectory() as work:
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", paths.ca_key,
                 "-out", paths.ca_crt, "-days", "3650", "-sha256", "-subj", "/CN=kube-sim-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
        os.chmod(paths.ca_key, 0o600)
        common = ("subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
                  "basicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature,keyEncipherment\n")
        _signed(paths, "server", "/CN=kube-apiserver", common +
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                "DNS:kubernetes.default.svc,IP:127.0.0.1\n", work)
        _signed(paths, "client", "/O=jobscheduler/CN=jobscheduler-user", common +
                "extendedKeyUsage=clientAuth\n", work)
    srl = os.path.join(state_dir, "ca.srl")
    if os.path.exists(srl):
        os.remove(srl)
    return paths
