"""The API verbs: create, get, list, watch, replace, patch, delete, and pod logs, over the object store."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .logs import LogBuffer, render
from .objects import Event, Obj, ObjectStore
from .patches import json_patch, merge_patch
from .resources import PODS, Resource
from .selectors import parse_field_selector, parse_label_selector
from .server import Exchange, Fault, RecordedRequest, Route

if TYPE_CHECKING:
    from .kubelet import Kubelet

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T07:28:49Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_STRATEGIC_GROUPS = ("", "batch", "apps")  # built-in groups; custom resources refuse strategic merge patches (415)
_TRUE = ("true", "1")


def _waiting_message(container: str, pod: str, reason: str) -> str:
    """What the kubelet answers a log request for a container that has not started (kubelet_pods.go)."""
    if reason == "ErrImagePull":
        return f'container "{container}" in pod "{pod}" is waiting to start: image can\'t be pulled'
    if reason == "ImagePullBackOff":
        return f'container "{container}" in pod "{pod}" is waiting to start: trying and failing to pull image'
    return f'container "{container}" in pod "{pod}" is waiting to start: {reason}'


class Api:
    """What the apiserver does with each request, after the HTTP layer has parsed it; also the request log and faults."""

    def __init__(self, store: ObjectStore, kubelet: Kubelet, token: str, bookmark_interval: float = 1.0) -> None:
        self.store, self.kubelet, self.token = store, kubelet, token
        self.bookmark_interval = bookmark_interval
        self.requests: list[RecordedRequest] = []
        self.watch_events_sent = 0
        self.stopping = False
        self._faults: list[Fault] = []
        self._streams: dict[Exchange, str] = {}  # open streams: "watch" or "log"
        self._lock = threading.Lock()

    # Bookkeeping and faults.

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def recorded(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    def forget_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.watch_events_sent = 0

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def check_fault(self, method: str, path: str) -> None:
        with self._lock:
            for fault in self._faults:
                if fault.applies(method, path):
                    if fault.remaining:
                        fault.remaining -= 1
                    raise ApiError(fault.status, f"injected fault: {method} {path} answered {fault.status}")

    def authenticate(self, authorization: str) -> None:
        if authorization != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized")

    def version(self) -> dict[str, str]:
        return VERSION

    def cut_streams(self, kinds: tuple[str, ...]) -> int:
        with self._lock:
            cut = [exchange for exchange, kind in self._streams.items() if kind in kinds]
        for exchange in cut:
            exchange.abort()
        self.store.wake()
        self.kubelet.wake_logs()
        return len(cut)

    def stop(self) -> None:
        self.stopping = True
        self.cut_streams(("watch", "log"))

    # Verbs.

    def handle(self, exchange: Exchange, target: Route) -> None:
        resource, namespace, name, subresource = target.resource, target.namespace, target.name, target.subresource
        method = exchange.method
        if subresource not in (None, "status", "log") or (subresource == "log" and resource != PODS):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if name is None:
            if method == "GET":
                return self._list(exchange, resource, namespace)
            if method == "POST":
                return exchange.send_json(201, self.store.create(resource, namespace or "", exchange.body))
            if method == "DELETE":
                return self._delete_collection(exchange, resource, namespace)
        elif subresource == "log":
            if method == "GET":
                return self._log(exchange, namespace or "", name)
        elif method == "GET":
            return exchange.send_json(200, self.store.get(resource, namespace or "", name))
        elif method in ("PUT", "PATCH"):
            change = self._replacement(exchange, name) if method == "PUT" else self._patch(exchange, resource)
            return exchange.send_json(200, self.store.update(resource, namespace or "", name, change, subresource))
        elif method == "DELETE":
            return self._delete(exchange, resource, namespace or "", name)
        raise ApiError(405, f"the server does not allow this method on the requested resource: {method}", "MethodNotAllowed")

    def _replacement(self, exchange: Exchange, name: str) -> Callable[[Obj], Any]:
        body = exchange.body
        if not isinstance(body, dict):
            raise ApiError.bad_request("the body of a PUT must be a JSON object")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise ApiError.bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        return lambda current: body

    def _patch(self, exchange: Exchange, resource: Resource) -> Callable[[Obj], Any]:
        content_type = exchange.headers.get("Content-Type", "").split(";")[0].strip()
        body = exchange.body
        if content_type == "application/json-patch+json":
            return lambda current: json_patch(current, body)
        if content_type == "application/merge-patch+json" or (
            content_type == "application/strategic-merge-patch+json" and resource.group in _STRATEGIC_GROUPS
        ):
            if not isinstance(body, dict):
                raise ApiError.bad_request("a merge patch must be a JSON object")
            return lambda current: merge_patch(current, body)
        accepted = "application/json-patch+json, application/merge-patch+json"
        if resource.group in _STRATEGIC_GROUPS:
            accepted += ", application/strategic-merge-patch+json"
        raise ApiError(415, f"the body of the request was in an unknown format - accepted media types include: {accepted}")

    def _selection(self, exchange: Exchange, resource: Resource) -> Callable[[Obj], bool]:
        resource_type = self.store.type_of(resource)
        labels = parse_label_selector(exchange.query.get("labelSelector", ""))
        fields = parse_field_selector(exchange.query.get("fieldSelector", ""), resource_type.fields, resource_type.kind)
        return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)

    def _list(self, exchange: Exchange, resource: Resource, namespace: str | None) -> None:
        match = self._selection(exchange, resource)
        if exchange.record.watch:
            return self._watch(exchange, resource, namespace, match)
        items, rv = self.store.select(resource, namespace, match)
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        token = exchange.query.get("continue")
        if token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token))[1:])
            except ValueError:
                raise ApiError.bad_request("continue key is not valid") from None
            items = [item for item in items if (item["metadata"].get("namespace", ""), item["metadata"]["name"]) > after]
        limit = int(exchange.query.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            key = [rv, last.get("namespace", ""), last["name"]]
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        kind = self.store.type_of(resource).kind
        exchange.send_json(200, {"kind": f"{kind}List", "apiVersion": resource.api_version, "metadata": metadata, "items": items})

    def _delete(self, exchange: Exchange, resource: Resource, namespace: str, name: str) -> None:
        options = exchange.body if isinstance(exchange.body, dict) else {}
        query = exchange.query
        policy = options.get("propagationPolicy") or query.get("propagationPolicy") or None
        orphan = options.get("orphanDependents", query.get("orphanDependents"))
        if isinstance(orphan, str):
            orphan = orphan.lower() in _TRUE
        if policy is None and orphan is not None:
            policy = "Orphan" if orphan else "Background"
        grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        obj, gone = self.store.delete(
            resource, namespace, name, policy, None if grace is None else int(grace), options.get("preconditions")
        )
        # 202 only when the deletion waits and orphanDependents=false was asked for (delete.go keeps 200 otherwise).
        status = 202 if not gone and orphan is False else 200
        if gone and not self.store.type_of(resource).returns_deleted_object:
            details = {"name": name, "group": resource.group, "kind": resource.plural, "uid": obj["metadata"]["uid"]}
            return exchange.send_json(
                status, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
            )
        exchange.send_json(status, obj)

    def _delete_collection(self, exchange: Exchange, resource: Resource, namespace: str | None) -> None:
        items, _ = self.store.select(resource, namespace, self._selection(exchange, resource))
        deleted = []
        for item in items:
            with contextlib.suppress(ApiError):  # deleted meanwhile
                deleted.append(self.store.delete(resource, item["metadata"].get("namespace", ""), item["metadata"]["name"])[0])
        kind = self.store.type_of(resource).kind
        exchange.send_json(200, {"kind": f"{kind}List", "apiVersion": resource.api_version, "metadata": {}, "items": deleted})

    # Streams.

    def _stream(self, exchange: Exchange, kind: str, content_type: str) -> None:
        with self._lock:  # registered first: a cut from now on reaches it
            self._streams[exchange] = kind
        exchange.start_stream(content_type)

    def _unstream(self, exchange: Exchange) -> None:
        with self._lock:
            self._streams.pop(exchange, None)

    def _send_event(self, exchange: Exchange, kind: str, obj: Obj) -> bool:
        with self._lock:
            self.watch_events_sent += 1
        return exchange.write_chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    def _watch(self, exchange: Exchange, resource: Resource, namespace: str | None, match: Callable[[Obj], bool]) -> None:
        """Chunked newline-delimited events. Without a resourceVersion (or with "0"): the current objects as ADDED, then
        changes; with one: the changes after it, or one ERROR 410 if it is older than the compaction floor."""
        query = exchange.query
        requested = query.get("resourceVersion", "")
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = query.get("allowWatchBookmarks", "").lower() in _TRUE
        expired: ApiError | None = None
        with self.store.lock:  # the initial state and the position to stream from, taken together
            if requested in ("", "0"):
                initial, cursor = self.store.select(resource, namespace, match)
            else:
                try:
                    cursor = int(requested)
                except ValueError:
                    raise ApiError.bad_request(f"invalid resource version: {requested!r}") from None
                initial = []
                try:
                    self.store.check_resumable(cursor)
                except ApiError as error:
                    expired = error
        kind = self.store.type_of(resource).kind
        self._stream(exchange, "watch", "application/json")
        try:
            if expired is not None:
                self._send_event(exchange, "ERROR", expired.status())
                return exchange.end_stream()
            for obj in initial:
                if not self._send_event(exchange, "ADDED", obj):
                    return
            deadline = None if timeout is None else time.monotonic() + timeout
            quiet_since = time.monotonic()
            while not (exchange.cut or self.stopping):
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    if bookmarks:
                        self._bookmark(exchange, resource, kind, cursor)
                    return exchange.end_stream()
                try:
                    events = self.store.events_after(cursor)
                except ApiError as error:  # fell behind a trimmed history
                    self._send_event(exchange, "ERROR", error.status())
                    return exchange.end_stream()
                for event in events:
                    cursor = event.rv
                    if event.resource != resource or (namespace is not None and event.obj["metadata"].get("namespace", "") != namespace):
                        continue
                    translated = _as_seen_through(event, match)
                    if translated is not None:
                        if not self._send_event(exchange, translated, event.obj):
                            return
                        quiet_since = time.monotonic()
                if events:
                    continue
                if bookmarks and now - quiet_since >= self.bookmark_interval:
                    if not self._bookmark(exchange, resource, kind, cursor):
                        return
                    quiet_since = now
                elif exchange.client_gone():
                    return
                self.store.wait(cursor, 0.25 if deadline is None else max(0.0, min(0.25, deadline - now)))
            exchange.abort()  # cut, or the fake is stopping: no clean end
        finally:
            self._unstream(exchange)

    def _bookmark(self, exchange: Exchange, resource: Resource, kind: str, rv: int) -> bool:
        return self._send_event(
            exchange, "BOOKMARK", {"kind": kind, "apiVersion": resource.api_version, "metadata": {"resourceVersion": str(rv)}}
        )

    def _log(self, exchange: Exchange, namespace: str, name: str) -> None:
        pod = self.store.get(PODS, namespace, name)
        query = exchange.query
        containers = [container.get("name", "") for container in pod["spec"].get("containers") or []]
        container = query.get("container", "")
        if not container:
            if len(containers) != 1:
                raise ApiError.bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]")
            container = containers[0]
        if container not in containers:
            raise ApiError.bad_request(f"container {container} is not valid for pod {name}")
        if query.get("previous", "").lower() in _TRUE:
            raise ApiError.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        buffer = self.kubelet.log_buffer(pod["metadata"]["uid"], container)
        if buffer is None:
            statuses = {status.get("name"): status for status in (pod.get("status") or {}).get("containerStatuses") or []}
            state = statuses.get(container, {}).get("state") or {}
            if "terminated" in state:  # it never ran (StartError): there is no log
                return exchange.send_text(200, b"")
            reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
            raise ApiError.bad_request(_waiting_message(container, name, reason))
        timestamps = query.get("timestamps", "").lower() in _TRUE
        since = float(query["sinceSeconds"]) if query.get("sinceSeconds") else None
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        budget = int(query["limitBytes"]) if query.get("limitBytes") else None
        lines, position, done = buffer.read(0, 0)
        if since is not None:
            lines = [line for line in lines if line[0] >= time.time() - since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        text = render(lines, timestamps)
        if budget is not None:
            text = text[:budget]
        if query.get("follow", "").lower() not in _TRUE:
            return exchange.send_text(200, text)
        self._stream(exchange, "log", "text/plain")
        try:
            self._follow(exchange, buffer, text, position, done, timestamps, budget)
        finally:
            self._unstream(exchange)

    def _follow(
        self, exchange: Exchange, buffer: LogBuffer, text: bytes, position: int, done: bool, timestamps: bool, budget: int | None
    ) -> None:
        """Send what the log holds, then each new line, until the container has terminated and all of it is sent."""
        while True:
            if text:
                if budget is not None:
                    text = text[:budget]
                    budget -= len(text)
                if not exchange.write_chunk(text):
                    return
            if done or budget == 0:
                return exchange.end_stream()
            if exchange.cut or self.stopping:
                return exchange.abort()
            if exchange.client_gone():
                return
            lines, position, done = buffer.read(position, 0.25)
            text = render(lines, timestamps)


def _as_seen_through(event: Event, match: Callable[[Obj], bool]) -> str | None:
    """The event a watch with this selection gets: an object that enters the selection is ADDED to it, one that leaves
    it is DELETED from it (carrying its new state), as the apiserver's watch cache does."""
    matches = match(event.obj)
    if event.type != "MODIFIED":
        return event.type if matches else None
    matched = event.old is not None and match(event.old)
    if matches:
        return "MODIFIED" if matched else "ADDED"
    return "DELETED" if matched else None
