"""API errors, answered as the apiserver's `Status` objects."""

from __future__ import annotations

from typing import Any

# The reason a real apiserver gives with each status code it answers.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error the fake answers as a `Status` with `code` as the HTTP status."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {reason or REASONS.get(code, 'InternalError')}: {message}")
        self.code, self.message, self.details = code, message, details
        self.reason = reason or REASONS.get(code, "InternalError")

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, message)

    @classmethod
    def not_found(cls, resource: str, name: str) -> ApiError:
        return cls(404, f'{resource} "{name}" not found', details={"name": name, "kind": resource})

    @classmethod
    def already_exists(cls, resource: str, name: str) -> ApiError:
        return cls(409, f'{resource} "{name}" already exists', "AlreadyExists", {"name": name, "kind": resource})

    @classmethod
    def conflict(cls, resource: str, name: str) -> ApiError:
        message = f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; please apply your changes to the latest version and try again'
        return cls(409, message, "Conflict", {"name": name, "kind": resource})

    @classmethod
    def invalid(cls, kind: str, name: str, problems: list[str]) -> ApiError:
        return cls(422, f'{kind} "{name}" is invalid: {", ".join(problems)}', "Invalid", {"name": name, "kind": kind})

    @classmethod
    def expired(cls, message: str) -> ApiError:
        return cls(410, message, "Expired")
