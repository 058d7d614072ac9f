"""The error responses a route documents in the OpenAPI: each a problem-details body (see ../problems.py)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from ..problems import PROBLEM_JSON

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetails"}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer with these statuses, besides those every route can: 400 (a body that is
    not JSON), 413 (a body too large) and 422 (fields that do not fit)."""
    chosen = sorted({*statuses, 400, 413, 422})
    return {status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}} for status in chosen}
