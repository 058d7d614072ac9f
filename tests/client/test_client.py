"""sluiceway.Client against a real server over HTTP: the KFP-style flow, logs while a task runs, artifacts, errors."""

from __future__ import annotations

import hashlib
import time
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest

import sluiceway
from sluiceway import dsl
from sluiceway.client import ApiError, Client
from tests.conftest import REPO
from tests.test_import_cost import loaded_after

QUICKSTART = REPO / "tests" / "golden" / "quickstart.yaml"


@dsl.component
def measure(text: str, report: dsl.Output[dsl.Dataset], scores: dsl.Output[dsl.Metrics]) -> int:
    print(f"measuring {text}", flush=True)
    with open(report.path, "w") as out:
        out.write(text * 1000)
    scores.log_metric("length", len(text))
    return len(text)


@dsl.pipeline(name="measure")
def measure_pipeline(text: str = "abc"):
    measure(text=text)


@dsl.component
def ticker(count: int, pause: float) -> int:
    import time

    for tick in range(count):
        print(f"tick {tick}", flush=True)
        time.sleep(pause)
    return count


@dsl.pipeline(name="ticker")
def ticker_pipeline(count: int = 3, pause: float = 0.5):
    ticker(count=count, pause=pause)


@pytest.fixture
def client(live_server):
    with Client(live_server.address) as made:
        yield made


def test_the_kfp_flow_upload_run_wait_and_read_the_logs(client):
    experiment = client.create_experiment("client-flow", description="made by the client test")
    assert client.get_experiment(experiment_name="client-flow") == experiment == client.get_experiment(experiment.id)
    version = client.upload_pipeline(measure_pipeline, pipeline_name="measure")
    assert client.upload_pipeline(measure_pipeline, pipeline_name="measure") == version  # the same content: one version
    assert client.upload_pipeline_version(QUICKSTART, pipeline_id=version.pipeline_id).pipeline_id == version.pipeline_id
    assert [p.name for p in client.list_pipelines(filter='name = "measure"').items] == ["measure"]

    run = client.run_pipeline(version.pipeline_id, version.digest, {"text": "hello"}, experiment_name="client-flow")
    done = client.wait_for_run_completion(run.run_id, timeout=120)
    assert done.state == "SUCCEEDED" and done.experiment == "client-flow"
    assert [task.task_id for task in done.tasks] == ["measure"] and done.tasks[0].outputs["Output"]["value"] == 5
    assert "".join(client.get_run_logs(run.id, "measure")) == "measuring hello\n"
    assert client.get_task(run.id, "measure").metrics == {"scores": {"length": 5}}
    assert run.id in [r.id for r in client.list_runs(experiment_name="client-flow").items]


def test_runs_from_a_function_and_from_a_package(client):
    from_function = client.create_run_from_pipeline_func(measure_pipeline, arguments={"text": "xy"})
    from_package = client.create_run_from_pipeline_package(QUICKSTART, arguments={"size": 3})
    assert client.wait_for_run_completion(from_function.id, timeout=120).state == "SUCCEEDED"
    assert client.wait_for_run_completion(from_package.id, timeout=120).state == "SUCCEEDED"


def test_a_followed_log_shows_lines_while_the_task_runs_and_ends_with_it(client):
    run = client.create_run_from_pipeline_func(ticker_pipeline, arguments={"count": 6, "pause": 0.5})
    deadline = time.monotonic() + 60
    while not any(task.state == "RUNNING" for task in client.get_run(run.id).tasks):
        assert time.monotonic() < deadline, "the task did not start"
        time.sleep(0.1)
    pieces = client.get_run_logs(run.id, "ticker")
    seen = ""
    while "tick 1" not in seen:
        seen += next(pieces)
    assert client.get_run(run.id).state == "RUNNING"  # the first lines came while the task was still running
    seen += "".join(pieces)  # and the stream ends once the task has
    assert seen == "".join(f"tick {n}\n" for n in range(6))
    assert client.get_run(run.id).tasks[0].state == "SUCCEEDED"


def test_an_artifact_downloads_with_the_digest_its_producer_recorded(client, tmp_path):
    run = client.wait_for_run_completion(client.create_run_from_pipeline_func(measure_pipeline, arguments={"text": "z"}).id, timeout=120)
    uri = run.tasks[0].outputs["report"]["artifacts"][0]["uri"]
    artifact = client.get_artifact(uri)
    assert artifact.type == "Dataset" and [(e["kind"], e["task_id"]) for e in artifact.events] == [("produced", "measure")]
    written = client.download_artifact(uri, tmp_path / "report.txt")
    assert written.read_text() == "z" * 1000
    assert artifact.digest == f"sha256:{hashlib.sha256(written.read_bytes()).hexdigest()}"
    lineage = client.get_run_lineage(run.id)
    assert {"source": f"{run.id}/measure", "target": uri} in lineage["edges"]


def test_errors_carry_the_problem_details(client, live_server):
    with pytest.raises(ApiError) as unknown:
        client.get_run("no-such-run")
    assert (unknown.value.status, unknown.value.title, unknown.value.detail) == (404, "Not Found", "no run 'no-such-run'")
    with pytest.raises(ApiError, match="404"):
        list(client.get_run_logs("no-such-run", "task"))
    with pytest.raises(ApiError, match="no artifact recorded at file:///etc/passwd"):
        client.download_artifact("file:///etc/passwd", "/dev/null")
    client.create_experiment("twice")
    with pytest.raises(ApiError) as taken:
        client.create_experiment("twice")
    assert taken.value.status == 409
    with pytest.raises(ApiError) as invalid:
        client.create_run_from_pipeline_func(measure_pipeline, arguments={"txt": "a"})
    assert invalid.value.status == 422 and invalid.value.errors[0].field == "parameters"
    with pytest.raises(ApiError) as unreachable, Client("http://127.0.0.1:1") as nowhere:
        nowhere.list_runs()
    assert unreachable.value.status == 0 and "cannot reach" in str(unreachable.value)


def test_waiting_times_out_and_a_run_is_cancelled_once(client):
    run = client.create_run_from_pipeline_func(ticker_pipeline, arguments={"count": 600, "pause": 0.1})
    with pytest.raises(TimeoutError, match="still"):
        client.wait_for_run_completion(run.id, timeout=0.5, sleep_duration=0.1)
    client.cancel_run(run.id)
    assert client.wait_for_run_completion(run.id, timeout=60).state == "CANCELLED"
    with pytest.raises(ApiError) as again:
        client.terminate_run(run.id)
    assert again.value.status == 409


def test_the_token_is_sent_as_a_bearer_token_and_a_non_problem_error_is_still_clear():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(502, text="<html>Bad gateway</html>\n...")

    with (
        Client("http://sluiceway.test", token="slw_secret", transport=httpx.MockTransport(answer)) as client,
        pytest.raises(ApiError) as error,
    ):
        client.list_experiments()
    assert seen == ["Bearer slw_secret"]
    assert (error.value.status, error.value.detail) == (502, "<html>Bad gateway</html>")


def test_the_host_and_token_come_from_the_configuration(tmp_path, monkeypatch):
    settings = tmp_path / "sluiceway.yaml"
    settings.write_text("client: {host: 'http://configured.test:8888', token: from-file}\n")
    monkeypatch.setenv("SLUICEWAY_CONFIG", str(settings))
    monkeypatch.delenv("SLUICEWAY_TOKEN", raising=False)
    seen = []
    transport = httpx.MockTransport(
        lambda request: (
            seen.append((str(request.url), request.headers["authorization"]))
            or httpx.Response(200, json={"items": [], "next_page_token": None})
        )
    )
    Client(transport=transport).list_runs()
    monkeypatch.setenv("SLUICEWAY_TOKEN", "from-env")
    Client(transport=transport).list_runs()
    assert [(url.split("?")[0], token) for url, token in seen] == [
        ("http://configured.test:8888/api/v1/runs", "Bearer from-file"),
        ("http://configured.test:8888/api/v1/runs", "Bearer from-env"),
    ]


def test_sluiceway_client_is_imported_only_when_used():
    modules = loaded_after("import sluiceway")
    assert "sluiceway.client" not in modules and "httpx2" not in modules
    assert "sluiceway.client.client" in loaded_after("import sluiceway; sluiceway.Client")
    assert sluiceway.Client is Client


def test_recurring_runs_are_made_listed_disabled_enabled_and_deleted(client):
    version = client.upload_pipeline(measure_pipeline, pipeline_name="measure")
    made = client.create_recurring_run(
        "weekday-mornings",
        version.pipeline_id,
        version.digest,
        cron_expression="0 9 * * 1-5",
        timezone="Europe/Berlin",
        params={"text": "hello"},
        max_concurrency=2,
    )
    assert made.enabled and made.trigger["cron"] == "0 9 * * 1-5" and made.parameters == {"text": "hello"}
    assert made.next_fire_at is not None and made.next_fire_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 9
    assert client.get_recurring_run(made.id) == made
    assert [r.id for r in client.list_recurring_runs(filter='name = "weekday-mornings"').items] == [made.id]
    assert not client.disable_recurring_run(made.id).enabled
    assert client.enable_recurring_run(made.id).enabled
    with pytest.raises(ApiError) as bad:
        client.create_recurring_run("bad", version.pipeline_id, version.digest, cron_expression="0 9 * *", timezone="Nowhere/Else")
    assert bad.value.status == 422 and {problem.field for problem in bad.value.errors} == {"trigger.cron", "trigger.timezone"}
    client.delete_recurring_run(made.id)
    with pytest.raises(ApiError) as gone:
        client.get_recurring_run(made.id)
    assert gone.value.status == 404


def test_a_run_is_archived_unarchived_and_deleted_and_only_an_unsucceeded_one_retried(client):
    run = client.create_run_from_pipeline_func(measure_pipeline, arguments={"text": "keep"})
    assert client.wait_for_run_completion(run.id, timeout=60).state == "SUCCEEDED"
    with pytest.raises(ApiError) as retried:
        client.retry_run(run.id)
    assert retried.value.status == 409 and "is SUCCEEDED" in str(retried.value)
    assert client.archive_run(run.id).archived is True
    assert run.id not in [listed.id for listed in client.list_runs().items]
    assert [listed.id for listed in client.list_runs(filter="archived = true").items] == [run.id]
    assert client.unarchive_run(run.id).archived is False and client.get_run(run.id).archived is False
    client.delete_run(run.id)
    with pytest.raises(ApiError) as gone:
        client.get_run(run.id)
    assert gone.value.status == 404
