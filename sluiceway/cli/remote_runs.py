"""`sluiceway run` and `sluiceway runs list|show|logs|cancel|retry` against a server (`--host`): the same output as on this
machine, read from the server's API."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click

from .main import _load_pipeline, _print_run, _print_task
from .servers import api_errors, fail

if TYPE_CHECKING:
    from ..client import Client, Run
    from ..core import ir

POLL_SECONDS = 1.0
RUN_SETTINGS_DEFAULTS = {"max_parallel": None, "caching": True, "timeout_seconds": None, "exit_timeout_seconds": 600, "backend": None}
"""The settings `run` takes for this machine, unchanged: a server runs with its own."""


class RunPage(NamedTuple):
    runs: list[Run]
    next_page_token: str | None


def list_runs(
    server: Client, *, state: str | None, pipeline: str | None, experiment: str | None, limit: int, page_token: str | None
) -> RunPage:
    from ..client.client import quote_filter_value

    wanted = (("state", state.upper() if state else None), ("pipeline_name", pipeline), ("experiment", experiment))
    where = " AND ".join(f"{field} = {quote_filter_value(value)}" for field, value in wanted if value is not None)
    with api_errors():
        page = server.list_runs(page_token=page_token, page_size=limit, filter=where)
    return RunPage(page.items, page.next_page_token)


def show_run(server: Client, run_id: str, task_id: str | None, output_format: str) -> None:
    with api_errors():
        if task_id is not None:
            detail = server.get_task(run_id, task_id)
            _print_task(run_id, detail, detail.attempt_records, None, output_format)
            return
        run = server.get_run(run_id)
    _print_run(run, list(run.tasks), output_format)


def print_logs(server: Client, run_id: str, task_id: str | None, follow: bool) -> None:
    """Each task's log (or one task's), with the headers `runs logs` prints on this machine."""
    with api_errors():
        if task_id is not None:
            for text in server.get_run_logs(run_id, task_id, follow=follow):
                click.echo(text, nl=False)
            return
        tasks = [task.task_id for task in server.get_run(run_id).tasks if task.attempts]
        if not tasks:
            click.echo(f"run {run_id} has no logs: none of its tasks ran an attempt (they were cached or skipped)")
        for task in tasks:
            click.echo(f"==> {task} <==")
            for text in server.get_run_logs(run_id, task, follow=False):
                click.echo(text, nl=False)


def cancel(server: Client, run_id: str) -> None:
    with api_errors():
        server.cancel_run(run_id)
    click.echo(f"cancelling run {run_id} (on {server.host})")


def pipeline_with_arguments(source: str, params: tuple[str, ...]) -> tuple[ir.Pipeline, dict[str, Any]]:
    """The pipeline SOURCE names, and the `-p NAME=VALUE` arguments read as its parameters' types (exit 1 on a mistake)."""
    from .. import local
    from ..core.errors import SluicewayError

    pipeline = _load_pipeline(source)
    try:
        return pipeline, dict(local.parse_argument(pipeline, text) for text in params)
    except SluicewayError as error:
        fail(str(error))


def run(server: Client, source: str, params: tuple[str, ...], experiment: str | None, settings: dict[str, Any], detach: bool) -> NoReturn:
    """Submit the pipeline to the server; unless `detach`, follow its tasks until it ends (Ctrl-C cancels it)."""
    _refuse_run_settings(settings)
    pipeline, arguments = pipeline_with_arguments(source, params)
    with api_errors():
        made = server.create_run_from_pipeline_package(pipeline, arguments, experiment_name=experiment)
    click.echo(f"run {made.id} created on {server.host}")
    if detach:
        sys.exit(0)
    _follow_to_end(server, made.id)


def retry(server: Client, run_id: str, settings: dict[str, Any]) -> NoReturn:
    """Have the server run a failed or cancelled run again, and follow it as `runs retry` does on this machine."""
    _refuse_run_settings(settings)
    with api_errors():
        server.retry_run(run_id)
    click.echo(f"retrying run {run_id} on {server.host}")
    _follow_to_end(server, run_id)


def _refuse_run_settings(settings: dict[str, Any]) -> None:
    changed = [name for name, default in RUN_SETTINGS_DEFAULTS.items() if settings.get(name) != default]
    if changed:
        fail(f"{', '.join(changed)}: a server runs with its own settings; these apply to runs on this machine only")


def _follow_to_end(server: Client, run_id: str) -> NoReturn:
    """Follow the run until it ends, print how, and exit 0 if it succeeded, 1 otherwise."""
    with api_errors():
        ended = _follow(server, run_id)
    why = f" ({ended.error_kind}: {ended.message})" if ended.state == "FAILED" and ended.error_kind else ""
    click.echo(f"run {ended.id} {ended.state}{why}")
    sys.exit(0 if ended.state == "SUCCEEDED" else 1)


def _follow(server: Client, run_id: str) -> Run:
    """Print each task state change until the run ends; the first Ctrl-C cancels the run, the second leaves it running."""
    seen: dict[str, str] = {}
    cancelled = False
    while True:
        try:
            run = server.get_run(run_id)
            for task in run.tasks:
                if seen.get(task.task_id) != task.state:
                    seen[task.task_id] = task.state
                    click.echo(f"  {task.task_id:<40} {task.state}")
            if run.finished:
                return run
            time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            if cancelled:
                fail(f"stopped following; the run goes on on the server (`sluiceway runs cancel {run_id} --host {server.host}`)")
            cancelled = True
            click.echo("cancelling the run on the server (Ctrl-C again to stop following it)", err=True)
            server.cancel_run(run_id)
