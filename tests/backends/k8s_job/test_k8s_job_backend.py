"""The k8s_job backend end to end: the examples give what they give locally, and faults end in the documented state.

Through the official client against tests/fake_kubernetes (a test double, see its docstring), or a real cluster with
`pytest -m real_cluster` (see conftest.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from sluiceway.compiler import compile_pipeline, load_pipeline_from_file
from sluiceway.core import ir
from sluiceway.core.lifecycle import ErrorKind, RunState, TaskState
from sluiceway.dsl import component, pipeline
from sluiceway.engine.engine import RunReport
from tests.backends.k8s_job.conftest import Cluster
from tests.backends.outcomes import after, outcome, run_on, secrets_named
from tests.conftest import EXAMPLES
from tests.s3_servers import S3Server, Scratch
from tests.test_examples import RUN_ARGUMENTS

BATCH = "batch/v1"
pytestmark = pytest.mark.filterwarnings("ignore::sluiceway.local.SettingIgnoredHere")


EXAMPLE_NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py"))


@pytest.mark.real_cluster
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_every_example_gives_on_jobs_what_it_gives_locally(example: str, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    compiled = compile_pipeline(load_pipeline_from_file(str(EXAMPLES / f"{example}.py")))
    arguments = RUN_ARGUMENTS.get(example, {})
    local = run_on(tmp_path / "local", monkeypatch, compiled, arguments)
    if cluster.fake is not None:  # as an operator would: the Secrets the pipeline names exist (a pod waits for a missing one)
        for name in secrets_named(compiled):
            cluster.fake.create(
                "v1", "secrets", cluster.namespace, {"metadata": {"name": name}, "stringData": {"token": "t", "webhook-url": "u"}}
            )
    on_jobs = run_on(tmp_path / "k8s", monkeypatch, compiled, arguments, cluster.config(tmp_path / "k8s.yaml"))
    assert local.state == RunState.SUCCEEDED
    assert outcome(on_jobs) == outcome(local)
    if cluster.fake is not None:  # every attempt was a Job, labelled with its run, as valid as Kubernetes' schemas ask
        jobs = cluster.fake.list(BATCH, "jobs", cluster.namespace)
        attempts = sum(task.attempts for task in on_jobs.tasks.values() if isinstance(task.node, ir.Task))
        assert len(jobs) == attempts
        assert all(job["metadata"]["annotations"]["sluiceway.dev/run-id"] == on_jobs.run_id for job in jobs)
        for job in jobs:
            kubernetes_validate.validate(job, "1.31.0", strict=True)


# A small pipeline for the faults: values flow, one task takes a while.


@component
def produce(seconds: float) -> int:
    import time

    print("producing", flush=True)
    time.sleep(seconds)
    return 21


@component
def double(number: int) -> int:
    print(f"doubling {number}", flush=True)
    return number * 2


@pipeline(name="doubling")
def doubling(seconds: float = 0.0) -> None:
    double(number=produce(seconds=seconds).output)


@component
def fail_once(marker: str) -> str:
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text("failed once")
        raise RuntimeError("the first attempt fails")
    return "second time lucky"


@pipeline(name="flaky")
def flaky(marker: str) -> None:
    fail_once(marker=marker).set_retry(1, backoff_duration=0.1)


@pipeline(name="stuck")
def stuck() -> None:
    double(number=produce(seconds=0.0).set_timeout(2).output)


@component
def measure(text: str) -> int:
    return len(text)


@pipeline(name="large-input")
def large_input(text: str) -> None:
    measure(text=text)


def compiled(definition: Any) -> ir.Pipeline:
    return compile_pipeline(definition)


def values(report: RunReport) -> dict[str, Any]:
    return {task_id: {name: binding.value for name, binding in task.outputs.items()} for task_id, task in report.tasks.items()}


@pytest.mark.real_cluster
def test_a_retried_task_gets_a_job_per_attempt_and_its_logs_are_kept(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    report = run_on(
        tmp_path / "home", monkeypatch, compiled(flaky), {"marker": str(tmp_path / "marker")}, cluster.config(tmp_path / "c.yaml")
    )
    assert report.state == RunState.SUCCEEDED
    task = report.tasks["fail-once"]
    assert task.attempts == 2 and task.outputs["Output"].value == "second time lucky"
    if cluster.fake is not None:
        attempts = sorted(job["metadata"]["labels"]["sluiceway.dev/attempt"] for job in cluster.fake.list(BATCH, "jobs", cluster.namespace))
        assert attempts == ["1", "2"]
    log = (tmp_path / "home" / "runs" / report.run_id / "logs" / "fail-once.log").read_text()
    assert "the first attempt fails" in log  # the first attempt's log, followed from its pod
    kept = tmp_path / "home" / "artifacts" / report.run_id / "fail-once" / "1" / ".sluiceway" / "log.txt"
    assert "the first attempt fails" in kept.read_text()  # and copied to the artifact store, where it outlives the pod


def test_a_task_spec_too_large_for_the_environment_reaches_the_pod_through_the_artifact_store(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    text = "x" * (200 * 1024)  # Linux takes at most 128 KiB per environment string
    report = run_on(tmp_path / "home", monkeypatch, compiled(large_input), {"text": text}, cluster.config(tmp_path / "c.yaml"))
    assert report.state == RunState.SUCCEEDED and values(report)["measure"] == {"Output": len(text)}
    if cluster.fake is not None:
        (job,) = cluster.fake.list(BATCH, "jobs", cluster.namespace)
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert "--spec-uri" in container["command"] and len(json.dumps(container["env"])) < 4096


def test_the_watch_cut_mid_run_is_resumed(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = cluster.fake
    assert fake is not None
    cutter = after(lambda: any(_phase(pod) == "Running" for pod in fake.list("v1", "pods", cluster.namespace)), fake.cut_watches)
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {"seconds": 1.0}, cluster.config(tmp_path / "c.yaml"))
    cutter.join()
    assert report.state == RunState.SUCCEEDED and values(report)["double"] == {"Output": 42}
    resumed = [r for r in fake.requests if r.watch and "resourceVersion" in r.query and r.query["resourceVersion"] not in ("", "0")]
    assert resumed, "the watch resumed from a resourceVersion"


def test_an_expired_resource_version_is_listed_again(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = cluster.fake
    assert fake is not None

    def expire() -> None:  # a change the run's watch does not see, then compaction: its last resourceVersion is gone
        fake.create("v1", "configmaps", cluster.namespace, {"metadata": {"name": "unrelated"}, "data": {}})
        fake.compact()
        fake.cut_watches()

    cutter = after(lambda: any(_phase(pod) == "Running" for pod in fake.list("v1", "pods", cluster.namespace)), expire)
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {"seconds": 1.0}, cluster.config(tmp_path / "c.yaml"))
    cutter.join()
    assert report.state == RunState.SUCCEEDED and values(report)["double"] == {"Output": 42}
    job_lists = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/jobs") and not r.watch]
    assert len(job_lists) >= 2  # the first list, and the one after 410 Gone
    assert any(r.watch and r.status == 200 and r.query.get("resourceVersion") for r in fake.requests)


def test_a_job_deleted_by_someone_else_fails_its_task_as_lost(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = cluster.fake
    assert fake is not None

    def delete_produce() -> None:
        (job,) = [j for j in fake.list(BATCH, "jobs", cluster.namespace) if j["metadata"]["labels"]["sluiceway.dev/task"] == "produce"]
        fake.delete(BATCH, "jobs", cluster.namespace, job["metadata"]["name"])

    deleter = after(lambda: any(_phase(pod) == "Running" for pod in fake.list("v1", "pods", cluster.namespace)), delete_produce)
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {"seconds": 30.0}, cluster.config(tmp_path / "c.yaml"))
    deleter.join()
    task = report.tasks["produce"]
    assert report.state == RunState.FAILED
    assert (task.state, task.error_kind) == (TaskState.FAILED, ErrorKind.LOST)
    assert "was deleted before it ended" in task.message
    assert report.tasks["double"].state == TaskState.SKIPPED
    assert fake.pod_processes() == {}  # its pod was stopped too


def test_a_pod_that_never_starts_fails_at_the_task_timeout(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = cluster.fake
    assert fake is not None
    fake.fail_image_pull("registry.invalid/missing:1")
    start = time.monotonic()
    config = cluster.config(tmp_path / "c.yaml", image="registry.invalid/missing:1")
    report = run_on(tmp_path / "home", monkeypatch, compiled(stuck), {}, config)
    task = report.tasks["produce"]
    assert report.state == RunState.FAILED
    assert (task.state, task.error_kind) == (TaskState.FAILED, ErrorKind.TIMEOUT)
    assert time.monotonic() - start < 30


def test_a_pod_that_never_starts_without_a_timeout_ends_as_a_launch_failure(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = cluster.fake
    assert fake is not None
    fake.fail_image_pull("registry.invalid/missing:1")
    config = cluster.config(tmp_path / "c.yaml", image="registry.invalid/missing:1", options={"start_timeout_seconds": 1.0})
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {}, config)
    task = report.tasks["produce"]
    assert (report.state, task.state, task.error_kind) == (RunState.FAILED, TaskState.FAILED, ErrorKind.LAUNCH_FAILED)
    assert "never started: ErrImagePull" in task.message or "never started: ImagePullBackOff" in task.message
    assert fake.list(BATCH, "jobs", cluster.namespace) == []  # its Job was removed


def test_an_api_server_failing_for_a_while_delays_the_run_and_loses_nothing(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = cluster.fake
    assert fake is not None
    fake.fail_requests(4, status=500)  # the first requests (creating the first Job, listing, watching) fail, however slow the start
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {}, cluster.config(tmp_path / "c.yaml"))
    assert report.state == RunState.SUCCEEDED and values(report)["double"] == {"Output": 42}
    assert any(r.status == 500 for r in fake.requests)
    assert len(fake.list(BATCH, "jobs", cluster.namespace)) == 2  # one Job per task: a retried create made no second one


def test_cancelling_deletes_the_runs_jobs_and_the_run_ends_cancelled(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = cluster.fake
    assert fake is not None
    engines: list[Any] = []
    canceller = after(
        lambda: engines and any(_phase(pod) == "Running" for pod in fake.list("v1", "pods", cluster.namespace)), lambda: engines[0].cancel()
    )
    report = run_on(
        tmp_path / "home", monkeypatch, compiled(doubling), {"seconds": 60.0}, cluster.config(tmp_path / "c.yaml"), on_engine=engines.append
    )
    canceller.join()
    assert report.state == RunState.CANCELLED
    assert report.tasks["produce"].state == TaskState.CANCELLED
    assert fake.list(BATCH, "jobs", cluster.namespace) == []
    assert fake.pod_processes() == {}
    deletes = [r for r in fake.requests if r.method == "DELETE" and "/jobs/" in r.path]
    assert deletes and all(r.query.get("propagationPolicy") == "Background" for r in deletes)


def test_a_job_its_ttl_deletes_while_no_watch_is_open_still_counts(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The TTL race (backend-semantics.md 3.1): the Job ends and is deleted while the watch is down; its stored result
    says how it ended."""
    fake = cluster.fake
    assert fake is not None

    def lose_sight() -> None:  # no watch or list of Jobs for 3 s, while `produce` ends and its TTL of 0 s deletes it
        fake.fail_for(3.0, status=503, path_contains="/jobs", method="GET")
        fake.cut_watches()
        # Then the history is compacted: the watch cannot resume, and the list it makes instead lacks the Job.
        after(lambda: not fake.list(BATCH, "jobs", cluster.namespace), fake.compact).join()

    cutter = after(lambda: any(_phase(pod) == "Running" for pod in fake.list("v1", "pods", cluster.namespace)), lose_sight)
    config = cluster.config(tmp_path / "c.yaml", ttl_seconds_after_finished=0)
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {"seconds": 1.0}, config)
    cutter.join()
    assert report.state == RunState.SUCCEEDED and values(report)["double"] == {"Output": 42}
    assert report.tasks["produce"].attempts == 1
    assert any(r.status == 503 for r in fake.requests)
    gone = [r for r in fake.requests if r.method == "GET" and "/jobs/" in r.path and r.status == 404]
    assert gone, "the list after the outage lacked the Job, and asking for it found it gone"


def test_the_cli_runs_on_jobs_with_backend_from_the_command_line(cluster: Cluster, tmp_path: Path, cli: Any):
    config = cluster.config(tmp_path / "c.yaml")
    env = {"SLUICEWAY_HOME": str(tmp_path / "home"), "SLUICEWAY_CONFIG": str(config)}
    result = cli("run", "--backend", "k8s_job", str(EXAMPLES / "quickstart.py"), env=env)
    assert result.returncode == 0, result.stderr
    assert cluster.fake is not None and cluster.fake.list(BATCH, "jobs", cluster.namespace)
    # The same file, another backend for one run: the section's settings stay with the backend it names.
    local = cli("run", "--backend", "local", str(EXAMPLES / "quickstart.py"), env=env)
    assert local.returncode == 0, local.stderr


def test_credentials_reach_pods_through_a_secret_never_through_the_job(
    cluster: Cluster, moto_s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = cluster.fake
    assert fake is not None
    place = Scratch(moto_s3)
    secret = "k8s-job-secret-must-not-show"
    artifacts = {
        "url": place.uri("runs"),
        "endpoint": moto_s3.endpoint_url,
        "region": "us-east-1",
        "access_key_id": moto_s3.admin.access_key_id,
        "secret_access_key": secret,
    }
    secrets_seen: list[dict[str, Any]] = []
    watcher = after(
        lambda: fake.list("v1", "secrets", cluster.namespace), lambda: secrets_seen.extend(fake.list("v1", "secrets", cluster.namespace))
    )
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {}, cluster.config(tmp_path / "c.yaml", artifacts=artifacts))
    watcher.join()
    assert report.state == RunState.SUCCEEDED and values(report)["double"] == {"Output": 42}
    jobs = fake.list(BATCH, "jobs", cluster.namespace)
    assert jobs and all(secret not in json.dumps(job) for job in jobs)
    (made,) = secrets_seen
    kubernetes_validate.validate(made, "1.31.0", strict=True)
    assert {"secretRef": {"name": made["metadata"]["name"]}} in jobs[0]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert fake.list("v1", "secrets", cluster.namespace) == []  # removed when the run ended
    assert place.keys()  # the outputs went to S3


def test_api_requests_per_task_stay_few_and_nothing_polls(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = cluster.fake
    assert fake is not None
    report = run_on(tmp_path / "home", monkeypatch, compiled(doubling), {"seconds": 2.0}, cluster.config(tmp_path / "c.yaml"))
    assert report.state == RunState.SUCCEEDED
    watches = [r for r in fake.requests if r.watch]
    per_task = [r for r in fake.requests if not r.watch and not (r.method == "GET" and r.path.endswith("/jobs"))]
    assert len(per_task) <= 5 * 2, [f"{r.method} {r.path}" for r in per_task]
    assert len(watches) <= 2  # one watch, resumed at most once in a run of a few seconds


def _phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase", "")
