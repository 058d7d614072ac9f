"""What the engine tells a workflow launcher (argo, tekton): the run before it starts, and every decision made without
an attempt, which the pods the workflow engine starts then follow (core/tickets.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from sluiceway import compiler, dsl
from sluiceway.backends.local import LocalLauncher
from sluiceway.core.errors import SluicewayError
from sluiceway.core.launcher import AttemptOutcome, RunContext, WorkflowLauncher
from sluiceway.core.lifecycle import ErrorKind, RunState, SkipReason, TaskState
from sluiceway.core.tickets import Decision
from sluiceway.engine.engine import Engine


class RecordingWorkflow(LocalLauncher):
    """Runs attempts locally, and records what a workflow launcher is told."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.began: list[RunContext] = []
        self.decisions: dict[str, Decision] = {}
        self.cancels: list[bool] = []

    def begin(self, run: RunContext) -> None:
        if self.refuse:
            raise SluicewayError("admission webhook denied the request: no")
        self.began.append(run)

    def decided(self, instance: str, decision: Decision) -> None:
        self.decisions[instance] = decision

    def cancel_run(self, *, force: bool = False) -> None:
        self.cancels.append(force)


def run_with(workflow: RecordingWorkflow, pipeline: Any, tmp_path: Path, arguments: dict[str, Any] | None = None) -> Any:
    assert isinstance(workflow, WorkflowLauncher)
    engine = Engine(
        compiler.compile_pipeline(pipeline),
        run_id="run-1",
        launcher=workflow,
        arguments=arguments,
        run_dir=tmp_path / "run",
        artifact_root=(tmp_path / "artifacts").as_uri(),
        timeout_seconds=300,
    )
    return engine.run()


@dsl.component
def number(x: int) -> int:
    return x


@dsl.component
def fail() -> int:
    raise RuntimeError("broken")


@dsl.pipeline(name="decisions")
def decisions(x: int = 2, items: list = []) -> None:  # noqa: B006 (a pipeline default, never mutated)
    first = number(x=x)
    with dsl.If(first.output > 5, name="big"):
        number(x=1)
    with dsl.Else(name="small"):
        number(x=0)
    with dsl.ParallelFor(items, name="each") as item:
        number(x=item)
    with dsl.ParallelFor([4, 5], name="pair") as item:
        number(x=item)


def test_the_workflow_hears_the_run_first_then_each_decision(tmp_path: Path) -> None:
    workflow = RecordingWorkflow()
    report = run_with(workflow, decisions, tmp_path)
    assert report.state == RunState.SUCCEEDED
    (began,) = workflow.began
    assert began.run_id == "run-1" and began.pipeline.name == "decisions" and began.timeout_seconds == 300
    said = workflow.decisions
    assert said["big"].outputs == {"branch": "1"}  # the Else branch
    assert said["number-2"].state == "SKIPPED" and said["number-2"].exit_code == 0  # its branch was not taken
    assert said["each"].state == "SKIPPED" and said["each"].outputs == {"iterations": "[]", "empty": "true"}
    assert said["pair"].outputs == {"iterations": json.dumps(["0", "1"]), "empty": "false"}
    assert said["pair/1/number-5"].state == "SUCCEEDED"  # after its attempt: later pods of it only end


def test_a_failed_instance_is_decided_with_a_failing_exit_code(tmp_path: Path) -> None:
    @dsl.pipeline(name="failing")
    def failing() -> None:
        broken = fail()
        number(x=broken.output)

    workflow = RecordingWorkflow()
    assert run_with(workflow, failing, tmp_path).state == RunState.FAILED
    assert workflow.decisions["fail"].exit_code == 1
    assert workflow.decisions["number"].state == "SKIPPED" and workflow.decisions["number"].exit_code == 0


def test_a_run_the_workflow_engine_refuses_fails_before_any_task(tmp_path: Path) -> None:
    workflow = RecordingWorkflow(refuse=True)
    report = run_with(workflow, decisions, tmp_path)
    assert report.state == RunState.FAILED and report.tasks == {}
    assert report.error_kind == ErrorKind.LAUNCH_FAILED
    assert "the workflow engine refused the run: admission webhook denied the request: no" in report.message
    assert workflow.decisions == {}


class NeverBegins(RecordingWorkflow):
    """A workflow engine that ends the run without creating the pod of `task` (as Tekton and Argo do once a task
    failed): that attempt ends `began=False` once `fail` has ended."""

    def __init__(self, task: str) -> None:
        super().__init__()
        self.task = task
        self.failed = threading.Event()

    def launch(self, spec: Any, **options: Any) -> Any:
        if spec.task != self.task:
            on_end = options["on_end"]
            if spec.task == "fail":
                options["on_end"] = lambda outcome: (on_end(outcome), self.failed.set())
            return super().launch(spec, **options)
        ended = options["on_end"]

        def after_the_failure() -> None:
            self.failed.wait(30)
            ended(AttemptOutcome(end="lost", kind=ErrorKind.LOST, message="the run ended without creating its pod", began=False))

        threading.Thread(target=after_the_failure, daemon=True).start()
        return super().launch(spec, **{**options, "on_end": lambda _: None})


@dsl.component
def slowly(x: int) -> int:
    import time

    time.sleep(0.5)
    return x


@dsl.pipeline(name="stopping")
def stopping() -> None:
    fail()
    number(x=1)


def test_an_attempt_the_workflow_engine_never_began_while_the_run_stops_is_skipped_not_failed(tmp_path: Path) -> None:
    """FAIL-2 and section 15: a task whose pod the engine never created was PENDING all along: SKIPPED run_stopping, no
    attempt counted; the run fails for the failure that happened, not for the pod that never came."""
    report = run_with(NeverBegins("number"), stopping, tmp_path)
    assert report.state == RunState.FAILED
    assert report.message.startswith("task 'fail' failed")
    assert (report.tasks["number"].state, report.tasks["number"].skip_reason, report.tasks["number"].attempts) == (
        TaskState.SKIPPED,
        SkipReason.RUN_STOPPING,
        0,
    )


def test_an_attempt_never_begun_while_the_run_is_not_stopping_is_lost(tmp_path: Path) -> None:
    workflow = NeverBegins("number")
    workflow.failed.set()  # no failure to wait for: the engine object just ended
    report = run_with(workflow, stopping, tmp_path)
    assert report.tasks["number"].state == TaskState.FAILED
    assert report.tasks["number"].error_kind == ErrorKind.LOST
