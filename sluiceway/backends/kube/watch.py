"""One watch on a run's objects (its Jobs, its pods), shared by all its attempts: list once, then watch from the list's
resourceVersion.

The watch resumes from the last resourceVersion it saw when the server ends it (its timeout) or
the connection drops; when that version has expired (410 Gone) it lists again and watches from
the new list. Every list tells the listener which objects exist, so that one deleted while no
watch was open is noticed too. API errors (a 500, a refused connection) are retried with
backoff, for as long as the run lasts: an API server that is down for a while delays the run's
news, and loses none of it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

EventHandler = Callable[[str, dict[str, Any]], None]
"""(ADDED | MODIFIED | DELETED, the object as a dict)."""
ListHandler = Callable[[list[dict[str, Any]]], None]
"""Every object the selector matches, after each list."""

GONE = 410
CONNECT_TIMEOUT_SECONDS = 10.0
QUIET_MARGIN_SECONDS = 60.0
"""A watch says nothing for at most its timeout (bookmarks aside); silence beyond this means a dead connection."""
WARN_AFTER_FAILURES = 5
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 5.0


class ResourceWatch:
    """Calls `on_event` for each change of the objects `label_selector` matches in `namespace`, and `on_list` after each
    list. `list_objects` is the client's list function for the kind (`BatchV1Api.list_namespaced_job`, ...); `kind`
    names it in messages ("Jobs")."""

    def __init__(
        self,
        list_objects: Callable[..., Any],
        kind: str,
        namespace: str,
        label_selector: str,
        on_event: EventHandler,
        on_list: ListHandler,
        *,
        timeout_seconds: int = 300,
    ) -> None:
        self.list_objects = list_objects
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_event = on_event
        self.on_list = on_list
        self.timeout_seconds = timeout_seconds
        self.resource_version: str | None = None
        self.lists = 0
        self.watches = 0
        self.failures = 0
        self._stopped = threading.Event()
        self._watch: Any = None
        self._thread = threading.Thread(target=self._run, name=f"sluiceway-watch-{kind.lower()}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; the thread ends with the open stream (it is a daemon thread: nothing waits for it)."""
        self._stopped.set()
        current = self._watch
        if current is not None:
            current.stop()
            response = getattr(current, "_resp", None)  # the client keeps the open stream here; closing it ends the read
            if response is not None:
                response.close()

    def _run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        backoff = FIRST_BACKOFF_SECONDS
        while not self._stopped.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch = watch.Watch()
                self.watches += 1
                for event in self._watch.stream(
                    self.list_objects,
                    self.namespace,
                    label_selector=self.label_selector,
                    resource_version=self.resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=self.timeout_seconds,
                    _request_timeout=(CONNECT_TIMEOUT_SECONDS, self.timeout_seconds + QUIET_MARGIN_SECONDS),
                ):
                    if self._stopped.is_set():
                        return
                    self._handle(event["type"], event["raw_object"])
                    backoff, self.failures = FIRST_BACKOFF_SECONDS, 0
            except ApiException as error:
                if error.status == GONE:
                    log.debug("the watch's resourceVersion %s expired: listing again", self.resource_version)
                    self.resource_version = None
                    continue
                self._wait(backoff, error)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception as error:  # the connection broke: resume from the last resourceVersion
                self._wait(backoff, error)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _list(self) -> None:
        answer = self.list_objects(
            self.namespace,
            label_selector=self.label_selector,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT_SECONDS, QUIET_MARGIN_SECONDS),
        )
        body = json.loads(answer.data)  # dicts, as the watch's raw objects are: no models to build
        self.lists += 1
        self.resource_version = body["metadata"]["resourceVersion"]
        self.on_list(body.get("items") or [])

    def _handle(self, kind: str, obj: dict[str, Any]) -> None:
        version = obj.get("metadata", {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.on_event(kind, obj)

    def _wait(self, seconds: float, error: BaseException) -> None:
        if self._stopped.is_set():
            return
        self.failures += 1
        # Said out loud once it persists (no RBAC for watching, credentials gone): the run waits on this watch.
        report = log.warning if self.failures == WARN_AFTER_FAILURES else log.debug
        report(
            "watching %s in %s failed %d times in a row (%s); trying again in %.1f s",
            self.kind,
            self.namespace,
            self.failures,
            error,
            seconds,
        )
        self._stopped.wait(seconds)
