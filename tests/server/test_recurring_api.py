"""Recurring runs through the REST API: made, listed, fired by the server's scheduler, disabled, enabled, deleted."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.server.test_api import assert_problem, upload

INVALID = "urn:sluiceway:problem:invalid-request"


@pytest.fixture
def fast_client(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server whose scheduler ticks ten times a second."""
    from fastapi.testclient import TestClient

    from sluiceway import config
    from sluiceway.server import create_app, scheduler

    monkeypatch.setattr(scheduler, "TICK_SECONDS", 0.1)
    with TestClient(create_app(config.load()), raise_server_exceptions=False) as test_client:
        yield test_client


def body(client: Any, **overrides: Any) -> dict[str, Any]:
    version = upload(client).json()
    return {
        "name": "every-second",
        "pipeline_version": {"pipeline_id": version["pipeline_id"], "digest": version["digest"]},
        "trigger": {"interval_seconds": 1},
        **overrides,
    }


def fired(client: Any, recurring_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = client.get("/api/v1/runs", params={"page_size": 1000}).json()["items"]
    return [run for run in runs if (run["idempotency_key"] or "").startswith(f"recurring:{recurring_id}:")]


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)


def test_a_recurring_run_fires_until_disabled_and_again_once_enabled(fast_client):
    client = fast_client
    made = client.post("/api/v1/recurring-runs", json=body(client, max_concurrency=10, experiment="nightly"))
    assert made.status_code == 201, made.text
    recurring = made.json()
    assert made.headers["location"] == f"/api/v1/recurring-runs/{recurring['id']}"
    assert recurring["enabled"] is True and recurring["trigger"] == {"cron": None, "timezone": "UTC", "interval_seconds": 1}
    wait_until(lambda: len(fired(client, recurring["id"])) >= 2)
    runs = fired(client, recurring["id"])
    assert len({run["idempotency_key"] for run in runs}) == len(runs) and {run["experiment"] for run in runs} == {"nightly"}

    disabled = client.post(f"/api/v1/recurring-runs/{recurring['id']}/disable")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    time.sleep(0.3)  # a tick under way when it was disabled may still finish its firing
    count = len(fired(client, recurring["id"]))
    time.sleep(2.5)
    assert len(fired(client, recurring["id"])) == count  # disabled: no more firings

    enabled = client.post(f"/api/v1/recurring-runs/{recurring['id']}/enable").json()
    assert enabled["enabled"] is True and enabled["next_fire_at"] > disabled.json()["updated_at"]
    wait_until(lambda: len(fired(client, recurring["id"])) > count)
    assert client.get(f"/api/v1/recurring-runs/{recurring['id']}").json()["name"] == "every-second"
    assert client.delete(f"/api/v1/recurring-runs/{recurring['id']}").status_code == 204
    assert_problem(client.get(f"/api/v1/recurring-runs/{recurring['id']}"), 404)
    assert fired(client, recurring["id"])  # its runs are kept


def test_recurring_runs_are_listed_by_the_shared_page_scheme(client):
    for name in ("b-weekly", "a-daily", "c-hourly"):
        made = client.post(
            "/api/v1/recurring-runs", json=body(client, name=name, trigger={"cron": "0 9 * * *", "timezone": "Europe/Berlin"})
        )
        assert made.status_code == 201, made.text
    first = client.get("/api/v1/recurring-runs", params={"order_by": "name", "page_size": 2}).json()
    assert [r["name"] for r in first["items"]] == ["a-daily", "b-weekly"]
    rest = client.get("/api/v1/recurring-runs", params={"order_by": "name", "page_size": 2, "page_token": first["next_page_token"]})
    assert [r["name"] for r in rest.json()["items"]] == ["c-hourly"] and rest.json()["next_page_token"] is None
    filtered = client.get("/api/v1/recurring-runs", params={"filter": 'name = "a-daily" AND enabled = true'}).json()["items"]
    assert [r["name"] for r in filtered] == ["a-daily"]
    assert_problem(client.post("/api/v1/recurring-runs", json=body(client, name="a-daily")), 409)


@pytest.mark.parametrize(
    ("trigger", "field", "words"),
    [
        ({"cron": "every day at nine"}, "trigger.cron", "not a cron expression"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "trigger.timezone", "not an IANA time zone"),
        ({}, "trigger.cron", "exactly one of cron and interval_seconds"),
        ({"cron": "0 9 * * *", "interval_seconds": 60}, "trigger.interval_seconds", "exactly one"),
        ({"interval_seconds": 0}, "trigger.interval_seconds", "greater than or equal to 1"),
    ],
)
def test_a_bad_trigger_is_422_naming_the_field(client, trigger, field, words):
    problem = assert_problem(client.post("/api/v1/recurring-runs", json=body(client, trigger=trigger)), 422, type_=INVALID)
    assert any(error["field"] == field and words in error["message"] for error in problem["errors"]), problem


def test_bad_references_parameters_and_times_are_422(client):
    unknown = body(client, pipeline_version={"pipeline_id": "nope", "digest": "sha256:0"})
    problem = assert_problem(client.post("/api/v1/recurring-runs", json=unknown), 422, type_=INVALID)
    assert problem["errors"][0]["field"] == "pipeline_version"
    problem = assert_problem(client.post("/api/v1/recurring-runs", json=body(client, parameters={"nope": 1})), 422, type_=INVALID)
    assert problem["errors"][0]["field"] == "parameters"
    backwards = body(client, start_at="2026-12-02T00:00:00Z", end_at="2026-12-01T00:00:00Z")
    problem = assert_problem(client.post("/api/v1/recurring-runs", json=backwards), 422, type_=INVALID)
    assert problem["errors"][0]["field"] == "end_at"


def test_no_firing_is_missed_or_doubled_across_a_restart(home, monkeypatch):
    """With catch-up, the times that passed while the server was down fire after it starts again, each once."""
    from fastapi.testclient import TestClient

    from sluiceway import config
    from sluiceway.server import create_app, scheduler

    def caught_up(client: Any, recurring_id: str) -> bool:
        next_time = client.get(f"/api/v1/recurring-runs/{recurring_id}").json()["next_fire_at"]
        return datetime.fromisoformat(next_time.replace("Z", "+00:00")) > datetime.now(timezone.utc)

    monkeypatch.setattr(scheduler, "TICK_SECONDS", 0.1)
    with TestClient(create_app(config.load()), raise_server_exceptions=False) as client:
        made = client.post("/api/v1/recurring-runs", json=body(client, catch_up=True, max_concurrency=50)).json()
        wait_until(lambda: len(fired(client, made["id"])) >= 1)
    time.sleep(2.5)  # the server is down: two or three times pass
    with TestClient(create_app(config.load()), raise_server_exceptions=False) as client:
        wait_until(lambda: caught_up(client, made["id"]))
        keys = sorted(run["idempotency_key"] for run in fired(client, made["id"]))
    times = [datetime.fromisoformat(key.split(":", 2)[2]) for key in keys]
    assert len(times) >= 3 and len(set(keys)) == len(keys)  # one before the stop, two or more due while it was down
    assert all(later - earlier == timedelta(seconds=1) for earlier, later in itertools.pairwise(times))  # none missed
