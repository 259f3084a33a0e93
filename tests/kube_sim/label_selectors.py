"""Label and field selector parsing/matching (k8s.io/apimachinery/pkg/labels).

Named label_selectors (not selectors) because the entry script's directory is
first on sys.path and a local `selectors.py` would shadow the stdlib module
that socketserver imports.
"""

import re

from statuses import bad_request

_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS1123_SUBDOMAIN_RE = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
    "or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
    "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def qualified_name_errors(key):
    """Problems with a label/annotation key, as validation.IsQualifiedName."""
    errs = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errs.append("prefix part must be no more than 253 characters")
        elif not DNS1123_SUBDOMAIN_RE.match(prefix):
            errs.append("prefix part " + DNS1123_SUBDOMAIN_MSG)
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' "
                "or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
                "subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not _NAME_RE.match(name):
        errs.append(QUALIFIED_NAME_MSG)
    return errs


def label_value_errors(value):
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _VALUE_RE.match(value):
        errs.append(LABEL_VALUE_MSG)
    return errs


# ---------------------------------------------------------------- label selector

class Requirement:
    __slots__ = ("key", "op", "values")

    def __init__(self, key, op, values=()):
        self.key, self.op, self.values = key, op, tuple(values)

    def matches(self, labels):
        has = self.key in labels
        val = labels.get(self.key)
        if self.op in ("=", "==", "in"):
            return has and val in self.values
        if self.op in ("!=", "notin"):
            return not has or val not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("gt", "lt"):
            try:
                n = int(val)
            except (TypeError, ValueError):
                return False
            bound = int(self.values[0])
            return n > bound if self.op == "gt" else n < bound
        return False


class LabelSelector:
    def __init__(self, requirements):
        self.requirements = requirements

    def matches(self, labels):
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self):
        return not self.requirements


_TOKEN_RE = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")


def _tokenize(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:  # pragma: no cover - the regex accepts every char
            raise ValueError(f"unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


_OPERATORS = {"=", "==", "!=", "in", "notin", ">", "<"}
_SPECIAL = {"=", "==", "!=", "!", "(", ")", ",", ">", "<"}


def parse_label_selector(text):
    """Parse a labelSelector query parameter; raise 400 ApiError on bad input."""
    try:
        return LabelSelector(_parse(text or ""))
    except ValueError as e:
        raise bad_request(f"unable to parse requirement: {e}") from None


def _parse(text):
    toks = _tokenize(text)
    reqs, i = [], 0

    def peek():
        return toks[i] if i < len(toks) else None

    while i < len(toks):
        negate = False
        if toks[i] == "!":
            negate = True
            i += 1
        key = peek()
        if key is None or key in _SPECIAL:
            raise ValueError(f"found '{key or ''}', expected: identifier")
        _check_key(key)
        i += 1
        nxt = peek()
        if negate:
            if nxt not in (None, ","):
                raise ValueError(f"found '{nxt}', expected: ',' or 'end of string'")
            reqs.append(Requirement(key, "!"))
        elif nxt in (None, ","):
            reqs.append(Requirement(key, "exists"))
        elif nxt in _OPERATORS:
            i += 1
            if nxt in ("in", "notin"):
                if peek() != "(":
                    raise ValueError(f"found '{peek() or ''}', expected: '('")
                i += 1
                values = []
                while True:
                    t = peek()
                    if t is None:
                        raise ValueError("found '', expected: ',', ')' or identifier")
                    if t == ")":
                        i += 1
                        break
                    if t == ",":
                        # empty element, e.g. "in (a,,b)" or "in (,a)"
                        values.append("")
                        i += 1
                        continue
                    values.append(t)
                    i += 1
                    if peek() == ",":
                        i += 1
                        if peek() == ")":
                            values.append("")
                    elif peek() != ")":
                        raise ValueError(f"found '{peek() or ''}', expected: ',' or ')'")
                if not values:
                    raise ValueError(
                        "for 'in', 'notin' operators, values set can't be empty")
                for v in values:
                    _check_value(key, v)
                reqs.append(Requirement(key, nxt, values))
            else:
                t = peek()
                if t is None or t == ",":
                    value = ""  # "k=" selects an empty label value
                elif t in _SPECIAL:
                    raise ValueError(f"found '{t}', expected: identifier")
                else:
                    value = t
                    i += 1
                if nxt in (">", "<"):
                    try:
                        int(value)
                    except ValueError:
                        raise ValueError(
                            f"for 'Gt', 'Lt' operators, the value must be an integer") from None
                    reqs.append(Requirement(key, "gt" if nxt == ">" else "lt", [value]))
                else:
                    _check_value(key, value)
                    reqs.append(Requirement(key, nxt, [value]))
        else:
            raise ValueError(f"found '{nxt}', expected: in, notin, =, ==, !=, gt, lt")
        nxt = peek()
        if nxt is None:
            break
        if nxt != ",":
            raise ValueError(f"found '{nxt}', expected: ',' or 'end of string'")
        i += 1
        if peek() is None:
            raise ValueError("found '', expected: identifier after ','")
    return reqs


def _check_key(key):
    errs = qualified_name_errors(key)
    if errs:
        raise ValueError(f'key: Invalid value: "{key}": {"; ".join(errs)}')


def _check_value(key, value):
    errs = label_value_errors(value)
    if errs:
        raise ValueError(f'values[0][{key}]: Invalid value: "{value}": {"; ".join(errs)}')


# ---------------------------------------------------------------- field selector

# Field selectors supported per resource, each mapped to an accessor.
_FIELDS = {
    "jobs": {
        "metadata.name": lambda o: o["metadata"].get("name", ""),
        "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
        "status.successful": lambda o: str(o.get("status", {}).get("succeeded", 0)),
    },
    "pods": {
        "metadata.name": lambda o: o["metadata"].get("name", ""),
        "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
        "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
        "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
        "status.phase": lambda o: o.get("status", {}).get("phase", ""),
    },
}


class FieldSelector:
    def __init__(self, resource, terms):
        self.resource, self.terms = resource, terms

    def matches(self, obj):
        fields = _FIELDS[self.resource]
        for field, op, value in self.terms:
            actual = fields[field](obj)
            if (actual == value) != (op == "="):
                return False
        return True

    def empty(self):
        return not self.terms


def parse_field_selector(resource, text):
    terms = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in _FIELDS[resource]:
            raise bad_request(f'field label not supported: {field}')
        terms.append((field, "!=" if op == "!=" else "=", value))
    return FieldSelector(resource, terms)
