"""The argo and tekton backends end to end: every example gives what it gives locally, through the engine object
each submits (valid in strict mode against the engine's published schema), and faults end in the documented state.

Against tests/fake_kubernetes' simulators of Argo and Tekton: test doubles that interpret the submitted manifest by
each engine's rules (../shared/backend-semantics.md), not the engines themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluiceway import dsl
from sluiceway.compiler import compile_pipeline, load_pipeline_from_file
from sluiceway.core import ir
from sluiceway.core.lifecycle import ErrorKind, RunState, TaskState
from sluiceway.dsl import component, pipeline
from sluiceway.engine.engine import RunReport
from tests.backends.outcomes import after, outcome, run_on, secrets_named
from tests.backends.workflow_engines.conftest import EngineCluster
from tests.conftest import EXAMPLES
from tests.manifest_schemas import argo_crd, argo_schema, errors, tekton_schema
from tests.s3_servers import S3Server, Scratch
from tests.test_examples import RUN_ARGUMENTS

pytestmark = pytest.mark.filterwarnings("ignore::sluiceway.local.SettingIgnoredHere")
EXAMPLE_NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py"))
_LOCAL: dict[str, dict[str, Any]] = {}


def local_outcome(example: str, compiled: ir.Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The example's outcome on the local backend, the reference (once per test session)."""
    if example not in _LOCAL:
        report = run_on(tmp_path / "local", monkeypatch, compiled, RUN_ARGUMENTS.get(example, {}))
        assert report.state == RunState.SUCCEEDED, report.message
        _LOCAL[example] = outcome(report)
    return _LOCAL[example]


def schema_errors(engine: EngineCluster, submitted: dict[str, Any]) -> list[str]:
    submitted = {key: value for key, value in submitted.items() if key != "status"}
    submitted["metadata"] = {k: v for k, v in submitted["metadata"].items() if k in ("name", "namespace", "labels", "annotations")}
    if engine.backend == "argo":
        return errors(argo_schema(), submitted) + errors(argo_crd(), submitted)
    return errors(tekton_schema(), submitted)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_every_example_gives_on_the_engine_what_it_gives_locally(
    example: str, engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = compile_pipeline(load_pipeline_from_file(str(EXAMPLES / f"{example}.py")))
    reference = local_outcome(example, compiled, tmp_path, monkeypatch)
    for name in secrets_named(compiled):  # as an operator would: the Secrets the pipeline names exist
        engine.fake.create(
            "v1", "secrets", engine.namespace, {"metadata": {"name": name}, "stringData": {"token": "t", "webhook-url": "u"}}
        )
    report = run_on(tmp_path / engine.backend, monkeypatch, compiled, RUN_ARGUMENTS.get(example, {}), engine.config(tmp_path / "c.yaml"))
    assert outcome(report) == reference, report.message
    (submitted,) = engine.objects()
    assert submitted["metadata"]["annotations"]["sluiceway.dev/run-id"] == report.run_id
    assert schema_errors(engine, submitted) == []


# --- faults -------------------------------------------------------------------------------------


@component
def fail_once(marker: str) -> str:
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text("failed once")
        raise RuntimeError("the first attempt fails")
    return "second time lucky"


@component
def echo(text: str) -> str:
    return text


@component
def always_fails() -> str:
    raise RuntimeError("broken for good")


@component
def wait(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return str(seconds)


@pipeline(name="flaky")
def flaky(marker: str) -> None:
    echo(text=fail_once(marker=marker).set_retry(1).output)


@pipeline(name="failing")
def failing() -> None:
    broken = always_fails()
    echo(text=broken.output)
    with dsl.ExitHandler(echo(text="finally"), name="guard"):
        echo(text="guarded")


@pipeline(name="slow")
def slow() -> None:
    echo(text=wait(seconds=30.0).set_timeout(1).output)


def test_a_retry_is_the_engines_next_pod_and_runs_the_next_attempt(
    engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = run_on(
        tmp_path / "home", monkeypatch, compile_pipeline(flaky), {"marker": str(tmp_path / "marker")}, engine.config(tmp_path / "c.yaml")
    )
    assert report.state == RunState.SUCCEEDED, report.message
    task = report.tasks["fail-once"]
    assert (task.state, task.attempts) == (TaskState.SUCCEEDED, 2)
    assert report.tasks["echo"].outputs["Output"].value == "second time lucky"


def test_a_failure_skips_its_dependants_and_the_run_fails(engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report: RunReport = run_on(tmp_path / "home", monkeypatch, compile_pipeline(failing), {}, engine.config(tmp_path / "c.yaml"))
    assert report.state == RunState.FAILED
    assert report.tasks["always-fails"].state == TaskState.FAILED
    assert report.tasks["always-fails"].error_kind == ErrorKind.COMPONENT_FAILED
    assert report.tasks["echo"].state == TaskState.SKIPPED
    assert report.tasks["echo-2"].state == TaskState.SUCCEEDED  # the exit task runs whatever happened (EXIT-1)


def test_an_attempt_past_its_timeout_ends_as_timeout(engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_on(tmp_path / "home", monkeypatch, compile_pipeline(slow), {}, engine.config(tmp_path / "c.yaml"))
    assert report.state == RunState.FAILED
    assert report.tasks["wait"].error_kind == ErrorKind.TIMEOUT, report.tasks["wait"].message
    assert report.tasks["echo"].state == TaskState.SKIPPED


@component
def double(number: int) -> int:
    return number * 2


@pipeline(name="doubling")
def doubling() -> None:
    double(number=double(number=21).output)


def test_credentials_reach_pods_through_a_run_secret_never_through_the_engine_object(
    engine: EngineCluster, moto_s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = Scratch(moto_s3)
    secret = "engine-secret-must-not-show"
    artifacts = {
        "url": place.uri("runs"),
        "endpoint": moto_s3.endpoint_url,
        "region": "us-east-1",
        "access_key_id": moto_s3.admin.access_key_id,
        "secret_access_key": secret,
    }
    config = engine.config(tmp_path / "c.yaml")
    settings = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**settings, "artifacts": artifacts}))
    report = run_on(tmp_path / "home", monkeypatch, compile_pipeline(doubling), {}, config)
    assert report.state == RunState.SUCCEEDED, report.message
    assert report.tasks["double-2"].outputs["Output"].value == 84
    (submitted,) = engine.objects()
    assert secret not in json.dumps(submitted)
    assert '"envFrom"' in json.dumps(submitted) and "credentials" in json.dumps(submitted)
    assert engine.fake.list("v1", "secrets", engine.namespace) == []  # removed when the run ended
    stored = place.keys()  # results, tickets and outputs went to S3
    assert any(key.endswith("/.sluiceway/result.json") for key in stored) and any("/.sluiceway/tickets/" in key for key in stored)


@component
def report_status(status: dsl.PipelineTaskFinalStatus) -> str:
    return status.state


@pipeline(name="cancellable")
def cancellable() -> None:
    with dsl.ExitHandler(report_status(), name="guard"):
        echo(text=wait(seconds=60.0).output)


def test_cancelling_stops_the_engine_object_and_the_exit_task_still_runs(
    engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CANCEL-2: running attempts are stopped, nothing new starts, exit tasks run (Argo `shutdown: Stop`, Tekton
    `CancelledRunFinally`, which still run exit handlers and `finally`)."""
    fake = engine.fake
    engines: list[Any] = []

    def running() -> bool:
        return bool(engines) and any(
            (pod.get("status") or {}).get("phase") == "Running" for pod in fake.list("v1", "pods", engine.namespace)
        )

    canceller = after(running, lambda: engines[0].cancel())
    report = run_on(
        tmp_path / "home", monkeypatch, compile_pipeline(cancellable), {}, engine.config(tmp_path / "c.yaml"), on_engine=engines.append
    )
    canceller.join()
    assert report.state == RunState.CANCELLED
    assert report.tasks["wait"].state == TaskState.CANCELLED
    assert report.tasks["echo"].state == TaskState.CANCELLED
    assert report.tasks["report-status"].state == TaskState.SUCCEEDED
    assert report.tasks["report-status"].outputs["Output"].value == "CANCELLED"
    (stopped,) = engine.objects()
    assert stopped["spec"].get("shutdown") == "Stop" or stopped["spec"].get("status") == "CancelledRunFinally"
    assert fake.pod_processes() == {}


@pipeline(name="flaky-once")
def flaky_once(marker: str) -> None:
    kept = echo(text="kept")
    echo(text=fail_once(marker=marker).after(kept).output)


def test_a_retried_run_is_a_new_engine_object_whose_kept_tasks_do_not_run_again(
    engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ST-12 on a workflow engine: the retry submits a second object; pods of the tasks kept from the first end at once."""
    from sluiceway.local import retry

    config = engine.config(tmp_path / "c.yaml")
    first = run_on(tmp_path / "home", monkeypatch, compile_pipeline(flaky_once), {"marker": str(tmp_path / "marker")}, config)
    assert first.state == RunState.FAILED
    again = retry(first.run_id)
    assert again.state == RunState.SUCCEEDED, again.message
    assert again.tasks["echo"].attempts == 1 and again.tasks["echo"].message == "kept from before the retry"
    assert again.tasks["fail-once"].attempts == 2
    assert again.tasks["echo-2"].outputs["Output"].value == "second time lucky"
    assert len(engine.objects()) == 2


@pipeline(name="inner")
def inner_pipeline(text: str) -> str:
    return echo(text=text).output


@pipeline(name="stopping")
def stopping() -> None:
    with dsl.ExitHandler(report_status(), name="guard"):
        with dsl.ParallelFor([1], name="each"):
            always_fails()
        inner_pipeline(text=wait(seconds=2.0).output)


def test_pods_of_instances_the_engine_never_created_end_and_the_exit_task_runs(
    engine: EngineCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAIL-2, GRP-3: after a failure, the nested pipeline is skipped without being started; the pods the workflow engine
    may still start inside it end unrun, and the exit task runs (EXIT-1)."""
    report = run_on(tmp_path / "home", monkeypatch, compile_pipeline(stopping), {}, engine.config(tmp_path / "c.yaml"))
    assert report.state == RunState.FAILED
    assert report.tasks["inner"].state == TaskState.SKIPPED
    assert report.tasks["report-status"].outputs["Output"].value == "FAILED"
    assert engine.fake.pod_processes() == {}
