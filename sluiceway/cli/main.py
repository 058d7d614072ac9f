"""`sluiceway compile | validate | schema | plugins`.

Errors in the user's input are printed as one clear message (what and where), never as a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import __version__
from ..core.errors import SluicewayError
from .servers import server_options

MANIFEST_TARGETS = {
    "argo": ("an Argo Workflow", "sluiceway.backends.argo"),
    "tekton": ("a Tekton PipelineRun", "sluiceway.backends.tekton"),
}
"""`compile --target`: what each target's manifest is, and the backend module whose `render_manifest` writes it."""

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..client import Client
    from ..core.ir import Pipeline
    from ..engine.engine import Engine, RunReport


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _user_code_error(error: BaseException, path: str) -> str:
    """Name the line in the user's file where an unexpected exception came from."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename).name == Path(path).name]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}: " if frames else f"{path}: "
    return f"{where}{type(error).__name__}: {error}"


@click.group()
@click.version_option(__version__, prog_name="sluiceway")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="The configuration file (default: $SLUICEWAY_CONFIG, else the embedded default).",
)
def cli(config_path: str | None) -> None:
    """Sluiceway: write ML pipelines in Python, compile them to a backend-neutral IR, run them anywhere."""
    from ..config import CONFIG_ENV

    if config_path is not None:
        os.environ[CONFIG_ENV] = config_path  # as if given in the environment: one way to find it, for this process and its tasks


@cli.command("compile")
@click.argument("source", metavar="FILE.py[:FUNC]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Where to write the IR (.json for JSON, else YAML).")
@click.option(
    "--target",
    type=click.Choice(sorted(MANIFEST_TARGETS)),
    help="Write the workflow engine's own manifest instead of the IR: an Argo Workflow or a Tekton PipelineRun.",
)
@click.option(
    "--image", help="With --target: the runtime image (Python and Sluiceway installed); default: the configuration's backend.image."
)
def compile_command(source: str, output: str, target: str | None, image: str | None) -> None:
    """Compile the pipeline in FILE.py (the one @dsl.pipeline in it, or FUNC) to an IR file, or with --target to the
    manifest a workflow engine runs (for GitOps)."""
    from ..core.serialize import dump

    pipeline = _load_pipeline(source)
    try:
        if target is None:
            dump(pipeline, output)
        else:
            Path(output).write_text(_render_manifest(pipeline, target, image))
    except OSError as error:
        _fail(f"cannot write {output}: {error.strerror or error}")
    count = _count_tasks(pipeline)
    what = f"{MANIFEST_TARGETS[target][0]}, " if target else ""
    click.echo(f"Wrote {output} ({what}{pipeline.name}: {count} task{'' if count == 1 else 's'})")


def _render_manifest(pipeline: Pipeline, target: str, image: str | None) -> str:
    """The target engine's manifest of `pipeline`, as YAML, with the configuration's backend settings when its backend
    is `target`; checked by the backend's linter."""
    import importlib

    from .. import config
    from ..core.yaml_emitter import dumps

    settings = config.load().backend
    given = settings.launcher_settings() if settings.name == target else {}
    if image:
        given["image"] = image
    module = importlib.import_module(MANIFEST_TARGETS[target][1])
    try:
        manifest = module.render_manifest(pipeline, given)
    except SluicewayError as error:
        _fail(f"cannot compile {pipeline.name} for {target}: {error}")
    return str(dumps(manifest))


def _run_settings(command: Callable[..., None]) -> Callable[..., None]:
    """The options of `run` and `runs retry` that become the run's settings, passed on as `settings`."""

    @click.option("--max-parallel", type=click.IntRange(min=1), help="How many tasks may run at once (default: the number of CPUs).")
    @click.option("--no-cache", is_flag=True, help="Run every task, reusing no earlier outputs (and recording none).")
    @click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="The run's deadline (default: none).")
    @click.option(
        "--exit-timeout",
        type=click.FloatRange(min=0),
        default=600,
        show_default=True,
        metavar="SECONDS",
        help="How long exit tasks may run once the rest has ended (0: no limit).",
    )
    @click.option("--backend", metavar="NAME", help="Where the tasks run: local, k8s_job, ... (default: the configuration's backend.name).")
    @functools.wraps(command)
    def with_settings(
        max_parallel: int | None, no_cache: bool, timeout: float | None, exit_timeout: float, backend: str | None, **rest: Any
    ) -> None:
        settings = {
            "max_parallel": max_parallel,
            "caching": not no_cache,
            "timeout_seconds": timeout,
            "exit_timeout_seconds": exit_timeout,
            "backend": backend,
        }
        command(settings=settings, **rest)

    return with_settings


@cli.command("run")
@click.argument("source", metavar="FILE.py[:FUNC]|FILE.yaml")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter; repeat for several.")
@click.option("--experiment", help="Record the run under this experiment (see `runs list --experiment`).")
@click.option("--detach", is_flag=True, help="With a server: print the run's id and return, without following it.")
@_run_settings
@server_options
def run_command(
    source: str, params: tuple[str, ...], experiment: str | None, detach: bool, settings: dict[str, Any], server: Client | None
) -> None:
    """Run a pipeline on this machine (or submit it to a server) and show its progress; exit 1 unless it succeeds."""
    from .. import local

    if server is not None:
        from . import remote_runs

        remote_runs.run(server, source, params, experiment, settings, detach)
    if detach:
        _fail("--detach needs a server (--host): a run on this machine lasts as long as the command")

    pipeline = _load_pipeline(source)
    try:
        arguments = dict(local.parse_argument(pipeline, text) for text in params)
    except SluicewayError as error:
        _fail(str(error))
    for sentence in local.settings_ignored_here(pipeline):
        click.echo(f"note: {sentence}", err=True)
    _run_live(lambda **live: local.run(pipeline, arguments, experiment=experiment, **settings, **live))


def _run_live(start: Callable[..., RunReport]) -> NoReturn:
    """Run with live progress, Ctrl-C (or `runs cancel`) cancelling; print the outcome; exit 0 only on success."""
    import signal

    from .. import local
    from ..core.lifecycle import RunState, TaskState
    from .progress import ConsoleProgress

    interrupts = 0

    def watch_interrupts(engine: Engine) -> None:
        def on_interrupt(signum: int, frame: object) -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                click.echo("cancelling: running tasks are being stopped (Ctrl-C again to kill them at once)", err=True)
                engine.cancel()
            elif interrupts == 2:
                click.echo("cancelling: killing every task now, exit tasks too (Ctrl-C again to quit without recording)", err=True)
                engine.abandon()
            else:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, on_interrupt)
        signal.signal(signal.SIGTERM, on_interrupt)  # what `sluiceway runs cancel` sends

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", local.SettingIgnoredHere)  # the command prints them as notes first
            report = start(observers=[ConsoleProgress()], echo=sys.stdout, on_engine=watch_interrupts)
    except SluicewayError as error:
        _fail(str(error))
    for task in report.tasks.values():
        if task.state == TaskState.FAILED and not task.frames:
            click.echo(f"task {task.id} failed ({task.error_kind.value if task.error_kind else 'error'}): {task.message}", err=True)
    why = f" ({report.error_kind.value}: {report.message})" if report.state == RunState.FAILED and report.error_kind else ""
    click.echo(f"run {report.run_id} {report.state.value}{why}; logs and results in {local.home() / 'runs' / report.run_id}")
    for name, binding in report.outputs.items():
        shown = binding.value if not binding.artifacts else ", ".join(ref.uri for ref in binding.artifacts)
        click.echo(f"  output {name} = {shown if binding.value_uri is None else binding.value_uri}")
    sys.exit(0 if report.state == RunState.SUCCEEDED else 1)


def _load_pipeline(source: str) -> Pipeline:
    """A compiled IR file, or the pipeline in a Python file, validated."""
    from ..compiler import compile_pipeline, load_pipeline_from_file
    from ..core.serialize import load
    from ..core.validation import validate

    try:
        if Path(source).suffix in (".yaml", ".yml", ".json"):
            return validate(load(source))
        return compile_pipeline(load_pipeline_from_file(source))
    except SluicewayError as error:
        _fail(str(error))
    except Exception as error:  # the user's pipeline code raised
        _fail(_user_code_error(error, source.partition(":")[0]))
    raise AssertionError("unreachable")


@cli.group("runs")
def runs_group() -> None:
    """Runs kept by the embedded default (in $SLUICEWAY_HOME), or by a server (--host)."""


OUTPUT_FORMAT = click.option("--output", "output_format", type=click.Choice(["table", "json"]), default="table", help="json for machines.")


@cli.command("lineage")
@click.argument("artifact_uri")
@click.option("--depth", type=click.IntRange(min=1), default=10, show_default=True, help="How many tasks away to follow.")
@OUTPUT_FORMAT
def lineage_command(artifact_uri: str, depth: int, output_format: str) -> None:
    """Where an artifact came from (upstream) and what was made from it (downstream)."""
    from .. import local

    upstream, downstream = _store(local).lineage_graph(artifact_uri, depth=depth)
    if not upstream and not downstream:
        _fail(f"no lineage recorded for {artifact_uri}")
    if output_format == "json":
        click.echo(json.dumps({"artifact": artifact_uri, "upstream": upstream, "downstream": downstream}, indent=2))
        return
    click.echo(artifact_uri)
    for title, edges in (("upstream", upstream), ("downstream", downstream)):
        click.echo(f"  {title}:")
        for source, target in edges or [("(none)", "")]:
            click.echo(f"    {source} -> {target}" if target else f"    {source}")


@cli.group("cache")
def cache_group() -> None:
    """Step caching of the embedded default."""


@cache_group.command("clear")
def cache_clear() -> None:
    """Forget every cached task output (the artifacts themselves stay)."""
    from .. import local

    removed = _store(local).clear_cache()
    click.echo(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}")


@runs_group.command("list")
@click.option("--state", help="Only runs in this state (SUCCEEDED, FAILED, ...).")
@click.option("--pipeline", help="Only runs of this pipeline.")
@click.option("--experiment", help="Only runs of this experiment.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Runs per page.")
@click.option("--page", "page_token", metavar="TOKEN", help="The next page, as the previous page's last line said.")
@OUTPUT_FORMAT
@server_options
def runs_list(
    state: str | None,
    pipeline: str | None,
    experiment: str | None,
    limit: int,
    page_token: str | None,
    output_format: str,
    server: Client | None,
) -> None:
    """The newest runs first, a page at a time."""
    from .. import local

    if server is not None:
        from . import remote_runs

        page: Any = remote_runs.list_runs(server, state=state, pipeline=pipeline, experiment=experiment, limit=limit, page_token=page_token)
    else:
        page = _local_runs(local, state, pipeline, experiment, limit, page_token)
    if output_format == "json":
        click.echo(json.dumps([_run_json(run) for run in page.runs], indent=2))
    else:
        for run in page.runs:
            click.echo(f"{run.id:<50} {run.state:<10} {run.created_at.astimezone():%Y-%m-%d %H:%M:%S}")
    if page.next_page_token:
        click.echo(f"more runs: add --page {page.next_page_token}", err=True)


def _local_runs(local: Any, state: str | None, pipeline: str | None, experiment: str | None, limit: int, page_token: str | None) -> Any:
    """A page of this machine's runs, those whose process is gone ended first."""
    store = _store(local)
    query = {"limit": limit, "state": state.upper() if state else None, "pipeline": pipeline, "experiment": experiment}
    try:
        page = store.list_runs(**query, page_token=page_token)
        if local.end_abandoned_runs(store, [run.id for run in page.runs if run.state in ("PENDING", "RUNNING", "CANCELLING")]):
            page = store.list_runs(**query, page_token=page_token)
    except SluicewayError as error:
        _fail(str(error))
    return page


@runs_group.command("show")
@click.argument("run_id")
@click.option("--task", "task_id", help="Only this task, with why it hit or missed the cache.")
@OUTPUT_FORMAT
@server_options
def runs_show(run_id: str, task_id: str | None, output_format: str, server: Client | None) -> None:
    """A run's state, parameters, and each task's state and outputs."""
    from .. import local

    if server is not None:
        from . import remote_runs

        remote_runs.show_run(server, run_id, task_id, output_format)
        return
    store = _store(local)
    try:
        local.end_abandoned_runs(store, [run_id])
        run = store.get_run(run_id)
        if task_id is not None:
            _show_task(store, run_id, task_id, output_format)
            return
    except SluicewayError as error:
        _fail(str(error))
    _print_run(run, store.tasks(run_id), output_format)


def _print_run(run: Any, tasks: list[Any], output_format: str) -> None:
    """A run and its tasks, from this machine's store or a server's API (the same fields)."""
    if output_format == "json":
        payload = _run_json(run) | {"tasks": [_task_json(task) for task in tasks]}
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    click.echo(f"run {run.id}: {run.state} (pipeline {run.pipeline_name}, parameters {json.dumps(run.parameters)})")
    if run.state == "FAILED" and run.message:
        click.echo(f"  {run.error_kind or 'error'}: {run.message}")
    for task in tasks:
        why = f" ({task.skip_reason})" if task.skip_reason else (f": {task.error_kind}: {task.message}" if task.state == "FAILED" else "")
        click.echo(f"  {task.task_id:<40} {task.state:<10}{why}")
        for name, binding in task.outputs.items():
            click.echo(f"      {name} = {json.dumps(binding.get('value', binding))}")


def _show_task(store: Any, run_id: str, task_id: str, output_format: str) -> None:
    task = next((t for t in store.tasks(run_id) if t.task_id == task_id), None)
    if task is None:
        raise SluicewayError(f"run '{run_id}' has no task '{task_id}'")
    _print_task(run_id, task, store.attempts(run_id, task_id), store.explain_cache(run_id, task_id), output_format)


def _task_json(task: Any) -> dict[str, Any]:
    """A task's own fields (a server's task detail also carries its attempts and metrics, shown apart)."""
    return {name: value for name, value in vars(task).items() if name not in ("run_id", "attempt_records", "metrics")}


def _print_task(run_id: str, task: Any, attempts: Any, cache: str | None, output_format: str) -> None:
    """A task with its attempts and, when known (this machine), why it hit or missed the cache."""
    if output_format == "json":
        shown = _task_json(task) | ({"cache": cache} if cache is not None else {})
        click.echo(json.dumps(shown | {"attempt_records": [vars(a) for a in attempts]}, indent=2, default=str))
        return
    click.echo(f"task {task.task_id} of run {run_id}: {task.state}" + (f" ({task.skip_reason})" if task.skip_reason else ""))
    if task.message:
        click.echo(f"  {task.error_kind + ': ' if task.error_kind else ''}{task.message}")
    click.echo(f"  attempts: {task.attempts}")
    for attempt in attempts:
        click.echo(f"    {_attempt_line(attempt)}")
    if cache is not None:
        click.echo(f"  cache: {cache}")
    for name, binding in task.outputs.items():
        click.echo(f"  output {name} = {json.dumps(binding.get('value', binding))}")


def _attempt_line(attempt: Any) -> str:
    """`#2 21:04:05 +3.1 s lost (exit 7): Lost: the executor ended ...`, times local."""
    started = attempt.started_at.astimezone()
    if attempt.ended_at is None:
        return f"#{attempt.number} {started:%H:%M:%S} running"
    took = (attempt.ended_at - attempt.started_at).total_seconds()
    exit_code = f" (exit {attempt.exit_code})" if attempt.exit_code is not None else ""
    error = f": {attempt.error_kind}: {attempt.message}" if attempt.error_kind else ""
    return f"#{attempt.number} {started:%H:%M:%S} +{took:.1f} s {attempt.end}{exit_code}{error}"


@runs_group.command("cancel")
@click.argument("run_id")
@server_options
def runs_cancel(run_id: str, server: Client | None) -> None:
    """Ask a running run to stop: running tasks are stopped, exit tasks still run."""
    import signal

    from .. import local
    from ..core.lifecycle import RunState

    if server is not None:
        from . import remote_runs

        remote_runs.cancel(server, run_id)
        return

    store = _store(local)
    try:
        run = store.get_run(run_id)
    except SluicewayError as error:
        _fail(str(error))
    if run.state not in (RunState.PENDING.value, RunState.RUNNING.value):
        _fail(f"run '{run_id}' is {run.state}; only a pending or running run can be cancelled")
    pid = local.orchestrator_of(run_id)
    if pid == local.UNKNOWN:
        _fail(f"run '{run_id}' has not started yet; try again in a moment")
    if pid is None or not _signal(pid, signal.SIGTERM):
        # Nothing runs it any more: what was running is lost, and `runs retry` can take it up.
        state = store.end_abandoned_run(
            run_id, "the process running it ended before the run did (killed, crashed, or the machine restarted)"
        )
        _fail(
            f"run '{run_id}' has no live process (it was killed or crashed); it is now {state}, and `sluiceway runs retry {run_id}` runs it again"
        )
    click.echo(f"cancelling run {run_id} (process {pid})")


def _signal(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True


@runs_group.command("retry")
@click.argument("run_id")
@_run_settings
@server_options
def runs_retry(run_id: str, settings: dict[str, Any], server: Client | None) -> None:
    """Run a failed or cancelled run again from the tasks that did not succeed, keeping the rest."""
    from .. import local

    if server is not None:
        from . import remote_runs

        remote_runs.retry(server, run_id, settings)
    _run_live(lambda **live: local.retry(run_id, **settings, **live))


@runs_group.command("logs")
@click.argument("run_id")
@click.option("--task", "task_id", help="Only this task's log.")
@click.option("-f", "--follow", is_flag=True, help="With a server and --task: print the log as the task writes it, until it ends.")
@server_options
def runs_logs(run_id: str, task_id: str | None, follow: bool, server: Client | None) -> None:
    """The logs of a run's tasks, every attempt, in task order."""
    from .. import local

    if follow and (server is None or task_id is None):
        _fail("--follow needs a server (--host) and one task (--task)")
    if server is not None:
        from . import remote_runs

        remote_runs.print_logs(server, run_id, task_id, follow)
        return

    logs = local.home() / "runs" / run_id / "logs"
    if not logs.is_dir():
        if (local.home() / "runs" / run_id).is_dir():
            click.echo(f"run {run_id} has no logs: none of its tasks ran an attempt (they were cached or skipped)")
            return
        _fail(f"no run '{run_id}' in {local.home() / 'runs'}")
    files = sorted(logs.rglob("*.log"))
    if task_id:
        files = [path for path in files if path.relative_to(logs).as_posix() == f"{task_id}.log"]
        if not files:
            _fail(f"run '{run_id}' has no log for task '{task_id}'")
    for path in files:
        click.echo(f"==> {path.relative_to(logs).as_posix().removesuffix('.log')} <==")
        click.echo(path.read_text(errors="replace"), nl=False)


def _store(local: Any) -> Any:
    try:
        return local.metadata_store()
    except SluicewayError as error:
        _fail(str(error))


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "pipeline": run.pipeline_name,
        "state": run.state,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "parameters": run.parameters,
        "error_kind": run.error_kind,
        "message": run.message,
        "namespace": run.namespace,
        "experiment": run.experiment,
    }


@cli.group("db")
def db_group() -> None:
    """The metadata database's schema: see, check and upgrade it."""


DB_URL = click.option(
    "--url", help="SQLAlchemy URL of the database (default: metadata.url of the configuration, else the embedded SQLite)."
)


def _db_url(url: str | None) -> str:
    from .. import config, local

    if url:
        return url
    try:
        configured = config.load().metadata.url
    except SluicewayError as error:
        _fail(str(error))
    if configured:
        return configured
    local._make_folder(local.home())
    return local.default_metadata_url()


def _db_engine(url: str | None) -> Any:
    from sqlalchemy import create_engine

    return create_engine(_db_url(url))


@db_group.command("current")
@DB_URL
def db_current(url: str | None) -> None:
    """The schema version the database has, and the one this Sluiceway needs."""
    from ..stores.sql import migrations

    with _db_engine(url).connect() as connection:
        click.echo(f"database: {migrations.current(connection) or 'none'}; this Sluiceway: {migrations.head()}")


@db_group.command("check")
@DB_URL
def db_check(url: str | None) -> None:
    """Exit 1 unless the database has the schema this Sluiceway needs."""
    from ..stores.sql import migrations

    with _db_engine(url).connect() as connection:
        current = migrations.current(connection)
    if current != migrations.head():
        _fail(f"the database has schema {current or 'none'}; this Sluiceway needs {migrations.head()}: run `sluiceway db upgrade`")
    click.echo(f"the database schema is current ({current})")


@db_group.command("upgrade")
@DB_URL
def db_upgrade(url: str | None) -> None:
    """Bring the database's schema up to this Sluiceway's, keeping every record."""
    from ..stores.sql import SqlMetadataStore, migrations

    try:
        SqlMetadataStore(_db_url(url), upgrade=True)
    except SluicewayError as error:
        _fail(str(error))
    click.echo(f"the database schema is at {migrations.head()}")


@cli.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def validate_command(path: str) -> None:
    """Check an IR file (YAML or JSON) against every IR rule."""
    from ..core.serialize import digest, load
    from ..core.validation import validate

    try:
        pipeline = validate(load(path))
    except SluicewayError as error:
        _fail(str(error))
    click.echo(f"{path}: valid ({pipeline.name}, {digest(pipeline)})")


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the IR."""
    from ..core.schema import render

    click.echo(render(), nl=False)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the installed backends and stores, and the plugin each comes from."""
    from ..plugins import PluginManager

    try:
        manager = PluginManager()
    except SluicewayError as error:
        _fail(str(error))
    entries = manager.registry.all()
    if as_json:
        table = [{"kind": e.kind, "name": e.name, "plugin": e.plugin, "origin": e.origin, "description": e.description} for e in entries]
        click.echo(json.dumps({"plugins": [{"name": n, "origin": o} for n, o in manager.plugins()], "registered": table}, indent=2))
        return
    width = max([len(e.name) for e in entries] + [4])
    for kind in ("backend", "metadata_store", "artifact_store"):
        click.echo(f"{kind.replace('_', ' ')}s:")
        rows = [e for e in entries if e.kind == kind]
        if not rows:
            click.echo("  (none installed)")
        for entry in rows:
            click.echo(f"  {entry.name:<{width}}  {entry.description or '-'}  [plugin {entry.plugin}, {entry.origin}]")


def _count_tasks(pipeline: Pipeline) -> int:
    from ..core.ir import tasks_in

    return sum(1 for _ in tasks_in(pipeline.nodes))


def main() -> None:
    cli()


from .server_commands import server_command  # noqa: E402  (registered after the commands above, in its own module)
from .token_commands import tokens_group  # noqa: E402  (likewise)

cli.add_command(server_command)
cli.add_command(tokens_group)
