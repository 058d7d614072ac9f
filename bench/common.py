"""What bench/compile.py and bench/local.py share, so that both measure, print and report the same way.

It imports the standard library only: every measurement runs in a worker that must import nothing but the tool it
measures (a kfp worker never pays for importing sluiceway, nor the other way round), and the workers import this module.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

BENCHMARKED_PACKAGES = ("sluiceway", "kfp")
PEAK_MEMORY_NOTE = "worker getrusage(RUSAGE_SELF).ru_maxrss in KiB, fresh subprocess per measurement"
"""How the JSON reports say peak memory was measured."""


# --- Components --------------------------------------------------------------------------------------


def resolve_annotations(func: Callable[..., Any]) -> Callable[..., Any]:
    """Replace string annotations (from `from __future__ import annotations`) with the types.

    kfp reads `inspect.signature` annotations as they are and rejects the string 'int'; Sluiceway resolves them
    either way. Both tools get the resolved function.
    """
    hints = typing.get_type_hints(func)
    if hints.get("return") is type(None):
        hints["return"] = None  # kfp takes a NoneType return for an artifact; `-> None` means no outputs
    func.__annotations__ = hints
    return func


def max_rss_kib() -> int:
    """This process's peak resident set size in KiB (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


# --- Workers: each measurement in a fresh interpreter -------------------------------------------------------


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """The hidden options with which the parent starts a worker (see WorkerProcesses)."""
    parser.add_argument("--worker", nargs=3, metavar=("TOOL", "SHAPE", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)


def write_worker_result(path: str, result: Mapping[str, Any]) -> None:
    """The worker's half of the hand-over: its result as JSON in the file the parent named with --result."""
    Path(path).write_text(json.dumps(result), encoding="utf-8")


@dataclass
class WorkerOutcome:
    """How one worker process ended."""

    status: str
    """ok, timeout, or error (a non-zero exit, or no result written)."""
    result: dict[str, Any] | None = None
    """What the worker wrote with write_worker_result, when it ended ok."""
    error: str = ""
    """On error: the last line the worker printed (usually the exception), or its exit code."""
    log_path: Path | None = None
    """The worker's stdout and stderr."""


class WorkerProcesses:
    """Runs `script --worker ...` in fresh interpreters, one at a time, each with its result and log files in `scratch`.

    The result comes back through a file rather than stdout, so that anything a tool prints cannot garble it. Each
    worker gets a session of its own, so that a timeout (or an interrupted benchmark) stops the task processes it
    started too, not just the worker.
    """

    def __init__(self, script: str, scratch: Path, env: Mapping[str, str] | None = None) -> None:
        self.script = script
        self.scratch = scratch
        self.env = env
        self.count = 0

    def run(self, worker_arguments: Sequence[str], timeout: float) -> WorkerOutcome:
        """Run one worker with `--worker` followed by `worker_arguments`, allowing it `timeout` seconds."""
        self.count += 1
        result_path = self.scratch / f"result-{self.count}.json"
        log_path = self.scratch / f"worker-{self.count}.log"
        command = [sys.executable, self.script, "--worker", *worker_arguments, "--result", str(result_path)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop_session(process)
                return WorkerOutcome("timeout", log_path=log_path)
            except BaseException:
                _stop_session(process)  # Ctrl-C does not reach the worker's own session: do not leave it running
                raise
        if process.returncode != 0 or not result_path.exists():
            lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines() or [f"exit code {process.returncode}"]
            return WorkerOutcome("error", error=lines[-1], log_path=log_path)
        return WorkerOutcome("ok", result=json.loads(result_path.read_text(encoding="utf-8")), log_path=log_path)


def _stop_session(process: subprocess.Popen[bytes]) -> None:
    """Kill a worker and every process it started (its session), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# --- Formatting ----------------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """A duration in ms below a second (per-task times, small compiles), in seconds above."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def mib_text(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either was not measured (or the denominator is 0)."""
    return numerator / denominator if numerator is not None and denominator else None


def ratio_text(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left_columns: int) -> str:
    """A plain-text table: the first `left_columns` columns (names) aligned left, the rest (numbers) right."""
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < left_columns else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)])


def platform_summary() -> str:
    """The first words of each benchmark's first line: what machine the numbers come from."""
    return f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs"


# --- Targets and the report ----------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    verdict: str
    """PASS, FAIL, or N/A when a measurement it needs is missing."""
    detail: str


def print_targets(targets: Iterable[Target]) -> None:
    print()
    for target in targets:
        print(f"{target.verdict}: {target.name} ({target.detail})")


def exit_code(*, failed: bool, strict: bool, targets: Iterable[Target]) -> int:
    """The benchmark's exit code: 2 if a measurement failed or came out wrong, 1 under --strict unless every target passed.

    A timeout is not a failure: it is the time limit doing its job.
    """
    if failed:
        return 2
    if strict and any(target.verdict != "PASS" for target in targets):
        return 1
    return 0


def packages_importable() -> bool:
    """Whether sluiceway and kfp both import here; if not, says on stderr how to install them."""
    missing = [package for package in BENCHMARKED_PACKAGES if importlib.util.find_spec(package) is None]
    if missing:
        print(f"cannot import {', '.join(missing)}: run `make bench`, or `pip install -e '.[bench]'` in a virtualenv", file=sys.stderr)
    return not missing


def source_revision() -> str | None:
    """The git commit of the sluiceway checkout being measured, with '+dirty' for local changes; None outside git.

    It finds the checkout without importing sluiceway, which the parent process never needs.
    """
    spec = importlib.util.find_spec("sluiceway")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "sluiceway"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


class Versioned(Protocol):
    version: str | None


def tool_versions(results: Mapping[tuple[str, str, int], Versioned], tools: Iterable[str]) -> dict[str, str]:
    """Each tool's version as its workers reported it ('?' if none of them ran), keyed like `results` by tool."""
    return {tool: next((m.version for (t, _, _), m in results.items() if t == tool and m.version), "?") for tool in tools}


def write_json_report(path: str, details: Mapping[str, Any], results: Iterable[Any], targets: Iterable[Target]) -> None:
    """Write the --json report: the machine, the benchmark's `details`, then every measurement (dataclasses) and target."""
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **details,
        "peak_memory": PEAK_MEMORY_NOTE,
        "results": [asdict(measurement) for measurement in results],
        "targets": [asdict(target) for target in targets],
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


# --- Command line --------------------------------------------------------------------------------------


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the first line of the script's docstring."""
    return argparse.ArgumentParser(description=doc.split("\n", 1)[0] if doc else None)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")


def add_timeout_option(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument("--timeout", type=float, default=default, help=f"seconds allowed per measurement (default {default:.0f})")


def add_strict_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every target passes")
