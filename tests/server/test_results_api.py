"""What runs leave, over the API (FastAPI's TestClient, SQLite): task details, logs, artifacts, lineage, and /metrics."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sluiceway import compiler, dsl
from tests.server.test_api import assert_problem, nap_pipeline, spec, wait_for, wait_until_napping


@dsl.component
def write_folder(folder: dsl.Output[dsl.Artifact], scores: dsl.Output[dsl.Metrics]):
    import os

    os.makedirs(folder.path)
    with open(os.path.join(folder.path, "a.txt"), "w") as out:
        out.write("a")
    scores.log_metric("files", 1)


@dsl.pipeline(name="folder")
def folder_pipeline():
    write_folder()


def run_to_end(client: Any, pipeline: Any, **parameters: Any) -> dict[str, Any]:
    made = client.post("/api/v1/runs", json={"pipeline_spec": spec(pipeline), "parameters": parameters})
    assert made.status_code == 201, made.text
    run = wait_for(client, made.json()["id"])
    assert run["state"] == "SUCCEEDED", run
    return run


def test_a_task_shows_its_attempts_outputs_and_metrics(client):
    run = run_to_end(client, folder_pipeline)
    task = client.get(f"/api/v1/runs/{run['id']}/tasks/write-folder").json()
    assert task["state"] == "SUCCEEDED" and task["metrics"] == {"scores": {"files": 1}}
    assert [(a["number"], a["end"], a["exit_code"]) for a in task["attempt_records"]] == [(1, "finished", 0)]
    assert_problem(client.get(f"/api/v1/runs/{run['id']}/tasks/nothing"), 404)
    assert_problem(client.get("/api/v1/runs/no-run/tasks/write-folder"), 404)


def test_logs_of_unknown_runs_and_tasks_are_404_and_no_path_leads_out_of_the_run(client):
    run = run_to_end(client, folder_pipeline)
    assert client.get(f"/api/v1/runs/{run['id']}/tasks/write-folder/logs").status_code == 200
    assert "no run 'no-run'" in assert_problem(client.get("/api/v1/runs/no-run/tasks/x/logs"), 404)["detail"]
    assert "has no task 'nothing'" in assert_problem(client.get(f"/api/v1/runs/{run['id']}/tasks/nothing/logs"), 404)["detail"]
    escape = client.get(f"/api/v1/runs/{run['id']}/tasks/..%2F..%2F..%2Fmetadata/logs")
    assert_problem(escape, 404)


def test_without_follow_a_running_task_s_log_is_what_exists_now(client, home):
    run_id = client.post("/api/v1/runs", json={"pipeline_spec": spec(nap_pipeline), "parameters": {"seconds": 60}}).json()["id"]
    wait_until_napping(home, run_id)
    started = time.monotonic()
    now = client.get(f"/api/v1/runs/{run_id}/tasks/nap/logs", params={"follow": "false"})
    assert now.status_code == 200 and now.text == "napping\n" and now.headers["content-type"].startswith("text/plain")
    assert time.monotonic() - started < 5
    client.post(f"/api/v1/runs/{run_id}/cancel")
    assert wait_for(client, run_id)["state"] == "CANCELLED"


def test_artifacts_metadata_content_and_lineage(client):
    run = run_to_end(client, folder_pipeline)
    outputs = client.get(f"/api/v1/runs/{run['id']}").json()["tasks"][0]["outputs"]
    folder, scores = outputs["folder"]["artifacts"][0]["uri"], outputs["scores"]["artifacts"][0]["uri"]
    record = client.get("/api/v1/artifacts", params={"uri": scores}).json()
    assert record["type"] == "Metrics" and record["events"] == [
        {"kind": "produced", "run_id": run["id"], "task_id": "write-folder", "name": "scores"}
    ]
    assert "is a folder" in assert_problem(client.get("/api/v1/artifacts/content", params={"uri": folder}), 409)["detail"]
    lineage = client.get(f"/api/v1/runs/{run['id']}/lineage").json()
    assert sorted(lineage["artifacts"]) == sorted([folder, scores])
    around = client.get("/api/v1/artifacts/lineage", params={"uri": scores}).json()
    assert around["upstream"] == [{"source": f"{run['id']}/write-folder", "target": scores}] and around["downstream"] == []
    for path in ("/api/v1/artifacts", "/api/v1/artifacts/content", "/api/v1/artifacts/lineage"):
        assert_problem(client.get(path, params={"uri": "file:///etc/passwd"}), 404)
    assert_problem(client.get("/api/v1/runs/no-run/lineage"), 404)


def test_an_artifact_whose_content_is_gone_is_404(client):
    run = run_to_end(client, folder_pipeline)
    scores = client.get(f"/api/v1/runs/{run['id']}").json()["tasks"][0]["outputs"]["scores"]["artifacts"][0]["uri"]
    os.remove(Path(scores.removeprefix("file://")))
    assert (
        "no longer in the artifact store" in assert_problem(client.get("/api/v1/artifacts/content", params={"uri": scores}), 404)["detail"]
    )


def test_metrics_count_requests_by_route_and_runs_by_state(client):
    run = run_to_end(client, folder_pipeline)
    client.get(f"/api/v1/runs/{run['id']}")
    client.get("/no/such/path")
    store = client.app.state.services.store
    store.create_run("queued-1", compiler.compile_pipeline(folder_pipeline), {})  # recorded, not started: the queue
    text = client.get("/metrics")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    lines = text.text.splitlines()
    assert 'sluiceway_runs{state="SUCCEEDED"} 1.0' in lines and 'sluiceway_runs{state="PENDING"} 1.0' in lines
    assert "sluiceway_queue_depth 1.0" in lines
    assert any(
        line.startswith('sluiceway_http_request_duration_seconds_count{method="GET",route="/api/v1/runs/{run_id}",status="200"}')
        for line in lines
    )
    assert any('route="unmatched",status="404"' in line for line in lines)  # one series for every unknown path
    assert not any(run["id"] in line for line in lines)  # templates, never ids
