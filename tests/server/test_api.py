"""The REST API as a client sees it, through HTTP (FastAPI's TestClient), on the embedded default (SQLite, local backend)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sluiceway import compiler, dsl
from sluiceway.core.serialize import dump_json, to_dict
from tests.conftest import REPO

QUICKSTART = (REPO / "tests" / "golden" / "quickstart.yaml").read_bytes()
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dsl.component
def shout(text: str) -> str:
    return text.upper()


@dsl.pipeline(name="shout")
def shout_pipeline(text: str = "hello"):
    shout(text=text)


@dsl.component
def nap(seconds: float) -> float:
    import time

    print("napping", flush=True)
    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="nap")
def nap_pipeline(seconds: float = 60.0):
    nap(seconds=seconds)


@dsl.component
def fails_until(path: str) -> str:
    import os

    if not os.path.exists(path):
        raise RuntimeError(f"{path} is not there yet")
    return path


@dsl.pipeline(name="flaky")
def flaky_pipeline(path: str = ""):
    shouted = shout(text="first")
    fails_until(path=path).after(shouted)


def spec(pipeline: Any) -> dict[str, Any]:
    return to_dict(compiler.compile_pipeline(pipeline))


def assert_problem(response: Any, status: int, *, type_: str = "about:blank") -> dict[str, Any]:
    """The response is RFC 9457 problem details with this status, and its body says so."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body) <= {"type", "title", "status", "detail", "instance", "errors"}
    assert body["status"] == status and body["type"] == type_ and body["detail"] and body["instance"] == response.request.url.path
    return body


def wait_for(client: Any, run_id: str, states: tuple[str, ...] = FINAL, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        if run["state"] in states or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def wait_until_napping(home: Path, run_id: str, timeout: float = 30) -> None:
    """Until the nap task's process is running its function (a process stopped before that is a launcher's race, not ours)."""
    log = home / "runs" / run_id / "logs" / "nap.log"
    deadline = time.monotonic() + timeout
    while not (log.exists() and "napping" in log.read_text()):
        assert time.monotonic() < deadline, f"the nap task did not start within {timeout} s"
        time.sleep(0.1)


def upload(client: Any, body: bytes = QUICKSTART, **params: str) -> Any:
    return client.post("/api/v1/pipelines/upload", content=body, params=params, headers={"content-type": "application/yaml"})


# --- pipelines ---------------------------------------------------------------------------------


def test_uploading_the_same_pipeline_twice_is_idempotent(client):
    first = upload(client)
    assert first.status_code == 201, first.text
    version = first.json()
    assert first.headers["location"] == f"/api/v1/pipelines/{version['pipeline_id']}/versions/{version['digest']}"
    again = upload(client)
    assert again.status_code == 200 and again.json() == version
    as_json = client.post("/api/v1/pipelines/upload", json=client.get(first.headers["location"]).json()["pipeline_spec"])
    assert as_json.status_code == 200 and as_json.json() == version  # the same content as JSON: the same version
    pipelines = client.get("/api/v1/pipelines").json()
    assert [p["name"] for p in pipelines["items"]] == ["quickstart"] and pipelines["next_page_token"] is None
    assert [v["digest"] for v in client.get(f"/api/v1/pipelines/{version['pipeline_id']}/versions").json()["items"]] == [version["digest"]]
    other = upload(client, dump_json(compiler.compile_pipeline(shout_pipeline)).encode(), name="quickstart")
    assert other.status_code == 201 and other.json()["pipeline_id"] == version["pipeline_id"] and other.json()["pipeline_name"] == "shout"


def test_pipelines_and_versions_are_got_and_deleted(client):
    version = upload(client, namespace="team-a", description="the quick start").json()
    pipeline = client.get(f"/api/v1/pipelines/{version['pipeline_id']}").json()
    assert pipeline["namespace"] == "team-a" and pipeline["description"] == "the quick start"
    detail = client.get(f"/api/v1/pipelines/{version['pipeline_id']}/versions/{version['digest']}").json()
    assert detail["pipeline_spec"]["name"] == "quickstart"
    assert client.get("/api/v1/pipelines").json()["items"] == []  # another namespace's
    assert client.delete(f"/api/v1/pipelines/{version['pipeline_id']}/versions/{version['digest']}").status_code == 204
    assert_problem(client.get(f"/api/v1/pipelines/{version['pipeline_id']}/versions/{version['digest']}"), 404)
    assert client.delete(f"/api/v1/pipelines/{version['pipeline_id']}").status_code == 204
    assert_problem(client.get(f"/api/v1/pipelines/{version['pipeline_id']}"), 404)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"kind: Pipeline\napiVersion: sluiceway.dev/v0\n", "apiVersion"),
        (b"{not yaml: [", "not valid YAML or JSON"),
        (QUICKSTART.replace(b"compute-mean", b"compute-mean-renamed", 1), "problem"),
    ],
)
def test_invalid_ir_is_refused_with_the_validators_message(client, body, detail):
    problem = assert_problem(upload(client, body), 422, type_="urn:sluiceway:problem:invalid-pipeline")
    assert detail in problem["detail"]
    assert client.get("/api/v1/pipelines").json()["items"] == []


# --- experiments -------------------------------------------------------------------------------


def test_an_experiment_lives_is_archived_and_deleted(client):
    made = client.post("/api/v1/experiments", json={"name": "tuning", "description": "learning rates"})
    assert made.status_code == 201, made.text
    experiment = made.json()
    assert experiment["archived"] is False and experiment["namespace"] == "default"
    assert client.get(made.headers["location"]).json() == experiment
    assert_problem(client.post("/api/v1/experiments", json={"name": "tuning"}), 409)
    archived = client.post(f"/api/v1/experiments/{experiment['id']}/archive")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert client.post(f"/api/v1/experiments/{experiment['id']}/archive").json()["archived"] is True
    refused = client.post("/api/v1/runs", json={"pipeline_spec": spec(shout_pipeline), "experiment": "tuning"})
    assert "is archived" in assert_problem(refused, 409)["detail"]
    assert [e["name"] for e in client.get("/api/v1/experiments", params={"filter": "archived = true"}).json()["items"]] == ["tuning"]
    assert client.post(f"/api/v1/experiments/{experiment['id']}/unarchive").json()["archived"] is False
    assert client.delete(f"/api/v1/experiments/{experiment['id']}").status_code == 204
    assert_problem(client.get(f"/api/v1/experiments/{experiment['id']}"), 404)
    assert_problem(client.delete(f"/api/v1/experiments/{experiment['id']}"), 404)


def test_an_experiment_with_runs_is_kept(client):
    run = client.post("/api/v1/runs", json={"pipeline_spec": spec(shout_pipeline), "experiment": "nightly"}).json()
    (experiment,) = client.get("/api/v1/experiments").json()["items"]  # made by the run, as KFP's client does
    assert experiment["name"] == "nightly" and run["experiment"] == "nightly"
    assert "archive it instead" in assert_problem(client.delete(f"/api/v1/experiments/{experiment['id']}"), 409)["detail"]
    wait_for(client, run["id"])


# --- runs --------------------------------------------------------------------------------------


def test_a_run_of_an_uploaded_version_runs_to_success(client):
    version = upload(client).json()
    made = client.post(
        "/api/v1/runs",
        json={"pipeline_version": {"pipeline_id": version["pipeline_id"], "digest": version["digest"]}, "parameters": {"size": 5}},
    )
    assert made.status_code == 201, made.text
    assert made.json()["state"] in ("PENDING", "RUNNING") and made.json()["parameters"] == {"size": 5}
    run = wait_for(client, made.json()["id"])
    assert run["state"] == "SUCCEEDED", run
    assert {task["task_id"]: task["state"] for task in run["tasks"]} == {
        "draw-sample": "SUCCEEDED",
        "compute-mean": "SUCCEEDED",
        "report": "SUCCEEDED",
    }
    assert run["finished_at"] is not None and run["pipeline_digest"] == version["digest"]


def test_an_inline_pipeline_runs_and_its_outputs_are_recorded(client):
    made = client.post("/api/v1/runs", json={"pipeline_spec": spec(shout_pipeline), "parameters": {"text": "hi"}}).json()
    run = wait_for(client, made["id"])
    assert run["state"] == "SUCCEEDED" and run["tasks"][0]["outputs"]["Output"] == {"value": "HI"}


def test_an_idempotency_key_makes_a_retried_create_return_the_same_run(client):
    body = {"pipeline_spec": spec(shout_pipeline), "parameters": {"text": "once"}, "idempotency_key": "retry-me"}
    first = client.post("/api/v1/runs", json=body)
    second = client.post("/api/v1/runs", json=body)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.headers["location"] == first.headers["location"]
    assert len(client.get("/api/v1/runs").json()["items"]) == 1
    reused = client.post("/api/v1/runs", json={**body, "parameters": {"text": "other"}})
    assert "use a new key" in assert_problem(reused, 409, type_="urn:sluiceway:problem:idempotency-key-reused")["detail"]
    elsewhere = client.post("/api/v1/runs", json={**body, "namespace": "team-b"})
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]  # keys are per namespace
    wait_for(client, first.json()["id"])
    wait_for(client, elsewhere.json()["id"])


def test_runs_are_listed_by_keyset_pages_with_filters_and_sort(client):
    ids = []
    for index in range(5):
        pipeline = shout_pipeline if index % 2 else nap_pipeline
        made = client.post(
            "/api/v1/runs", json={"pipeline_spec": spec(pipeline), "parameters": {"text": "x"} if index % 2 else {"seconds": 0}}
        )
        ids.append(made.json()["id"])
    seen, token = [], None
    while True:
        page = client.get("/api/v1/runs", params={"page_size": 2, **({"page_token": token} if token else {})}).json()
        seen.append([run["id"] for run in page["items"]])
        token = page["next_page_token"]
        if token is None:
            break
    assert [len(page) for page in seen] == [2, 2, 1] and [run for page in seen for run in page] == ids[::-1]  # newest first, each once
    shouts = client.get("/api/v1/runs", params={"filter": 'pipeline_name = "shout"', "order_by": "created_at asc"}).json()
    assert [run["id"] for run in shouts["items"]] == [ids[1], ids[3]]
    by_name = client.get("/api/v1/runs", params={"order_by": "pipeline_name desc", "page_size": 2}).json()
    assert [run["pipeline_name"] for run in by_name["items"]] == ["shout", "shout"]
    rest = client.get("/api/v1/runs", params={"order_by": "pipeline_name desc", "page_token": by_name["next_page_token"]}).json()
    assert [run["pipeline_name"] for run in rest["items"]] == ["nap"] * 3
    stale = client.get("/api/v1/runs", params={"order_by": "created_at", "page_token": by_name["next_page_token"]})
    assert assert_problem(stale, 400, type_="urn:sluiceway:problem:invalid-request")["errors"][0]["field"] == "page_token"
    for run_id in ids:
        wait_for(client, run_id)


def test_cancelling_a_running_run_stops_it_and_a_finished_one_is_a_conflict(client, home):
    run = client.post("/api/v1/runs", json={"pipeline_spec": spec(nap_pipeline)}).json()
    wait_until_napping(home, run["id"])
    cancelled = client.post(f"/api/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    ended = wait_for(client, run["id"], timeout=30)
    assert ended["state"] == "CANCELLED" and ended["tasks"][0]["state"] == "CANCELLED"
    problem = assert_problem(client.post(f"/api/v1/runs/{run['id']}/cancel"), 409)
    assert "is CANCELLED; only a pending or running run can be cancelled" in problem["detail"]


def test_retrying_a_failed_run_keeps_its_succeeded_tasks_and_only_an_ended_unsucceeded_run_can_be(client, tmp_path):
    marker = tmp_path / "ready"
    run = client.post("/api/v1/runs", json={"pipeline_spec": spec(flaky_pipeline), "parameters": {"path": str(marker)}}).json()
    failed = wait_for(client, run["id"])
    assert failed["state"] == "FAILED", failed
    marker.touch()
    retried = client.post(f"/api/v1/runs/{run['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["state"] in ("PENDING", "RUNNING", "SUCCEEDED")  # taken up: not the old FAILED a waiter would stop at
    ended = wait_for(client, run["id"])
    assert ended["state"] == "SUCCEEDED", ended
    attempts = {task["task_id"]: task["attempts"] for task in ended["tasks"]}
    assert attempts == {"shout": 1, "fails-until": 2}  # the succeeded task was kept, not run again
    problem = assert_problem(client.post(f"/api/v1/runs/{run['id']}/retry"), 409)
    assert "is SUCCEEDED; only a failed or cancelled run can be retried" in problem["detail"]


def test_an_archived_run_leaves_the_list_until_the_filter_asks_for_it(client):
    kept, archived = (client.post("/api/v1/runs", json={"pipeline_spec": spec(shout_pipeline)}).json() for _ in range(2))
    answer = client.post(f"/api/v1/runs/{archived['id']}/archive")
    assert answer.status_code == 200 and answer.json()["archived"] is True
    assert client.post(f"/api/v1/runs/{archived['id']}/archive").json()["archived"] is True  # twice is harmless
    assert client.get(f"/api/v1/runs/{archived['id']}").json()["archived"] is True
    assert [run["id"] for run in client.get("/api/v1/runs").json()["items"]] == [kept["id"]]
    only = client.get("/api/v1/runs", params={"filter": "archived = true"}).json()["items"]
    assert [(run["id"], run["archived"]) for run in only] == [(archived["id"], True)]
    every = client.get("/api/v1/runs", params={"filter": "archived != null", "order_by": "created_at asc"}).json()["items"]
    assert [run["id"] for run in every] == [kept["id"], archived["id"]]
    assert client.post(f"/api/v1/runs/{archived['id']}/unarchive").json()["archived"] is False
    assert len(client.get("/api/v1/runs").json()["items"]) == 2
    for run in (kept, archived):
        wait_for(client, run["id"])


def test_deleting_a_run_removes_it_and_its_tasks_and_an_unfinished_one_is_a_conflict(client, home):
    run = client.post("/api/v1/runs", json={"pipeline_spec": spec(nap_pipeline)}).json()
    wait_until_napping(home, run["id"])
    problem = assert_problem(client.delete(f"/api/v1/runs/{run['id']}"), 409)
    assert "only a run that has ended can be deleted" in problem["detail"]
    assert client.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 202
    assert wait_for(client, run["id"], timeout=30)["state"] == "CANCELLED"
    assert client.get(f"/api/v1/runs/{run['id']}/tasks/nap").status_code == 200
    assert client.delete(f"/api/v1/runs/{run['id']}").status_code == 204
    assert_problem(client.get(f"/api/v1/runs/{run['id']}"), 404)
    assert_problem(client.get(f"/api/v1/runs/{run['id']}/tasks/nap"), 404)
    assert client.get("/api/v1/runs", params={"filter": "archived != null"}).json()["items"] == []
    store = client.app.state.services.store
    assert store.tasks(run["id"]) == [] and store.attempts(run["id"], "nap") == []
    assert_problem(client.delete(f"/api/v1/runs/{run['id']}"), 404)


def test_unknown_ids_are_404(client):
    for path in ("/api/v1/runs/nope", "/api/v1/experiments/nope", "/api/v1/pipelines/nope", "/api/v1/pipelines/nope/versions"):
        assert "nope" in assert_problem(client.get(path), 404)["detail"]
    for path in ("cancel", "retry", "archive", "unarchive"):
        assert_problem(client.post(f"/api/v1/runs/nope/{path}"), 404)
    assert_problem(client.delete("/api/v1/runs/nope"), 404)
    assert_problem(client.get("/api/v1/no-such-thing"), 404)
    not_allowed = client.delete("/api/v1/runs")
    assert_problem(not_allowed, 405)
    assert not_allowed.headers["allow"] == "GET, POST"  # every route's methods on the path, not the first route's


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"pipeline_spec": {}, "paramters": {}}, "paramters", "unknown field"),
        ({"pipeline_version": {"pipeline_id": "p", "digest": "d", "name": "x"}}, "pipeline_version.name", "unknown field"),
        ({"pipeline_spec": "not a mapping"}, "pipeline_spec", "valid dictionary"),
        ({"pipeline_spec": {}, "parameters": [1]}, "parameters", "valid dictionary"),
        ({"pipeline_spec": {}, "namespace": "Not A Label"}, "namespace", "should match pattern"),
        ({"pipeline_spec": {}, "idempotency_key": ""}, "idempotency_key", "at least 1 character"),
        ({}, "pipeline_version", "exactly one of"),
        ({"pipeline_version": {"pipeline_id": "p", "digest": "d"}}, "pipeline_version", "no pipeline 'p'"),
    ],
)
def test_unknown_fields_and_wrong_types_name_the_field(client, body, field, message):
    problem = assert_problem(client.post("/api/v1/runs", json=body), 422, type_="urn:sluiceway:problem:invalid-request")
    (error,) = [error for error in problem["errors"] if error["field"] == field]
    assert message in error["message"] and field in problem["detail"]


def test_bad_parameters_and_bad_inline_ir_are_422(client):
    given = {"pipeline_spec": spec(shout_pipeline), "parameters": {"text": 5}}
    problem = assert_problem(client.post("/api/v1/runs", json=given), 422, type_="urn:sluiceway:problem:invalid-request")
    assert problem["errors"][0]["field"] == "parameters" and "parameter 'text'" in problem["errors"][0]["message"]
    broken = {**spec(shout_pipeline), "apiVersion": "v0"}
    refused = client.post("/api/v1/runs", json={"pipeline_spec": broken})
    assert "apiVersion" in assert_problem(refused, 422, type_="urn:sluiceway:problem:invalid-pipeline")["detail"]
    assert client.get("/api/v1/runs").json()["items"] == []


def test_unknown_query_parameters_and_malformed_json_are_refused(client):
    problem = assert_problem(client.get("/api/v1/runs", params={"pagesize": 5}), 422, type_="urn:sluiceway:problem:invalid-request")
    assert problem["errors"] == [{"field": "pagesize", "message": "unknown field"}]
    assert_problem(client.get("/api/v1/runs", params={"page_size": 0}), 422, type_="urn:sluiceway:problem:invalid-request")
    malformed = client.post("/api/v1/experiments", content=b'{"name": ', headers={"content-type": "application/json"})
    (error,) = assert_problem(malformed, 400, type_="urn:sluiceway:problem:invalid-request")["errors"]
    assert error["field"] == "body" and error["message"].startswith("not valid JSON")


def test_a_body_over_the_limit_is_413_and_the_server_keeps_serving(client):
    limit = 16 * 1024 * 1024
    assert "max_body_bytes" in assert_problem(upload(client, b"#" * (limit + 1)), 413)["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(17):
            yield b"#" * (1024 * 1024)

    assert_problem(client.post("/api/v1/pipelines/upload", content=chunks()), 413)
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "hostile",
    [
        "state = 'x'; DROP TABLE runs; --",
        "state = 'x' OR 1=1",
        'state = "x" UNION SELECT * FROM runs',
        "parameters = 'x'",
        "1 = 1",
        "state = 'x') OR ('1'='1",
    ],
)
def test_a_filter_that_tries_injection_is_refused(client, hostile):
    run = client.post("/api/v1/runs", json={"pipeline_spec": spec(shout_pipeline)}).json()
    problem = assert_problem(client.get("/api/v1/runs", params={"filter": hostile}), 400, type_="urn:sluiceway:problem:invalid-request")
    assert problem["errors"][0]["field"] == "filter"
    quoted = client.get("/api/v1/runs", params={"filter": "pipeline_name = 'x\\' OR \\'1\\'=\\'1'"})
    assert quoted.status_code == 200 and quoted.json()["items"] == []  # inside quotes it is only ever a value
    assert [r["id"] for r in client.get("/api/v1/runs").json()["items"]] == [run["id"]]  # and the table is whole
    wait_for(client, run["id"])


def test_an_unexpected_error_is_a_500_problem_that_tells_nothing_inside(client, monkeypatch, caplog):
    def broken(run_id: str) -> None:
        raise RuntimeError("/srv/secret/settings.yaml is gone")

    monkeypatch.setattr(client.app.state.services.store, "run_with_tasks", broken)
    problem = assert_problem(client.get("/api/v1/runs/any"), 500)
    assert "secret" not in problem["detail"] and "log" in problem["detail"]
    assert any("secret" in (record.exc_text or "") or record.exc_info for record in caplog.records)
    assert client.get("/healthz").status_code == 200


# --- operations --------------------------------------------------------------------------------


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_stopping_the_server_cancels_the_runs_in_flight(home):
    from fastapi.testclient import TestClient

    from sluiceway import config, local
    from sluiceway.server import create_app

    with TestClient(create_app(config.load()), raise_server_exceptions=False) as client:
        run = client.post("/api/v1/runs", json={"pipeline_spec": spec(nap_pipeline)}).json()
        wait_until_napping(home, run["id"])
        started = time.monotonic()
    assert time.monotonic() - started < 15  # the one-minute task was stopped, not waited for
    store = local.metadata_store()
    assert store.get_run(run["id"]).state == "CANCELLED"
    assert [task.state for task in store.tasks(run["id"])] == ["CANCELLED"]
