"""One reconcile of one Workflow, as Argo's `wfOperationCtx.operate` does: start it, drive the entrypoint's nodes one
step further (create pods, read finished ones, retry, kill on shutdown or deadline), run the exit handler once the
entrypoint is done, and decide the Workflow's phase. Everything it knows is in `status.nodes`, apart from the
clocks and pod outputs its controller keeps in memory (`Memory`, `Pods`).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ApiError
from ..objects import Obj, rfc3339
from . import spec as specs
from .dag import DagRun
from .nodes import COMPLETED, FAILED, FULFILLED, Call, Node, finish, new_node, node_id, parameter_values, parameters, pod_name
from .spec import SpecError
from .variables import Unresolved, substitute

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
COMPLETED_LABEL = "workflows.argoproj.io/completed"
PHASE_LABEL = "workflows.argoproj.io/phase"
_RETRYABLE = {"Always": FAILED, "OnFailure": frozenset({"Failed"}), "OnError": frozenset({"Error"}), "OnTransientError": frozenset()}


@dataclass
class Memory:
    """What the controller remembers of one Workflow (by uid) between reconciles: monotonic clocks, finer than the
    seconds of `startedAt`/`finishedAt`, for deadlines and retry backoff."""

    started: float = field(default_factory=time.monotonic)
    created: dict[str, float] = field(default_factory=dict)  # node id -> when the node was created
    finished: dict[str, float] = field(default_factory=dict)  # node id -> when it was fulfilled


@dataclass(frozen=True)
class Output:
    """A declared output parameter of a finished pod: the value read from its file (None: no file)."""

    name: str
    path: str
    value: str | None
    default: str | None


class Pods(Protocol):
    """What an operation does to pods; the controller implements it on the object store and the kubelet."""

    def find(self, namespace: str, name: str) -> Obj | None: ...
    def create(self, pod: Obj, outputs: list[dict[str, Any]]) -> None: ...
    def delete(self, namespace: str, name: str) -> None: ...
    def completed(self, namespace: str, name: str) -> None: ...
    def outputs(self, pod: Obj) -> list[Output]: ...


class Operation:
    def __init__(self, workflow: Obj, memory: Memory, pods: Pods) -> None:
        self.name: str = workflow["metadata"]["name"]
        self.namespace: str = workflow["metadata"].get("namespace", "")
        self.uid: str = workflow["metadata"]["uid"]
        self.spec: dict[str, Any] = workflow.get("spec") or {}
        self.status: dict[str, Any] = copy.deepcopy(workflow.get("status") or {})
        self.nodes: dict[str, Node] = self.status.setdefault("nodes", {})
        self.templates: dict[str, dict[str, Any]] = {template.get("name"): template for template in self.spec.get("templates") or []}
        self.memory, self.pods = memory, pods
        self.wake_after: float | None = None  # seconds until something is due (a backoff, the deadline)
        self.terminate = self.spec.get("shutdown") == "Terminate"
        self.stop_reason = self._stop_reason()
        arguments = parameter_values(self.spec.get("arguments"))
        self.globals: dict[str, str] = {
            "workflow.name": self.name,
            "workflow.namespace": self.namespace,
            "workflow.uid": self.uid,
            "workflow.status": "Running",
            **{f"workflow.parameters.{name}": value for name, value in arguments.items()},
        }

    # The workflow.

    def run(self) -> None:
        if self.status.get("phase") in ("Succeeded", "Failed", "Error"):
            return
        if self.status.get("phase") != "Running" and not self._start():
            return
        call = Call(self.name, self.name, self.spec["entrypoint"], self._arguments(), "", on_exit=False)
        entry = self.execute(call)
        if entry is None and self.halted(call.on_exit):  # shut down or out of time before it could start
            entry = self.add(self.new(call, "Pod" if "container" in self.templates[call.template] else "DAG", "Failed", self.stop_reason))
        if entry is None or entry["phase"] not in FULFILLED:
            return
        handler = None
        exit_name = f"{self.name}.onExit"
        if self.spec.get("onExit") and (not self.terminate or node_id(self.name, exit_name) in self.nodes):
            self.globals["workflow.status"] = entry["phase"]  # A: docs/variables.md, exit handler variables
            handler = self.execute(Call(exit_name, exit_name, self.spec["onExit"], [], "", on_exit=True))
            if handler is None or handler["phase"] not in FULFILLED:
                return
        self._complete(*_outcome(entry, handler))

    def _start(self) -> bool:
        try:
            specs.validate(self.spec)
        except SpecError as error:
            self.status.update(startedAt=rfc3339())
            self._complete("Failed", f"invalid spec: {error}")
            return False
        self.status.update(phase="Running", startedAt=rfc3339())
        return True

    def _arguments(self) -> list[dict[str, Any]]:
        return [{"name": name, "value": value} for name, value in parameter_values(self.spec.get("arguments")).items()]

    def _complete(self, phase: str, message: str) -> None:
        self.status.update(phase=phase, finishedAt=rfc3339())
        if message:
            self.status["message"] = message

    def _stop_reason(self) -> str:
        """Why no new work may start: a shutdown, or the workflow's activeDeadlineSeconds passed ("" if neither)."""
        shutdown = self.spec.get("shutdown")
        if shutdown:
            return f"Stopped with strategy '{shutdown}'"
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline is None:
            return ""
        remaining = float(deadline) - (time.monotonic() - self.memory.started)
        if remaining <= 0:
            return "Step exceeded its deadline"
        self.wake_in(remaining)
        return ""

    def halted(self, on_exit: bool) -> bool:
        """Whether nodes of this kind must stop: exit handlers and hooks run on after Stop and the deadline, not
        after Terminate (A: docs/walk-through/timeouts.md, docs/cli/argo_stop.md, argo_terminate.md)."""
        return bool(self.stop_reason) and (not on_exit or self.terminate)

    def wake_in(self, seconds: float) -> None:
        self.wake_after = seconds if self.wake_after is None else min(self.wake_after, seconds)

    # Nodes.

    def add(self, node: Node) -> Node:
        self.nodes[node["id"]] = node
        self.memory.created.setdefault(node["id"], time.monotonic())
        if node["phase"] in FULFILLED:
            self.fulfilled(node)
        return node

    def fulfilled(self, node: Node) -> None:
        self.memory.finished.setdefault(node["id"], time.monotonic())

    def node(self, name: str) -> Node | None:
        return self.nodes.get(node_id(self.name, name))

    def new(self, call: Call, kind: str, phase: str, message: str = "") -> Node:
        return new_node(self.name, call.name, call.display, kind, call.template, call.boundary, phase, message)

    def execute(self, call: Call) -> Node | None:
        """Create or advance the node of a template invocation; None when it may not start yet (parallelism) or at all
        (shutdown, deadline)."""
        node = self.node(call.name)
        if node is not None and node["phase"] in FULFILLED:
            return node
        template = self.templates[call.template]
        kind = "DAG" if "dag" in template else "Retry" if "retryStrategy" in template else "Pod"
        if node is None:
            if self.halted(call.on_exit) or not self._room(call, pod=kind == "Pod"):
                return None
            try:
                inputs = self._inputs(template, call.arguments)
            except (Unresolved, SpecError) as error:
                return self.add(self.new(call, kind, "Error", str(error)))
        else:
            inputs = parameter_values(node.get("inputs"))
        if kind == "DAG":
            return DagRun(self, call, template, inputs).run()
        if kind == "Retry":
            return self._retry(call, template, inputs)
        return self._pod(call, template, inputs, None)

    def _inputs(self, template: dict[str, Any], arguments: list[dict[str, Any]]) -> dict[str, str]:
        """The template's input parameters: the caller's argument, else the input's `value` or `default`."""
        given = {parameter["name"]: parameter.get("value") for parameter in arguments}
        values = {}
        for parameter in (template.get("inputs") or {}).get("parameters") or []:
            name = parameter["name"]
            for source in (given.get(name), parameter.get("value"), parameter.get("default")):
                if source is not None:
                    values[name] = str(source)
                    break
            else:
                raise Unresolved(f"inputs.parameters.{name} was not supplied")
        resolved: dict[str, str] = substitute(values, self.globals)
        return resolved

    def _room(self, call: Call, pod: bool) -> bool:
        """Parallelism: the calling template's cap on its active children, and spec.parallelism on pods
        (A: docs/parallelism.md)."""
        active = [node for node in self.nodes.values() if node["phase"] in ("Pending", "Running")]
        cap = self.spec.get("parallelism")
        if pod and cap is not None and sum(node["type"] == "Pod" for node in active) >= int(cap):
            return False
        boundary = self.nodes.get(call.boundary)
        cap = self.templates[boundary["templateName"]].get("parallelism") if boundary else None
        if cap is None:
            return True
        siblings = [node for node in active if node.get("boundaryID") == call.boundary and node["type"] in ("Pod", "DAG")]
        return len(siblings) < int(cap)

    # Pods.

    def _pod(self, call: Call, template: dict[str, Any], inputs: dict[str, str], retries: int | None) -> Node:
        node = self.node(call.name)
        if node is None:
            return self._create_pod(call, template, inputs, retries)
        if self.halted(call.on_exit):
            self.pods.delete(self.namespace, pod_name(self.name, call.template, call.name))
            finish(node, "Failed", self.stop_reason)
            self.fulfilled(node)
        else:
            self._sync_pod(node)
        return node

    def _create_pod(self, call: Call, template: dict[str, Any], inputs: dict[str, str], retries: int | None) -> Node:
        scope = {**self.globals, **{f"inputs.parameters.{name}": value for name, value in inputs.items()}}
        if retries is not None:
            scope["retries"] = str(retries)
        try:
            resolved = substitute({key: value for key, value in template.items() if key != "name"}, scope)
            outputs = _declared_outputs(resolved)
        except (Unresolved, SpecError) as error:
            return self.add(self.new(call, "Pod", "Error", str(error)))
        node = self.new(call, "Pod", "Pending")
        if inputs:
            node["inputs"] = {"parameters": parameters(inputs)}
        try:
            self.pods.create(self._manifest(node, call.template, resolved), outputs)
        except ApiError as error:  # refused (422 Invalid, 409 AlreadyExists): the node cannot run
            finish(node, "Error", str(error))
        return self.add(node)

    def _manifest(self, node: Node, template_name: str, template: dict[str, Any]) -> Obj:
        """The pod Argo would create, minus its init and wait containers: `main` runs the container template."""
        pod_metadata, metadata = self.spec.get("podMetadata") or {}, template.get("metadata") or {}
        container = {**template["container"], "name": "main"}
        spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
        for key in ("serviceAccountName", "imagePullSecrets"):
            if self.spec.get(key):
                spec[key] = self.spec[key]
        for key in ("nodeSelector", "tolerations"):  # a template's own replaces the workflow's
            if template.get(key) or self.spec.get(key):
                spec[key] = template.get(key) or self.spec[key]
        if template.get("volumes"):
            spec["volumes"] = template["volumes"]
        if template.get("activeDeadlineSeconds") is not None:
            spec["activeDeadlineSeconds"] = specs.integer(template["activeDeadlineSeconds"], "activeDeadlineSeconds")
        labels = {**pod_metadata.get("labels", {}), **metadata.get("labels", {}), WORKFLOW_LABEL: self.name, COMPLETED_LABEL: "false"}
        annotations = {
            **pod_metadata.get("annotations", {}),
            **metadata.get("annotations", {}),
            "workflows.argoproj.io/node-name": node["name"],
            "workflows.argoproj.io/node-id": node["id"],
        }
        owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": self.name, "uid": self.uid}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name(self.name, template_name, node["name"]),
                "namespace": self.namespace,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": spec,
        }

    def _sync_pod(self, node: Node) -> None:
        name = pod_name(self.name, node["templateName"], node["name"])
        pod = self.pods.find(self.namespace, name)
        if pod is None:
            finish(node, "Error", "pod deleted")
            self.fulfilled(node)
            return
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase in ("Pending", "Running"):
            node["phase"] = phase
            return
        self._pod_finished(node, pod)
        self.pods.completed(self.namespace, name)

    def _pod_finished(self, node: Node, pod: Obj) -> None:
        """A finished pod's node: Failed on a non-zero exit or its deadline, Error when a declared output file is
        missing and has no default (A: workflow/executor/executor.go `SaveParameters`), else Succeeded."""
        status = pod.get("status") or {}
        terminated = ((status.get("containerStatuses") or [{}])[0].get("state") or {}).get("terminated") or {}
        code = int(terminated.get("exitCode", 1 if status.get("phase") == "Failed" else 0))
        values, missing = [], []
        for output in self.pods.outputs(pod):
            value = output.value if output.value is not None else output.default
            if value is None:
                missing.append(output)
            else:
                values.append({"name": output.name, "value": value, "valueFrom": {"path": output.path}})
        node["outputs"] = {"parameters": values, "exitCode": str(code)} if values else {"exitCode": str(code)}
        if status.get("reason") == "DeadlineExceeded":
            finish(node, "Failed", status.get("message", "Pod was active on the node longer than the specified deadline"))
        elif code != 0:
            finish(node, "Failed", f"Error (exit code {code})")
        elif missing:
            finish(node, "Error", f"open {missing[0].path}: no such file or directory")
        else:
            finish(node, "Succeeded")
        self.fulfilled(node)

    # Retries (A: docs/retries.md, docs/walk-through/retrying-failed-or-errored-steps.md).

    def _retry(self, call: Call, template: dict[str, Any], inputs: dict[str, str]) -> Node:
        """A Retry node whose children are the attempts, `name(0)`, `name(1)`, ...: a new attempt after a failure its
        policy retries, within `limit` and `maxDuration`, once the backoff has passed; its phase is its last attempt's."""
        node = self.node(call.name)
        if node is None:
            node = self.add(self.new(call, "Retry", "Running"))
            if inputs:
                node["inputs"] = {"parameters": parameters(inputs)}
        attempts = [self.nodes[child] for child in node.get("children", [])]
        last = attempts[-1] if attempts else None
        if last is not None and last["phase"] not in FULFILLED:
            last = self._pod(self._attempt(call, len(attempts) - 1), template, inputs, len(attempts) - 1)
        if last is not None and last["phase"] not in FULFILLED:
            return node
        if last is not None or self.halted(call.on_exit):
            verdict, wait = self._next_attempt(node, call, template, last)
            if verdict is not None:
                return self._end_retries(node, last, verdict)
            if wait > 0:
                self.wake_in(wait)
                return node
        attempt_call = self._attempt(call, len(attempts))
        if self._room(attempt_call, pod=True):
            attempt = self._pod(attempt_call, template, inputs, len(attempts))
            node.setdefault("children", []).append(attempt["id"])
        return node

    def _attempt(self, call: Call, index: int) -> Call:
        return Call(f"{call.name}({index})", f"{call.display}({index})", call.template, call.arguments, call.boundary, call.on_exit)

    def _next_attempt(self, node: Node, call: Call, template: dict[str, Any], last: Node | None) -> tuple[str | None, float]:
        """(why there is no further attempt, or None; how long to wait before it)."""
        if last is None:  # halted before the first attempt
            return self.stop_reason, 0.0
        if last["phase"] == "Succeeded":
            return "", 0.0
        strategy = template["retryStrategy"]
        where = f"templates.{template['name']}.retryStrategy"
        if self.halted(call.on_exit) or last["phase"] not in _RETRYABLE[strategy.get("retryPolicy") or "OnFailure"]:
            return last.get("message", ""), 0.0
        tries = len(node.get("children", []))
        if strategy.get("limit") is not None and tries > specs.integer(strategy["limit"], f"{where}.limit"):
            return "No more retries left", 0.0
        delay = backoff_seconds(strategy.get("backoff") or {}, tries, where)
        now = time.monotonic()
        max_duration = (strategy.get("backoff") or {}).get("maxDuration")
        if max_duration and now - self.memory.created[node["id"]] + delay > specs.seconds(max_duration, f"{where}.backoff.maxDuration"):
            return "Max duration limit exceeded", 0.0
        return None, delay - (now - self.memory.finished.get(last["id"], now))

    def _end_retries(self, node: Node, last: Node | None, message: str) -> Node:
        phase = last["phase"] if last is not None else "Failed"
        if last is not None and last.get("outputs"):
            node["outputs"] = last["outputs"]
        finish(node, phase, message)
        self.fulfilled(node)
        return node


def backoff_seconds(backoff: dict[str, Any], tries: int, where: str) -> float:
    """duration * factor^(tries-1), at most `cap` (A: docs/retries.md "Back-Off")."""
    if not backoff.get("duration"):
        return 0.0
    delay = specs.seconds(backoff["duration"], f"{where}.backoff.duration")
    delay *= float(str(backoff.get("factor", 1))) ** (tries - 1)
    if backoff.get("cap"):
        delay = min(delay, specs.seconds(backoff["cap"], f"{where}.backoff.cap"))
    return delay


def _declared_outputs(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The output parameters a container template reads from files, with their folders checked: the fake kubelet maps
    a folder into each pod (kubelet `mapped_prefixes`), which the root cannot be."""
    declared = []
    for parameter in (template.get("outputs") or {}).get("parameters") or []:
        path = str(parameter["valueFrom"]["path"])
        if not path.startswith("/") or path.rstrip("/").count("/") < 2:
            raise SpecError(f"outputs.parameters.{parameter['name']}: the simulator needs an absolute path inside a folder, not {path!r}")
        declared.append({"name": parameter["name"], "path": path, "default": parameter["valueFrom"].get("default")})
    return declared


def _outcome(entry: Node, handler: Node | None) -> tuple[str, str]:
    """The workflow's phase and message: the entrypoint's, unless it Succeeded and the exit handler Failed or Errored
    (backend-semantics 1.6; A: workflow/controller/operator.go)."""
    if handler is not None and entry["phase"] == "Succeeded" and handler["phase"] in FAILED:
        return handler["phase"], handler.get("message") or f"exit handler {handler['phase'].lower()}"
    phase = entry["phase"] if entry["phase"] in COMPLETED else "Succeeded"
    return phase, entry.get("message", "") if phase in FAILED else ""
