"""Bodies over `server.max_body_bytes` are refused with 413, before they are read when their length is announced."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_response


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the server takes ({limit} bytes; server.max_body_bytes)")


class BodySizeLimit:
    """ASGI middleware: a Content-Length over the limit is answered at once; a body sent without one (chunked) is counted
    as it arrives, and reading past the limit raises BodyTooLarge in the route, which answers 413 the same way."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length", b"")
        if announced.isdigit() and int(announced) > self.max_bytes:
            too_large = BodyTooLarge(self.max_bytes)
            await problem_response(413, too_large.detail, scope["path"], headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)
