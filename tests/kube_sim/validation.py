"""Job defaulting, validation and update rules, plus JSON merge patch.

This mirrors the parts of pkg/apis/batch (defaults.go, validation.go,
strategy.go) that a client can observe: which fields are defaulted, which
fields are rejected with 422 and with what wording, and which are immutable.
"""

import copy
import json
import re
import time
import uuid

import statuses
from label_selectors import (DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_RE,
                             label_value_errors, qualified_name_errors)
from statuses import FieldError

ANNOTATIONS_MAX_BYTES = 256 * 1024
_DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
    "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
    "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

# Labels the job controller stamps on the pod template (1.27+ adds batch.* ones).
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def now_rfc3339(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t if t is not None else time.time()))


# ------------------------------------------------------------------ merge patch

def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (null deletes, objects merge, rest replaces)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# ------------------------------------------------------------------ decoding

_INT_FIELDS = ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds",
               "ttlSecondsAfterFinished")


def check_types(job):
    """Reject wrongly typed fields with the decoder's 400 wording."""
    def fail(go_type, path, go_field_type):
        raise statuses.bad_request(
            f'Job in version "v1" cannot be handled as a Job: json: cannot unmarshal '
            f"{go_type} into Go struct field {path} of type {go_field_type}")

    def go_type(v):
        return {str: "string", bool: "bool", list: "array", dict: "object"}.get(
            type(v), "number")

    if not isinstance(job.get("metadata", {}), dict):
        fail(go_type(job["metadata"]), "Job.metadata", "v1.ObjectMeta")
    spec = job.get("spec", {})
    if not isinstance(spec, dict):
        fail(go_type(spec), "Job.spec", "v1.JobSpec")
    for f in _INT_FIELDS:
        v = spec.get(f)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            fail(go_type(v), f"JobSpec.spec.{f}", "int64" if "Seconds" in f else "int32")
    if "suspend" in spec and spec["suspend"] is not None and not isinstance(spec["suspend"], bool):
        fail(go_type(spec["suspend"]), "JobSpec.spec.suspend", "bool")
    for key in ("labels", "annotations"):
        m = job.get("metadata", {}).get(key)
        if m is not None and (not isinstance(m, dict)
                              or not all(isinstance(v, str) for v in m.values())):
            fail("object" if not isinstance(m, dict) else "number",
                 f"ObjectMeta.metadata.{key}", "map[string]string")
    tmpl = spec.get("template", {})
    if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec", {}), dict):
        fail("string", "JobSpec.spec.template", "v1.PodTemplateSpec")
    containers = tmpl.get("spec", {}).get("containers")
    if containers is not None and not isinstance(containers, list):
        fail(go_type(containers), "PodSpec.spec.template.spec.containers", "[]v1.Container")


# ------------------------------------------------------------------ validation

def _validate_labels(labels, field):
    errs = []
    for k, v in sorted((labels or {}).items()):
        for msg in qualified_name_errors(k):
            errs.append(FieldError.invalid(field, k, msg))
        for msg in label_value_errors(v):
            errs.append(FieldError.invalid(field, v, msg))
    return errs


def _validate_annotations(annotations, field="metadata.annotations"):
    errs = []
    total = 0
    for k, v in sorted((annotations or {}).items()):
        for msg in qualified_name_errors(k.lower()):
            errs.append(FieldError.invalid(field, k, msg))
        total += len(k) + len(v)
    if total > ANNOTATIONS_MAX_BYTES:
        errs.append(FieldError.too_long(field, ANNOTATIONS_MAX_BYTES))
    return errs


def _nonneg(spec, f, errs):
    v = spec.get(f)
    if v is not None and v < 0:
        errs.append(FieldError.invalid(f"spec.{f}", v, "must be greater than or equal to 0"))


def validate_name(name, generate_name):
    if not name:
        if generate_name:
            return []
        return [FieldError.required("metadata.name", "name or generateName is required")]
    errs = []
    if len(name) > 253:
        errs.append(FieldError.invalid("metadata.name", name,
                                       "must be no more than 253 characters"))
    if not DNS1123_SUBDOMAIN_RE.match(name):
        errs.append(FieldError.invalid("metadata.name", name, DNS1123_SUBDOMAIN_MSG))
    return errs


def validate_job(job):
    md = job.get("metadata", {})
    errs = validate_name(md.get("name"), md.get("generateName"))
    errs += _validate_labels(md.get("labels"), "metadata.labels")
    errs += _validate_annotations(md.get("annotations"))
    spec = job.get("spec") or {}
    for f in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        _nonneg(spec, f, errs)
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and ads <= 0:
        errs.append(FieldError.invalid("spec.activeDeadlineSeconds", ads,
                                       "must be greater than or equal to 1"))
    tmpl = spec.get("template") or {}
    tmd = tmpl.get("metadata") or {}
    errs += _validate_labels(tmd.get("labels"), "spec.template.labels")
    errs += _validate_annotations(tmd.get("annotations"), "spec.template.annotations")
    # The job name is copied into the job-name pod label, so it must fit one.
    name = md.get("name") or ""
    if len(name) > 63:
        errs.append(FieldError.invalid("spec.template.labels", name,
                                       "must be no more than 63 characters"))
    pspec = tmpl.get("spec") or {}
    containers = pspec.get("containers") or []
    if not containers:
        errs.append(FieldError.required("spec.template.spec.containers"))
    seen = set()
    for i, c in enumerate(containers):
        path = f"spec.template.spec.containers[{i}]"
        if not isinstance(c, dict):
            errs.append(FieldError.required(path))
            continue
        cname = c.get("name")
        if not cname:
            errs.append(FieldError.required(f"{path}.name"))
        elif not _DNS1123_LABEL_RE.match(cname) or len(cname) > 63:
            errs.append(FieldError.invalid(f"{path}.name", cname, DNS1123_LABEL_MSG))
        elif cname in seen:
            errs.append(FieldError("FieldValueDuplicate", f"{path}.name",
                                   f'Duplicate value: "{cname}"'))
        seen.add(cname)
        if not c.get("image"):
            errs.append(FieldError.required(f"{path}.image"))
    rp = pspec.get("restartPolicy")
    if not rp:
        errs.append(FieldError.required("spec.template.spec.restartPolicy",
                                        'valid values: "OnFailure", "Never"'))
    elif rp not in ("Never", "OnFailure"):
        errs.append(FieldError.not_supported("spec.template.spec.restartPolicy", rp,
                                             ["OnFailure", "Never"]))
    return errs


# ------------------------------------------------------------------ defaulting

def _default_pod_spec(pspec):
    pspec.setdefault("terminationGracePeriodSeconds", 30)
    pspec.setdefault("dnsPolicy", "ClusterFirst")
    pspec.setdefault("securityContext", {})
    pspec.setdefault("schedulerName", "default-scheduler")
    for c in pspec.get("containers") or []:
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        image = c.get("image", "")
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        latest = image.endswith(":latest") or not tagged
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")


def default_spec(spec):
    """Fill defaulted JobSpec fields; safe to re-run after a patch nulls them."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 6
    spec.setdefault("completionMode", "NonIndexed")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")


def prepare_job_for_create(body, namespace, store):
    """Validate + default a Job POST body; return the object to store."""
    check_types(body)
    job = copy.deepcopy(body)
    job["kind"], job["apiVersion"] = "Job", "batch/v1"
    md = job.setdefault("metadata", {})
    if md.get("namespace") and md["namespace"] != namespace:
        raise statuses.bad_request(
            "the namespace of the provided object does not match the namespace "
            "sent on the request")
    md["namespace"] = namespace
    if not md.get("name") and md.get("generateName"):
        md["name"] = store.unique_name("jobs", namespace, md["generateName"])
    spec = job.setdefault("spec", {})
    user_selector = spec.get("selector")
    errs = validate_job(job)
    if user_selector and not spec.get("manualSelector"):
        errs.append(FieldError.invalid(
            "spec.selector", user_selector, "`selector` not auto-generated"))
    if errs:
        raise statuses.invalid("jobs", md.get("name") or md.get("generateName", ""), errs)

    # System-managed metadata (anything the client sent here is overwritten).
    uid = str(uuid.uuid4())
    md["uid"] = uid
    md["creationTimestamp"] = now_rfc3339()
    md["generation"] = 1
    for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
              "selfLink", "managedFields"):
        md.pop(f, None)

    default_spec(spec)
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    tmpl = spec.setdefault("template", {})
    tmd = tmpl.setdefault("metadata", {})
    tmd.setdefault("creationTimestamp", None)
    tlabels = tmd.setdefault("labels", {})
    for label in CONTROLLER_UID_LABELS:
        tlabels[label] = uid
    for label in JOB_NAME_LABELS:
        tlabels[label] = md["name"]
    _default_pod_spec(tmpl.setdefault("spec", {}))
    # Job labels default to the template labels when the client sets none.
    if not md.get("labels"):
        md["labels"] = dict(tlabels)
    job["status"] = {}
    # kind/apiVersion first, as apiserver serialises them.
    return {"kind": "Job", "apiVersion": "batch/v1",
            **{k: v for k, v in job.items() if k not in ("kind", "apiVersion")}}


_IMMUTABLE_SPEC = (("template", "core.PodTemplateSpec"), ("selector", "v1.LabelSelector"),
                   ("completions", None), ("completionMode", None))


def prepare_job_for_update(old, new, name):
    """Apply update strategy to a patched/replaced Job; return object to store.

    Raises 409 on a stale resourceVersion precondition and 422 on invalid or
    immutable changes.  System fields and status are carried over from `old`.
    """
    check_types(new)
    md = new.setdefault("metadata", {})
    if md.get("name", name) != name:
        raise statuses.bad_request(
            f"the name of the object ({md.get('name')}) does not match the name on "
            f"the URL ({name})")
    rv = md.get("resourceVersion")
    if rv and rv != old["metadata"]["resourceVersion"]:
        raise statuses.conflict("jobs", name)
    omd = old["metadata"]
    for f in ("name", "namespace", "uid", "creationTimestamp", "generation",
              "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
        if f in omd:
            md[f] = omd[f]
        else:
            md.pop(f, None)
    new["kind"], new["apiVersion"] = "Job", "batch/v1"
    new["status"] = copy.deepcopy(old.get("status", {}))
    spec = new.setdefault("spec", {})
    default_spec(spec)
    if isinstance(spec.get("template"), dict):
        _default_pod_spec(spec["template"].setdefault("spec", {}))
    errs = validate_job(new)
    for field, go_type in _IMMUTABLE_SPEC:
        value = spec.get(field)
        if value != old["spec"].get(field):
            # apiserver prints the Go struct; JSON after the type name is close.
            shown = (go_type + json.dumps(value, sort_keys=True, separators=(",", ":"))
                     if go_type else statuses.go_value(value))
            errs.append(FieldError("FieldValueInvalid", f"spec.{field}",
                                   f"Invalid value: {shown}: field is immutable"))
    if errs:
        raise statuses.invalid("jobs", name, errs)
    if spec != old["spec"]:
        md["generation"] = omd.get("generation", 1) + 1
    return new
