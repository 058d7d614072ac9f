"""Telling plugins' observer hooks about a run as the engine reports it."""

from __future__ import annotations

import logging
from typing import Any

from ..core.lifecycle import ErrorKind, RunState, TaskState
from ..engine.frames import Instance

log = logging.getLogger(__name__)


class HookObserver:
    """An engine observer that calls the plugins' before_/after_/on_..._error hooks.

    A plugin that raises is logged and ignored: observing never changes a run's outcome.
    """

    def __init__(self, hook: Any, pipeline_name: str, parameters: dict[str, Any]) -> None:
        self.hook = hook
        self.pipeline_name = pipeline_name
        self.parameters = parameters

    def run_changed(self, run_id: str, state: RunState, error_kind: ErrorKind | None, message: str) -> None:
        if state == RunState.RUNNING:
            self._call("before_run", run_id=run_id, pipeline_name=self.pipeline_name, parameters=self.parameters)
        elif state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED):
            self._call("after_run", run_id=run_id, pipeline_name=self.pipeline_name, state=state.value)

    def task_changed(self, run_id: str, instance: Instance) -> None:
        if not instance.attempts:
            return  # groups, importers and skipped tasks run no attempt: only attempts are reported
        if instance.state == TaskState.RUNNING:
            self._call("before_task", run_id=run_id, task_name=instance.id, attempt=instance.attempts)
        elif instance.state in (TaskState.RETRYING, TaskState.FAILED):
            self._call("on_task_error", run_id=run_id, task_name=instance.id, attempt=instance.attempts, error=instance.message)
            if instance.state == TaskState.FAILED:
                self._call("after_task", run_id=run_id, task_name=instance.id, attempt=instance.attempts, state=instance.state.value)
        elif instance.state in (TaskState.SUCCEEDED, TaskState.CANCELLED):
            self._call("after_task", run_id=run_id, task_name=instance.id, attempt=instance.attempts, state=instance.state.value)

    def _call(self, name: str, **arguments: Any) -> None:
        try:
            getattr(self.hook, name)(**arguments)
        except Exception:  # a plugin's bug must not break the run
            log.exception("plugin hook %s failed", name)
