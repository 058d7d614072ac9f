"""Run a pipeline on this machine, with nothing to configure: the embedded default.

    import sluiceway
    report = sluiceway.run(my_pipeline, arguments={"n": 3})

Runs are kept under $SLUICEWAY_HOME (default ~/.sluiceway): `metadata.db` (SQLite) records
every run, task, output, artifact and lineage event; `runs/RUN/` holds each task's spec,
result and log; `artifacts/` the artifacts, laid out as RUN/TASK/ATTEMPT/OUTPUT.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .core import ir, types
from .core.errors import SluicewayError
from .engine.engine import Engine, Observer, RunReport

if TYPE_CHECKING:
    from .stores.sql import SqlMetadataStore

HOME_ENV = "SLUICEWAY_HOME"
ORCHESTRATOR_PID = "orchestrator.pid"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".sluiceway").expanduser()


def run(
    pipeline: Any,
    arguments: dict[str, Any] | None = None,
    *,
    max_parallel: int | None = None,
    observers: Sequence[Observer] = (),
    echo: IO[str] | None = None,
    on_engine: Any = None,
    caching: bool = True,
) -> RunReport:
    """Run a pipeline (a @dsl.pipeline, a plain KFP v1 function, or compiled IR) to its end."""
    from .engine.recording import StoreRecorder
    from .plugins import PluginManager
    from .plugins.observing import HookObserver

    compiled = pipeline if isinstance(pipeline, ir.Pipeline) else _compile(pipeline)
    checked = check_arguments(compiled, arguments or {})
    base = home()
    run_id = f"{compiled.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    try:
        run_dir = base / "runs" / run_id
        run_dir.mkdir(parents=True)
        (base / "artifacts").mkdir(exist_ok=True)
    except OSError as error:
        raise SluicewayError(
            f"cannot write to the Sluiceway home {base}: {error.strerror or error}; set {HOME_ENV} to a writable folder"
        ) from None
    plugins = PluginManager()
    registry = plugins.registry
    store = metadata_store(registry.get("metadata_store", "sql").load())
    store.create_run(run_id, compiled, checked)
    # `sluiceway runs cancel` finds the process to ask here.
    (run_dir / ORCHESTRATOR_PID).write_text(str(os.getpid()))
    launcher = registry.get("backend", "local").load()(echo=echo)
    engine = Engine(
        compiled,
        run_id=run_id,
        launcher=launcher,
        arguments=checked,
        run_dir=run_dir,
        artifact_root=(base / "artifacts").as_uri(),
        stores={entry.name: entry.target for entry in registry.all("artifact_store") if isinstance(entry.target, str)},
        max_parallel=max_parallel or os.cpu_count() or 2,
        observers=(StoreRecorder(store), HookObserver(plugins.hook, compiled.name, checked), *observers),
        cache=store if caching else None,
    )
    if on_engine is not None:
        on_engine(engine)
    return engine.run()


def metadata_store(store_class: Any = None) -> SqlMetadataStore:
    """The embedded default's store: SQLite in the home folder, upgraded in place when older."""
    if store_class is None:
        from .stores.sql import SqlMetadataStore as store_class
    store: SqlMetadataStore = store_class(f"sqlite:///{home() / 'metadata.db'}", upgrade=True)
    return store


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
