"""Tickets: how Sluiceway's engine tells a pod that a workflow engine (Argo, Tekton) started what to do.

On the argo and tekton backends the workflow engine decides *when* a pod starts; Sluiceway's engine, watching the
run, decides *what* each instance does, by docs/explanation/semantics.md, as it does on every backend. The two meet
in the artifact store: for every instance the pod of native try N (Argo's `{{retries}}`, Tekton's retry count) reads

    <tickets root>/<instance path>/<N>.json            the task spec of the attempt the engine launched (JSON)
    <tickets root>/<instance path>/<N>.cancelled.json  that attempt was cancelled before its pod started
    <tickets root>/<instance path>/decided.json        the engine decided the instance without (another) attempt
    <tickets root>/_ended.json                         the run has ended

where the tickets root is `<artifact root>/<run id>/.sluiceway/tickets/<engine object name>-<nonce>` (a retried run's
new engine object never reads an earlier one's tickets). A pod also ends when a group around its instance (given
to it with `--within`) is decided final without having created it: an iteration never opened, a handler never
entered (GRP-3). A decision carries
what the pod must leave for the workflow engine: a driver's outputs (a condition's branch, a loop's iterations)
and the exit code that keeps the engine's own graph in step (non-zero when the instance failed, so that the
engine's dependants do not start).
"""

from __future__ import annotations

import msgspec

from .ir import Record

DECIDED = "decided.json"
RUN_ENDED = "_ended.json"
"""In the tickets root: the run has ended; a pod still waiting ends (a name no instance path can take)."""
OUTPUTS_DIR = "/tmp/sluiceway/outputs"
"""Where a pod writes the outputs the workflow engine reads (Argo `valueFrom.path`; Tekton copies them to results)."""
BRANCH_OUTPUT = "branch"
"""A condition driver's output: the index of the branch taken, or `none`."""
ITERATIONS_OUTPUT = "iterations"
"""A loop driver's output: the JSON list of iteration indices, as strings (`[]` for an empty loop)."""
EMPTY_OUTPUT = "empty"
"""A loop driver's output: `true` when the loop has no iterations (Tekton skips an empty loop's body on it)."""
DRIVER_OUTPUTS = {"condition": {BRANCH_OUTPUT: "none"}, "loop": {ITERATIONS_OUTPUT: "[]", EMPTY_OUTPUT: "true"}}
"""What a driver writes when its group did not start (skipped, cancelled, failed): no branch, no iteration."""


class Decision(Record, frozen=True):
    """What the engine decided for an instance that runs no (further) attempt."""

    state: str
    """The instance's state: SKIPPED, CACHED, CANCELLED, FAILED, or RUNNING for a group that started."""
    exit_code: int = 0
    outputs: dict[str, str] = {}
    """Files to write under OUTPUTS_DIR, for the workflow engine: a driver's branch or iterations."""
    message: str = ""
    opened: bool = False
    """For a group: whether it started (an exit handler was entered); a handler never entered has no exit task."""


def tickets_root(artifact_root: str, run_id: str, engine_object: str) -> str:
    return f"{artifact_root.rstrip('/')}/{run_id}/.sluiceway/tickets/{engine_object}"


def try_ticket_name(native_try: int) -> str:
    return f"{native_try}.json"


def cancelled_ticket_name(native_try: int) -> str:
    """The attempt of this native try was cancelled before its pod started: the pod ends without running it."""
    return f"{native_try}.cancelled.json"


def encode_decision(decision: Decision) -> bytes:
    return msgspec.json.encode(decision)
