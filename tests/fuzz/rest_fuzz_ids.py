"""schemathesis hooks of tests/fuzz/test_rest_fuzz.py (loaded by `schemathesis run` from
SCHEMATHESIS_HOOKS): real ids in the path parameters, so that an operation on one resource
(/task/{id}/complete, /process-instance/{id}/variables/{varName}, /external-task/{id}/failure, …)
runs its handler with the generated, hostile query and body instead of stopping at a 404.

Right before each request (`before_call`) the generated path parameters are replaced by ids read
from the server over REST: tasks, instances, definitions by id and key, deployments and their
resources, external tasks, jobs, incidents, users, groups, and variable names that exist (as pairs
with their task or instance). A case keeps its generated path parameters when the coverage phase
mutated a path parameter (its boundary and wrong-typed values) and for one case in five of the
others (unknown ids still get their 404). Which cases and which ids is a function of the case's
content (crc32), the id lists are sorted: a run is repeatable. The lists are read again when an
operation begins and after a real id got a 404 or a 409 (a completed task, a resolved incident,
an unlocked external task).
Deleting an instance, a user or a group takes one made for it (a fresh victim), so the others
stay for the operations after. A worker's call on an external task (complete, failure, bpmnError,
extendLock) takes one locked by WORKER and, in four cases in five where the body gives a workerId,
that worker's name: the rest of the body is as generated.

`after_call` writes a line per answer (operation, status, whether the ids were real, the error's
message) to FUZZ_STATS: the test's summary of how far the operations got."""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import schemathesis

BASE = os.environ["FUZZ_BASE"] + "/engine-rest"
TOKEN = os.environ["FUZZ_TOKEN"]
STATS = os.environ.get("FUZZ_STATS")
REAL_IDS = os.environ.get("FUZZ_REAL_IDS", "1") == "1"
KEEP_ONE_IN = 5  # a fifth of the cases keep their generated ids
PAIRS_OF = 8  # variable names and resources are read for the first few tasks, instances, deployments
DECISIONS = sorted(set(re.findall(r'<decision id="([^"]+)"', "".join(
    p.read_text(encoding="utf-8") for p in (Path(__file__).resolve().parents[2] / "bpmn").glob("*.dmn")))))


def _call(method: str, path: str, body=None, *, gone=None):
    """The JSON answer of a call; `gone` when it answers 404 (a timer ended the instance meanwhile)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read()
    except urllib.error.HTTPError as error:
        if error.code == 404 and gone is not None:
            return gone
        raise AssertionError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None
    return json.loads(text) if text else None


def _ids(path: str, field: str = "id") -> list[str]:
    return sorted({str(row[field]) for row in _call("GET", path)})


def _pairs(owners: list[str], path: str) -> list[tuple[str, str]]:
    """(owner, variable name) for the first owners: `path` is formatted with the owner."""
    return [(owner, name) for owner in owners[:PAIRS_OF] for name in sorted(_call("GET", path.format(owner), gone={}))]


WORKER = "fuzz-worker"  # the lock owner of the seeded external tasks (test_rest_fuzz.py)
WORKER_CALLS = ("complete", "failure", "bpmnError", "extendLock")


def _locked() -> list[str]:
    """External tasks locked by WORKER, at least two: more are locked (and made) when fewer."""
    for _attempt in range(3):
        ids = _ids(f"/external-task?workerId={WORKER}&locked=true")
        if len(ids) >= 2:
            break
        if not _call("POST", "/external-task/fetchAndLock", {"workerId": WORKER, "maxTasks": 2, "topics": [
                {"topicName": "charge", "lockDuration": 3600000}]}):
            started = _call("POST", "/process-definition/key/client_order/start", {"businessKey": "fuzz-worker-task"})
            for task in _call("GET", f"/task?processInstanceId={started['id']}"):
                _call("POST", f"/task/{task['id']}/complete", {"variables": {"approved": {"value": True}}})
    return ids


READERS = {  # kind -> how to read its sorted list of ids (or of (id, second id) pairs)
    "task": lambda: _ids("/task?active=true"),
    "instance": lambda: _ids("/process-instance"),
    "history": lambda: _ids("/history/process-instance"),
    "definition": lambda: _ids("/process-definition"),
    "definition_key": lambda: _ids("/process-definition", "key"),
    "decision_key": lambda: DECISIONS,
    "deployment": lambda: _ids("/deployment"),
    "external": lambda: _ids("/external-task"),
    "locked": _locked,
    "job": lambda: _ids("/job"),
    "incident": lambda: _ids("/incident"),
    "user": lambda: _ids("/user"),
    "group": lambda: _ids("/group"),
    "task_variable": lambda: _pairs(POOLS.get("task"), "/task/{}/variables"),
    "task_local": lambda: _pairs(POOLS.get("task"), "/task/{}/localVariables"),
    "instance_variable": lambda: _pairs(POOLS.get("instance"), "/process-instance/{}/variables"),
    "resource": lambda: [(d, r["id"]) for d in POOLS.get("deployment")[:PAIRS_OF]
                         for r in sorted(_call("GET", f"/deployment/{d}/resources", gone=[]), key=lambda r: r["id"])],
}


class Pools:
    """The lists of READERS, read when first asked for and again after `stale`."""

    def __init__(self):
        self.read: dict[str, list] = {}

    def get(self, kind: str) -> list:
        if kind not in self.read:
            self.read[kind] = READERS[kind]()
        return self.read[kind]

    def stale(self, kinds=None):
        for kind in kinds or list(self.read):
            self.read.pop(kind, None)


POOLS = Pools()
_victims = iter(range(1, 10**6))


def _victim(kind: str) -> str:
    """A fresh instance, user or group for an operation that deletes one."""
    number = next(_victims)
    if kind == "instance":
        return _call("POST", "/process-definition/key/client_order/start", {"businessKey": f"fuzz-victim-{number}"})["id"]
    name = f"fuzz-victim-{number}"
    if kind == "user":
        _call("POST", "/user/create", {"profile": {"id": name, "firstName": "victim"}, "credentials": {"password": "x" * 12}})
    else:
        _call("POST", "/group/create", {"id": name, "name": name, "type": "WORKFLOW"})
    return name


def _plan(template: str, method: str) -> dict[str, str] | None:
    """For a path template, the kind of id each path parameter takes ("a+b" = a pair's two parts)."""
    parts = template.strip("/").split("/")
    head = parts[0]
    if head == "task":
        if "{varName}" in parts:
            return {"id+varName": "task_local" if "localVariables" in parts else "task_variable"}
        return {"id": "task"}
    if head == "process-instance":
        if "{varName}" in parts:
            return {"id+varName": "instance_variable"}
        return {"id": "victim:instance" if method == "DELETE" and len(parts) == 2 else "instance"}
    if head == "history" and parts[1] == "process-instance":
        return {"id": "history"}
    if head == "execution":
        return {"id": "instance"}
    if head == "process-definition":
        return {"key": "definition_key"} if parts[1] == "key" else {"id": "definition"}
    if head == "decision-definition":
        return {"key": "decision_key"}
    if head == "deployment":
        return {"id+resourceId": "resource"} if "{resourceId}" in parts else {"id": "deployment"}
    if head == "external-task" and parts[-1] in WORKER_CALLS:
        return {"id": "locked"}
    if head in ("external-task", "job", "incident"):
        return {"id": {"external-task": "external", "job": "job", "incident": "incident"}[head]}
    if head == "user":
        return {"id": "victim:user" if method == "DELETE" else "user"}
    if head == "group":
        if "{userId}" in parts:
            return {"id": "group", "userId": "user"}
        return {"id": "victim:group" if method == "DELETE" else "group"}
    return None


def _mutates_path(case) -> bool:
    """The coverage phase's case of a path parameter's boundary or wrong-typed value."""
    data = getattr(getattr(case._meta, "phase", None), "data", None) if case._meta else None
    location = getattr(data, "parameter_location", None)
    return location is not None and str(getattr(location, "value", location)) == "path"


def _digest(case) -> int:
    text = repr((case.operation.label, sorted(case.path_parameters.items()), case.query, case.body))
    return zlib.crc32(text.encode("utf-8", "backslashreplace"))


SENT: dict[str, list[str]] = {}  # case.id -> the kinds of real ids it was sent with


@schemathesis.hook
def before_call(context, case, kwargs):
    SENT.pop(case.id, None)
    if not REAL_IDS or not case.path_parameters:
        return
    label = case.operation.label
    if getattr(POOLS, "label", None) != label:
        POOLS.label = label
        POOLS.stale()
    plan = _plan(case.operation.path, case.operation.method.upper())
    digest = _digest(case)
    if plan is None or _mutates_path(case) or digest % KEEP_ONE_IN == 0:
        return
    pick = digest // KEEP_ONE_IN
    real = {}
    for names, kind in plan.items():
        if kind.startswith("victim:"):
            real[names] = _victim(kind.split(":")[1])
            continue
        pool = POOLS.get(kind)
        if not pool:
            continue
        value = pool[pick % len(pool)]
        pick //= len(pool)
        for name, part in zip(names.split("+"), value if isinstance(value, tuple) else (value,)):
            real[name] = part
    if real:
        case.path_parameters.update(real)
        if "locked" in plan.values() and isinstance(case.body, dict) and isinstance(case.body.get("workerId"), str) \
                and pick % KEEP_ONE_IN:
            case.body["workerId"] = WORKER  # the lock's owner: the worker's call goes on to its body
        SENT[case.id] = list(plan.values())


@schemathesis.hook
def after_call(context, case, response):
    real = SENT.pop(case.id, None)
    if real and response.status_code in (404, 409):  # gone, or no longer in the state it was read in
        POOLS.stale([k for k in real if not k.startswith("victim:")] + [k for k in ("task_variable", "task_local", "instance_variable", "resource")
                            if k in POOLS.read])
    if STATS:
        message = ""
        if 400 <= response.status_code < 500:
            try:
                message = str(json.loads(response.content).get("message"))[:100]
            except (ValueError, AttributeError):
                pass
        message = " ".join(message.split())
        with open(STATS, "a", encoding="utf-8") as out:
            out.write(f"{case.operation.label}\t{response.status_code}\t{'real' if real else 'generated'}\t{message}\n")
