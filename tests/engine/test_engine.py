"""The engine runs whole pipelines through the local launcher: real processes, real files."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sluiceway import compiler, dsl
from sluiceway.backends.local import LocalLauncher
from sluiceway.core.lifecycle import RunState, SkipReason, TaskState
from sluiceway.core.task_spec import MAX_VALUE_BYTES
from sluiceway.engine.engine import Engine, RunReport

T = TaskState


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[str, TaskState]] = []
        self.runs: list[RunState] = []

    def run_changed(self, run_id, state, error_kind, message):
        self.runs.append(state)

    def task_changed(self, run_id, instance):
        self.changes.append((instance.id, instance.state))


def make_engine(pipeline_func, tmp_path: Path, arguments=None, max_parallel=4, observer=None) -> Engine:
    return Engine(
        compiler.compile_pipeline(pipeline_func),
        run_id="run-1",
        launcher=LocalLauncher(),
        arguments=arguments,
        run_dir=tmp_path / "run",
        artifact_root=(tmp_path / "artifacts").as_uri(),
        max_parallel=max_parallel,
        observers=[observer] if observer else (),
    )


def run(pipeline_func, tmp_path: Path, arguments=None, max_parallel=4) -> RunReport:
    return make_engine(pipeline_func, tmp_path, arguments, max_parallel).run()


def states(report: RunReport) -> dict[str, TaskState]:
    return {task_id: instance.state for task_id, instance in report.tasks.items()}


def value(report: RunReport, task_id: str, output: str = "Output"):
    return report.tasks[task_id].outputs[output].value


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.component
def numbers(count: int) -> list:
    return list(range(1, count + 1))


@dsl.component
def total(values: list) -> int:
    return sum(values)


@dsl.component
def fail(message: str) -> int:
    raise RuntimeError(message)


def test_values_flow_down_a_chain(tmp_path):
    @dsl.pipeline(name="chain")
    def chain(x: int = 1) -> int:
        first = add(a=x, b=2)
        return add(a=first.output, b=3).output

    report = run(chain, tmp_path, {"x": 10})
    assert report.state == RunState.SUCCEEDED
    assert value(report, "add") == 12 and value(report, "add-2") == 15
    assert report.outputs["Output"].value == 15
    assert (tmp_path / "run" / "logs" / "add.log").exists()


@pytest.mark.parametrize(("x", "ran"), [(10, "add"), (5, "add-2"), (1, "add-3")])
def test_if_elif_else(tmp_path, x, ran):
    @dsl.pipeline(name="branches")
    def branches(x: int):
        with dsl.If(x > 5):
            add(a=1, b=1)
        with dsl.Elif(x == 5):
            add(a=2, b=2)
        with dsl.Else():
            add(a=3, b=3)

    report = run(branches, tmp_path, {"x": x})
    assert report.state == RunState.SUCCEEDED
    for task in ("add", "add-2", "add-3"):
        instance = report.tasks[task]
        if task == ran:
            assert instance.state == T.SUCCEEDED
        else:
            assert (instance.state, instance.skip_reason) == (T.SKIPPED, SkipReason.CONDITION)


def test_a_loop_over_an_upstream_list_collects_in_item_order(tmp_path):
    @dsl.pipeline(name="fan")
    def fan(count: int = 4) -> int:
        items = numbers(count=count)
        with dsl.ParallelFor(items.output, parallelism=2) as item:
            squared = add(a=item, b=item)
        return total(values=dsl.Collected(squared.output)).output

    recorder = Recorder()
    report = make_engine(fan, tmp_path, observer=recorder).run()
    assert report.state == RunState.SUCCEEDED
    assert [value(report, f"for-loop/{i}/add") for i in range(4)] == [2, 4, 6, 8]
    assert report.outputs["Output"].value == 20
    running = 0
    most = 0
    for task_id, state in recorder.changes:
        if task_id.startswith("for-loop/") and state in (T.RUNNING, T.SUCCEEDED):
            running += 1 if state == T.RUNNING else -1
            most = max(most, running)
    assert most == 2  # parallelism=2


def test_an_empty_loop_is_skipped_and_its_fan_in_gets_an_empty_list(tmp_path):
    @dsl.pipeline(name="empty")
    def empty():
        with dsl.ParallelFor(numbers(count=0).output) as item:
            squared = add(a=item, b=item)
        total(values=dsl.Collected(squared.output))
        add(a=1, b=1)

    report = run(empty, tmp_path)
    assert report.state == RunState.SUCCEEDED
    assert (report.tasks["for-loop"].state, report.tasks["for-loop"].skip_reason) == (T.SKIPPED, SkipReason.EMPTY_LOOP)
    assert value(report, "total") == 0  # LOOP-8: collected over an empty loop is []
    assert report.tasks["add-2"].state == T.SUCCEEDED


def test_a_nested_pipeline_runs_as_one_task_with_outputs(tmp_path):
    @dsl.pipeline(name="double")
    def double(n: int) -> int:
        return add(a=n, b=n).output

    @dsl.pipeline(name="outer")
    def outer():
        inner = double(n=21)
        add(a=inner.output, b=0)

    report = run(outer, tmp_path)
    assert report.state == RunState.SUCCEEDED
    assert value(report, "double/add") == 42 and value(report, "double") == 42 and value(report, "add") == 42


@dsl.component
def announce(status: dsl.PipelineTaskFinalStatus, marker: str):
    from pathlib import Path

    Path(marker).write_text(f"{status.state}|{status.pipeline_task_name}|{status.error_message}")


def test_a_failure_stops_the_run_and_the_exit_task_learns_of_it(tmp_path):
    marker = tmp_path / "final-status.txt"

    @dsl.pipeline(name="doomed")
    def doomed():
        exit_task = announce(marker=str(marker))
        with dsl.ExitHandler(exit_task):
            broken = fail(message="boom")
            add(a=broken.output, b=1)
            add(a=1, b=1).after(broken)

    report = run(doomed, tmp_path)
    assert report.state == RunState.FAILED
    assert report.tasks["fail"].state == T.FAILED and "fail() raised RuntimeError: boom" in report.tasks["fail"].message
    # DEP-3/DEP-4: a failed upstream skips its consumers, over data and ordering edges alike.
    assert {report.tasks[t].skip_reason for t in ("add", "add-2")} == {SkipReason.UPSTREAM_FAILED}
    assert report.tasks["announce"].state == T.SUCCEEDED
    assert marker.read_text() == "FAILED|exit-handler|task 'fail' failed: fail() raised RuntimeError: boom"
    assert report.tasks["exit-handler"].state == T.FAILED


def test_the_exit_task_reports_success_too(tmp_path):
    marker = tmp_path / "final-status.txt"

    @dsl.pipeline(name="fine")
    def fine():
        exit_task = announce(marker=str(marker))
        with dsl.ExitHandler(exit_task):
            add(a=1, b=1)

    assert run(fine, tmp_path).state == RunState.SUCCEEDED
    assert marker.read_text() == "SUCCEEDED|exit-handler|None"


@dsl.component
def flaky(counter: str, failures: int) -> int:
    from pathlib import Path

    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < failures:
        raise RuntimeError(f"failure {seen + 1}")
    return seen + 1


@pytest.mark.parametrize(("retries", "state", "attempts"), [(2, T.SUCCEEDED, 3), (1, T.FAILED, 2)])
def test_retries_with_backoff(tmp_path, retries, state, attempts):
    @dsl.pipeline(name="retrying")
    def retrying():
        flaky(counter=str(tmp_path / "counter"), failures=2).set_retry(retries, backoff_duration="0.2s", backoff_factor=2)

    recorder = Recorder()
    started = time.monotonic()
    report = make_engine(retrying, tmp_path, observer=recorder).run()
    assert report.tasks["flaky"].state == state and report.tasks["flaky"].attempts == attempts
    assert [s for _, s in recorder.changes].count(T.RETRYING) == attempts - 1
    assert time.monotonic() - started >= 0.2 * (attempts - 1)


@dsl.component
def sleep_then(seconds: float, pid_file: str) -> int:
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path(pid_file).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(seconds)
    return 0


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return status != "Z"


def test_an_attempt_over_its_timeout_fails_and_its_process_group_dies(tmp_path):
    pids = tmp_path / "pids"

    @dsl.pipeline(name="slow")
    def slow():
        sleep_then(seconds=60, pid_file=str(pids)).set_timeout(1)

    report = run(slow, tmp_path)
    assert report.state == RunState.FAILED
    assert "ran longer than its timeout of 1 s" in report.tasks["sleep-then"].message
    assert not any(_alive(int(pid)) for pid in pids.read_text().split())


def test_cancelling_stops_running_tasks_and_still_runs_the_exit_task(tmp_path):
    pids = tmp_path / "pids"
    marker = tmp_path / "final-status.txt"

    @dsl.pipeline(name="long")
    def long():
        exit_task = announce(marker=str(marker))
        with dsl.ExitHandler(exit_task):
            first = sleep_then(seconds=60, pid_file=str(pids))
            add(a=first.output, b=1)

    engine = make_engine(long, tmp_path)
    outcome: list[RunReport] = []
    thread = threading.Thread(target=lambda: outcome.append(engine.run()))
    thread.start()
    deadline = time.monotonic() + 30
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.cancel()
    thread.join(timeout=60)
    (report,) = outcome
    assert report.state == RunState.CANCELLED
    assert report.tasks["sleep-then"].state == T.CANCELLED and report.tasks["add"].state == T.CANCELLED
    assert report.tasks["announce"].state == T.SUCCEEDED and marker.read_text().startswith("CANCELLED|")
    assert not any(_alive(int(pid)) for pid in pids.read_text().split())


@dsl.component
def write_rows(rows: int, data: dsl.Output[dsl.Dataset]):
    from pathlib import Path

    Path(data.path).write_text("".join(f"{i}\n" for i in range(rows)))
    data.metadata["rows"] = rows


@dsl.component
def count_rows(data: dsl.Input[dsl.Dataset]) -> int:
    from pathlib import Path

    return len(Path(data.path).read_text().split())


@dsl.component
def big_text(size: int) -> str:
    return "y" * size


@dsl.component
def length(text: str) -> int:
    return len(text)


def test_artifacts_and_large_values_flow_through_the_store(tmp_path):
    @dsl.pipeline(name="data")
    def data():
        rows = write_rows(rows=7)
        count_rows(data=rows.outputs["data"])
        length(text=big_text(size=MAX_VALUE_BYTES * 2).output)

    report = run(data, tmp_path)
    assert report.state == RunState.SUCCEEDED
    (artifact,) = report.tasks["write-rows"].outputs["data"].artifacts
    assert artifact.uri == f"{(tmp_path / 'artifacts').as_uri()}/run-1/write-rows/1/data" and artifact.metadata == {"rows": 7}
    assert value(report, "count-rows") == 7
    assert report.tasks["big-text"].outputs["Output"].value_uri is not None
    assert value(report, "length") == MAX_VALUE_BYTES * 2


def test_the_concurrency_limit_holds(tmp_path):
    @dsl.pipeline(name="wide")
    def wide():
        for index in range(4):
            add(a=index, b=0)

    recorder = Recorder()
    report = make_engine(wide, tmp_path, max_parallel=1, observer=recorder).run()
    assert report.state == RunState.SUCCEEDED
    # With one slot, each task finishes before the next starts.
    assert [state for _, state in recorder.changes] == [T.RUNNING, T.SUCCEEDED] * 4
    assert [task for task, _ in recorder.changes][::2] == [task for task, _ in recorder.changes][1::2]


def test_a_condition_with_no_true_branch_is_skipped_itself(tmp_path):
    @dsl.pipeline(name="none-taken")
    def none_taken(x: int = 0):
        with dsl.If(x > 5):
            add(a=1, b=1)
        add(a=2, b=2)

    report = run(none_taken, tmp_path)
    assert report.state == RunState.SUCCEEDED
    assert (report.tasks["condition"].state, report.tasks["condition"].skip_reason) == (T.SKIPPED, SkipReason.CONDITION)
    assert report.tasks["add"].skip_reason == SkipReason.CONDITION and report.tasks["add-2"].state == T.SUCCEEDED


@dsl.component
def flag() -> bool:
    return True


def test_comparisons_are_typed_and_untyped_values_are_converted(tmp_path):
    @dsl.pipeline(name="typed-compare")
    def typed_compare(mode="1"):
        with dsl.If(flag().output == 1):  # CND-3: true == 1 is false
            add(a=1, b=1)
        with dsl.If(mode == 1):  # CND-4: the untyped "1" is read as the number 1
            add(a=2, b=2)

    report = run(typed_compare, tmp_path)
    assert report.tasks["add"].skip_reason == SkipReason.CONDITION
    assert report.tasks["add-2"].state == T.SUCCEEDED


def test_a_loop_that_would_exceed_the_instance_limit_fails_before_opening_any_iteration(tmp_path):
    @dsl.pipeline(name="nested")
    def nested(outer: list, inner: list):
        with dsl.ParallelFor(outer):
            with dsl.ParallelFor(inner):
                add(a=1, b=2)

    def run_with_limit(folder: Path, outer: list, limit: int) -> RunReport:
        engine = make_engine(nested, folder, {"outer": outer, "inner": [1, 2, 3]}, max_parallel=1)
        engine.max_instances = limit
        return engine.run()

    assert run_with_limit(tmp_path / "fits", [1, 2], limit=6).state == RunState.SUCCEEDED
    report = run_with_limit(tmp_path / "over", [1, 2], limit=5)  # each inner loop fits; the run's total of 'add' does not
    failed = [i for i in report.tasks.values() if i.state == T.FAILED and i.node.name == "for-loop-2"]
    assert len(failed) == 1 and failed[0].error_kind.value == "ResolutionError"
    assert "would give 'add' 6 instances in this run; at most 5 are allowed (LOOP-5)" in failed[0].message
    assert not any(i.attempts for i in report.tasks.values() if i.id.startswith(failed[0].id + "/"))
    assert report.state == RunState.FAILED
