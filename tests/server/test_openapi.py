"""The OpenAPI document: served, and checked in at docs/reference/openapi.json in step with the code."""

from __future__ import annotations

import json

from sluiceway.server.openapi import render
from tests.conftest import REPO

CHECKED_IN = REPO / "docs" / "reference" / "openapi.json"
REGENERATE = "python -m sluiceway.server.openapi docs/reference/openapi.json"


def test_the_checked_in_openapi_is_the_one_the_code_makes(client):
    assert CHECKED_IN.read_text(encoding="utf-8") == render(client.app), f"docs/reference/openapi.json is stale: run `{REGENERATE}`"


def test_the_document_is_served_and_every_error_is_a_problem(client):
    served = client.get("/openapi.json").json()
    assert served == json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            errors = {status: response for status, response in operation["responses"].items() if status.startswith(("4", "5"))}
            assert not path.startswith("/api/") or ("422" in errors and "413" in errors), f"{method} {path}"
            for status, response in errors.items():
                assert list(response["content"]) == ["application/problem+json"], f"{method} {path} {status}"
    assert set(served["components"]["schemas"]["ProblemDetails"]["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "errors",
    }
