"""Namespaces and access, as a client sees them: 401 without valid credentials, a namespace's records out of sight of
every other namespace's tokens (404, worded as for an id that does not exist), roles, and an operator's own auth plugin.

The records of namespace team-b are made directly in the store (a run there is recorded, never started), so that each
check below is one request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sluiceway import compiler, config
from sluiceway.core.access import Role
from sluiceway.core.lifecycle import RunState
from sluiceway.core.task_spec import ArtifactRef, InputBinding
from sluiceway.plugins import PluginManager
from sluiceway.server import create_app
from sluiceway.stores.sql.tokens import SqlTokens
from tests.server import auth_plugin
from tests.server.test_api import QUICKSTART, assert_problem, shout_pipeline, spec


@dataclass
class World:
    """A server with auth on, and records in two namespaces, team-a and team-b."""

    client: TestClient
    tokens: SqlTokens
    b: dict[str, str]
    """Ids of team-b's records, by the names the API gives them: pipeline_id, digest, experiment_id, run_id, task_id (a task of
    the run) and uri (an artifact the task made)."""

    def token(self, role: Role, *namespaces: str) -> dict[str, str]:
        """Headers with a new token of `role` in `namespaces`."""
        return {"Authorization": f"Bearer {self.tokens.create(dict.fromkeys(namespaces, role)).token}"}


def make_records(client: TestClient, namespace: str) -> dict[str, str]:
    """A pipeline with a version, an experiment, and a run (recorded, not started) whose task made an artifact, in `namespace`,
    as the store makes them."""
    given = client.app.state.services  # type: ignore[attr-defined]
    version, _ = given.catalog.upload(namespace, compiler.compile_pipeline(shout_pipeline))
    experiment = given.catalog.create_experiment(namespace, "tuning")
    run_id, uri = f"run-of-{namespace}", f"file:///artifacts/{namespace}/model"
    given.store.create_run(run_id, compiler.compile_pipeline(shout_pipeline), {"text": "x"}, namespace=namespace, experiment="tuning")
    model = InputBinding(artifacts=(ArtifactRef(uri=uri, type="Model"),))
    given.store.record_task(
        run_id, "shout", kind="task", state="SUCCEEDED", skip_reason=None, message="", attempts=1, outputs={"model": model}
    )
    recurring = given.recurring.create(  # disabled: these tests are about reaching it, not about its firings
        namespace=namespace,
        name="nightly",
        pipeline_id=version.pipeline_id,
        pipeline_digest=version.digest,
        parameters={"text": "x"},
        experiment=None,
        cron="0 3 * * *",
        timezone="UTC",
        interval_seconds=None,
        start_at=None,
        end_at=None,
        max_concurrency=1,
        catch_up=False,
        enabled=False,
        next_fire_at=None,
    )
    ids = {"pipeline_id": version.pipeline_id, "digest": version.digest, "experiment_id": experiment.id, "recurring_run_id": recurring.id}
    return {**ids, "run_id": run_id, "task_id": "shout", "uri": uri}


def auth_app(home: Path, monkeypatch: pytest.MonkeyPatch, plugins: PluginManager | None = None) -> TestClient:
    monkeypatch.setenv("SLUICEWAY_SERVER__AUTH__ENABLED", "true")
    return TestClient(create_app(config.load(), plugins or PluginManager(load_entry_points=False)), raise_server_exceptions=False)


@pytest.fixture
def world(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with auth_app(home, monkeypatch) as client:
        # Records are made once the server runs, so that it does not take the recorded run up as one to carry on.
        yield World(client, SqlTokens(client.app.state.services.store), make_records(client, "team-b"))  # type: ignore[attr-defined]


# --- who is asking -----------------------------------------------------------------------------


def api_operations(client: TestClient) -> set[tuple[str, str]]:
    """(METHOD, path template) of every API operation the server serves, as its OpenAPI document lists them."""
    paths = client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() if path.startswith("/api/") for method in operations}


def test_every_api_route_needs_credentials_and_says_how_to_give_them(world):
    operations = api_operations(world.client)
    assert len(operations) >= 15
    for method, template in operations:
        problem = assert_problem(world.client.request(method, re.sub(r"\{[^}]+\}", "x", template)), 401)
        assert "Authorization: Bearer TOKEN" in problem["detail"], f"{method} {template}"
    answer = world.client.get("/api/v1/runs")
    assert answer.headers["www-authenticate"] == 'Bearer realm="sluiceway"'
    assert world.client.get("/healthz").status_code == 200 and world.client.get("/readyz").status_code == 200  # probes stay open


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer slw_0123456789abcdef_not-a-token"},
        {"Authorization": "Bearer not-even-our-shape"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer"},
    ],
    ids=["unknown", "foreign", "basic", "empty"],
)
def test_credentials_that_are_not_a_live_token_are_401(world, headers):
    problem = assert_problem(world.client.get("/api/v1/runs", headers=headers), 401)
    assert "not valid" in problem["detail"]


def test_a_revoked_token_or_a_wrong_secret_is_401(world):
    made = world.tokens.create({"team-a": Role.ADMIN})
    headers = {"Authorization": f"Bearer {made.token}"}
    assert world.client.get("/api/v1/runs", params={"namespace": "team-a"}, headers=headers).status_code == 200
    wrong_secret = made.token[:-4] + ("AAAA" if not made.token.endswith("AAAA") else "BBBB")
    assert_problem(
        world.client.get("/api/v1/runs", params={"namespace": "team-a"}, headers={"Authorization": f"Bearer {wrong_secret}"}), 401
    )
    world.tokens.revoke(made.record.id)
    answer = world.client.get("/api/v1/runs", params={"namespace": "team-a"}, headers=headers)
    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"] == 'Bearer realm="sluiceway", error="invalid_token"'


# --- isolation ---------------------------------------------------------------------------------

# Every API route, as (method, path, body): each must be in this table, so a new route cannot be left out. A `{...}`
# is filled with the id of team-b's record; `?namespace=team-b` lists or creates in team-b.
OTHER_NAMESPACE = [
    ("GET", "/api/v1/pipelines?namespace=team-b", None),
    ("POST", "/api/v1/pipelines/upload?namespace=team-b", QUICKSTART),
    ("GET", "/api/v1/pipelines/{pipeline_id}", None),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}", None),
    ("GET", "/api/v1/pipelines/{pipeline_id}/versions", None),
    ("GET", "/api/v1/pipelines/{pipeline_id}/versions/{digest}", None),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}/versions/{digest}", None),
    ("GET", "/api/v1/experiments?namespace=team-b", None),
    ("POST", "/api/v1/experiments", {"namespace": "team-b", "name": "mine-now"}),
    ("GET", "/api/v1/experiments/{experiment_id}", None),
    ("POST", "/api/v1/experiments/{experiment_id}/archive", None),
    ("POST", "/api/v1/experiments/{experiment_id}/unarchive", None),
    ("DELETE", "/api/v1/experiments/{experiment_id}", None),
    ("GET", "/api/v1/runs?namespace=team-b", None),
    ("POST", "/api/v1/runs", {"namespace": "team-b", "pipeline_spec": "SPEC"}),
    ("GET", "/api/v1/runs/{run_id}", None),
    ("POST", "/api/v1/runs/{run_id}/cancel", None),
    ("POST", "/api/v1/runs/{run_id}/retry", None),
    ("POST", "/api/v1/runs/{run_id}/archive", None),
    ("POST", "/api/v1/runs/{run_id}/unarchive", None),
    ("DELETE", "/api/v1/runs/{run_id}", None),
    ("GET", "/api/v1/runs/{run_id}/tasks/{task_id}", None),
    ("GET", "/api/v1/runs/{run_id}/tasks/{task_id}/logs", None),
    ("GET", "/api/v1/runs/{run_id}/lineage", None),
    ("GET", "/api/v1/recurring-runs?namespace=team-b", None),
    (
        "POST",
        "/api/v1/recurring-runs",
        {"namespace": "team-b", "name": "mine-now", "pipeline_version": "VERSION", "trigger": {"interval_seconds": 60}},
    ),
    ("GET", "/api/v1/recurring-runs/{recurring_run_id}", None),
    ("POST", "/api/v1/recurring-runs/{recurring_run_id}/enable", None),
    ("POST", "/api/v1/recurring-runs/{recurring_run_id}/disable", None),
    ("DELETE", "/api/v1/recurring-runs/{recurring_run_id}", None),
    ("GET", "/api/v1/artifacts?uri={uri}", None),
    ("GET", "/api/v1/artifacts/content?uri={uri}", None),
    ("GET", "/api/v1/artifacts/lineage?uri={uri}", None),
]


def send(world: World, method: str, path: str, body: Any, headers: dict[str, str], ids: dict[str, str]) -> Any:
    url = path.format(**ids)
    if isinstance(body, bytes):
        return world.client.request(method, url, content=body, headers={**headers, "content-type": "application/yaml"})
    if isinstance(body, dict):
        fill = {"SPEC": spec(shout_pipeline), "VERSION": {"pipeline_id": ids["pipeline_id"], "digest": ids["digest"]}}
        body = {key: fill[value] if isinstance(value, str) and value in fill else value for key, value in body.items()}
    return world.client.request(method, url, json=body, headers=headers)


def test_the_isolation_table_names_every_api_route(world):
    assert api_operations(world.client) == {(method, path.split("?")[0]) for method, path, _ in OTHER_NAMESPACE}


@pytest.mark.parametrize(("method", "path", "body"), OTHER_NAMESPACE, ids=[f"{m} {p}" for m, p, _ in OTHER_NAMESPACE])
def test_a_token_of_one_namespace_finds_nothing_of_another(world, method, path, body):
    admin_of_a = world.token(Role.ADMIN, "team-a")
    detail = assert_problem(send(world, method, path, body, admin_of_a, world.b), 404)["detail"]
    if "{" in path:  # worded as for ids (and URIs) that do not exist: the answer tells nothing of team-b
        unknown = {key: "0" * len(value) for key, value in world.b.items()}
        for key, value in world.b.items():
            detail = detail.replace(value, unknown[key])
        assert detail == assert_problem(send(world, method, path, body, admin_of_a, unknown), 404)["detail"]
    owner = world.token(Role.VIEWER, "team-b")  # and team-b has all it had
    assert world.client.get(f"/api/v1/runs/{world.b['run_id']}", headers=owner).json()["state"] == "PENDING"
    assert world.client.get("/api/v1/pipelines/{pipeline_id}/versions/{digest}".format(**world.b), headers=owner).status_code == 200
    assert world.client.get(f"/api/v1/experiments/{world.b['experiment_id']}", headers=owner).json()["archived"] is False
    listed = world.client.get("/api/v1/experiments", params={"namespace": "team-b"}, headers=owner).json()["items"]
    assert [e["name"] for e in listed] == ["tuning"]
    assert world.client.get("/api/v1/artifacts", params={"uri": world.b["uri"]}, headers=owner).status_code == 200


def test_lists_show_only_the_principals_namespaces(world):
    a = make_records(world.client, "team-a")
    both = world.token(Role.VIEWER, "team-a", "team-c")
    for kind, key in (
        ("pipelines", "pipeline_id"),
        ("experiments", "experiment_id"),
        ("runs", "run_id"),
        ("recurring-runs", "recurring_run_id"),
    ):
        listed = world.client.get(f"/api/v1/{kind}", params={"namespace": "team-a"}, headers=both).json()["items"]
        assert [item["id"] for item in listed] == [a[key]]
        assert world.client.get(f"/api/v1/{kind}", params={"namespace": "team-c"}, headers=both).json()["items"] == []
        assert_problem(world.client.get(f"/api/v1/{kind}", params={"namespace": "team-b"}, headers=both), 404)
        assert_problem(world.client.get(f"/api/v1/{kind}", headers=both), 404)  # `default` is a namespace like any other
    versions = world.client.get(f"/api/v1/pipelines/{a['pipeline_id']}/versions", headers=both).json()["items"]
    assert [v["digest"] for v in versions] == [a["digest"]]


def test_a_run_cannot_be_made_from_another_namespaces_pipeline(world):
    editor_of_a = world.token(Role.EDITOR, "team-a")
    body = {"namespace": "team-a", "pipeline_version": {"pipeline_id": world.b["pipeline_id"], "digest": world.b["digest"]}}
    problem = assert_problem(
        world.client.post("/api/v1/runs", json=body, headers=editor_of_a), 422, type_="urn:sluiceway:problem:invalid-request"
    )
    assert problem["errors"][0]["field"] == "pipeline_version"


# --- roles -------------------------------------------------------------------------------------

WRITES = [  # (method, path, body, the least role that may)
    ("POST", "/api/v1/pipelines/upload?namespace=team-b", QUICKSTART, Role.EDITOR),
    ("POST", "/api/v1/experiments", {"namespace": "team-b", "name": "another"}, Role.EDITOR),
    ("POST", "/api/v1/experiments/{experiment_id}/archive", None, Role.EDITOR),
    ("POST", "/api/v1/experiments/{experiment_id}/unarchive", None, Role.EDITOR),
    ("POST", "/api/v1/runs", {"namespace": "team-b", "pipeline_spec": "SPEC"}, Role.EDITOR),
    ("POST", "/api/v1/runs/{run_id}/cancel", None, Role.EDITOR),
    ("POST", "/api/v1/runs/{run_id}/retry", None, Role.EDITOR),
    ("POST", "/api/v1/runs/{run_id}/archive", None, Role.EDITOR),
    ("POST", "/api/v1/runs/{run_id}/unarchive", None, Role.EDITOR),
    ("DELETE", "/api/v1/runs/{run_id}", None, Role.ADMIN),
    (
        "POST",
        "/api/v1/recurring-runs",
        {"namespace": "team-b", "name": "n2", "pipeline_version": "VERSION", "trigger": {"cron": "0 3 * * *"}},
        Role.EDITOR,
    ),
    ("POST", "/api/v1/recurring-runs/{recurring_run_id}/enable", None, Role.EDITOR),
    ("POST", "/api/v1/recurring-runs/{recurring_run_id}/disable", None, Role.EDITOR),
    ("DELETE", "/api/v1/recurring-runs/{recurring_run_id}", None, Role.ADMIN),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}/versions/{digest}", None, Role.ADMIN),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}", None, Role.ADMIN),
    ("DELETE", "/api/v1/experiments/{experiment_id}", None, Role.ADMIN),
]


@pytest.mark.parametrize(("method", "path", "body", "least"), WRITES, ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_a_role_below_the_one_a_change_needs_is_403(world, method, path, body, least):
    for role in Role:
        if role.includes(least):
            continue
        problem = assert_problem(send(world, method, path, body, world.token(role, "team-b"), world.b), 403)
        assert f"is {role.value} in namespace 'team-b'; this needs {least.value}" in problem["detail"]


def test_each_role_does_what_it_may(world):
    viewer, editor, admin = (world.token(role, "team-b") for role in Role)
    for path in (
        "/api/v1/runs/{run_id}",
        "/api/v1/pipelines/{pipeline_id}",
        "/api/v1/experiments/{experiment_id}",
        "/api/v1/runs?namespace=team-b",
        "/api/v1/recurring-runs/{recurring_run_id}",
    ):
        assert world.client.get(path.format(**world.b), headers=viewer).status_code == 200
    assert send(world, "POST", "/api/v1/pipelines/upload?namespace=team-b", QUICKSTART, editor, world.b).status_code == 201
    assert world.client.post("/api/v1/experiments", json={"namespace": "team-b", "name": "e2"}, headers=editor).status_code == 201
    archived = world.client.post(f"/api/v1/experiments/{world.b['experiment_id']}/archive", headers=editor)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    enabled = world.client.post(f"/api/v1/recurring-runs/{world.b['recurring_run_id']}/enable", headers=editor)
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert world.client.post(f"/api/v1/recurring-runs/{world.b['recurring_run_id']}/disable", headers=editor).status_code == 200
    assert world.client.delete(f"/api/v1/recurring-runs/{world.b['recurring_run_id']}", headers=admin).status_code == 204
    assert world.client.delete(f"/api/v1/pipelines/{world.b['pipeline_id']}", headers=admin).status_code == 204
    run_path = f"/api/v1/runs/{world.b['run_id']}"
    archived_run = world.client.post(f"{run_path}/archive", headers=editor)
    assert archived_run.status_code == 200 and archived_run.json()["archived"] is True
    world.client.app.state.services.store.set_run_state(world.b["run_id"], RunState.CANCELLED)  # type: ignore[attr-defined]
    assert world.client.delete(run_path, headers=admin).status_code == 204
    assert world.client.get(run_path, headers=viewer).status_code == 404


# --- an operator's identity system -------------------------------------------------------------


@pytest.fixture
def acme(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    plugins = PluginManager(load_entry_points=False)
    plugins.register(auth_plugin, name="acme-auth", origin="tests")
    with auth_app(home, monkeypatch, plugins) as client:
        yield World(client, SqlTokens(client.app.state.services.store), make_records(client, "team-b"))  # type: ignore[attr-defined]


def test_an_auth_plugin_decides_before_the_built_in_tokens(acme):
    alice, bob = {"X-Acme-User": "alice"}, {"X-Acme-User": "bob"}
    made = acme.client.post("/api/v1/experiments", json={"namespace": "team-a", "name": "alices"}, headers=alice)
    assert made.status_code == 201, made.text
    assert acme.client.get(f"/api/v1/runs/{acme.b['run_id']}", headers=bob).status_code == 200
    assert (
        "acme user bob is viewer" in assert_problem(acme.client.post(f"/api/v1/runs/{acme.b['run_id']}/cancel", headers=bob), 403)["detail"]
    )
    # A token of team-b, sent by alice: the plugin answered first, so the request is alice's, who cannot see team-b.
    token_of_b = acme.token(Role.ADMIN, "team-b")
    assert_problem(acme.client.get(f"/api/v1/runs/{acme.b['run_id']}", headers={**token_of_b, **alice}), 404)
    # Requests the plugin does not know are left to the built-in tokens.
    assert acme.client.get(f"/api/v1/runs/{acme.b['run_id']}", headers=token_of_b).status_code == 200
    assert_problem(acme.client.get("/api/v1/runs", headers={"X-Acme-User": "mallory"}), 401)


def test_the_auth_hook_is_firstresult_and_the_built_in_answers_only_bearer_tokens(home):
    from sluiceway.plugins import builtins

    plugins = PluginManager(load_entry_points=False)
    assert plugins.hook.authenticate.spec.opts["firstresult"] is True
    assert builtins.authenticate(headers={"x-acme-user": "alice"}, store=None) is None  # type: ignore[arg-type]


# --- auth off ----------------------------------------------------------------------------------


def test_with_auth_off_every_namespace_is_open_as_before(client):
    assert client.post("/api/v1/experiments", json={"namespace": "team-b", "name": "open"}).status_code == 201
    assert [e["name"] for e in client.get("/api/v1/experiments", params={"namespace": "team-b"}).json()["items"]] == ["open"]
