"""The object store: an in-memory stand-in for etcd plus the apiserver watch cache.

Design rules that keep it correct under concurrency:

* One re-entrant lock (`Store.lock`) guards every field.  The HTTP handlers and
  the controller thread take it for each read-modify-write.
* Stored objects are treated as immutable: a mutation always stores a fresh
  dict (callers deep-copy, edit, then call `update`).  Readers may therefore
  serialise an object they got under the lock after releasing it.
* Every mutation bumps one global resourceVersion (like etcd's revision) and
  appends one event to a bounded history.  Events keep the previous object
  too, which lets us (a) rebuild the exact state at any retained revision, for
  consistent paginated lists, and (b) turn MODIFIED into ADDED/DELETED for
  selector-filtered watches exactly as the watch cache does.
* Watchers get events through their own bounded queue filled under the lock
  with put_nowait; a watcher whose queue overflows is closed (the apiserver
  terminates "slow" watchers the same way) so it can never block the others.
"""

import base64
import binascii
import collections
import json
import queue
import random
import threading

import statuses

# Alphabet and length used by apiserver's generateName (utilrand.String).
_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(n=5):
    return "".join(random.choice(_GEN_ALPHABET) for _ in range(n))


def obj_key(obj):
    """etcd key suffix (namespace/name); lists are ordered by this string."""
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class Event:
    __slots__ = ("rv", "resource", "type", "key", "obj", "prev")

    def __init__(self, rv, resource, type_, key, obj, prev):
        self.rv, self.resource, self.type = rv, resource, type_
        self.key, self.obj, self.prev = key, obj, prev


class Watcher:
    """One open watch stream.  `offer` runs under the store lock."""

    def __init__(self, resource, namespace, label_sel, field_sel, queue_size):
        self.resource = resource
        self.namespace = namespace
        self.label_sel = label_sel
        self.field_sel = field_sel
        self.queue = queue.Queue(maxsize=queue_size)
        self.closed = False
        self.close_reason = None

    def visible(self, obj):
        if obj is None:
            return False
        md = obj["metadata"]
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        if not self.label_sel.matches(md.get("labels")):
            return False
        return self.field_sel.matches(obj)

    def translate(self, ev):
        """Map a store event to what this watcher sees, or None.

        An object that starts/stops matching the selector is reported as
        ADDED/DELETED, as the apiserver watch cache does.
        """
        if ev.resource != self.resource:
            return None
        if ev.type == "MODIFIED":
            now, before = self.visible(ev.obj), self.visible(ev.prev)
            if now and before:
                return ("MODIFIED", ev.obj)
            if now:
                return ("ADDED", ev.obj)
            if before:
                return ("DELETED", ev.obj)
            return None
        return (ev.type, ev.obj) if self.visible(ev.obj) else None

    def offer(self, ev):
        item = self.translate(ev)
        if item is None or self.closed:
            return
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.close("overflow")

    def close(self, reason):
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        try:  # wake the writer thread if it is blocked in get()
            self.queue.put_nowait(None)
        except queue.Full:
            pass  # the writer polls `closed` between gets


class Store:
    def __init__(self, history=1000, initial_rv=100, watch_queue_size=1000):
        self.lock = threading.RLock()
        self.rv = initial_rv
        # Events with rv > compacted_rv are retained in `history`.
        self.compacted_rv = initial_rv
        self.history_limit = max(1, history)
        self.history = collections.deque()
        self.objects = {"jobs": {}, "pods": {}}
        self.namespaces = {"default", "kube-system", "kube-public", "kube-node-lease"}
        self.watchers = set()
        self.watch_queue_size = watch_queue_size
        self.overflowed_watches = 0

    # ------------------------------------------------------------ mutations

    def _record(self, resource, type_, key, obj, prev):
        self.rv += 1
        obj = dict(obj)
        obj["metadata"] = dict(obj["metadata"], resourceVersion=str(self.rv))
        if type_ == "DELETED":
            self.objects[resource].pop(key, None)
        else:
            self.objects[resource][key] = obj
        ev = Event(self.rv, resource, type_, key, obj, prev)
        self.history.append(ev)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        for w in list(self.watchers):
            w.offer(ev)
            if w.closed:
                if w.close_reason == "overflow":
                    self.overflowed_watches += 1
                self.watchers.discard(w)
        return obj

    def create(self, resource, obj):
        with self.lock:
            key = obj_key(obj)
            if key in self.objects[resource]:
                raise statuses.already_exists(resource, obj["metadata"]["name"])
            return self._record(resource, "ADDED", key, obj, None)

    def update(self, resource, obj):
        with self.lock:
            key = obj_key(obj)
            prev = self.objects[resource].get(key)
            if prev is None:
                raise statuses.not_found(resource, obj["metadata"]["name"])
            return self._record(resource, "MODIFIED", key, obj, prev)

    def delete(self, resource, namespace, name):
        with self.lock:
            key = f"{namespace}/{name}"
            prev = self.objects[resource].get(key)
            if prev is None:
                raise statuses.not_found(resource, name)
            return self._record(resource, "DELETED", key, prev, prev)

    def get(self, resource, namespace, name):
        with self.lock:
            return self.objects[resource].get(f"{namespace}/{name}")

    def unique_name(self, resource, namespace, prefix):
        """generateName: prefix (max 58 chars) + 5 random chars, unused."""
        prefix = prefix[:58]
        with self.lock:
            while True:
                name = prefix + random_suffix()
                if f"{namespace}/{name}" not in self.objects[resource]:
                    return name

    def compact(self):
        """Forget all history: every older resourceVersion now gets 410."""
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv

    # ------------------------------------------------------------ reads

    def state_at(self, resource, rv):
        """Objects of `resource` as they were at revision `rv` (key -> obj).

        Rebuilt by undoing retained events newer than rv, so it is exact for
        any rv >= compacted_rv, just like an etcd read at a revision.
        """
        with self.lock:
            if rv < self.compacted_rv:
                return None
            state = dict(self.objects[resource])
            for ev in reversed(self.history):
                if ev.rv <= rv:
                    break
                if ev.resource != resource:
                    continue
                if ev.type == "ADDED":
                    state.pop(ev.key, None)
                else:
                    state[ev.key] = ev.prev
            return state

    def list(self, resource, namespace, label_sel, field_sel, limit=0, cont=None,
             rv_param="", rv_match=""):
        """Implements list semantics; returns (rv, items, continue, remaining)."""
        with self.lock:
            current = self.rv
            start_after = ""
            snapshot_rv = current
            if cont:
                snapshot_rv, start_after = decode_continue(cont)
                if snapshot_rv < self.compacted_rv:
                    raise statuses.expired(statuses.CONTINUE_EXPIRED)
            elif rv_param not in ("", "0"):
                requested = parse_rv(rv_param)
                exact = rv_match == "Exact" or (not rv_match and limit > 0)
                if requested > current:
                    raise statuses.too_large_rv(requested, current)
                if exact:
                    if requested < self.compacted_rv:
                        raise statuses.expired(
                            "The resourceVersion for the provided list is too old.")
                    snapshot_rv = requested
            elif rv_param == "0":
                # Served from the watch cache, which ignores limit in 1.29.
                limit = 0
            state = (dict(self.objects[resource]) if snapshot_rv == current
                     else self.state_at(resource, snapshot_rv))
            if state is None:
                raise statuses.expired(statuses.CONTINUE_EXPIRED)
            keys = sorted(k for k in state if k > start_after)
        # Filtering happens outside the lock: stored objects are immutable.
        items = []
        for k in keys:
            obj = state[k]
            md = obj["metadata"]
            if namespace and md.get("namespace") != namespace:
                continue
            if not label_sel.matches(md.get("labels")) or not field_sel.matches(obj):
                continue
            items.append((k, obj))
        next_token, remaining = "", None
        if limit and len(items) > limit:
            rest = len(items) - limit
            items = items[:limit]
            next_token = encode_continue(snapshot_rv, items[-1][0] + "\x00")
            # apiserver only knows the count when no selector filters the keys.
            if label_sel.empty() and field_sel.empty():
                remaining = rest
        return snapshot_rv, [o for _, o in items], next_token, remaining

    # ------------------------------------------------------------ watches

    def start_watch(self, resource, namespace, label_sel, field_sel, rv_param):
        """Register a watcher; returns (watcher, initial events, current rv)."""
        with self.lock:
            w = Watcher(resource, namespace, label_sel, field_sel, self.watch_queue_size)
            if rv_param in ("", "0"):
                initial = [("ADDED", self.objects[resource][k])
                           for k in sorted(self.objects[resource])
                           if w.visible(self.objects[resource][k])]
            else:
                requested = parse_rv(rv_param)
                if requested < self.compacted_rv:
                    raise statuses.too_old_rv(requested, self.compacted_rv)
                initial = []
                for ev in self.history:
                    if ev.rv > requested:
                        item = w.translate(ev)
                        if item:
                            initial.append(item)
            self.watchers.add(w)
            return w, initial, self.rv

    def stop_watch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def bookmark_rv(self, w):
        """RV safe to announce in a BOOKMARK for w, or None if events are pending.

        Events are queued under the lock in revision order, so if w's queue is
        empty while we hold the lock, w has consumed everything up to self.rv.
        """
        with self.lock:
            return self.rv if w.queue.empty() else None

    def close_all_watches(self, reason="closed"):
        with self.lock:
            for w in list(self.watchers):
                w.close(reason)
            self.watchers.clear()


def parse_rv(text):
    try:
        v = int(text)
        if v < 0:
            raise ValueError
        return v
    except (TypeError, ValueError):
        raise statuses.bad_request(f'invalid resource version "{text}"') from None


def encode_continue(rv, start):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise statuses.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)") from None
