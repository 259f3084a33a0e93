"""Simulated job controller, kubelet and garbage collector.

A single background thread ticks every ~50 ms and, holding the store lock for
the whole tick, (1) advances every pod through its kubelet lifecycle,
(2) reconciles every Job against its pods and (3) runs garbage collection
(foreground/orphan finalizers, background deletion of orphaned dependents).
Holding the lock for the tick keeps each reconcile atomic with respect to API
writes, which is what makes the produced event sequences deterministic.

Timing lives in side tables keyed by uid (monotonic clock), not in the
objects: object timestamps are RFC 3339 with 1 s resolution like the real
ones, which is too coarse for a time factor of 0.01.
"""

import copy
import logging
import threading
import time
import uuid

from validation import now_rfc3339

log = logging.getLogger("kube-sim.controller")

NODE_NAME = "kube-sim-node"
HOST_IP = "10.0.0.10"


def _has_condition(job, ctype):
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in job.get("status", {}).get("conditions", []))


def is_finished(job):
    return _has_condition(job, "Complete") or _has_condition(job, "Failed")


def controller_uid(pod):
    for ref in pod["metadata"].get("ownerReferences", []):
        if ref.get("controller") and ref.get("kind") == "Job":
            return ref.get("uid")
    return None


def _pod_terminal(pod):
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def _pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


def delete_pod(store, pod, grace_seconds=None):
    """Pod deletion as the pod REST strategy does it.

    Unscheduled or terminal pods and grace 0 are removed at once; otherwise
    the pod gets deletionTimestamp and the kubelet removes it on its next pass.
    Returns the resulting object (the DELETED one when removed).
    """
    md = pod["metadata"]
    if md.get("deletionTimestamp"):
        return pod
    if grace_seconds is None:
        grace_seconds = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
    if grace_seconds == 0 or not pod.get("spec", {}).get("nodeName") or _pod_terminal(pod):
        return store.delete("pods", md["namespace"], md["name"])
    new = copy.deepcopy(pod)
    new["metadata"]["deletionTimestamp"] = now_rfc3339(time.time() + grace_seconds)
    new["metadata"]["deletionGracePeriodSeconds"] = grace_seconds
    return store.update("pods", new)


class _JobTrack:
    def __init__(self):
        self.pods = set()            # pod uids ever seen for this job
        self.counted = set()         # pod uids already counted as succeeded/failed
        self.deleted_by_us = set()   # pods removed by the controller (not failures)
        self.started = None          # monotonic time the job (re)started
        self.finished = None         # monotonic time of Complete/Failed
        self.next_pod_after = 0.0    # pod creation backoff after failures


class _PodTrack:
    def __init__(self, now):
        self.stage = "new"
        self.since = now


class Controller:
    def __init__(self, store, time_factor=1.0, tick=0.05, pod_start_seconds=1.0,
                 default_duration=1.0, pod_backoff_seconds=10.0,
                 image_pull_backoff_seconds=5.0, fail_substrings=("fail",),
                 missing_substrings=("missing",)):
        self.store = store
        self.tf = time_factor
        self.tick_interval = tick
        self.pod_start = pod_start_seconds
        self.default_duration = default_duration
        self.pod_backoff = pod_backoff_seconds
        self.pull_backoff = image_pull_backoff_seconds
        self.fail_substrings = tuple(s for s in fail_substrings if s)
        self.missing_substrings = tuple(s for s in missing_substrings if s)
        self.jobs = {}   # job uid -> _JobTrack
        self.pods = {}   # pod uid -> _PodTrack
        self._stop = threading.Event()
        self._thread = None
        self._ip_counter = 1

    # ---------------------------------------------------------------- thread

    def start(self):
        self._thread = threading.Thread(target=self._run, name="controller", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _run(self):
        while not self._stop.wait(self.tick_interval):
            try:
                self.tick()
            except Exception:  # keep simulating even if one tick has a bug
                log.exception("controller tick failed")

    def scaled(self, seconds):
        return seconds * self.tf

    def tick(self):
        now = time.monotonic()
        with self.store.lock:
            self._kubelet(now)
            self._sync_jobs(now)
            self._garbage_collect()

    # ---------------------------------------------------------------- kubelet

    def _images(self, pod):
        return [c.get("image", "") for c in pod.get("spec", {}).get("containers", [])]

    def _duration(self, pod):
        best = None
        for c in pod.get("spec", {}).get("containers", []):
            for e in c.get("env", []) or []:
                if e.get("name") == "TIMER_DURATION_SECONDS":
                    try:
                        v = float(e.get("value", ""))
                        best = v if best is None else max(best, v)
                    except ValueError:
                        pass
        return self.scaled(self.default_duration if best is None else best)

    def _kubelet(self, now):
        for pod in list(self.store.objects["pods"].values()):
            uid = pod["metadata"]["uid"]
            track = self.pods.setdefault(uid, _PodTrack(now))
            if pod["metadata"].get("deletionTimestamp"):
                # Containers are "killed" within a tick, then the pod is removed.
                md = pod["metadata"]
                self.store.delete("pods", md["namespace"], md["name"])
                self.pods.pop(uid, None)
                continue
            if _pod_terminal(pod):
                continue
            images = self._images(pod)
            missing = any(s in img for img in images for s in self.missing_substrings)
            failing = any(s in img for img in images for s in self.fail_substrings)
            elapsed = now - track.since
            if track.stage == "new":
                self._set_pod(pod, track, now, "creating", self._creating_status)
            elif track.stage == "creating" and elapsed >= self.scaled(self.pod_start):
                if missing:
                    self._set_pod(pod, track, now, "errpull", self._waiting_status(
                        "ErrImagePull",
                        'rpc error: code = NotFound desc = failed to pull and unpack '
                        'image "{image}": failed to resolve reference "{image}": '
                        '"{image}": not found'))
                else:
                    self._set_pod(pod, track, now, "running", self._running_status)
            elif track.stage in ("errpull", "pullbackoff") and \
                    elapsed >= self.scaled(self.pull_backoff):
                # Real kubelets alternate between the two reasons while backing off.
                nxt = "pullbackoff" if track.stage == "errpull" else "errpull"
                reason = "ImagePullBackOff" if nxt == "pullbackoff" else "ErrImagePull"
                msg = ('Back-off pulling image "{image}"' if nxt == "pullbackoff" else
                       'rpc error: code = NotFound desc = failed to pull and unpack image '
                       '"{image}": failed to resolve reference "{image}": "{image}": not found')
                self._set_pod(pod, track, now, nxt, self._waiting_status(reason, msg))
            elif track.stage == "running" and elapsed >= self._duration(pod):
                if failing and pod["spec"].get("restartPolicy") == "OnFailure":
                    self._set_pod(pod, track, now, "crashloop", self._crashloop_status)
                else:
                    self._set_pod(pod, track, now, "done",
                                  self._terminated_status(1 if failing else 0))
            elif track.stage == "crashloop" and \
                    elapsed >= self.scaled(self.pod_backoff) * 0.5:
                self._set_pod(pod, track, now, "running", self._running_status)

    def _set_pod(self, pod, track, now, stage, mutate):
        new = copy.deepcopy(pod)
        mutate(new)
        track.stage, track.since = stage, now
        self.store.update("pods", new)

    @staticmethod
    def _cond(ctype, status, reason=None):
        c = {"type": ctype, "status": status, "lastProbeTime": None,
             "lastTransitionTime": now_rfc3339()}
        if reason:
            c["reason"] = reason
        return c

    def _creating_status(self, pod):
        # Scheduling + ContainerCreating in one step (scheduler bind + kubelet ack).
        pod["spec"]["nodeName"] = NODE_NAME
        self._ip_counter += 1
        ip = f"10.244.0.{self._ip_counter % 250 + 2}"
        containers = pod["spec"].get("containers", [])
        pod["status"] = {
            "phase": "Pending",
            "conditions": [
                self._cond("Initialized", "True"),
                self._cond("Ready", "False", "ContainersNotReady"),
                self._cond("ContainersReady", "False", "ContainersNotReady"),
                self._cond("PodScheduled", "True"),
            ],
            "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
            "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": now_rfc3339(),
            "containerStatuses": [
                {"name": c.get("name"), "state": {"waiting": {"reason": "ContainerCreating"}},
                 "lastState": {}, "ready": False, "restartCount": 0,
                 "image": c.get("image"), "imageID": "", "started": False}
                for c in containers],
            "qosClass": "BestEffort",
        }

    def _waiting_status(self, reason, message):
        def mutate(pod):
            for cs in pod["status"].get("containerStatuses", []):
                cs["state"] = {"waiting": {"reason": reason,
                                           "message": message.format(image=cs["image"])}}
        return mutate

    def _set_ready(self, pod, ready):
        for c in pod["status"]["conditions"]:
            if c["type"] in ("Ready", "ContainersReady"):
                c["status"] = "True" if ready else "False"
                c["lastTransitionTime"] = now_rfc3339()
                if ready:
                    c.pop("reason", None)

    def _running_status(self, pod):
        pod["status"]["phase"] = "Running"
        self._set_ready(pod, True)
        for cs in pod["status"].get("containerStatuses", []):
            cs["state"] = {"running": {"startedAt": now_rfc3339()}}
            cs["ready"] = True
            cs["started"] = True
            cs["imageID"] = "docker.io/library/" + cs["image"] + "@sha256:" + "0" * 64
            cs["containerID"] = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex

    def _crashloop_status(self, pod):
        self._set_ready(pod, False)
        for cs in pod["status"].get("containerStatuses", []):
            started = cs.get("state", {}).get("running", {}).get("startedAt")
            cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                              "startedAt": started,
                                              "finishedAt": now_rfc3339(),
                                              "containerID": cs.get("containerID")}}
            cs["restartCount"] = cs.get("restartCount", 0) + 1
            cs["ready"] = False
            cs["started"] = False
            cs["state"] = {"waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 10s restarting failed container={cs['name']} "
                           f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}"
                           f"({pod['metadata']['uid']})"}}

    def _terminated_status(self, exit_code):
        def mutate(pod):
            pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            self._set_ready(pod, False)
            for c in pod["status"]["conditions"]:
                if c["type"] in ("Ready", "ContainersReady"):
                    c["reason"] = "PodCompleted" if exit_code == 0 else "PodFailed"
            for cs in pod["status"].get("containerStatuses", []):
                started = cs.get("state", {}).get("running", {}).get("startedAt")
                cs["state"] = {"terminated": {
                    "exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                    "startedAt": started, "finishedAt": now_rfc3339(),
                    "containerID": cs.get("containerID")}}
                cs["ready"] = False
                cs["started"] = False
        return mutate

    # ---------------------------------------------------------------- job controller

    def _pods_by_owner(self):
        by_owner = {}
        for pod in self.store.objects["pods"].values():
            owner = controller_uid(pod)
            if owner:
                by_owner.setdefault(owner, []).append(pod)
        return by_owner

    def _sync_jobs(self, now):
        by_owner = self._pods_by_owner()
        live = set()
        for job in list(self.store.objects["jobs"].values()):
            uid = job["metadata"]["uid"]
            live.add(uid)
            if job["metadata"].get("deletionTimestamp"):
                continue  # being deleted: the garbage collector owns it now
            self._sync_job(job, by_owner.get(uid, []), self.jobs.setdefault(uid, _JobTrack()),
                           now)
        for uid in list(self.jobs):
            if uid not in live:
                del self.jobs[uid]
        pod_uids = {p["metadata"]["uid"] for p in self.store.objects["pods"].values()}
        for uid in list(self.pods):
            if uid not in pod_uids:
                del self.pods[uid]

    def _delete_active(self, pods, track):
        for p in pods:
            track.deleted_by_us.add(p["metadata"]["uid"])
            delete_pod(self.store, p)

    def _sync_job(self, job, pods, track, now):
        spec = job["spec"]
        if track.finished is not None and spec.get("ttlSecondsAfterFinished") is None \
                and is_finished(job):
            return  # terminal and nothing left to do: keep ticks cheap
        status = copy.deepcopy(job.get("status", {}))
        conditions = status.setdefault("conditions", [])
        finished = is_finished(job)
        suspended = bool(spec.get("suspend"))

        # --- account for pods that terminated or disappeared since last tick
        present = {p["metadata"]["uid"] for p in pods}
        track.pods |= present
        succeeded, failed = status.get("succeeded", 0), status.get("failed", 0)
        for p in pods:
            puid = p["metadata"]["uid"]
            if _pod_terminal(p) and puid not in track.counted:
                track.counted.add(puid)
                if p["status"]["phase"] == "Succeeded":
                    succeeded += 1
                else:
                    failed += 1
                    track.next_pod_after = now + self.scaled(
                        min(self.pod_backoff * 2 ** max(failed - 1, 0), 360))
        for puid in track.pods - present - track.counted:
            track.counted.add(puid)
            # A running pod deleted by someone else counts as a failure.
            if puid not in track.deleted_by_us and not finished:
                failed += 1
        active = [p for p in pods
                  if not _pod_terminal(p) and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in pods
                       if not _pod_terminal(p) and p["metadata"].get("deletionTimestamp")]

        def finish(ctype, reason=None, message=None):
            cond = self._cond(ctype, "True")
            cond["lastProbeTime"] = now_rfc3339()
            if reason:
                cond["reason"], cond["message"] = reason, message
            conditions.append(cond)
            track.finished = now
            self._delete_active(active, track)
            active.clear()

        if finished:
            if track.finished is None:
                track.finished = now
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and now - track.finished >= self.scaled(ttl):
                # The TTL-after-finished controller deletes with Foreground.
                new = copy.deepcopy(job)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                fin = new["metadata"].setdefault("finalizers", [])
                if "foregroundDeletion" not in fin:
                    fin.append("foregroundDeletion")
                self.store.update("jobs", new)
                return
        elif suspended:
            self._delete_active(active, track)
            active.clear()
            if not _has_condition(job, "Suspended"):
                conditions[:] = [c for c in conditions if c["type"] != "Suspended"]
                cond = self._cond("Suspended", "True")
                cond["lastProbeTime"] = now_rfc3339()
                cond["reason"], cond["message"] = "JobSuspended", "Job suspended"
                conditions.append(cond)
        else:
            if _has_condition(job, "Suspended"):
                for c in conditions:
                    if c["type"] == "Suspended":
                        c.update(status="False", reason="JobResumed", message="Job resumed",
                                 lastProbeTime=now_rfc3339(),
                                 lastTransitionTime=now_rfc3339())
                # Resuming restarts the activeDeadlineSeconds clock.
                status["startTime"] = now_rfc3339()
                track.started = now
            if not status.get("startTime") or track.started is None:
                status.setdefault("startTime", now_rfc3339())
                track.started = now
            restart_policy = spec["template"]["spec"].get("restartPolicy")
            restarts = sum(cs.get("restartCount", 0) for p in active
                           for cs in p.get("status", {}).get("containerStatuses", []))
            deadline = spec.get("activeDeadlineSeconds")
            completions = spec.get("completions")
            if deadline is not None and now - track.started >= self.scaled(deadline):
                failed += len(active)
                finish("Failed", "DeadlineExceeded",
                       "Job was active longer than specified deadline")
            elif failed + restarts > spec.get("backoffLimit", 6):
                if restart_policy == "OnFailure":
                    failed += len(active)
                finish("Failed", "BackoffLimitExceeded",
                       "Job has reached the specified backoff limit")
            elif (completions is not None and succeeded >= completions) or \
                    (completions is None and succeeded > 0 and not active):
                status["completionTime"] = now_rfc3339()
                finish("Complete")
            else:
                want = spec.get("parallelism", 1)
                if completions is not None:
                    want = min(want, completions - succeeded)
                if len(active) < want and now >= track.next_pod_after:
                    for _ in range(want - len(active)):
                        pod = self.store.create("pods", self._new_pod(job))
                        track.pods.add(pod["metadata"]["uid"])
                        active.append(pod)

        # --- publish status (zero counters are omitted, as omitempty does)
        for field, value in (("active", len(active)), ("succeeded", succeeded),
                             ("failed", failed)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["ready"] = sum(1 for p in active if _pod_ready(p))
        status["terminating"] = len(terminating)
        status["uncountedTerminatedPods"] = {}
        if not conditions:
            status.pop("conditions")
        if status != job.get("status"):
            new = dict(job)
            new["status"] = status
            self.store.update("jobs", new)

    def _new_pod(self, job):
        md, tmpl = job["metadata"], job["spec"]["template"]
        name = self.store.unique_name("pods", md["namespace"], md["name"] + "-")
        tmd = tmpl.get("metadata") or {}
        pod_md = {
            "name": name,
            "generateName": md["name"] + "-",
            "namespace": md["namespace"],
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now_rfc3339(),
            "labels": dict(tmd.get("labels") or {}),
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": md["name"],
                "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}],
        }
        if tmd.get("annotations"):
            pod_md["annotations"] = dict(tmd["annotations"])
        spec = copy.deepcopy(tmpl.get("spec") or {})
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        return {"kind": "Pod", "apiVersion": "v1", "metadata": pod_md, "spec": spec,
                "status": {"phase": "Pending", "qosClass": "BestEffort"}}

    # ---------------------------------------------------------------- garbage collector

    def _garbage_collect(self):
        jobs = self.store.objects["jobs"]
        job_uids = {j["metadata"]["uid"] for j in jobs.values()}
        by_owner = self._pods_by_owner()
        for job in list(jobs.values()):
            md = job["metadata"]
            if not md.get("deletionTimestamp"):
                continue
            finalizers = md.get("finalizers", [])
            pods = by_owner.get(md["uid"], [])
            track = self.jobs.get(md["uid"]) or _JobTrack()
            if "foregroundDeletion" in finalizers:
                if pods:
                    self._delete_active([p for p in pods
                                         if not p["metadata"].get("deletionTimestamp")], track)
                    continue
                finalizers = [f for f in finalizers if f != "foregroundDeletion"]
            if "orphan" in finalizers:
                for p in pods:
                    new = copy.deepcopy(p)
                    new["metadata"]["ownerReferences"] = [
                        r for r in p["metadata"].get("ownerReferences", [])
                        if r.get("uid") != md["uid"]]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self.store.update("pods", new)
                finalizers = [f for f in finalizers if f != "orphan"]
            if finalizers:
                # Someone else's finalizer: publish our removals and wait.
                if finalizers != md.get("finalizers"):
                    new = copy.deepcopy(job)
                    new["metadata"]["finalizers"] = finalizers
                    self.store.update("jobs", new)
                continue
            self.store.delete("jobs", md["namespace"], md["name"])
            job_uids.discard(md["uid"])
        # Background propagation: dependents whose owner is gone are deleted.
        for pod in list(self.store.objects["pods"].values()):
            owner = controller_uid(pod)
            if owner and owner not in job_uids and not pod["metadata"].get("deletionTimestamp"):
                delete_pod(self.store, pod)
