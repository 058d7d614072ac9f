"""The run's deadline (TIME-3), the exit tasks' budget (TIME-4), and abandoning a run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sluiceway import compiler, dsl
from sluiceway.backends.local import LocalLauncher
from sluiceway.core.lifecycle import ErrorKind, RunState, SkipReason, TaskState
from sluiceway.engine.engine import Engine, RunReport

T = TaskState


def make_engine(pipeline_func, tmp_path: Path, **settings) -> Engine:
    return Engine(
        compiler.compile_pipeline(pipeline_func),
        run_id="run-1",
        launcher=LocalLauncher(),
        run_dir=tmp_path / "run",
        artifact_root=(tmp_path / "artifacts").as_uri(),
        max_parallel=4,
        **settings,
    )


@dsl.component
def sleep_for(seconds: float, marker: str = "") -> int:
    import time
    from pathlib import Path

    if marker:
        Path(marker).write_text("started")
    time.sleep(seconds)
    return 1


@dsl.component
def fail_now() -> int:
    raise RuntimeError("boom")


@dsl.component
def record_status(status: dsl.PipelineTaskFinalStatus, marker: str):
    from pathlib import Path

    Path(marker).write_text(status.state)


def test_the_deadline_fails_running_tasks_without_retry_skips_the_rest_and_spares_exit_tasks(tmp_path):
    marker = tmp_path / "exit"

    @dsl.pipeline(name="slow")
    def slow():
        with dsl.ExitHandler(record_status(marker=str(marker))):
            first = sleep_for(seconds=60).set_retry(3)
            sleep_for(seconds=0, marker=str(tmp_path / "never")).after(first)

    started = time.monotonic()
    report = make_engine(slow, tmp_path, timeout_seconds=1).run()
    assert time.monotonic() - started < 15  # not the task's 60 s: it was stopped
    assert report.state == RunState.FAILED and report.error_kind == ErrorKind.RUN_TIMEOUT
    assert "deadline of 1 s passed" in report.message
    stopped = report.tasks["sleep-for"]
    assert stopped.state == T.FAILED and stopped.error_kind == ErrorKind.RUN_TIMEOUT and stopped.attempts == 1
    assert report.tasks["sleep-for-2"].state == T.SKIPPED and report.tasks["sleep-for-2"].skip_reason == SkipReason.UPSTREAM_FAILED
    assert not (tmp_path / "never").exists()
    assert report.tasks["record-status"].state == T.SUCCEEDED and marker.read_text() == "FAILED"


def test_a_retrying_task_fails_with_the_deadline(tmp_path):
    @dsl.pipeline(name="flaky")
    def flaky():
        fail_now().set_retry(5, backoff_duration="30s")

    report = make_engine(flaky, tmp_path, timeout_seconds=1.5).run()
    task = report.tasks["fail-now"]
    assert task.state == T.FAILED and task.error_kind == ErrorKind.RUN_TIMEOUT and task.attempts == 1
    assert task.last_attempt is not None and task.last_attempt.error_kind == ErrorKind.COMPONENT_FAILED  # its own error stays


def test_a_run_that_ends_before_its_deadline_is_untouched(tmp_path):
    @dsl.pipeline(name="quick")
    def quick():
        sleep_for(seconds=0)

    report = make_engine(quick, tmp_path, timeout_seconds=30).run()
    assert report.state == RunState.SUCCEEDED and report.error_kind is None


def test_exit_tasks_that_outlast_their_budget_fail_the_run(tmp_path):
    @dsl.pipeline(name="slow-exit")
    def slow_exit():
        with dsl.ExitHandler(sleep_for(seconds=60)):
            sleep_for(seconds=0)

    started = time.monotonic()
    report = make_engine(slow_exit, tmp_path, exit_timeout_seconds=1).run()
    assert time.monotonic() - started < 15
    assert report.tasks["sleep-for-2"].state == T.SUCCEEDED
    exit_task = report.tasks["sleep-for"]
    assert exit_task.state == T.FAILED and exit_task.error_kind == ErrorKind.EXIT_TIMEOUT
    assert report.state == RunState.FAILED and report.error_kind == ErrorKind.EXIT_TIMEOUT


def test_abandoning_kills_exit_tasks_too_and_starts_none(tmp_path):
    marker = tmp_path / "started"

    @dsl.pipeline(name="stubborn")
    def stubborn():
        with dsl.ExitHandler(sleep_for(seconds=60, marker=str(tmp_path / "exit-started"))):
            sleep_for(seconds=60, marker=str(marker))

    engine = make_engine(stubborn, tmp_path)
    outcome: list[RunReport] = []
    thread = threading.Thread(target=lambda: outcome.append(engine.run()))
    thread.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    engine.abandon()
    thread.join(timeout=30)
    (report,) = outcome
    assert time.monotonic() - started < 4  # no 5-second grace period
    assert report.state == RunState.CANCELLED
    assert report.tasks["sleep-for-2"].state == T.CANCELLED and report.tasks["sleep-for"].state == T.CANCELLED
    assert not (tmp_path / "exit-started").exists()
