"""Authentication (bearer tokens, x509 client certs), namespace RBAC and audit.

The RBAC model is intentionally tiny: an identity may use every verb on jobs
and pods in a set of namespaces (or everywhere).  That is enough to produce
the real 401/403 responses and wording a client must handle, while the audit
record tells tests which verbs/resources the client actually needs so a
least-privilege Role can be derived from it.
"""

import json
import threading
import time

import statuses


class Identity:
    def __init__(self, user, namespaces=None, groups=(), admin=False):
        self.user = user
        # None means every namespace and cluster-scoped (all-namespace) calls.
        self.namespaces = None if namespaces is None else set(namespaces)
        self.groups = list(groups)
        self.admin = admin

    def allowed(self, namespace):
        if self.namespaces is None:
            return True
        return bool(namespace) and namespace in self.namespaces

    def describe(self):
        return {"user": self.user, "groups": self.groups, "admin": self.admin,
                "namespaces": None if self.namespaces is None else sorted(self.namespaces)}


class Authenticator:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}          # token -> Identity
        self.cert_users = {}      # client cert CN -> namespaces (None = all)

    def add_token(self, token, identity):
        with self.lock:
            self.tokens[token] = identity

    def revoke_token(self, token):
        with self.lock:
            return self.tokens.pop(token, None) is not None

    def add_cert_user(self, cn, namespaces):
        with self.lock:
            self.cert_users[cn] = None if namespaces is None else set(namespaces)

    def authenticate(self, authorization, peercert):
        """Return an Identity, None when no credentials were sent, or raise 401.

        Like kube-apiserver's union authenticator, a verified client
        certificate wins over a bearer token; a bad token alone is a 401.
        """
        if peercert:
            subject = dict(x[0] for x in peercert.get("subject", ()))
            groups = [v for rdn in peercert.get("subject", ()) for (k, v) in rdn
                      if k == "organizationName"]
            cn = subject.get("commonName", "")
            with self.lock:
                namespaces = self.cert_users.get(cn, set())
            return Identity(cn, namespaces, groups=groups + ["system:authenticated"])
        if authorization:
            scheme, _, token = authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise statuses.unauthorized()
            with self.lock:
                ident = self.tokens.get(token)
            if ident is None:
                raise statuses.unauthorized()
            return ident
        return None

    @staticmethod
    def authorize(identity, verb, resource, namespace, name=None):
        if not identity.allowed(namespace):
            # cluster-scoped requests are worded "at the cluster scope"
            raise statuses.forbidden(identity.user, verb, resource, namespace or None,
                                     name)


class Audit:
    """Distinct (verb, group, resource, namespace) seen from non-admin users."""

    def __init__(self, log_path=None):
        self.lock = threading.Lock()
        self.seen = set()
        self.log_path = log_path
        self._log = open(log_path, "a", buffering=1) if log_path else None

    def record(self, identity, verb, group, resource, namespace, name, path, code):
        with self.lock:
            if identity is not None and not identity.admin and resource:
                self.seen.add((verb, group, resource, namespace or ""))
            if self._log:
                self._log.write(json.dumps({
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "user": identity.user if identity else None,
                    "verb": verb, "group": group, "resource": resource,
                    "namespace": namespace or "", "name": name or "",
                    "path": path, "code": code}) + "\n")

    def entries(self):
        with self.lock:
            return [{"verb": v, "group": g, "resource": r, "namespace": n}
                    for (v, g, r, n) in sorted(self.seen)]

    def reset(self):
        with self.lock:
            self.seen.clear()
