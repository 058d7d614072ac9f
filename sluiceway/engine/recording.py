"""Keeping a run in a metadata store as the engine reports it."""

from __future__ import annotations

from ..core import ir
from ..core.lifecycle import ErrorKind, RunState, TaskState
from ..core.stores import MetadataStore
from .frames import Instance

_AFTER_ATTEMPT_STATES = frozenset({TaskState.RUNNING, TaskState.RETRYING, TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED})
"""States a task enters when an attempt starts or ends: its attempt record is written with them."""
_KINDS = {ir.Task: "task", ir.Importer: "importer", ir.Condition: "condition", ir.Loop: "loop", ir.ExitHandler: "exit_handler"}


class StoreRecorder:
    """An engine observer that writes every run and task change to a metadata store.

    A task's outputs are written in the same transaction as its SUCCEEDED state, so no
    reader ever sees a succeeded task without its outputs.
    """

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def run_changed(self, run_id: str, state: RunState, error_kind: ErrorKind | None, message: str) -> None:
        if state != RunState.PENDING:
            self.store.set_run_state(run_id, state, error_kind=error_kind.value if error_kind else None, message=message)

    def task_changed(self, run_id: str, instance: Instance) -> None:
        done_with_outputs = instance.state in (TaskState.SUCCEEDED, TaskState.CACHED)
        self.store.record_task(
            run_id,
            instance.id,
            kind=_KINDS[type(instance.node)],
            state=instance.state.value,
            skip_reason=instance.skip_reason.value if instance.skip_reason else None,
            message=instance.message,
            attempts=instance.attempts,
            error_kind=instance.error_kind.value if instance.error_kind and instance.state == TaskState.FAILED else None,
            attempt=instance.last_attempt if instance.state in _AFTER_ATTEMPT_STATES else None,
            outputs=instance.outputs if done_with_outputs else None,
            cache_parts=instance.cache_parts or None,
        )
        if instance.state == TaskState.RUNNING and instance.attempts <= 1 and instance.inputs:
            self.store.record_inputs(run_id, instance.id, instance.inputs)
