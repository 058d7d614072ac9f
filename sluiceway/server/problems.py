"""Every error the API answers is one JSON shape: RFC 9457 problem details, as `application/problem+json`.

    {"type": "urn:sluiceway:problem:invalid-request", "title": "Invalid request", "status": 422,
     "detail": "1 problem in the request: pipeline_spec: unknown field", "instance": "/api/v1/runs",
     "errors": [{"field": "pipeline_spec", "message": "unknown field"}]}

`type` is `about:blank` when the status says it all (404, 409, 413, ...), and one of the URNs
below when a client can act on the kind of problem. The handlers here turn each exception the
API can meet into that shape; nothing else writes an error response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ..core.errors import IRFormatError, PipelineValidationError
from ..stores.sql.listing import BadListRequest
from ..stores.sql.store import Conflict, NotFound

PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = "urn:sluiceway:problem:invalid-request"
"""The request does not fit the API: unknown fields, wrong types, a bad filter; `errors` names each field."""
INVALID_PIPELINE = "urn:sluiceway:problem:invalid-pipeline"
"""The IR cannot be read or breaks a rule of the IR; `detail` is the validator's message."""
IDEMPOTENCY_KEY_REUSED = "urn:sluiceway:problem:idempotency-key-reused"
"""The idempotency key was used before for a different run."""

logger = logging.getLogger(__name__)


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    """Where in the request: a body field as a dotted path (`pipeline_version.digest`, `items[0]`), or a query parameter."""
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="forbid")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    """The path of the request that met the problem."""
    errors: list[FieldError] | None = None
    """For invalid requests: each field that is wrong, and why."""


class ApiProblem(Exception):
    """Raised by a route to answer with a problem."""

    def __init__(self, status: int, detail: str, *, type: str = "about:blank", errors: Sequence[FieldError] = ()) -> None:  # noqa: A002
        super().__init__(detail)
        self.status, self.detail, self.type, self.errors = status, detail, type, list(errors)


def invalid(errors: Sequence[FieldError], status: int = 422) -> ApiProblem:
    """A problem with the request's fields, each named."""
    count = len(errors)
    listed = "; ".join(f"{error.field}: {error.message}" for error in errors)
    return ApiProblem(status, f"{count} problem{'s' if count != 1 else ''} in the request: {listed}", type=INVALID_REQUEST, errors=errors)


def problem_response(
    status: int,
    detail: str,
    instance: str,
    *,
    type: str = "about:blank",  # noqa: A002  (RFC 9457's name)
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    title = _TITLES.get(type) or HTTPStatus(status).phrase
    body = ProblemDetails(type=type, title=title, status=status, detail=detail, instance=instance, errors=list(errors) or None)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers)


_TITLES = {INVALID_REQUEST: "Invalid request", INVALID_PIPELINE: "Invalid pipeline", IDEMPOTENCY_KEY_REUSED: "Idempotency key reused"}


def install(app: FastAPI) -> None:
    """Answer every error of `app` with problem details."""

    async def api_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiProblem)
        return problem_response(error.status, error.detail, request.url.path, type=error.type, errors=error.errors)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        detail = error.detail if error.detail != HTTPStatus(error.status_code).phrase else _plain_detail(request, error.status_code)
        headers = dict(error.headers or {})
        if error.status_code == 405:  # Starlette names the methods of the first route on the path only: name them all
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(error.status_code, detail, request.url.path, headers=headers)

    async def validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        malformed = [item for item in error.errors() if item["type"] == "json_invalid"]
        if malformed:  # not JSON at all: 400, and the body as a whole is wrong
            reason = malformed[0].get("ctx", {}).get("error", "")
            errors = [FieldError(field="body", message=f"not valid JSON{f' ({reason})' if reason else ''}")]
        else:
            errors = [FieldError(field=_field(item["loc"]), message=_message(item)) for item in error.errors()]
        problem = invalid(errors, 400 if malformed else 422)
        return problem_response(problem.status, problem.detail, request.url.path, type=INVALID_REQUEST, errors=errors)

    async def bad_listing(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, BadListRequest)
        problem = invalid([FieldError(field=error.parameter, message=error.reason)], 400)
        return problem_response(400, problem.detail, request.url.path, type=INVALID_REQUEST, errors=problem.errors)

    async def bad_pipeline(request: Request, error: Exception) -> JSONResponse:
        # The validator's message names each problem's place in the IR (task, field, source line) as `sluiceway
        # validate` prints it; those are places in the pipeline, not fields of the request, so there is no `errors`.
        return problem_response(422, str(error), request.url.path, type=INVALID_PIPELINE)

    async def not_found(request: Request, error: Exception) -> JSONResponse:
        return problem_response(404, str(error), request.url.path)

    async def conflict(request: Request, error: Exception) -> JSONResponse:
        return problem_response(409, str(error), request.url.path)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # The traceback goes to the log, never to the client: it can hold paths, settings, other namespaces' names.
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return problem_response(500, "the server met an unexpected error; its log has the details", request.url.path)

    app.add_exception_handler(ApiProblem, api_problem)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(BadListRequest, bad_listing)
    app.add_exception_handler(IRFormatError, bad_pipeline)
    app.add_exception_handler(PipelineValidationError, bad_pipeline)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(Exception, unexpected)


def _plain_detail(request: Request, status: int) -> str:
    """A sentence for the errors the framework raises with only a status (no such path, method not allowed)."""
    if status == 404:
        return f"no such endpoint: {request.url.path}"
    if status == 405:
        return f"{request.method} is not allowed on {request.url.path}"
    return HTTPStatus(status).description


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on the request's path, asked of the router as a request of each method would."""
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def _field(location: Sequence[Any]) -> str:
    """pydantic's ('body', 'pipeline_version', 'digest') as `pipeline_version.digest`; ('query', 'page_size') as `page_size`."""
    parts = list(location[1:]) if location and location[0] in ("body", "query", "path", "header") else list(location)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or str(location[0] if location else "body")


def _message(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    message = str(item["msg"])
    return message if message[1:2].isupper() else message[:1].lower() + message[1:]  # "Input should ...", not "JSON ..."
