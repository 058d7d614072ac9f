"""The HTTP layer: a threaded server on 127.0.0.1 that records requests, injects faults, checks the bearer token,
routes Kubernetes REST paths to `api.Api`, and writes JSON, text and chunked streams."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ApiError
from .resources import Resource

if TYPE_CHECKING:
    from .api import Api

# Answered without a token, as `system:public-info-viewer` allows on a real cluster.
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


@dataclass
class RecordedRequest:
    """One request as the fake saw it, and the status it answered (0 while a stream has not started)."""

    method: str
    path: str
    query: dict[str, str]
    watch: bool
    status: int = 0


@dataclass
class Fault:
    status: int
    path_contains: str
    method: str | None
    remaining: int | None = None  # answer this many more requests
    until: float | None = None  # or every request until this monotonic time

    def applies(self, method: str, path: str) -> bool:
        active = (self.remaining or 0) > 0 or (self.until is not None and time.monotonic() < self.until)
        return active and self.path_contains in path and self.method in (None, method)


@dataclass(frozen=True)
class Route:
    resource: Resource
    namespace: str | None  # None: all namespaces (a list or watch of /apis/g/v/plural), "" for a cluster-scoped object
    name: str | None
    subresource: str | None


def route(path: str) -> Route | None:
    parts = [unquote(part) for part in path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if group == "" and rest[:1] == ["namespaces"] and len(rest) <= 2:
        namespace, plural, tail = "", "namespaces", rest[1:]  # the Namespace objects themselves
    elif rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, plural, tail = rest[1], rest[2], rest[3:]
    else:
        namespace, plural, tail = None, rest[0], rest[1:]
    if not plural or len(tail) > 2:
        return None
    name = tail[0] if tail else None
    if namespace is None and name is not None:
        namespace = ""  # a cluster-scoped object
    return Route(Resource(group, version, plural), namespace, name, tail[1] if len(tail) == 2 else None)


class Exchange:
    """One request and its answer; also the connection a stream writes chunks to."""

    def __init__(self, handler: _Handler, record: RecordedRequest, query: dict[str, str], body: Any) -> None:
        self.handler, self.record, self.query, self.body = handler, record, query, body
        self.method, self.path = record.method, record.path
        self.headers = handler.headers
        self.cut = False  # set by cut_watches(): end abruptly, no closing chunk

    def send_json(self, status: int, obj: Any) -> None:
        self._send(status, "application/json", json.dumps(obj).encode())

    def send_text(self, status: int, text: bytes) -> None:
        self._send(status, "text/plain", text)

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.record.status = status
        self.handler.send_response(status)
        self.handler.send_header("Content-Type", content_type)
        self.handler.send_header("Content-Length", str(len(data)))
        self.handler.end_headers()
        self.handler.wfile.write(data)

    def start_stream(self, content_type: str) -> None:
        self.record.status = 200
        self.handler.send_response(200)
        self.handler.send_header("Content-Type", content_type)
        self.handler.send_header("Transfer-Encoding", "chunked")
        self.handler.end_headers()

    def write_chunk(self, data: bytes) -> bool:
        """False when the client has gone (or the stream was cut)."""
        if self.cut:
            return False
        try:
            self.handler.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            return True
        except OSError:
            self.handler.close_connection = True
            return False

    def end_stream(self) -> None:
        if not self.cut:
            try:
                self.handler.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.handler.close_connection = True

    def abort(self) -> None:
        """Drop the connection mid-stream, as a load balancer or a crashing apiserver does."""
        self.cut = True
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def client_gone(self) -> bool:
        """Whether the client closed its end (it sends nothing while it reads a stream, so readable means EOF)."""
        try:
            readable, _, _ = select.select([self.handler.connection], [], [], 0)
            return bool(readable) and self.handler.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as the client expects
    server: HttpServer

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: tests read the request log instead
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs add 40 ms to each answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self, method: str) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        watch = query.get("watch", "").lower() in ("true", "1")
        record = RecordedRequest(method, url.path, query, watch)
        api.record(record)
        exchange = Exchange(self, record, query, None)
        try:
            raw = self._read_body()
            api.check_fault(method, url.path)
            try:
                exchange.body = json.loads(raw) if raw.strip() else None
            except ValueError:
                if self.headers.get("Content-Type", "").endswith("yaml"):
                    raise ApiError(415, "the fake apiserver does not implement server-side apply or YAML bodies") from None
                raise ApiError.bad_request("the request body is not valid JSON") from None
            if url.path.rstrip("/") in PUBLIC_PATHS:
                exchange.send_json(200, api.version() if url.path.startswith("/version") else "ok")
                return
            api.authenticate(self.headers.get("Authorization", ""))
            target = route(url.path)
            if target is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            api.handle(exchange, target)
        except ApiError as error:
            if record.status == 0:
                exchange.send_json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a bug in the fake: answer it, as an apiserver answers a panic
            if record.status == 0:
                exchange.send_json(500, ApiError(500, f"fake apiserver error: {error!r}").status())
            raise


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, api: Api) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kubernetes-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections and streams: end them so their threads exit
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)
