"""Run a pipeline on this machine, with nothing to configure: the embedded default.

    import sluiceway
    report = sluiceway.run(my_pipeline, arguments={"n": 3})

Runs are kept under $SLUICEWAY_HOME (default ~/.sluiceway): `metadata.db` (SQLite) records
every run, task, output, artifact and lineage event; `runs/RUN/` holds each task's spec,
result and log; `artifacts/` the artifacts, laid out as RUN/TASK/ATTEMPT/OUTPUT.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypedDict

import msgspec

from . import config
from .core import ir, types
from .core.errors import SluicewayError
from .core.task_spec import InputBinding, StoreRef
from .engine.engine import DEFAULT_EXIT_TIMEOUT_SECONDS, EarlierTask, Engine, Observer, RunReport

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from .stores.sql import SqlMetadataStore

HOME_ENV = "SLUICEWAY_HOME"
ORCHESTRATOR_PID = "orchestrator.pid"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".sluiceway").expanduser()


CLUSTER_MAX_PARALLEL = 64
"""Attempts at once on a backend that runs them elsewhere: the cluster's quotas, not this machine, are the limit."""


class RunOptions(TypedDict, total=False):
    """How `run` and `retry` run: the run settings of docs/explanation/semantics.md, and hooks to watch the run."""

    max_parallel: int | None
    """The most attempts running at once (default: the number of CPUs locally, 64 on a cluster backend)."""
    caching: bool
    """Whether tasks may reuse earlier outputs (default True)."""
    timeout_seconds: float | None
    """The run's deadline for its non-exit tasks (TIME-3; default: none)."""
    exit_timeout_seconds: float
    """The exit tasks' budget after the main phase (TIME-4; default 600 s; 0: none)."""
    observers: Sequence[Observer]
    """Told of every run and task state change, on the engine's thread."""
    echo: IO[str] | None
    """Where tasks' output is copied as they run, each line prefixed with the task (default: nowhere)."""
    on_engine: Callable[[Engine], None] | None
    """Called with the engine before the run starts (to cancel it from another thread, say)."""
    backend: str | None
    """Where the tasks run: a backend's name (default: the configuration's `backend.name`, else `local`)."""


class SettingIgnoredHere(UserWarning):
    """A task setting this machine cannot honour (resources, node selectors, secrets)."""


def run(
    pipeline: Any, arguments: dict[str, Any] | None = None, *, experiment: str | None = None, **options: Unpack[RunOptions]
) -> RunReport:
    """Run a pipeline (a @dsl.pipeline, a plain KFP v1 function, or compiled IR) to its end, recorded under `experiment` if given."""
    compiled = pipeline if isinstance(pipeline, ir.Pipeline) else _compile(pipeline)
    checked = check_arguments(compiled, arguments or {})
    run_id = new_run_id(compiled)
    session = _Session(run_id, options)
    if session.backend == "local":
        for sentence in settings_ignored_here(compiled):
            warnings.warn(sentence, SettingIgnoredHere, stacklevel=_first_caller_outside_sluiceway())
    session.store.create_run(run_id, compiled, checked, experiment=experiment)
    return session.execute(compiled, checked, earlier={}, options=options)


def new_run_id(pipeline: ir.Pipeline) -> str:
    """`NAME-YYYYMMDD-HHMMSS-XXXXXX`: readable, sorted by time, unique with the random tail."""
    return f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def execute_recorded(run_id: str, *, store: SqlMetadataStore, settings: config.Config, **options: Unpack[RunOptions]) -> RunReport:
    """Run to its end a run that `store` already holds as PENDING, with these settings, in this process.

    For a process that runs many runs at once, each on a thread of its own (the server): it
    records no process id for `sluiceway runs cancel` to signal (that would stop every run of
    the process), so cancelling goes through `on_engine`'s engine."""
    session = _Session(run_id, options, settings=settings, store=store)
    summary = store.get_run(run_id)
    return session.execute(store.pipeline_of(run_id), summary.parameters, earlier={}, options=options, record_process=False)


def retry(run_id: str, **options: Unpack[RunOptions]) -> RunReport:
    """Run a failed or cancelled run again: its succeeded tasks are kept, the others run again."""
    session = _Session(run_id, options)
    end_abandoned_runs(session.store, [run_id])
    return _run_again(session, options, record_process=True)


def retry_recorded(run_id: str, *, store: SqlMetadataStore, settings: config.Config, **options: Unpack[RunOptions]) -> RunReport:
    """`retry`, in a process that runs many runs at once (the server taking up the runs it was running when it stopped):
    with its store and settings, and no process id recorded (see execute_recorded)."""
    session = _Session(run_id, options, settings=settings, store=store)
    return _run_again(session, options, record_process=False)


def _run_again(session: _Session, options: RunOptions, *, record_process: bool) -> RunReport:
    from .core.lifecycle import RunState, TaskState

    run_id, store = session.run_id, session.store
    summary = store.get_run(run_id)
    if summary.state not in (RunState.FAILED.value, RunState.CANCELLED.value):
        raise SluicewayError(f"run '{run_id}' is {summary.state}; only a failed or cancelled run can be retried")
    compiled = store.pipeline_of(run_id)
    earlier = {
        task.task_id: EarlierTask(
            state=TaskState(task.state),
            attempts=task.attempts,
            outputs={name: msgspec.convert(value, InputBinding) for name, value in task.outputs.items()},
        )
        for task in store.tasks(run_id)
    }
    store.set_run_state(run_id, RunState.PENDING, retrying=True)
    return session.execute(compiled, summary.parameters, earlier=earlier, options=options, record_process=record_process)


class _Session:
    """The home folder, plugins and store for one run of the embedded default."""

    def __init__(
        self, run_id: str, options: RunOptions, *, settings: config.Config | None = None, store: SqlMetadataStore | None = None
    ) -> None:
        from .plugins import PluginManager

        self.run_id = run_id
        base = home()
        self.run_dir = base / "runs" / run_id
        self.plugins = PluginManager()
        settings = settings or config.load()  # once per run, unless the caller read it already (the server, at start)
        self.artifact_root = artifact_root(settings.artifacts)
        self.stores, self.credential_env = _artifact_stores(self.plugins.registry, self.artifact_root, settings.artifacts)
        scheme = self.artifact_root.partition("://")[0]
        _make_folder(self.run_dir)
        if scheme == "file":
            _make_folder(Path(self.artifact_root.removeprefix("file://")))
        self.store = store or metadata_store(self.plugins.registry.get("metadata_store", "sql").load(), settings.metadata)
        self.backend = options.get("backend") or settings.backend.name
        self.launcher = _launcher(self.plugins.registry, self.backend, settings, echo=options.get("echo"))

    def execute(
        self,
        compiled: ir.Pipeline,
        arguments: dict[str, Any],
        *,
        earlier: dict[str, EarlierTask],
        options: RunOptions,
        record_process: bool = True,
    ) -> RunReport:
        from .engine.recording import StoreRecorder
        from .plugins.observing import HookObserver

        if record_process:  # `sluiceway runs cancel` finds the process to ask here.
            (self.run_dir / ORCHESTRATOR_PID).write_text(f"{os.getpid()} {_start_time(os.getpid())}")
        engine = Engine(
            compiled,
            run_id=self.run_id,
            launcher=self.launcher,
            arguments=arguments,
            run_dir=self.run_dir,
            artifact_root=self.artifact_root,
            stores=self.stores,
            max_parallel=options.get("max_parallel") or (os.cpu_count() or 2 if self.backend == "local" else CLUSTER_MAX_PARALLEL),
            observers=(
                StoreRecorder(self.store),
                HookObserver(self.plugins.hook, compiled.name, arguments),
                *options.get("observers", ()),
            ),
            cache=self.store if options.get("caching", True) else None,
            earlier=earlier,
            timeout_seconds=options.get("timeout_seconds"),
            exit_timeout_seconds=options.get("exit_timeout_seconds", DEFAULT_EXIT_TIMEOUT_SECONDS),
        )
        on_engine = options.get("on_engine")
        if on_engine is not None:
            on_engine(engine)
        with _environment(self.credential_env):  # the store's credentials, for this process and the tasks it starts
            return engine.run()


def _launcher(registry: Any, name: str, settings: config.Config, echo: IO[str] | None) -> Any:
    """The backend's launcher, made with the configuration's backend settings (before the run is recorded: a mistake
    in them is the configuration's, not the run's)."""
    launcher_class = registry.get("backend", name).load()
    given = settings.backend.launcher_settings() if name == settings.backend.name else {}  # the section's settings are its backend's
    try:
        return launcher_class(echo=echo, venv_root=home() / "venvs", **given)
    except TypeError as error:
        where = settings.source or "the configuration"
        raise config.ConfigError(
            f"{where}: backend '{name}' does not take the settings given ({', '.join(sorted(given))}): {error}"
        ) from None


def _first_caller_outside_sluiceway() -> int:
    """The stacklevel that makes a warning point at the user's line, however many of our frames are between."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "sluiceway":
        frame, level = frame.f_back, level + 1
    return level


def settings_ignored_here(pipeline: ir.Pipeline) -> list[str]:
    """One sentence per kind of task setting that runs differently on this machine, naming the tasks that set it."""
    graphs = [c.implementation.nodes for c in pipeline.components.values() if isinstance(c.implementation, ir.Graph)]
    tasks = [task for nodes in (pipeline.nodes, *graphs) for task in ir.tasks_in(nodes)]
    kinds = {
        "resource requests and limits (every task may use the whole machine)": [t for t in tasks if t.settings.resources != ir.Resources()],
        "node selectors (there is one node: this machine)": [t for t in tasks if t.settings.node_selector],
        "secrets (no secret is read: export the variables in your shell instead)": [t for t in tasks if t.settings.secrets],
    }
    return [
        f"ignored on this machine: {what}; set by {', '.join(sorted({t.name for t in found}))}" for what, found in kinds.items() if found
    ]


UNKNOWN = -1
"""orchestrator_of: the run has not recorded its process (yet)."""


def orchestrator_of(run_id: str) -> int | None:
    """The id of the live process running `run_id`; None if that process is gone; UNKNOWN if it never said."""
    try:
        pid_text, _, started = (home() / "runs" / run_id / ORCHESTRATOR_PID).read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return UNKNOWN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, but another user's: not ours
        return None
    # The id may have been reused since: the process must also have started when the run's did.
    return pid if started.strip() in ("", "None", str(_start_time(pid))) else None


def end_abandoned_runs(store: SqlMetadataStore, run_ids: Sequence[str]) -> list[str]:
    """End the unfinished runs among `run_ids` whose process is gone (killed, crashed, machine restarted); their ids."""
    ended = []
    for run_id in run_ids:
        if store.get_run(run_id).state in ("SUCCEEDED", "FAILED", "CANCELLED") or orchestrator_of(run_id) is not None:
            continue
        store.end_abandoned_run(run_id, "the process running it ended before the run did (killed, crashed, or the machine restarted)")
        ended.append(run_id)
    return ended


def _start_time(pid: int) -> str | None:
    """When a process started, in clock ticks since boot (Linux); None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def metadata_store(store_class: Any = None, settings: config.MetadataSettings | None = None) -> SqlMetadataStore:
    """The configured metadata database (never upgraded implicitly), or the embedded SQLite in the home folder (upgraded in place).

    `settings` default to the configuration's."""
    if store_class is None:
        from .stores.sql import SqlMetadataStore as store_class
    configured = (settings or config.load().metadata).url
    if configured:
        store: SqlMetadataStore = store_class(configured)
        return store
    base = home()
    _make_folder(base)
    store = store_class(default_metadata_url(), upgrade=True)
    return store


def _artifact_stores(registry: Any, root: str, settings: config.ArtifactSettings) -> tuple[dict[str, StoreRef | str], dict[str, str]]:
    """Every registered artifact store by scheme, the one `root` uses with the configured settings; and its credentials as
    the environment variables its class reads (`credential_env`)."""
    entries = {entry.name: entry for entry in registry.all("artifact_store") if isinstance(entry.target, str)}
    scheme = root.partition("://")[0]
    if scheme not in entries:
        raise SluicewayError(f"no artifact store for {scheme}:// URIs (artifacts.url {root}); installed: {', '.join(sorted(entries))}")
    store_settings = settings.store_settings()
    stores: dict[str, StoreRef | str] = {name: entry.target for name, entry in entries.items()}
    stores[scheme] = StoreRef(target=entries[scheme].target, settings=store_settings)
    store_class = entries[scheme].load()
    try:
        store_class(**store_settings)  # the settings must fit the class here, not in every task
    except TypeError as error:
        given = ", ".join(f"artifacts.{name}" for name in store_settings)
        raise SluicewayError(
            f"the artifacts settings do not fit the {scheme}:// store ({entries[scheme].target}): {error}; given: {given}"
        ) from None
    credentials = settings.credentials()
    if not credentials:
        return stores, {}
    names: dict[str, str] = getattr(store_class, "credential_env", {})
    unknown = set(credentials) - set(names)
    if unknown:
        raise SluicewayError(
            f"the {scheme}:// artifact store takes no {', '.join(sorted(unknown))} (configure its credentials another way)"
        )
    return stores, {names[key]: value for key, value in credentials.items()}


_environment_lock = threading.Lock()
_environment_users = 0
_environment_before: dict[str, str | None] = {}
"""What the variables set by `_environment` were before the first of the runs now running set them."""


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set `variables` in this process's environment, and put back what was there when the last run using it ends.

    Runs on several threads of one process (the server) share the environment: the first one's
    exit must not take the credentials away from the others' later tasks."""
    global _environment_users
    with _environment_lock:
        for name, value in variables.items():
            _environment_before.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        _environment_users += 1
    try:
        yield
    finally:
        with _environment_lock:
            _environment_users -= 1
            if _environment_users == 0:
                for name, earlier in _environment_before.items():
                    if earlier is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = earlier
                _environment_before.clear()


def default_metadata_url() -> str:
    return f"sqlite:///{home() / 'metadata.db'}"


def artifact_root(settings: config.ArtifactSettings) -> str:
    """Where a run's artifacts go: artifacts.url, or the home folder's artifacts/."""
    return (settings.url or (home() / "artifacts").as_uri()).rstrip("/")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SluicewayError(
            f"cannot write to the Sluiceway home {home()}: {error.strerror or error}; set {HOME_ENV} to a writable folder"
        ) from None


def _compile(pipeline: Any) -> ir.Pipeline:
    from .compiler import compile_pipeline

    return compile_pipeline(pipeline)


def check_arguments(pipeline: ir.Pipeline, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments, checked against the pipeline's parameters; a clear error for each mistake."""
    from .executor.values import BadValue, check_type

    known = {spec.name: spec for spec in pipeline.parameters}
    problems = [
        f"pipeline '{pipeline.name}' has no parameter '{name}' (parameters: {', '.join(known) or 'none'})"
        for name in arguments
        if name not in known
    ]
    checked: dict[str, Any] = {}
    for name, spec in known.items():
        if name not in arguments:
            if spec.required:
                problems.append(f"missing required parameter '{name}' ({spec.type}) of pipeline '{pipeline.name}'")
            continue
        if arguments[name] is None and spec.default is not None:
            problems.append(f"parameter '{name}' ({spec.type}) cannot be null: only a parameter that defaults to null can")
            continue
        try:
            checked[name] = check_type(arguments[name], spec.type, f"parameter '{name}'")
        except BadValue as error:
            problems.append(str(error))
    if problems:
        raise SluicewayError("; ".join(problems))
    return checked


def parse_argument(pipeline: ir.Pipeline, text: str) -> tuple[str, Any]:
    """`name=value` from the command line, the value read as the parameter's type."""
    name, equals, raw = text.partition("=")
    if not equals:
        raise SluicewayError(f"'{text}' is not name=value")
    spec = next((p for p in pipeline.parameters if p.name == name), None)
    kind = spec.type if spec else types.ANY
    if kind == "str":
        return name, raw
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        if kind in (types.ANY, "str"):
            return name, raw
        raise SluicewayError(f"parameter '{name}' must be {kind}, got {raw!r}") from None
