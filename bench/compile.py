"""Compile-time benchmark: Sluiceway against KFP 2.x on synthetic pipelines.

    python bench/compile.py                 # full run: sizes 10, 100, 1000, 10000
    python bench/compile.py --quick         # sizes 10, 100, 1000, fewer repeats
    python bench/compile.py --json results.json --max-kfp-tasks 3000

Both tools compile the same graphs, built from one plan per (shape, size), with an equivalent
one-step Python-function component (three optional int inputs, one int output). What is timed
is the whole way from a plain pipeline function to a YAML file: `dsl.pipeline(func, name=...)`
then `Compiler().compile(pipeline, path)`, i.e. running the pipeline function, validating, and
writing the file. The decoration must be inside the timing because kfp's `@dsl.pipeline` is
where kfp runs the pipeline function and builds the spec. Components are defined outside it.

Each (tool, shape, size) runs in a fresh subprocess that imports only its own tool, so that
timings and peak memory are not polluted by the other tool or by earlier measurements. The
worker reports its own peak RSS (getrusage(RUSAGE_SELF).ru_maxrss, read right after the timed
compiles, before the output is verified); it includes the interpreter and the tool's imports.

This is a benchmark, not a test: it needs `kfp` and `sluiceway` importable (`make bench`, or
`pip install -e '.[bench]'`), and the tests never time anything.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
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

TOOLS = ("sluiceway", "kfp")
SHAPES = ("chain", "fanout", "random")
FULL_SIZES = (10, 100, 1000, 10000)
QUICK_SIZES = (10, 100, 1000)
# Timed repeats per tool and size; the median is reported. Sluiceway is cheap to repeat, which steadies the ratios
# the targets read; kfp gets fewer at large sizes (a 1000-task kfp compile takes ~10 s).
FULL_REPEATS = {"sluiceway": {10: 9, 100: 9, 1000: 7, 10000: 5}, "kfp": {10: 7, 100: 5, 1000: 3, 10000: 1}}
QUICK_REPEATS = {"sluiceway": {10: 5, 100: 5, 1000: 3}, "kfp": {10: 3, 100: 3, 1000: 1}}
# kfp's compile time grows superlinearly (~11 s for a 1000-task chain, ~140 s for 3000 on a 2-core machine),
# so by default it is not run above 1000 tasks; the table says so.
DEFAULT_MAX_KFP_TASKS = 1000
DEFAULT_TIMEOUT = 900.0
FLOOR_RUNS = 15
BASE_IMAGE = "python:3.11-slim"

# The targets.
TARGET_SPEEDUP_AT_1000 = 20.0
TARGET_SCALING_10000_OVER_1000 = 12.0

PARAMETER = -1
"""A plan index standing for the pipeline parameter `x` rather than an upstream task."""


def step(a: int = 0, b: int = 0, c: int = 0) -> int:
    """The component of every task: its source is what both tools package."""
    return a + b + c


# --- Graph plans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One synthetic graph, tool-neutral: for each task, the producers it consumes and waits for."""

    shape: str
    size: int
    consumes: tuple[tuple[int, ...], ...]
    """Per task: indices of earlier tasks whose output it takes as inputs a, b, c (PARAMETER: the pipeline's `x`)."""
    after: tuple[tuple[int, ...], ...]
    """Per task: indices of earlier tasks it runs after without taking their outputs."""

    def data_edges(self) -> int:
        return sum(1 for consumed in self.consumes for producer in consumed if producer != PARAMETER)

    def upstream_pairs(self) -> int:
        """Distinct (task, upstream task) pairs, from data and .after() alike."""
        return sum(
            len({p for p in (*consumed, *after) if p != PARAMETER}) for consumed, after in zip(self.consumes, self.after, strict=True)
        )


def make_plan(shape: str, size: int, seed: int) -> Plan:
    """The graph of `shape` with `size` tasks; `random` is drawn from `seed`, so both tools get the same one."""
    consumes: list[tuple[int, ...]] = []
    after: list[tuple[int, ...]] = [() for _ in range(size)]
    if shape == "chain":
        # Task i consumes the output of task i-1.
        consumes = [(PARAMETER,), *((i - 1,) for i in range(1, size))]
    elif shape == "fanout":
        # One source, size-2 parallel middles each consuming it, one sink that runs after every middle.
        if size < 3:
            raise ValueError("fanout needs at least 3 tasks")
        consumes = [(PARAMETER,), *[(0,)] * (size - 2), ()]
        after[-1] = tuple(range(1, size - 1))
    elif shape == "random":
        # Each task consumes 0-3 distinct outputs of earlier tasks, chosen uniformly.
        rng = random.Random(seed)
        consumes = [(PARAMETER,)]
        for i in range(1, size):
            count = rng.randint(0, min(3, i))
            consumes.append(tuple(rng.sample(range(i), count)))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return Plan(shape=shape, size=size, consumes=tuple(consumes), after=tuple(after))


def make_pipeline_func(plan: Plan, component: Callable[..., Any]) -> Callable[..., None]:
    """A pipeline function that builds `plan` by calling `component`: the same code serves both tools."""

    def synthetic(x: int = 1) -> None:
        tasks: list[Any] = []
        for consumed, after in zip(plan.consumes, plan.after, strict=True):
            arguments = {
                name: x if producer == PARAMETER else tasks[producer].output for name, producer in zip("abc", consumed, strict=False)
            }
            task = component(**arguments)
            if after:
                task.after(*(tasks[producer] for producer in after))
            tasks.append(task)

    return resolve_annotations(synthetic)


# --- Tool adapters (imported only inside the worker) --------------------------------------------------


@dataclass
class Adapter:
    version: str
    component: Callable[..., Any]
    make_pipeline: Callable[[Callable[..., None], str], Any]
    """Apply the tool's `@dsl.pipeline(name=...)`. kfp runs the pipeline function and builds its spec right here."""
    compile: Callable[[Any, str], None]
    count: Callable[[dict[str, Any]], tuple[int, int, int]]
    """(tasks, data edges, upstream pairs) read back from the compiled YAML, to check the graph was built as planned."""


def sluiceway_adapter() -> Adapter:
    import sluiceway
    from sluiceway import dsl
    from sluiceway.compiler import Compiler

    def count(document: dict[str, Any]) -> tuple[int, int, int]:
        nodes = document["nodes"]
        data = upstream = 0
        for node in nodes:
            producers = [argument["task"] for argument in node.get("arguments", {}).values() if argument["kind"] == "output"]
            data += len(producers)
            upstream += len({*producers, *node.get("after", ())})
        return len(nodes), data, upstream

    return Adapter(
        version=sluiceway.__version__,
        component=dsl.component(resolve_annotations(step), base_image=BASE_IMAGE),
        make_pipeline=lambda func, name: dsl.pipeline(func, name=name),
        compile=lambda pipeline, path: Compiler().compile(pipeline, path),
        count=count,
    )


def kfp_adapter() -> Adapter:
    import kfp
    from kfp import dsl
    from kfp.compiler import Compiler

    def count(document: dict[str, Any]) -> tuple[int, int, int]:
        tasks = document["root"]["dag"]["tasks"]
        data = upstream = 0
        for task in tasks.values():
            parameters = task.get("inputs", {}).get("parameters", {}).values()
            data += sum(1 for parameter in parameters if "taskOutputParameter" in parameter)
            upstream += len(set(task.get("dependentTasks", ())))
        return len(tasks), data, upstream

    return Adapter(
        version=kfp.__version__,
        component=dsl.component(resolve_annotations(step), base_image=BASE_IMAGE),
        make_pipeline=lambda func, name: dsl.pipeline(func, name=name),
        compile=lambda pipeline, path: Compiler().compile(pipeline, path),
        count=count,
    )


ADAPTERS: dict[str, Callable[[], Adapter]] = {"sluiceway": sluiceway_adapter, "kfp": kfp_adapter}


# --- Worker: one (tool, shape, size) in a fresh process -------------------------------------------------


def run_worker(tool: str, shape: str, size: int, repeats: int, seed: int, verify: bool) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # kfp warns about base images and the like; the numbers are what matter here
    adapter = ADAPTERS[tool]()
    plan = make_plan(shape, size, seed)
    with tempfile.TemporaryDirectory(prefix="sluiceway-bench-") as directory:
        path = str(Path(directory) / f"{shape}-{size}.yaml")
        # Warm up on a tiny graph of the same shape: first-use costs (lazy imports, describing the component) are not
        # what the sizes compare.
        adapter.compile(adapter.make_pipeline(make_pipeline_func(make_plan(shape, 3, seed), adapter.component), "warmup"), path)
        pipeline_func, name = make_pipeline_func(plan, adapter.component), f"{shape}-{size}"
        rss_before = max_rss_kib()
        times: list[float] = []
        for _ in range(repeats):
            gc.collect()
            # Decorating is timed too: kfp's @dsl.pipeline is where it runs the pipeline function and builds the whole
            # spec (its compile() then mostly writes it out), while Sluiceway's only records the function.
            start = time.perf_counter()
            adapter.compile(adapter.make_pipeline(pipeline_func, name), path)
            times.append(time.perf_counter() - start)
        rss_peak = max_rss_kib()
        output_bytes = os.path.getsize(path)
        verified: bool | None = None
        if verify:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with open(path, encoding="utf-8") as stream:
                document = next(iter(yaml.load_all(stream, Loader=loader)))
            verified = adapter.count(document) == (plan.size, plan.data_edges(), plan.upstream_pairs())
    return {
        "version": adapter.version,
        "times": times,
        "peak_rss_kib": rss_peak,
        "rss_before_compile_kib": rss_before,
        "output_bytes": output_bytes,
        "verified": verified,
    }


# --- Parent: schedule workers, summarise ------------------------------------------------------------------


@dataclass
class Measurement:
    tool: str
    shape: str
    size: int
    status: str
    """ok, skipped (over --max-kfp-tasks), timeout, or error."""
    repeats: int = 0
    times: list[float] = field(default_factory=list)
    median_s: float | None = None
    peak_rss_kib: int | None = None
    rss_before_compile_kib: int | None = None
    output_bytes: int | None = None
    verified: bool | None = None
    version: str | None = None
    detail: str = ""


def measure(
    workers: WorkerProcesses, tool: str, shape: str, size: int, repeats: int, seed: int, verify: bool, timeout: float
) -> Measurement:
    arguments = [tool, shape, str(size), "--repeats", str(repeats), "--seed", str(seed)]
    if not verify:
        arguments.append("--no-verify")
    outcome = workers.run(arguments, timeout)
    if outcome.status == "timeout":
        return Measurement(tool, shape, size, "timeout", repeats, detail=f"over {timeout:.0f} s for warm-up + {repeats} repeats")
    if outcome.result is None:
        return Measurement(tool, shape, size, "error", repeats, detail=outcome.error)
    result = outcome.result
    return Measurement(
        tool,
        shape,
        size,
        "ok",
        repeats,
        times=result["times"],
        median_s=statistics.median(result["times"]),
        peak_rss_kib=result["peak_rss_kib"],
        rss_before_compile_kib=result["rss_before_compile_kib"],
        output_bytes=result["output_bytes"],
        verified=result["verified"],
        version=result["version"],
    )


def machine_floor(runs: int) -> float:
    """Median wall time of a bare `python -c pass` subprocess: the least any compile command can cost."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cell(measurement: Measurement) -> str:
    """A tool's time column: the median, or why there is none."""
    if measurement.status == "ok":
        flag = "" if measurement.verified in (True, None) else " (WRONG GRAPH)"
        return duration_text(measurement.median_s) + flag
    if measurement.status == "skipped":
        return "skipped (over limit)"
    return "timed out" if measurement.status == "timeout" else measurement.status


def evaluate_targets(results: dict[tuple[str, str, int], Measurement], shapes: Sequence[str]) -> list[Target]:
    def median(tool: str, shape: str, size: int) -> float | None:
        found = results.get((tool, shape, size))
        return found.median_s if found and found.status == "ok" else None

    targets: list[Target] = []
    kfp_1000, slw_1000 = median("kfp", "chain", 1000), median("sluiceway", "chain", 1000)
    speedup = ratio(kfp_1000, slw_1000)
    name = f"1000-task chain compiles >= {TARGET_SPEEDUP_AT_1000:.0f}x faster than kfp"
    if speedup is None:
        targets.append(Target(name, "N/A", "kfp or sluiceway not measured for a 1000-task chain"))
    else:
        verdict = "PASS" if speedup >= TARGET_SPEEDUP_AT_1000 else "FAIL"
        targets.append(Target(name, verdict, f"kfp {duration_text(kfp_1000)} / sluiceway {duration_text(slw_1000)} = {speedup:.1f}x"))

    slw_10000 = median("sluiceway", "chain", 10000)
    scaling = ratio(slw_10000, slw_1000)
    name = f"sluiceway 10000-task chain takes <= {TARGET_SCALING_10000_OVER_1000:.0f}x the 1000-task chain"
    if scaling is None:
        targets.append(Target(name, "N/A", "sluiceway not measured for both 1000 and 10000 tasks"))
    else:
        verdict = "PASS" if scaling <= TARGET_SCALING_10000_OVER_1000 else "FAIL"
        targets.append(Target(name, verdict, f"{duration_text(slw_10000)} / {duration_text(slw_1000)} = {scaling:.1f}x"))

    for shape in shapes:
        name = f"sluiceway peak RSS below kfp's, {shape}, at the largest size kfp ran"
        sizes = [size for (tool, s, size), m in results.items() if tool == "kfp" and s == shape and m.status == "ok"]
        sizes = [size for size in sizes if (found := results.get(("sluiceway", shape, size))) and found.status == "ok"]
        if not sizes:
            targets.append(Target(name, "N/A", "no size measured with both tools"))
            continue
        largest = max(sizes)
        slw_peak = results["sluiceway", shape, largest].peak_rss_kib or 0
        kfp_peak = results["kfp", shape, largest].peak_rss_kib or 0
        verdict = "PASS" if slw_peak < kfp_peak else "FAIL"
        targets.append(Target(name, verdict, f"{largest} tasks: sluiceway {mib_text(slw_peak)} vs kfp {mib_text(kfp_peak)}"))
    return targets


def run_parent(args: argparse.Namespace) -> int:
    if not packages_importable():
        return 2
    sizes: tuple[int, ...] = tuple(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    repeats_by_size = QUICK_REPEATS if args.quick else FULL_REPEATS
    shapes: tuple[str, ...] = tuple(args.shapes)

    def repeats_for(tool: str, size: int) -> int:
        if args.repeats:
            return int(args.repeats)
        # Sizes not in the table get the count of the next larger size in it (or the smallest count).
        table = repeats_by_size[tool]
        fitting = [count for limit, count in sorted(table.items()) if size <= limit]
        return fitting[0] if fitting else min(table.values())

    print(f"{platform_summary()}; {sys.executable}", flush=True)
    floor = machine_floor(FLOOR_RUNS)
    print(f"machine floor: median of {FLOOR_RUNS} bare `python -c pass` subprocesses = {duration_text(floor)}", flush=True)

    results: dict[tuple[str, str, int], Measurement] = {}
    with tempfile.TemporaryDirectory(prefix="sluiceway-bench-compile-") as scratch:
        workers = WorkerProcesses(os.path.abspath(__file__), Path(scratch))
        for shape in shapes:
            for size in sizes:
                for tool in TOOLS:
                    repeats = repeats_for(tool, size)
                    if tool == "kfp" and size > args.max_kfp_tasks:
                        found = Measurement(tool, shape, size, "skipped", detail=f"over --max-kfp-tasks {args.max_kfp_tasks}")
                    else:
                        found = measure(workers, tool, shape, size, repeats, args.seed, not args.no_verify, args.timeout)
                    results[tool, shape, size] = found
                    note = duration_text(found.median_s) if found.status == "ok" else f"{found.status} {found.detail}"
                    print(f"  {tool:<9} {shape:<6} {size:>6} tasks x{found.repeats}: {note}", file=sys.stderr, flush=True)

    versions = tool_versions(results, TOOLS)
    headers = ["shape", "tasks", "runs slw/kfp", "sluiceway", "kfp", "kfp/slw", "slw/floor", "slw peak RSS", "kfp peak RSS"]
    rows: list[list[str]] = []
    for shape in shapes:
        for size in sizes:
            slw, kfp = results["sluiceway", shape, size], results["kfp", shape, size]
            speedup = ratio(kfp.median_s, slw.median_s)
            over_floor = ratio(slw.median_s, floor)
            rows.append(
                [
                    shape,
                    str(size),
                    f"{slw.repeats}/{kfp.repeats if kfp.status != 'skipped' else '-'}",
                    cell(slw),
                    cell(kfp),
                    ratio_text(speedup, digits=1),
                    ratio_text(over_floor),
                    mib_text(slw.peak_rss_kib),
                    mib_text(kfp.peak_rss_kib),
                ]
            )
    print()
    print(
        f"Median wall time of dsl.pipeline(func) + Compiler().compile(pipeline, path) (sluiceway {versions['sluiceway']}, kfp {versions['kfp']})"
    )
    print(render_table(headers, rows, left_columns=2))
    print()
    print("Peak RSS: each (tool, shape, size) runs in a fresh subprocess importing only that tool; the value is the worker's")
    print("getrusage(RUSAGE_SELF).ru_maxrss after its compiles (interpreter and imports included, output verification excluded).")
    print(f"slw/floor: sluiceway's in-process compile time over the machine floor ({duration_text(floor)}, a bare `python -c pass`).")
    problems = [m for m in results.values() if m.status in ("error", "timeout") or m.verified is False]
    for m in problems:
        what = "compiled a graph that differs from the plan" if m.verified is False else f"{m.status}: {m.detail}"
        print(f"! {m.tool} {m.shape} {m.size}: {what}")

    for shape in shapes:
        big, small = results.get(("sluiceway", shape, 10000)), results.get(("sluiceway", shape, 1000))
        scaling = ratio(big.median_s if big else None, small.median_s if small else None)
        if scaling is not None:
            print(f"sluiceway {shape} 10000/1000 time ratio: {scaling:.1f}x (linear would be 10x)")

    targets = evaluate_targets(results, shapes)
    print_targets(targets)

    if args.json:
        details = {
            "versions": versions,
            "sluiceway_revision": source_revision(),
            "floor_s": floor,
            "max_kfp_tasks": args.max_kfp_tasks,
            "seed": args.seed,
        }
        write_json_report(args.json, details, results.values(), targets)

    failed = any(m.status == "error" or m.verified is False for m in problems)
    return exit_code(failed=failed, strict=args.strict, targets=targets)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes 10, 100, 1000 only, fewer repeats")
    add_json_option(parser)
    parser.add_argument(
        "--max-kfp-tasks",
        type=int,
        default=DEFAULT_MAX_KFP_TASKS,
        help=f"do not run kfp above this many tasks; it is superlinear (default {DEFAULT_MAX_KFP_TASKS})",
    )
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES), help="graph shapes (default: all)")
    parser.add_argument("--sizes", nargs="+", type=int, help="task counts (default: 10 100 1000 10000, or up to 1000 with --quick)")
    parser.add_argument("--repeats", type=int, help="timed repeats for every size (default: fewer for larger sizes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random shape (default 0)")
    add_timeout_option(parser, DEFAULT_TIMEOUT)
    parser.add_argument("--no-verify", action="store_true", help="skip reading each output back to check its task and edge counts")
    add_strict_option(parser)
    add_worker_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        tool, shape, size = args.worker
        if tool not in TOOLS:
            raise SystemExit(f"unknown tool {tool!r}")
        result = run_worker(tool, shape, int(size), args.repeats or 1, args.seed, not args.no_verify)
        write_worker_result(args.result, result)
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
