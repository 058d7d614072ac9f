"""Local-run benchmark: per-task overhead of Sluiceway's local engine against kfp.local and a bare-process floor.

    python bench/local.py                  # chains of 50 and 200 tasks, a 1000-task fan-out, scheduler-only scaling to 10000
    python bench/local.py --quick          # a 50-task chain, a 200-task fan-out, scheduler-only scaling to 5000
    python bench/local.py --json results.json --repeats 3   # each measurement 3 times, the median reported

Every task is the same trivial Python function (`a + 1`), so what is measured is what it costs to run a task at all:
the orchestrator's bookkeeping, starting a process, the executor's imports, passing the value on. Four ways run the
same graphs side by side:

- Sluiceway: `sluiceway.run(pipeline, arguments, max_parallel=2)`, the run recorded in SQLite under a temporary
  $SLUICEWAY_HOME. Each task is a process of its own, forked from the executor's fork server, which imports the
  executor once per run.
- Sluiceway spawn: the same with the fork server off (`SLUICEWAY_FORK_SERVER=0`): each task a fresh interpreter running
  `python -m sluiceway.executor`, as a task with its own virtualenv (packages_to_install) always is.
- kfp.local: `kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False))`, then calling the pipeline function;
  each task a subprocess running kfp's executor.
- the floor: a bare `python -c pass` spawned as many times (one after another for a chain, two at a time for the
  fan-out), with the same interpreter the tasks use: what it costs to start a Python process at all. An orchestrator
  that starts an interpreter per task cannot go below it; forking from a warm server can.

Shapes: `chain` (task i consumes task i-1's output) and `fanout` (one `dsl.ParallelFor` over N items with
`parallelism=2`, one task per item). Each (tool, shape, size) runs in a fresh worker subprocess that imports only its
tool: a warm-up run of a 3-task graph of the same shape first (imports, creating the metadata database), then the timed
run. Every run gets fresh input values, so Sluiceway's cache (on by default) never hits. The worker reports its own peak
RSS (getrusage(RUSAGE_SELF).ru_maxrss: the orchestrating process, interpreter and imports included, task processes not).

"Scheduler-only" runs the same Sluiceway path (`sluiceway.run`, the SQLite store, the plugins' hooks) with the launcher
swapped, through `on_engine`, for one that starts no process and reports every attempt finished at once: what is left
is the orchestrator's own work per task. Scaling is judged on it (a 10000-task fan-out with real processes takes a long
while; `--real-10000` runs it too).

This is a benchmark, not a test: it needs `kfp` and `sluiceway` importable (`make bench`, or `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from any folder: bench/common.py imports as `common`
from common import (
    Target,
    WorkerProcesses,
    add_json_option,
    add_strict_option,
    add_timeout_option,
    add_worker_options,
    argument_parser,
    duration_text,
    exit_code,
    max_rss_kib,
    mib_text,
    packages_importable,
    platform_summary,
    print_targets,
    ratio,
    ratio_text,
    render_table,
    resolve_annotations,
    source_revision,
    tool_versions,
    write_json_report,
    write_worker_result,
)

TOOLS = ("floor", "sluiceway", "spawn", "scheduler", "kfp")
"""`spawn` is Sluiceway with its fork server off (a fresh interpreter per task); `scheduler` is Sluiceway with the instant launcher."""
TOOL_LABELS = {
    "floor": "floor",
    "sluiceway": "sluiceway",
    "spawn": "sluiceway spawn",
    "scheduler": "sluiceway scheduler-only",
    "kfp": "kfp.local",
}
PARALLELISM = 2
"""Sluiceway's max_parallel everywhere, and the fan-out's ParallelFor(parallelism=...) for every tool."""
WARMUP_TASKS = 3


@dataclass(frozen=True)
class Case:
    shape: str
    """chain or fanout."""
    size: int

    @property
    def name(self) -> str:
        return f"{self.shape} {self.size}"


FULL_CASES = (Case("chain", 50), Case("chain", 200), Case("fanout", 1000))
QUICK_CASES = (Case("chain", 50), Case("fanout", 200))
FULL_SCALING = (1000, 10000)
QUICK_SCALING = (500, 5000)
"""Fan-out sizes the scaling target compares (scheduler-only): the second is 10x the first."""
DEFAULT_TIMEOUT = 3600.0

# The targets.
TARGET_OVER_FLOOR = 2.5
"""Sluiceway's per-task overhead at most this many times the floor's."""
TARGET_SCALING = 1.5
"""Per-task scheduler time at 10x the tasks at most this many times the smaller run's (linear: 1x; quadratic: 10x)."""
TARGET_KIB_PER_TASK = 10.0
"""Orchestrator peak RSS growth per added task, from the smaller to the 10x larger fan-out (10 KiB: 100 MiB per 10000 tasks)."""


def step(a: int = 0) -> int:
    """The component of every task, for both tools."""
    return a + 1


def fresh_base() -> int:
    """A first input value no earlier run used, so that no task of the run is a cache hit (10**6 apart: room for any size)."""
    return (secrets.randbelow(10**9) + 1) * 10**6


def expected_outputs(shape: str, size: int, base: int) -> list[int]:
    """Every task's output value, sorted: a chain adds 1 per task from `base`; a fan-out's items are base..base+size-1."""
    return list(range(base + 1, base + size + 1))


# --- Pipelines (tool-neutral builders) -----------------------------------------------------------------


def chain_function(component: Callable[..., Any], size: int) -> Callable[..., None]:
    def chain(x: int) -> None:
        task = component(a=x)
        for _ in range(size - 1):
            task = component(a=task.output)

    return resolve_annotations(chain)


def fanout_function(dsl: Any, component: Callable[..., Any]) -> Callable[..., None]:
    def fanout(items: list) -> None:
        with dsl.ParallelFor(items, parallelism=PARALLELISM) as item:
            component(a=item)

    return resolve_annotations(fanout)


def arguments_for(shape: str, size: int, base: int) -> dict[str, Any]:
    return {"x": base} if shape == "chain" else {"items": list(range(base, base + size))}


# --- Workers: one (tool, shape, size) in a fresh process -------------------------------------------------


def floor_worker(shape: str, size: int, _options: argparse.Namespace) -> dict[str, Any]:
    """Spawn `python -c pass` `size` times: sequentially for a chain, PARALLELISM at a time for a fan-out."""
    command = [sys.executable, "-c", "pass"]

    def spawn(_: int = 0) -> None:
        subprocess.run(command, check=True)

    start = time.perf_counter()
    for _ in range(WARMUP_TASKS):
        spawn()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    if shape == "chain":
        for _ in range(size):
            spawn()
    else:
        with ThreadPoolExecutor(max_workers=PARALLELISM) as pool:
            list(pool.map(spawn, range(size)))
    wall = time.perf_counter() - start
    return {"version": platform.python_version(), "wall_s": wall, "warmup_s": warmup, "tasks_run": size, "verified": True}


class _Finished:
    def cancel(self, *, force: bool = False) -> None:
        """Nothing to stop: the attempt has already ended."""


class InstantLauncher:
    """A launcher that starts nothing: every attempt is reported finished, with a value for each output, from a thread.

    It stands in for LocalLauncher so that the engine's own cost per task (state changes, task specs written, the
    metadata store, the plugins' hooks) can be timed without any process.
    """

    def __init__(self, outputs: Callable[[Any], dict[str, Any]]) -> None:
        self.launches = 0
        self._outputs = outputs

    def launch(
        self,
        spec: Any,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[Any], None],
        settings: Any = None,
    ) -> Any:
        from sluiceway.core.launcher import AttemptOutcome
        from sluiceway.core.task_spec import TaskResult

        self.launches += 1
        outcome = AttemptOutcome(end="finished", exit_code=0, result=TaskResult(succeeded=True, values=self._outputs(spec)))
        threading.Thread(target=on_end, args=(outcome,), daemon=True).start()
        return _Finished()

    def close(self) -> None:
        pass


def _instant_outputs(spec: Any) -> dict[str, Any]:
    """What `step` would return for the spec's input `a`, so that chains and their checks work as with real tasks."""
    binding = spec.inputs.get("a")
    value = getattr(binding, "value", 0)
    return {output.name: (value if isinstance(value, int) else 0) + 1 for output in spec.component.outputs}


def sluiceway_worker(shape: str, size: int, options: argparse.Namespace, *, instant: bool, spawn: bool = False) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="sluiceway-bench-home-")
    os.environ["SLUICEWAY_HOME"] = home  # before sluiceway is imported: a fresh, private home for this worker
    if spawn:
        os.environ["SLUICEWAY_FORK_SERVER"] = "0"
    import sluiceway
    from sluiceway import dsl

    component = dsl.component(resolve_annotations(step))
    launchers: list[InstantLauncher] = []

    def swap_launcher(engine: Any) -> None:
        launcher = InstantLauncher(_instant_outputs)
        launchers.append(launcher)
        engine.launcher = launcher

    def build(n: int) -> Any:
        func = chain_function(component, n) if shape == "chain" else fanout_function(dsl, component)
        return dsl.pipeline(func, name=f"{shape}-{n}")

    def run(n: int, base: int) -> Any:
        return sluiceway.run(
            build(n), arguments_for(shape, n, base), max_parallel=PARALLELISM, on_engine=swap_launcher if instant else None
        )

    timed = warm_then_time(run, size)
    report, base = timed.result, timed.base

    tasks = [instance for instance in report.tasks.values() if instance.attempts or instance.state.value == "CACHED"]
    cached = sum(1 for instance in tasks if instance.state.value == "CACHED")
    values = sorted(
        binding.value
        for instance in tasks
        for name, binding in instance.outputs.items()
        if name == "Output" and isinstance(binding.value, int)
    )
    problems = []
    if report.state.value != "SUCCEEDED":
        problems.append(f"the run ended {report.state.value}")
    if values != expected_outputs(shape, size, base):
        problems.append(f"{len(values)} task outputs instead of the {size} expected")
    if cached:
        problems.append(f"{cached} tasks were cache hits")
    if instant and sum(launcher.launches for launcher in launchers) != size + WARMUP_TASKS:
        problems.append("the instant launcher was not the one used")
    return {
        "version": sluiceway.__version__,
        **timed.fields(),
        "tasks_run": len(tasks) - cached,
        "cached": cached,
        "verified": not problems,
        "detail": "; ".join(problems),
    }


@dataclass
class Timed:
    """A worker's timed run: what it returned, the first input it was given, and what it cost."""

    result: Any
    base: int
    warmup_s: float
    wall_s: float
    rss_before_kib: int
    peak_rss_kib: int

    def fields(self) -> dict[str, Any]:
        """The measurements as a worker result reports them."""
        return {"wall_s": self.wall_s, "warmup_s": self.warmup_s, "peak_rss_kib": self.peak_rss_kib, "rss_before_kib": self.rss_before_kib}


def warm_then_time(run: Callable[[int, int], Any], size: int) -> Timed:
    """`run(WARMUP_TASKS, ...)` untimed (imports, the metadata database), then `run(size, base)` timed, fresh inputs each."""
    start = time.perf_counter()
    run(WARMUP_TASKS, fresh_base())
    warmup = time.perf_counter() - start
    rss_before = max_rss_kib()
    base = fresh_base()
    start = time.perf_counter()
    result = run(size, base)
    wall = time.perf_counter() - start
    return Timed(result, base, warmup, wall, rss_before, max_rss_kib())


def kfp_worker(shape: str, size: int, options: argparse.Namespace) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # kfp warns about base images and the like
    import kfp
    from kfp import dsl, local

    # With use_venv=False the task runs in this interpreter, where kfp is installed; kfp's default would first
    # `pip install kfp` in every task (about 1.5 s a task here), which measures pip rather than orchestration.
    component = dsl.component(resolve_annotations(step), install_kfp_package=options.kfp_install)
    root = Path(tempfile.mkdtemp(prefix="kfp-bench-root-"))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))

    def run(n: int, base: int) -> Path:
        func = chain_function(component, n) if shape == "chain" else fanout_function(dsl, component)
        name = f"{shape}-{n}-{base}"
        dsl.pipeline(func, name=name)(**arguments_for(shape, n, base))
        return root

    timed = warm_then_time(run, size)
    base = timed.base

    values = []
    for path in root.glob(f"{shape}-{size}-{base}-*/**/executor_output.json"):
        output = json.loads(path.read_text(encoding="utf-8")).get("parameterValues", {}).get("Output")
        if isinstance(output, int):
            values.append(output)
    values.sort()
    verified = values == expected_outputs(shape, size, base)
    return {
        "version": kfp.__version__,
        **timed.fields(),
        "tasks_run": len(values),
        "verified": verified,
        "detail": "" if verified else f"{len(values)} task outputs instead of the {size} expected",
    }


def run_worker(tool: str, shape: str, size: int, options: argparse.Namespace) -> dict[str, Any]:
    if tool == "floor":
        return floor_worker(shape, size, options)
    if tool in ("sluiceway", "spawn", "scheduler"):
        return sluiceway_worker(shape, size, options, instant=tool == "scheduler", spawn=tool == "spawn")
    return kfp_worker(shape, size, options)


# --- Parent: schedule workers, summarise ------------------------------------------------------------------


@dataclass
class Measurement:
    tool: str
    shape: str
    size: int
    status: str
    """ok, timeout, error, or wrong (the run finished but its outputs are not the expected ones)."""
    wall_s: float | None = None
    per_task_s: float | None = None
    """The median over the repeats (--repeats); the other fields come from that repeat, except peak RSS (the largest)."""
    per_task_runs: list[float] = field(default_factory=list)
    warmup_s: float | None = None
    peak_rss_kib: int | None = None
    rss_before_kib: int | None = None
    tasks_run: int | None = None
    cached: int | None = None
    version: str | None = None
    detail: str = ""


def worker_environment(options: argparse.Namespace, scratch: Path) -> tuple[dict[str, str], str]:
    """The workers' environment, and a note on how it differs from this process's (printed, and kept in the JSON)."""
    env = dict(os.environ)
    if options.keep_env or not env.get("PYTHONDONTWRITEBYTECODE"):
        return env, "environment as it is"
    # Without bytecode caches every task process would compile Sluiceway's modules from source (an editable
    # install has no .pyc files), which no installed package does. They are cached in a private folder.
    del env["PYTHONDONTWRITEBYTECODE"]
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    return env, "PYTHONDONTWRITEBYTECODE was set: cleared for the workers, bytecode cached under a temporary PYTHONPYCACHEPREFIX"


def measure_once(workers: WorkerProcesses, options: argparse.Namespace, tool: str, case: Case) -> Measurement:
    """One run of `tool` on `case` in a fresh worker."""
    outcome = workers.run([tool, case.shape, str(case.size), *(["--kfp-install"] if options.kfp_install else [])], options.timeout)
    if outcome.status == "timeout":
        return Measurement(tool, case.shape, case.size, "timeout", detail=f"over {options.timeout:.0f} s")
    if outcome.result is None:
        return Measurement(tool, case.shape, case.size, "error", detail=f"{outcome.error} (log: {outcome.log_path})")
    result = outcome.result
    return Measurement(
        tool,
        case.shape,
        case.size,
        "ok" if result["verified"] else "wrong",
        wall_s=result["wall_s"],
        per_task_s=result["wall_s"] / case.size,
        per_task_runs=[result["wall_s"] / case.size],
        warmup_s=result["warmup_s"],
        peak_rss_kib=result.get("peak_rss_kib"),
        rss_before_kib=result.get("rss_before_kib"),
        tasks_run=result.get("tasks_run"),
        cached=result.get("cached"),
        version=result.get("version"),
        detail=result.get("detail", ""),
    )


def combine(repeats: list[Measurement]) -> Measurement:
    """One measurement from its repeats: the first that went wrong, or the one with the median per-task time."""
    failed = next((m for m in repeats if m.status != "ok"), None)
    if failed is not None:
        return failed
    values = [m.per_task_s or 0.0 for m in repeats]
    chosen = repeats[values.index(statistics.median_low(values))]
    chosen.per_task_runs = values
    chosen.peak_rss_kib = max(m.peak_rss_kib or 0 for m in repeats) or None
    return chosen


def seconds_text(value: float | None) -> str:
    """A whole run's wall time, always in seconds."""
    return "-" if value is None else f"{value:.1f} s"


def cell(measurement: Measurement | None) -> str:
    """A per-task time, or why there is none."""
    if measurement is None:
        return "-"
    if measurement.status == "ok":
        return duration_text(measurement.per_task_s)
    return {"timeout": "timed out", "wrong": "WRONG OUTPUT"}.get(measurement.status, measurement.status)


Results = dict[tuple[str, str, int], Measurement]


def per_task(results: Results, tool: str, case: Case) -> float | None:
    found = results.get((tool, case.shape, case.size))
    return found.per_task_s if found and found.status == "ok" else None


def evaluate_targets(results: Results, cases: Sequence[Case], scaling: Sequence[int], real_large: bool) -> list[Target]:
    targets: list[Target] = []
    for case in cases:
        name = f"{case.name}: sluiceway per-task overhead <= {TARGET_OVER_FLOOR}x the floor"
        slw, floor, kfp = per_task(results, "sluiceway", case), per_task(results, "floor", case), per_task(results, "kfp", case)
        over = ratio(slw, floor)
        if over is None:
            targets.append(Target(name, "N/A", "sluiceway or the floor not measured"))
            continue
        versus_kfp = f"; kfp.local {ratio_text(ratio(kfp, floor))}" if kfp is not None else ""
        detail = f"{duration_text(slw)} / {duration_text(floor)} = {over:.2f}x{versus_kfp}"
        targets.append(Target(name, "PASS" if over <= TARGET_OVER_FLOOR else "FAIL", detail))

    small, large = (Case("fanout", size) for size in scaling)
    for tool, label in (("scheduler", "scheduler-only"), *((("sluiceway", "real processes"),) if real_large else ())):
        name = (
            f"scheduler work per task constant: {large.size}-task fan-out per task <= {TARGET_SCALING}x the {small.size}-task one ({label})"
        )
        grown = ratio(per_task(results, tool, large), per_task(results, tool, small))
        if grown is None:
            targets.append(Target(name, "N/A", f"{label} fan-out not measured at both sizes"))
            continue
        detail = f"{duration_text(per_task(results, tool, large))} / {duration_text(per_task(results, tool, small))} = {grown:.2f}x"
        targets.append(Target(name, "PASS" if grown <= TARGET_SCALING else "FAIL", detail + "; linear 1x, quadratic 10x"))

    name = f"orchestrator memory bounded: peak RSS grows <= {TARGET_KIB_PER_TASK:.0f} KiB per task from {small.size} to {large.size} tasks"
    low, high = results.get(("scheduler", "fanout", small.size)), results.get(("scheduler", "fanout", large.size))
    if not (low and high and low.status == high.status == "ok" and low.peak_rss_kib and high.peak_rss_kib):
        targets.append(Target(name, "N/A", "scheduler-only fan-out not measured at both sizes"))
    else:
        growth = (high.peak_rss_kib - low.peak_rss_kib) / (large.size - small.size)
        detail = f"scheduler-only: {mib_text(low.peak_rss_kib)} -> {mib_text(high.peak_rss_kib)}, {growth:.1f} KiB per task"
        targets.append(Target(name, "PASS" if growth <= TARGET_KIB_PER_TASK else "FAIL", detail))
    return targets


def run_parent(options: argparse.Namespace) -> int:
    if not packages_importable():
        return 2
    cases = tuple(options.cases) if options.cases else (QUICK_CASES if options.quick else FULL_CASES)
    scaling = tuple(options.scaling) if options.scaling else (QUICK_SCALING if options.quick else FULL_SCALING)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    revision = source_revision()
    print(
        f"{platform_summary()}, load {load:.2f}; {sys.executable}" + (f"; sluiceway {revision}" if revision else ""),
        flush=True,
    )

    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="sluiceway-bench-local-") as scratch:
        env, env_note = worker_environment(options, Path(scratch))
        workers = WorkerProcesses(os.path.abspath(__file__), Path(scratch), env)
        print(f"workers: {env_note}", flush=True)

        def measure(tool: str, case: Case) -> None:
            found = combine([measure_once(workers, options, tool, case) for _ in range(options.repeats)])
            results[tool, case.shape, case.size] = found
            note = f"{seconds_text(found.wall_s)}, {duration_text(found.per_task_s)}/task" if found.status == "ok" else found.status
            if len(found.per_task_runs) > 1:
                note += f" (median of {', '.join(duration_text(value) for value in found.per_task_runs)})"
            print(f"  {TOOL_LABELS[tool]:<24} {case.name:<12} {note} {found.detail}".rstrip(), file=sys.stderr, flush=True)

        for case in cases:
            for tool in TOOLS:
                measure(tool, case)
        for size in scaling:
            case = Case("fanout", size)
            if ("scheduler", case.shape, size) not in results:
                measure("scheduler", case)
        if options.real_10000:
            for size in scaling:
                if ("sluiceway", "fanout", size) not in results:
                    measure("sluiceway", Case("fanout", size))

    versions = tool_versions(results, TOOLS)
    headers = [
        "case",
        "floor",
        "sluiceway",
        "slw spawn",
        "kfp.local",
        "slw/floor",
        "spawn/floor",
        "kfp/floor",
        "slw/kfp",
        "slw scheduler-only",
        "slw peak RSS",
        "kfp peak RSS",
    ]
    rows = []
    for case in cases:
        floor, slw, spawn, kfp = (per_task(results, tool, case) for tool in ("floor", "sluiceway", "spawn", "kfp"))
        rows.append(
            [
                case.name,
                cell(results.get(("floor", case.shape, case.size))),
                cell(results.get(("sluiceway", case.shape, case.size))),
                cell(results.get(("spawn", case.shape, case.size))),
                cell(results.get(("kfp", case.shape, case.size))),
                ratio_text(ratio(slw, floor)),
                ratio_text(ratio(spawn, floor)),
                ratio_text(ratio(kfp, floor)),
                ratio_text(ratio(slw, kfp)),
                cell(results.get(("scheduler", case.shape, case.size))),
                mib_text(m.peak_rss_kib if (m := results.get(("sluiceway", case.shape, case.size))) else None),
                mib_text(m.peak_rss_kib if (m := results.get(("kfp", case.shape, case.size))) else None),
            ]
        )
    print()
    print(
        f"Per-task overhead: wall time of the run / tasks{f', median of {options.repeats} runs' if options.repeats > 1 else ''} "
        f"(sluiceway {versions['sluiceway']}, kfp {versions['kfp']}, "
        f"parallelism {PARALLELISM}; a chain runs one task at a time)"
    )
    print(render_table(headers, rows, left_columns=1))

    scale_rows = []
    for tool in ("scheduler", "sluiceway") if options.real_10000 else ("scheduler",):
        for size in scaling:
            found = results.get((tool, "fanout", size))
            if found is None:
                continue
            scale_rows.append(
                [
                    TOOL_LABELS[tool],
                    str(size),
                    seconds_text(found.wall_s) if found.status == "ok" else found.status,
                    cell(found),
                    mib_text(found.rss_before_kib),
                    mib_text(found.peak_rss_kib),
                ]
            )
    print()
    print(f"Fan-out scaling (ParallelFor, parallelism {PARALLELISM}):")
    print(render_table(["run", "tasks", "wall", "per task", "RSS before run", "peak RSS"], scale_rows, left_columns=2))

    print()
    print("floor: a bare `python -c pass` per task with the same interpreter (one after another for a chain, 2 at a time for")
    print("a fan-out). sluiceway forks each task from its fork server (the executor imported once per run); sluiceway spawn")
    print("starts a fresh interpreter per task (SLUICEWAY_FORK_SERVER=0), as a task with its own virtualenv does.")
    print("scheduler-only: sluiceway.run with an instant launcher (no processes), i.e. the orchestrator's own work.")
    print("Peak RSS: the worker process that orchestrates (getrusage ru_maxrss: interpreter, imports and a warm-up run")
    print("included, task processes not); 'RSS before run' is its value after the warm-up.")
    kfp_component = "components pip-install kfp in every task (kfp's default)" if options.kfp_install else "install_kfp_package=False"
    print(f"kfp.local: SubprocessRunner(use_venv=False), {kfp_component}; its ParallelFor runs iterations in a thread pool capped at 2.")
    warmups = [
        f"{TOOL_LABELS[tool]} {seconds_text(found.warmup_s)}"
        for tool in ("sluiceway", "kfp")
        if (found := results.get((tool, cases[0].shape, cases[0].size))) and found.warmup_s is not None
    ]
    if warmups:
        print(f"One-time start (first run in a process: a {WARMUP_TASKS}-task {cases[0].shape}, not counted): {', '.join(warmups)}")
    problems = [m for m in results.values() if m.status != "ok"]
    for m in problems:
        print(f"! {TOOL_LABELS[m.tool]} {m.shape} {m.size}: {m.status}: {m.detail}")

    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load_after is not None:
        print(f"Load average (1 min) at the end: {load_after:.2f} (this benchmark keeps up to {PARALLELISM} processes busy)")
    targets = evaluate_targets(results, cases, scaling, options.real_10000)
    print_targets(targets)

    if options.json:
        details = {
            "load_before": load,
            "load_after": load_after,
            "versions": versions,
            "sluiceway_revision": revision,
            "parallelism": PARALLELISM,
            "repeats": options.repeats,
            "environment": env_note,
            "kfp_install_kfp_package": options.kfp_install,
        }
        write_json_report(options.json, details, results.values(), targets)

    failed = any(m.status in ("error", "wrong") for m in problems)
    return exit_code(failed=failed, strict=options.strict, targets=targets)


def parse_case(text: str) -> Case:
    shape, _, size = text.partition(":")
    if shape not in ("chain", "fanout") or not size.isdigit() or int(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not chain:N or fanout:N")
    return Case(shape, int(size))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="a 50-task chain and a 200-task fan-out; scheduler-only scaling 500 -> 5000")
    add_json_option(parser)
    parser.add_argument(
        "--cases", nargs="+", type=parse_case, metavar="SHAPE:SIZE", help="e.g. chain:50 fanout:1000 (default: see --quick)"
    )
    parser.add_argument(
        "--scaling", nargs=2, type=int, metavar=("SMALL", "LARGE"), help="fan-out sizes of the scaling targets (default 1000 10000)"
    )
    parser.add_argument(
        "--real-10000", action="store_true", help="also run the scaling fan-outs with real task processes (10000 tasks: about 20 minutes)"
    )
    parser.add_argument(
        "--kfp-install", action="store_true", help="let kfp's components pip-install kfp in every task, as kfp does by default"
    )
    parser.add_argument(
        "--keep-env",
        action="store_true",
        help="run workers with the environment as it is (by default PYTHONDONTWRITEBYTECODE is cleared for them)",
    )
    add_timeout_option(parser, DEFAULT_TIMEOUT)
    parser.add_argument(
        "--repeats", type=int, default=1, help="run each measurement this many times, each in a fresh worker; report the median (default 1)"
    )
    add_strict_option(parser)
    add_worker_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if options.worker:
        tool, shape, size = options.worker
        if tool not in TOOLS or shape not in ("chain", "fanout"):
            raise SystemExit(f"unknown worker {tool!r} {shape!r}")
        result = run_worker(tool, shape, int(size), options)
        write_worker_result(options.result, result)
        return 0
    return run_parent(options)


if __name__ == "__main__":
    sys.exit(main())
