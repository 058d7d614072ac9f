"""No request the OpenAPI document allows makes the server fail (5xx): schemathesis generates requests from the
checked-in document (docs/reference/openapi.json, kept current by test_openapi.py), bounded so that CI stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, reject, settings

from tests.conftest import REPO

schema = schemathesis.openapi.from_path(str(REPO / "docs" / "reference" / "openapi.json"))
EXAMPLES_PER_OPERATION = 10
_SENT = ("method", "url", "params", "headers", "json", "content", "data")  # no cookies: the API reads none


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One server for every generated request (its own home; auth off: the requests are not about credentials)."""
    from fastapi.testclient import TestClient

    from sluiceway import config
    from sluiceway.server import create_app

    patch = pytest.MonkeyPatch()
    home: Path = tmp_path_factory.mktemp("fuzz-home")
    patch.setenv("SLUICEWAY_HOME", str(home))
    patch.setenv("SLUICEWAY_SERVER__AUTH__ENABLED", "false")
    patch.delenv("SLUICEWAY_CONFIG", raising=False)
    try:
        with TestClient(create_app(config.load()), raise_server_exceptions=False) as client:
            yield client
    finally:
        patch.undo()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: Any, api: Any) -> None:
    request = {key: value for key, value in case.as_transport_kwargs(base_url="http://testserver").items() if key in _SENT}
    if isinstance(request.get("data"), str | bytes):  # a raw body (a YAML upload): httpx's name for it is content
        request["content"] = request.pop("data")
    try:
        response = api.request(**request)
    except httpx.InvalidURL:  # too long for the HTTP client to send (a query of kilobytes): never reaches the server
        reject()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
