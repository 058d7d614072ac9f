"""Every failure carries its ST-10 kind, and every attempt is recorded (ST-7), as users see them in the run store."""

from __future__ import annotations

import pytest

import sluiceway
from sluiceway import dsl, local
from sluiceway.core.lifecycle import ErrorKind, RunState


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@dsl.component
def fail_twice(counter: str) -> int:
    from pathlib import Path

    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < 2:
        raise RuntimeError(f"failure {seen + 1}")
    return seen


@dsl.component
def no_output(out: dsl.OutputPath(int)):
    pass


@dsl.component
def vanish() -> int:
    import os

    os._exit(7)


@dsl.component
def sleepy() -> int:
    import time

    time.sleep(30)
    return 0


@dsl.component
def count(data: dsl.Input[dsl.Dataset]) -> int:
    return len(open(data.path).read())


@dsl.component
def rows() -> list:
    return [{"a": 1}]


@dsl.component
def echo(x: int) -> int:
    return x


@dsl.component
def boom(x: int) -> int:
    raise ValueError(x)


def task_record(run_id: str, task_id: str):
    return next(t for t in local.metadata_store().tasks(run_id) if t.task_id == task_id)


def test_attempts_are_recorded_with_their_ends_and_errors(tmp_path):
    @dsl.pipeline(name="retried")
    def retried():
        fail_twice(counter=str(tmp_path / "counter")).set_retry(2)

    report = sluiceway.run(retried)
    assert report.state == RunState.SUCCEEDED
    attempts = local.metadata_store().attempts(report.run_id, "fail-twice")
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.end for a in attempts] == ["finished"] * 3
    assert [a.exit_code for a in attempts] == [1, 1, 0]
    assert [a.error_kind for a in attempts] == ["ComponentFailed", "ComponentFailed", None]
    assert "failure 1" in attempts[0].message and attempts[2].message == ""
    assert all(a.ended_at is not None and a.ended_at >= a.started_at for a in attempts)


@pytest.mark.parametrize(
    ("build", "task", "kind", "message"),
    [
        (lambda tmp: no_output(), "no-output", ErrorKind.OUTPUT_ERROR, "did not write its output 'out'"),
        (lambda tmp: vanish(), "vanish", ErrorKind.LOST, "ended with status 7"),
        (lambda tmp: sleepy().set_timeout(1), "sleepy", ErrorKind.TIMEOUT, "longer than its timeout of 1 s"),
        (
            lambda tmp: count(data=dsl.importer(artifact_uri=(tmp / "missing").as_uri(), artifact_class=dsl.Dataset).output),
            "count",
            ErrorKind.LAUNCH_FAILED,
            "cannot fetch",
        ),
    ],
)
def test_a_failed_attempt_says_what_kind_of_failure_it_was(tmp_path, build, task, kind, message):
    @dsl.pipeline(name="failing")
    def failing():
        build(tmp_path)

    report = sluiceway.run(failing)
    assert report.state == RunState.FAILED and report.error_kind == kind and f"task '{task}' failed" in report.message
    record = task_record(report.run_id, task)
    assert record.state == "FAILED" and record.error_kind == kind.value and message in record.message
    (attempt,) = local.metadata_store().attempts(report.run_id, task)
    assert attempt.error_kind == kind.value and message in attempt.message
    assert local.metadata_store().get_run(report.run_id).error_kind == kind.value


def test_a_launch_failure_is_retried(tmp_path):
    missing = tmp_path / "later"

    @dsl.pipeline(name="late-input")
    def late_input():
        count(data=dsl.importer(artifact_uri=missing.as_uri(), artifact_class=dsl.Dataset).output).set_retry(1)

    report = sluiceway.run(late_input)
    assert report.tasks["count"].attempts == 2 and report.tasks["count"].error_kind == ErrorKind.LAUNCH_FAILED


def test_failures_before_any_attempt_and_of_groups_have_their_kinds():
    @dsl.pipeline(name="unresolvable")
    def unresolvable():
        with dsl.ParallelFor(rows().output) as row:
            echo(x=row.b)

    report = sluiceway.run(unresolvable)
    loop_task = next(i for i in report.tasks.values() if i.node.name == "echo")
    assert loop_task.error_kind == ErrorKind.RESOLUTION_ERROR and loop_task.attempts == 0
    loop = next(i for i in report.tasks.values() if i.node.name.startswith("for-loop"))
    assert loop.error_kind == ErrorKind.GROUP_FAILED

    @dsl.pipeline(name="incomparable")
    def incomparable(untyped=None):  # an untyped parameter: its kind is known only at run time
        with dsl.If(untyped > 1):
            echo(x=1)

    report = sluiceway.run(incomparable, {"untyped": [1, 2]})
    condition = next(i for i in report.tasks.values() if i.node.name.startswith("condition"))
    assert condition.error_kind == ErrorKind.CONDITION_ERROR and report.error_kind == ErrorKind.CONDITION_ERROR
    assert task_record(report.run_id, condition.id).error_kind == "ConditionError"


@dsl.component
def wait_then_give(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return 1


@dsl.component
def fail_soon() -> int:
    raise RuntimeError("failing while the nested pipeline runs")


@dsl.component
def plus(n: int) -> int:
    return n + 1


@dsl.pipeline(name="inner-stopped")
def inner_stopped() -> int:
    return plus(n=wait_then_give(seconds=2.0).output).output


@dsl.pipeline(name="nested-when-stopping")
def nested_when_stopping() -> None:
    plus(n=inner_stopped().output)
    fail_soon()


def test_a_nested_pipeline_whose_output_task_never_ran_has_no_output_and_the_run_fails_for_its_failure():
    """GRP-5 (found by the property tests, where the engine crashed): the run stops while the nested pipeline waits
    for its inner task; that task is skipped, so the nested pipeline's output is absent, and what reads it does not run."""
    report = sluiceway.run(nested_when_stopping)
    assert report.state == RunState.FAILED
    assert report.message.startswith("task 'fail-soon' failed")
    assert report.tasks["inner-stopped/plus"].skip_reason.value == "run_stopping"
    assert report.tasks["inner-stopped"].state.value == "SUCCEEDED"
    assert report.tasks["inner-stopped"].outputs == {}
    assert report.tasks["plus"].state.value == "SKIPPED"
