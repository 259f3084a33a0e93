#!/usr/bin/python3
"""kube-sim: a local kube-apiserver simulator for the jobscheduler test suite.

Usage:
  /usr/bin/python3 tests/kube_sim/kube_sim.py --state-dir DIR [--port 0]
      [--control-port 0] [--time-factor 1.0] [--history 1000]
      [--bookmark-interval 5] [--namespace default ...] [--audit-log FILE]

Prints one JSON line when ready:
  {"port":P,"control_port":C,"state_dir":"DIR","admin_token":"...","token":"..."}
See README.md next to this file for the API, control API and fidelity notes.
"""

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import certs  # noqa: E402
import control  # noqa: E402
from auth import Audit, Authenticator, Identity  # noqa: E402
from controller import Controller  # noqa: E402
from faults import FaultInjector  # noqa: E402
from store import Store  # noqa: E402

SA_USER = "system:serviceaccount:default:jobscheduler"
CERT_USER = "jobscheduler-user"
log = logging.getLogger("kube-sim")


def _write_atomic(path, text, mode=0o600):
    """Readers (e.g. a client re-reading its token) never see a partial file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _read_or_create_token(path, prefix):
    if os.path.exists(path):
        with open(path) as f:
            tok = f.read().strip()
        if tok:
            return tok
    tok = f"{prefix}-{secrets.token_hex(16)}"
    _write_atomic(path, tok)
    return tok


class Simulator:
    def __init__(self, args):
        self.args = args
        self.state_dir = os.path.abspath(args.state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.sa_dir = os.path.join(self.state_dir, "serviceaccount")
        os.makedirs(self.sa_dir, exist_ok=True)
        self.certs = certs.ensure_certs(self.state_dir)

        self.namespaces = list(dict.fromkeys((args.namespace or []) + ["default"]))
        self.store = Store(history=args.history, watch_queue_size=args.watch_queue_size)
        self.store.namespaces.update(self.namespaces)
        self.authn = Authenticator()
        self.admin_token = _read_or_create_token(
            os.path.join(self.state_dir, "admin-token"), "kube-sim-admin")
        self.authn.add_token(self.admin_token,
                             Identity("kube-sim-admin", None, ["system:masters"], admin=True))
        self.sa_token = _read_or_create_token(os.path.join(self.sa_dir, "token"), "kube-sim-sa")
        self.sa_lock = threading.Lock()
        self.authn.add_token(self.sa_token, self._sa_identity())
        self.authn.add_cert_user(CERT_USER, self.namespaces)

        self.audit = Audit(args.audit_log)
        self.faults = FaultInjector()
        self.controller = Controller(
            self.store, time_factor=args.time_factor, tick=args.tick,
            pod_start_seconds=args.pod_start_seconds,
            default_duration=args.default_duration,
            pod_backoff_seconds=args.pod_backoff_seconds,
            fail_substrings=args.fail_image, missing_substrings=args.missing_image)
        self.ctx = api.ApiContext(self.store, self.authn, self.audit, self.faults,
                                  self.controller, args.bookmark_interval)
        self.api = api.ApiServer(self.ctx, args.bind, args.port,
                                 api.make_ssl_context(self.certs))

    def _sa_identity(self):
        return Identity(SA_USER, self.namespaces,
                        ["system:serviceaccounts", "system:serviceaccounts:default",
                         "system:authenticated"])

    def start(self):
        self.api.start()
        self.control = control.start_control(self, "127.0.0.1", self.args.control_port)
        self.controller.start()
        self.write_client_files()

    def shutdown(self):
        self.controller.stop()
        self.api.stop()
        self.control.shutdown()

    # ------------------------------------------------------------ client files

    def _kubeconfig(self, user_block):
        with open(self.certs.ca_crt, "rb") as f:
            ca_data = base64.b64encode(f.read()).decode()
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: kube-sim\n"
            "  cluster:\n"
            f"    server: https://127.0.0.1:{self.api.port}\n"
            f"    certificate-authority-data: {ca_data}\n"
            "users:\n"
            "- name: jobscheduler\n"
            "  user:\n"
            f"{user_block}"
            "contexts:\n"
            "- name: kube-sim\n"
            "  context:\n"
            "    cluster: kube-sim\n"
            "    user: jobscheduler\n"
            f"    namespace: {self.namespaces[0]}\n"
            "current-context: kube-sim\n"
            "preferences: {}\n")

    def write_client_files(self):
        _write_atomic(os.path.join(self.state_dir, "kubeconfig"),
                      self._kubeconfig(f"    token: {self.sa_token}\n"))
        _write_atomic(os.path.join(self.state_dir, "kubeconfig-cert"), self._kubeconfig(
            f"    client-certificate: {self.certs.client_crt}\n"
            f"    client-key: {self.certs.client_key}\n"))
        with open(self.certs.ca_crt) as f:
            _write_atomic(os.path.join(self.sa_dir, "ca.crt"), f.read(), 0o644)
        _write_atomic(os.path.join(self.sa_dir, "namespace"), self.namespaces[0], 0o644)
        _write_atomic(os.path.join(self.sa_dir, "token"), self.sa_token)

    def rotate_sa_token(self, grace_seconds=0.0):
        """New SA token on disk (like kubelet's projected token refresh)."""
        with self.sa_lock:
            old = self.sa_token
            self.sa_token = f"kube-sim-sa-{secrets.token_hex(16)}"
            self.authn.add_token(self.sa_token, self._sa_identity())
            self.write_client_files()
        if grace_seconds > 0:
            t = threading.Timer(grace_seconds, self.authn.revoke_token, args=(old,))
            t.daemon = True
            t.start()
        else:
            self.authn.revoke_token(old)
        return {"token": self.sa_token, "old_token": old, "grace_seconds": grace_seconds}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", required=True, help="where certs/kubeconfig/tokens go")
    p.add_argument("--bind", default="127.0.0.1", help="API listen address")
    p.add_argument("--port", type=int, default=0, help="API (HTTPS) port, 0 = pick one")
    p.add_argument("--control-port", type=int, default=0, help="control (HTTP) port")
    p.add_argument("--time-factor", type=float, default=1.0,
                   help="multiplies every simulated duration (e.g. 0.01)")
    p.add_argument("--history", type=int, default=1000,
                   help="events retained for watch resume / paging (older -> 410)")
    p.add_argument("--bookmark-interval", type=float, default=5.0,
                   help="seconds between BOOKMARK events (not scaled)")
    p.add_argument("--namespace", action="append",
                   help="namespace the service account may use (repeatable; "
                        "'default' is always added)")
    p.add_argument("--audit-log", help="append one JSON line per API request")
    p.add_argument("--watch-queue-size", type=int, default=1000,
                   help="per-watch event buffer; overflow closes that watch")
    p.add_argument("--tick", type=float, default=0.05, help="controller period (s)")
    p.add_argument("--pod-start-seconds", type=float, default=1.0,
                   help="Pending->Running delay (scaled)")
    p.add_argument("--default-duration", type=float, default=1.0,
                   help="run time when TIMER_DURATION_SECONDS is absent (scaled)")
    p.add_argument("--pod-backoff-seconds", type=float, default=10.0,
                   help="base of the job controller's pod re-creation backoff (scaled)")
    p.add_argument("--fail-image", action="append",
                   help="image substring whose containers exit 1 (default: fail)")
    p.add_argument("--missing-image", action="append",
                   help="image substring that never pulls (default: missing)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    args.fail_image = args.fail_image or ["fail"]
    args.missing_image = args.missing_image or ["missing"]
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sim = Simulator(args)
    sim.start()

    done = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sys.stdout.write(json.dumps({
        "port": sim.api.port, "control_port": sim.control.server_address[1],
        "state_dir": sim.state_dir, "admin_token": sim.admin_token,
        "token": sim.sa_token}) + "\n")
    sys.stdout.flush()
    log.info("kube-sim ready: api https://127.0.0.1:%d control http://127.0.0.1:%d",
             sim.api.port, sim.control.server_address[1])
    while not done.wait(1.0):
        pass
    sim.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
