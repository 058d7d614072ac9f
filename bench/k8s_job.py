"""k8s_job benchmark: Kubernetes API requests per task for a 50-task pipeline, counted by the fake API server.

    python bench/k8s_job.py                       # a chain and a fan-out of 50 tasks (about a minute)
    python bench/k8s_job.py --tasks 20 --shapes fanout
    python bench/k8s_job.py --json results.json

Each pipeline runs once with `sluiceway.run(..., backend="k8s_job")` against tests/fake_kubernetes: a fake API server
(not Kubernetes) that the official client talks to over real HTTP, whose kubelet runs each pod's command as a local
process. The fake logs every request; the benchmark sorts them into the run's shared work (listing and watching its
Jobs) and each task's own (creating its Job, finding its pod, reading its log, and anything else), and counts the
watch events the run received.

Targets: no polling, at most 5 API requests per task, plus one shared watch (a watch resumed from its
resourceVersion after the server ends it counts as the same watch: it is one connection at a time).

Beside it, for scale, the same pipeline on the local backend (processes on this machine): the run's wall time per
task on each backend. The fake adds a process per pod and an HTTP server in the same machine, so the ratio says how
much the backend's own machinery costs, not what a cluster would take (scheduling and image pulls dominate there).

This is a benchmark, not a test: it needs the extras `k8s` and `test` (`pip install -e '.[all,test]'`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    Target,
    add_json_option,
    add_strict_option,
    argument_parser,
    exit_code,
    platform_summary,
    print_targets,
    ratio_text,
    render_table,
    write_json_report,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: the fake API server lives in its tests
from tests.fake_kubernetes import FakeKubernetes

TARGET_REQUESTS_PER_TASK = 5.0
SHAPES = ("chain", "fanout")


@dataclass
class Measurement:
    shape: str
    tasks: int
    state: str
    per_task: dict[str, int] = field(default_factory=dict)
    """Requests of the tasks' own, by kind."""
    shared: dict[str, int] = field(default_factory=dict)
    """Requests of the run's shared watch, by kind."""
    watch_events: int = 0
    k8s_seconds: float = 0.0
    local_seconds: float = 0.0

    @property
    def requests_per_task(self) -> float:
        return sum(self.per_task.values()) / self.tasks

    @property
    def watch_connections(self) -> int:
        return self.shared.get("watch jobs", 0)


def pipeline_of(shape: str, tasks: int) -> Any:
    from sluiceway import compiler, dsl

    @dsl.component
    def step(number: int) -> int:
        return number + 1

    @dsl.pipeline(name=f"k8s-{shape}-{tasks}")
    def chain() -> None:
        previous = step(number=0)
        for _ in range(tasks - 1):
            previous = step(number=previous.output)

    @dsl.pipeline(name=f"k8s-{shape}-{tasks}")
    def fanout() -> None:
        with dsl.ParallelFor(list(range(tasks))) as item:
            step(number=item)

    return compiler.compile_pipeline(chain if shape == "chain" else fanout)


def kind_of(method: str, path: str, watch: bool) -> str:
    if path.endswith("/jobs"):
        return "watch jobs" if watch else ("list jobs" if method == "GET" else "create job")
    if path.endswith("/log"):
        return "read log"
    if path.endswith("/pods"):
        return "list pods"
    return f"{method} {path.rsplit('/', 2)[-2]}"


def measure(shape: str, tasks: int, scratch: Path) -> Measurement:
    import yaml

    import sluiceway

    compiled = pipeline_of(shape, tasks)
    with FakeKubernetes(command_map={"python": sys.executable}) as fake:
        config = scratch / f"{shape}.yaml"
        backend = {
            "name": "k8s_job",
            "namespace": "bench",
            "image": "sluiceway-runtime:bench",
            "kubeconfig": str(fake.write_kubeconfig(scratch / "kubeconfig")),
            "options": {"work_root": str(scratch / "pods"), "python": sys.executable},
        }
        config.write_text(yaml.safe_dump({"backend": backend}))
        os.environ["SLUICEWAY_HOME"] = str(scratch / f"home-{shape}-k8s")
        os.environ["SLUICEWAY_CONFIG"] = str(config)
        start = time.perf_counter()
        report = sluiceway.run(compiled, {}, caching=False, max_parallel=8)
        k8s_seconds = time.perf_counter() - start
        requests, events = fake.requests, fake.watch_events_sent
    os.environ["SLUICEWAY_HOME"] = str(scratch / f"home-{shape}-local")
    del os.environ["SLUICEWAY_CONFIG"]
    start = time.perf_counter()
    sluiceway.run(compiled, {}, caching=False, max_parallel=8)
    local_seconds = time.perf_counter() - start
    kinds = Counter(kind_of(r.method, r.path, r.watch) for r in requests)
    shared = {kind: count for kind, count in kinds.items() if kind in ("watch jobs", "list jobs")}
    per_task = {kind: count for kind, count in kinds.items() if kind not in shared}
    return Measurement(shape, tasks, report.state.value, per_task, shared, events, k8s_seconds, local_seconds)


def evaluate(results: list[Measurement]) -> list[Target]:
    targets = []
    for m in results:
        polled = m.per_task.get("list pods", 0) > m.tasks or m.per_task.get("read log", 0) > m.tasks * 2
        targets.append(
            Target(
                f"{m.shape} {m.tasks}: at most {TARGET_REQUESTS_PER_TASK:g} API requests per task, no polling",
                "PASS" if m.state == "SUCCEEDED" and m.requests_per_task <= TARGET_REQUESTS_PER_TASK and not polled else "FAIL",
                f"{m.requests_per_task:.2f} per task: {', '.join(f'{k} {v}' for k, v in sorted(m.per_task.items()))}; run {m.state}",
            )
        )
        targets.append(
            Target(
                f"{m.shape} {m.tasks}: one shared watch",
                "PASS" if m.watch_connections == 1 and m.shared.get("list jobs", 0) == 1 else "FAIL",
                f"{m.shared.get('list jobs', 0)} list and {m.watch_connections} watch connection(s), {m.watch_events} events",
            )
        )
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--tasks", type=int, default=50, help="tasks per pipeline (default 50)")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    add_json_option(parser)
    add_strict_option(parser)
    options = parser.parse_args(argv)
    print(f"{platform_summary()}; fake Kubernetes API server (tests/fake_kubernetes)")
    with tempfile.TemporaryDirectory(prefix="sluiceway-bench-k8s-") as folder:
        results = [measure(shape, options.tasks, Path(folder)) for shape in options.shapes]
    rows = [
        [
            f"{m.shape} {m.tasks}",
            m.state,
            f"{m.requests_per_task:.2f}",
            str(m.shared.get("list jobs", 0)),
            str(m.watch_connections),
            f"{m.watch_events / m.tasks:.1f}",
            f"{m.k8s_seconds / m.tasks * 1000:.0f} ms",
            f"{m.local_seconds / m.tasks * 1000:.0f} ms",
            ratio_text(m.k8s_seconds / m.local_seconds if m.local_seconds else None),
        ]
        for m in results
    ]
    headers = ["pipeline", "run", "requests/task", "job lists", "job watches", "events/task", "k8s_job/task", "local/task", "k8s/local"]
    print(render_table(headers, rows, left_columns=2))
    print("requests/task: the tasks' own API requests (create Job, list pods, read log, ...) over the number of tasks;")
    print("job lists and watches: the run's shared ones; events/task: watch events the run received, per task.")
    targets = evaluate(results)
    print_targets(targets)
    if options.json:
        write_json_report(options.json, {"benchmark": "k8s_job"}, results, targets)
    return exit_code(failed=any(m.state != "SUCCEEDED" for m in results), strict=options.strict, targets=targets)


if __name__ == "__main__":
    sys.exit(main())
