"""The one exception the client raises for anything the server refused or could not do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import SluicewayError


@dataclass(frozen=True)
class FieldProblem:
    field: str
    """Where in the request: `pipeline_version.digest`, `page_size`, ..."""
    message: str


class ApiError(SluicewayError):
    """The server answered with an error: its RFC 9457 problem details, or, when it could not be reached or answered
    something else, a status of 0 (unreachable) or the HTTP status with the body's first line as the detail."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",  # noqa: A002  (RFC 9457's name)
        instance: str = "",
        errors: tuple[FieldProblem, ...] = (),
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if status else detail)
        self.status, self.title, self.detail, self.type, self.instance, self.errors = status, title, detail, type, instance, errors

    @classmethod
    def from_problem(cls, status: int, body: dict[str, Any]) -> ApiError:
        errors = tuple(FieldProblem(str(e.get("field", "")), str(e.get("message", ""))) for e in body.get("errors") or ())
        return cls(
            int(body.get("status") or status),
            str(body.get("title") or ""),
            str(body.get("detail") or ""),
            type=str(body.get("type") or "about:blank"),
            instance=str(body.get("instance") or ""),
            errors=errors,
        )
