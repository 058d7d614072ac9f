"""`python -m sluiceway.executor SPEC.json`: run one attempt of one task.

`python -m sluiceway.executor --spec-env NAME` reads the spec from the environment variable NAME
instead (a Kubernetes pod's, where no file is shared with the orchestrator); `--spec-uri URI` from
the artifact store (a spec too large for the environment), with the stores that the JSON in
$SLUICEWAY_TASK_STORES names; `--ticket URI --retry N --outputs DIR` waits for what the run's engine decided for a
workflow engine's pod (Argo, Tekton; see ticket.py). `python -m sluiceway.executor --serve FD` is the fork server the
local launcher uses; see forkserver.py.

Exit status: 0 the attempt succeeded; 1 the component failed (its code raised, or its
command exited non-zero); 2 the task spec is unusable; 3 the component broke its output
contract (an output missing, of the wrong type, or not storable). The result file is
written in every case the executor survives.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.stores import Stores
    from ..core.task_spec import TaskError, TaskResult, TaskSpec

EXIT_CODES = {"user_code": 1, "spec": 2, "outputs": 3}
USAGE = (
    "usage: python -m sluiceway.executor SPEC.json | --spec-env NAME | --spec-uri URI"
    " | --ticket URI --retry N [--outputs DIR] [--outputs-limit BYTES] [--wait-seconds S]"
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--serve" and args[1].isdigit():
        from .forkserver import main as serve

        return serve(int(args[1]))
    if args[:1] == ["--ticket"]:
        return _run_ticket(args)
    from_env = len(args) == 2 and args[0] == "--spec-env"
    stores: Stores | None = None  # made once per process: an object store's SDK client is costly to make
    if len(args) == 2 and args[0] == "--spec-uri":
        fetched = _fetch_spec(args[1])
        if fetched is None:
            return EXIT_CODES["spec"]
        args, stores = [str(fetched[0])], fetched[1]
    elif not from_env and (len(args) != 1 or args[0].startswith("-")):
        print(USAGE, file=sys.stderr)
        return EXIT_CODES["spec"]
    import msgspec

    from ..core.stores import Stores
    from ..core.task_spec import decode_spec
    from .run import run_task

    where = f"in the environment variable {args[1]}" if from_env else args[0]
    if from_env and args[1] not in os.environ:
        print(f"sluiceway executor: cannot read the task spec {where}: it is not set", file=sys.stderr)
        return EXIT_CODES["spec"]
    try:
        spec = decode_spec(os.environ[args[1]].encode() if from_env else Path(args[0]).read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as error:
        print(f"sluiceway executor: cannot read the task spec {where}: {error}", file=sys.stderr)
        return EXIT_CODES["spec"]
    stores = stores if stores is not None else Stores(spec.stores)  # those that fetched the spec are the spec's own
    result = run_task(spec, stores)
    if spec.values_dir:
        _write_values(Path(spec.values_dir), result)
    return _commit(spec, stores, result)


def _commit(spec: TaskSpec, stores: Stores, result: TaskResult) -> int:
    """Write the result (and store it, for an orchestrator that shares no files with the task); the exit status."""
    from ..core.task_spec import encode

    _write_atomically(Path(spec.result_path), encode(result))
    if spec.result_uri and not _store_result(stores, Path(spec.result_path), spec.result_uri):
        return EXIT_CODES["spec"]
    if result.error is not None:
        _report(spec.task, spec.attempt, result.error)
        return EXIT_CODES.get(result.error.kind, 1)
    return 0


def _run_ticket(argv: list[str]) -> int:
    """A workflow engine's pod: run the attempt the engine launched, or apply its decision (ticket.py)."""
    from ..core.tickets import Decision
    from . import ticket
    from .run import run_task

    args = ticket.parse(argv)
    if args is None:
        print(USAGE, file=sys.stderr)
        return EXIT_CODES["spec"]
    try:
        stores = ticket.stores_from_environment()
        got = ticket.wait_for_ticket(args, stores)
    except Exception as error:  # any store or ticket failure: the pod cannot know what to do
        print(f"sluiceway executor: {error}", file=sys.stderr)
        return EXIT_CODES["spec"]
    if isinstance(got, Decision):
        return ticket.apply_decision(got, args)
    spec = ticket.pod_spec(got, args)
    result = run_task(spec, stores)
    ticket.write_outputs(result, spec.result_uri, args)
    return _commit(spec, stores, result)


def _report(task: str, attempt: int, error: TaskError) -> None:
    if error.traceback:
        print(error.traceback, end="" if error.traceback.endswith("\n") else "\n", file=sys.stderr)
    print(f"sluiceway: task '{task}' attempt {attempt} failed: {error.message}", file=sys.stderr)


def _fetch_spec(uri: str) -> tuple[Path, Stores] | None:
    """The task spec stored at `uri` (a pod's, too large for its environment), fetched with the stores that
    $SLUICEWAY_TASK_STORES names; and those stores."""
    import tempfile

    from .ticket import stores_from_environment

    try:
        stores = stores_from_environment()
        local = Path(tempfile.mkdtemp(prefix="sluiceway-spec-")) / "spec.json"
        stores.download(uri, local)
    except Exception as error:  # any store failure: the spec cannot be had
        print(f"sluiceway executor: cannot fetch the task spec from {uri}: {error}", file=sys.stderr)
        return None
    return local, stores


def _store_result(stores: Stores, path: Path, uri: str) -> bool:
    """Copy the result to the artifact store, where an orchestrator without the task's files reads it."""
    try:
        stores.upload(path, uri)
    except Exception as error:  # any store failure: without its result the attempt is lost, and says why
        print(f"sluiceway executor: could not store the result at {uri}: {error}", file=sys.stderr)
        return False
    return True


def _write_values(folder: Path, result: TaskResult) -> None:
    """One file per output value, for engines that read results from files (JSON text; `.uri` if stored)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for name, value in result.values.items():
        (folder / name).write_text(json.dumps(value), encoding="utf-8")
    for name, uri in result.spilled_values.items():
        (folder / f"{name}.uri").write_text(uri, encoding="utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_bytes(data)
    os.replace(staging, path)


if __name__ == "__main__":
    sys.exit(main())
