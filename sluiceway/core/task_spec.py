"""The task spec: everything the executor needs to run one attempt of one task.

This is the contract between an orchestrator (the engine, or a Kubernetes backend) and the
executor (`python -m sluiceway.executor`), which runs inside the task's process or
container on every backend. It lives in core because every backend writes it.

The executor answers with a `TaskResult`, written as JSON to `result_path`, and with one
file per output value in `values_dir` (for engines that read results from files: Argo's
`valueFrom.path`, Tekton's `$(results.NAME.path)`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .ir import Component, Record

STORES_ENV = "SLUICEWAY_TASK_STORES"
"""The artifact stores (JSON of scheme -> StoreRef, settings only) an executor in a pod uses before it has its spec."""
ATTEMPT_ENV = "SLUICEWAY_TASK_ATTEMPT"
"""The attempt a component runs in (from 1), set by the executor: a component may behave differently when retried."""
MAX_VALUE_BYTES = 3 * 1024
"""Output values larger than this, JSON-encoded, travel through the artifact store."""


class ArtifactRef(Record, frozen=True):
    """An artifact in a store: where it is, what it is, and what its producer said of it."""

    uri: str
    type: str = "Artifact"
    metadata: dict[str, Any] = {}
    digest: str | None = None
    """sha256 of the content (files in path order for folders); None when unknown."""


class InputBinding(Record, frozen=True):
    """The value of one input: a parameter value, a spilled value, or an artifact (or a list of them)."""

    value: Any | msgspec.UnsetType = msgspec.UNSET
    """A JSON value (parameters, and lists of parameters gathered by Collected)."""
    value_uri: str | None = None
    """A value too large to pass inline, stored as JSON in the artifact store."""
    artifacts: tuple[ArtifactRef, ...] = ()
    """One artifact, or several for a list-of-artifacts input (Collected)."""


class FinalStatus(Record, frozen=True):
    """What an exit task learns about the tasks its handler guarded."""

    state: str
    pipeline_job_resource_name: str
    pipeline_task_name: str
    error_code: int | None = None
    error_message: str | None = None


class StoreRef(Record, frozen=True):
    """An artifact store as an executor creates it: `target(**settings)`. Settings never hold credentials."""

    target: str
    """"module:Class"."""
    settings: dict[str, Any] = {}
    """Keyword arguments of the class: an endpoint, a region, ... (credentials reach the executor through its environment)."""


class TaskSpec(Record, frozen=True, kw_only=True):
    run_id: str
    task: str
    """The task's name (a loop iteration's task adds its index: 'train-3')."""
    attempt: int = 1
    component: Component
    inputs: dict[str, InputBinding] = {}
    """Bound inputs. An input with a default may be left out; a required one may not."""
    output_root: str
    """URI prefix under which the attempt's artifacts and spilled values are stored."""
    stores: dict[str, StoreRef | str] = {}
    """URI scheme -> the artifact store for it (resolved by the orchestrator); a plain "module:Class" takes no settings."""
    work_dir: str
    """A local folder the executor may use; inputs are staged and outputs written under it."""
    result_path: str
    result_uri: str | None = None
    """Where the executor also stores the result, for orchestrators that cannot read the task's files (a pod's)."""
    values_dir: str | None = None
    final_status: FinalStatus | None = None
    env: dict[str, str] = {}


class TaskError(Record, frozen=True):
    kind: str
    """'user_code' (the component failed), 'outputs' (it broke its output contract) or 'spec'."""
    message: str
    traceback: str | None = None


class TaskResult(Record, frozen=True):
    succeeded: bool
    values: dict[str, Any] = {}
    """Output values small enough to pass inline."""
    spilled_values: dict[str, str] = {}
    """Output values stored in the artifact store instead: name -> URI of their JSON."""
    artifacts: dict[str, ArtifactRef] = {}
    error: TaskError | None = None


def encode(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value, order="deterministic")


def decode_spec(data: bytes) -> TaskSpec:
    return msgspec.json.decode(data, type=TaskSpec)


def decode_result(data: bytes) -> TaskResult:
    return msgspec.json.decode(data, type=TaskResult)
