"""A task's log as the API serves it: the file the launcher writes (`$SLUICEWAY_HOME/runs/RUN/logs/TASK.log`, every
attempt appended), read as it grows until the task is final.

The file is followed by polling rather than by inotify: it works the same on every platform
and every filesystem (an NFS home included), and a quarter of a second is soon enough for a
person reading a log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi.concurrency import run_in_threadpool

from .. import local
from ..core import ir
from ..core.lifecycle import TERMINAL_RUN_STATES, TERMINAL_TASK_STATES
from ..stores.sql.results import task_and_run_state
from ..stores.sql.store import NotFound, SqlMetadataStore

POLL_SECONDS = 0.25
READ_BYTES = 64 * 1024
"""The most one read takes from the file: a large log goes out in pieces, never whole in memory."""
FINAL_TASK = {state.value for state in TERMINAL_TASK_STATES}
FINAL_RUN = {state.value for state in TERMINAL_RUN_STATES}


def log_path(run_id: str, task_id: str) -> Path:
    """Where the task's log is; NotFound for a task id that would lead out of the run's logs (`..`, an absolute path)."""
    logs = (local.home() / "runs" / run_id / "logs").resolve()
    path = (logs / f"{task_id}.log").resolve()
    if not path.is_relative_to(logs):
        raise NotFound(f"run '{run_id}' has no task '{task_id}'")
    return path


def task_names(pipeline: ir.Pipeline) -> set[str]:
    """The names a task instance's id can start with: every task's and every loop's, at any depth (an instance of a task
    inside a loop or a nested pipeline is `LOOP/INDEX/TASK` or `TASK/INNER`)."""
    names: set[str] = set()

    def walk(nodes: tuple[ir.Node, ...]) -> None:
        for node in nodes:
            names.add(node.name)
            if isinstance(node, ir.Condition):
                for branch in node.branches:
                    walk(branch.nodes)
            elif isinstance(node, (ir.Loop, ir.ExitHandler)):
                walk(node.nodes)
                if isinstance(node, ir.ExitHandler):
                    names.add(node.exit_task.name)

    walk(pipeline.nodes)
    return names


def check_task(store: SqlMetadataStore, run_id: str, task_id: str) -> Path:
    """The task's log file, after checking that the run has (or, while it runs, may yet have) such a task."""
    path = log_path(run_id, task_id)
    task, run = task_and_run_state(store, run_id, task_id)  # NotFound for an unknown run
    if task is None and not path.exists():
        could_start = run not in FINAL_RUN and task_id.partition("/")[0] in task_names(store.pipeline_of(run_id))
        if not could_start:
            raise NotFound(f"run '{run_id}' has no task '{task_id}'")
    return path


def read_from(path: Path, offset: int) -> bytes:
    """Up to READ_BYTES of the file from `offset`; nothing while it does not exist."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read(READ_BYTES)
    except FileNotFoundError:
        return b""


async def follow(path: Path, finished: Callable[[], Awaitable[bool]], *, poll_seconds: float = POLL_SECONDS) -> AsyncIterator[bytes]:
    """The file's bytes as they are written, until `finished()` says the writer is done and every byte is out.

    `finished` is asked before the file is read: once the task is final, its last bytes were
    written before, so the read that follows gets them all."""
    offset = 0
    while True:
        done = await finished()
        while chunk := await run_in_threadpool(read_from, path, offset):
            offset += len(chunk)
            yield chunk
        if done:
            return
        await asyncio.sleep(poll_seconds)


async def stream_log(store: SqlMetadataStore, run_id: str, task_id: str, path: Path, *, follow_until_final: bool) -> AsyncIterator[bytes]:
    """The task's log: what exists, or (following) everything until the task or its run is final."""

    async def finished() -> bool:
        if not follow_until_final:
            return True
        task, run = await run_in_threadpool(task_and_run_state, store, run_id, task_id)
        return task in FINAL_TASK or run in FINAL_RUN

    async for chunk in follow(path, finished):
        yield chunk
