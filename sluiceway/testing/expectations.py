"""What a conformance case must give: the run's state and, for every task instance, its state, attempts, values,
artifact contents and cache hits; and how a run's report is compared with it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core import ir
from ..engine.engine import RunReport


@dataclass(frozen=True)
class Content:
    """An artifact's expected content (a file's text or bytes, or a folder's: relative name -> content), and the
    metadata its producer gave it."""

    data: str | bytes | Mapping[str, str | bytes]
    metadata: Mapping[str, Any] = field(default_factory=dict)


Artifact = str | bytes | Content
"""An expected artifact: its content (text or bytes), or a Content with metadata."""


@dataclass(frozen=True)
class Task:
    """One task instance's expected outcome. Build one with `ran`, `cached`, `failed`, `skipped` or `cancelled`."""

    state: str
    attempts: int = 1
    values: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, Artifact] = field(default_factory=dict)
    """Output name -> the artifact it produced."""
    skip_reason: str | None = None
    error_kind: str | None = None


def ran(attempts: int = 1, artifacts: Mapping[str, Artifact] | None = None, **values: Any) -> Task:
    return Task("SUCCEEDED", attempts, values, artifacts or {})


def cached(artifacts: Mapping[str, Artifact] | None = None, **values: Any) -> Task:
    """A cache hit: the outputs of an earlier execution, no attempt made."""
    return Task("CACHED", 0, values, artifacts or {})


def failed(error_kind: str = "ComponentFailed", attempts: int = 1) -> Task:
    return Task("FAILED", attempts, error_kind=error_kind)


def skipped(reason: str) -> Task:
    return Task("SKIPPED", 0, skip_reason=reason)


def cancelled(attempts: int = 0) -> Task:
    return Task("CANCELLED", attempts)


@dataclass(frozen=True)
class Run:
    """A run's expected outcome: its state and every task instance's (by instance id: `for-loop-1/0/add`)."""

    state: str
    tasks: Mapping[str, Task]


def digest_of(content: str | bytes | Mapping[str, str | bytes]) -> str:
    """An artifact's digest as the executor records it: of a file's content, or of a folder's files (each relative
    name, a NUL, its content; in name order)."""
    digest = hashlib.sha256()
    files = sorted(content.items()) if isinstance(content, Mapping) else [("", content)]
    for name, data in files:
        if name:
            digest.update(name.encode() + b"\0")
        digest.update(data.encode() if isinstance(data, str) else data)
    return "sha256:" + digest.hexdigest()


def observed(report: RunReport) -> dict[str, Any]:
    """What a run gave, in the shape `expected` gives: comparable with ==, readable in a failure."""
    tasks = {}
    for task_id, instance in sorted(report.tasks.items()):
        if not isinstance(instance.node, ir.Task | ir.Importer):
            continue  # groups: their outcome is their tasks'
        values = {
            name: _canonical(binding.value)
            for name, binding in instance.outputs.items()
            if binding.value_uri is None and not binding.artifacts
        }
        artifacts = {
            name: [[ref.digest, _canonical(ref.metadata)] for ref in binding.artifacts]
            for name, binding in instance.outputs.items()
            if binding.artifacts
        }
        tasks[task_id] = {
            "state": instance.state.value,
            "attempts": instance.attempts,
            "values": values if instance.state.value in ("SUCCEEDED", "CACHED") else {},
            "artifacts": artifacts if instance.state.value in ("SUCCEEDED", "CACHED") else {},
            "skip_reason": instance.skip_reason.value if instance.skip_reason else None,
            "error_kind": instance.error_kind.value if instance.state.value == "FAILED" and instance.error_kind else None,
        }
    return {"state": report.state.value, "tasks": tasks}


def expected(run: Run) -> dict[str, Any]:
    tasks = {}
    for task_id, task in sorted(run.tasks.items()):
        artifacts = {}
        for name, artifact in task.artifacts.items():
            content = artifact if isinstance(artifact, Content) else Content(artifact)
            artifacts[name] = [[digest_of(content.data), _canonical(dict(content.metadata))]]
        tasks[task_id] = {
            "state": task.state,
            "attempts": task.attempts,
            "values": {name: _canonical(value) for name, value in task.values.items()},
            "artifacts": artifacts,
            "skip_reason": task.skip_reason,
            "error_kind": task.error_kind,
        }
    return {"state": run.state, "tasks": tasks}


def differences(want: dict[str, Any], got: dict[str, Any], *, timing: bool = False) -> list[str]:
    """One line per difference between an expected and an observed outcome, naming the task and the field.

    With `timing`, two runs of one pipeline are compared, and what FAIL-6 leaves to timing is no difference: whether a
    node independent of a failure had started before it. When both runs failed, a node SKIPPED `run_stopping` on
    either side, or recorded on one side only (an iteration of a loop that never opened), is left out, and so is a
    nested pipeline around such a node (its outputs are its inner tasks')."""
    lines = []
    if want["state"] != got["state"]:
        lines.append(f"run: state {got['state']}, expected {want['state']}")
    left_out = {task_id for side in (want, got) for task_id, task in side["tasks"].items() if task["skip_reason"] == "run_stopping"}
    # ...and the nested pipelines around them: their outputs are those inner tasks' (GRP-5), present or not by timing.
    left_out |= {task_id.rsplit("/", depth)[0] for task_id in left_out for depth in range(1, task_id.count("/") + 1)}
    if timing and want["state"] == got["state"] == "FAILED":
        want_tasks = {k: v for k, v in want["tasks"].items() if k not in left_out and k in got["tasks"]}
        got_tasks = {k: v for k, v in got["tasks"].items() if k not in left_out and k in want["tasks"]}
    else:
        want_tasks, got_tasks = want["tasks"], got["tasks"]
    for task_id in sorted(want_tasks.keys() - got_tasks.keys()):
        lines.append(f"task '{task_id}': missing (expected {want_tasks[task_id]['state']})")
    for task_id in sorted(got_tasks.keys() - want_tasks.keys()):
        lines.append(f"task '{task_id}': not expected (it is {got_tasks[task_id]['state']})")
    for task_id in sorted(want_tasks.keys() & got_tasks.keys()):
        for key, value in want_tasks[task_id].items():
            if got_tasks[task_id][key] != value:
                lines.append(f"task '{task_id}': {key} {got_tasks[task_id][key]!r}, expected {value!r}")
    return lines


def _canonical(value: Any) -> str:
    """A value as JSON text: nested values compare exactly (1 is not 1.0), and read plainly in a failure."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
