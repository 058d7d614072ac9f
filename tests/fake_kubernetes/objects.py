"""The object store: every object of every resource, the event history watches replay, and cascading deletion.

Objects are plain dicts keyed by resource and (namespace, name); cluster-scoped objects have namespace "".
Every write takes the next value of one global resourceVersion and appends an event (ADDED, MODIFIED,
DELETED, with the object as written) to the history. A stored object is never mutated, only replaced, so
events can share it. `compact()` moves the floor below which a watch may not resume (410 Expired) without
dropping history, so watches already open carry on as they do over a real watch cache.
"""

from __future__ import annotations

import bisect
import copy
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ApiError
from .resources import BUILTIN, Resource, ResourceType, guess_kind, prepare_create, validate, validate_update

Obj = dict[str, Any]
_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet (no vowels, no 0/1/3)
POLICIES = ("Orphan", "Background", "Foreground")


def rfc3339(when: datetime | None = None) -> str:
    return (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    resource: Resource
    obj: Obj  # the object as written (for DELETED: as it was, with the deletion's resourceVersion); never mutated
    old: Obj | None  # before a MODIFIED, so that a selector can tell an object left or entered the selection


def _content(obj: Obj) -> Obj:
    """What `metadata.generation` counts changes of: everything but metadata and status."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status", "apiVersion", "kind")}


class ObjectStore:
    def __init__(self, history_limit: int = 200_000) -> None:
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._types: dict[Resource, ResourceType] = dict(BUILTIN)
        self._objects: dict[Resource, dict[tuple[str, str], Obj]] = {}
        self._rv = 1  # never 0: "0" in a watch or list means "any version", not "from the start"
        self._history: list[Event] = []
        self._history_limit = history_limit
        self._oldest = 0  # history holds every event after this resourceVersion
        self.floor = 0  # a watch may resume from this resourceVersion or later
        self._pending: dict[str, str] = {}  # uid -> propagation policy, of objects whose deletion waits for graceful termination
        # Set by the kubelet: called (under the lock, must not block) when a pod is to be deleted; True means the kubelet
        # terminates it first and then calls remove(), as a kubelet confirms a graceful deletion.
        self.graceful_deleter: Callable[[Resource, Obj, int | None], bool] | None = None

    # Reading.

    @property
    def resource_version(self) -> int:
        return self._rv

    def type_of(self, resource: Resource) -> ResourceType:
        return self._types.get(resource) or ResourceType(guess_kind(resource.plural))

    def register(self, resource: Resource, resource_type: ResourceType) -> None:
        with self.lock:
            self._types[resource] = resource_type

    def find(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        """The stored object itself (do not mutate it), or None."""
        return self._objects.get(resource, {}).get((namespace, name))

    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.find(resource, namespace, name)
            if obj is None:
                raise ApiError.not_found(resource.qualified, name)
            return copy.deepcopy(obj)

    def select(self, resource: Resource, namespace: str | None, match: Callable[[Obj], bool] = lambda obj: True) -> tuple[list[Obj], int]:
        """Matching objects in etcd's key order (namespace, name), and the resourceVersion they are current at."""
        with self.lock:
            items = [obj for key, obj in sorted(self._objects.get(resource, {}).items()) if namespace is None or key[0] == namespace]
            return [copy.deepcopy(obj) for obj in items if match(obj)], self._rv

    def by_uid(self, uid: str) -> tuple[Resource, Obj] | None:
        for resource, objects in self._objects.items():
            for obj in objects.values():
                if obj["metadata"].get("uid") == uid:
                    return resource, obj
        return None

    def dependents(self, uid: str) -> list[tuple[Resource, Obj]]:
        return [
            (resource, obj)
            for resource, objects in self._objects.items()
            for obj in objects.values()
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
        ]

    # The event history.

    def events_after(self, rv: int) -> list[Event]:
        with self.lock:
            if rv < self._oldest:
                raise ApiError.expired(f"too old resource version: {rv} ({self._oldest})")
            start = bisect.bisect_right(self._history, rv, key=lambda event: event.rv)
            return self._history[start:]

    def wait(self, rv: int, timeout: float) -> None:
        """Until something is written after `rv`, `wake()` is called, or `timeout` seconds pass."""
        with self._changed:
            if self._rv <= rv:
                self._changed.wait(timeout)

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def check_resumable(self, rv: int) -> None:
        if rv < max(self.floor, self._oldest):
            raise ApiError.expired(f"too old resource version: {rv} ({max(self.floor, self._oldest)})")

    def compact(self) -> None:
        with self.lock:
            self.floor = self._rv

    def _write(self, resource: Resource, kind: str, obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if kind == "DELETED":
            self._objects[resource].pop(key, None)
        else:
            self._objects.setdefault(resource, {})[key] = obj
        self._history.append(Event(self._rv, kind, resource, obj, old))
        if len(self._history) > self._history_limit:
            dropped = self._history[: len(self._history) // 2]
            del self._history[: len(dropped)]
            self._oldest = dropped[-1].rv
        self._changed.notify_all()
        return copy.deepcopy(obj)

    # Writing.

    def create(self, resource: Resource, namespace: str, body: Any) -> Obj:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise ApiError.bad_request("the body must be a JSON object with an object `metadata`")
        obj = copy.deepcopy(body)
        metadata = obj.setdefault("metadata", {})
        with self.lock:
            if resource not in self._types:  # learn a custom resource's kind from what the client says it is
                self._types[resource] = ResourceType(str(obj.get("kind") or guess_kind(resource.plural)))
            kind = self._types[resource].kind
            if metadata.get("namespace") not in (None, "", namespace):
                raise ApiError.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            name = metadata.get("name") or ""
            if not name and metadata.get("generateName"):
                base = str(metadata["generateName"])[:58]
                name = base + "".join(secrets.choice(_NAME_SUFFIX) for _ in range(5))
            if not name:
                raise ApiError.invalid(kind, "", ["metadata.name: Required value: name or generateName is required"])
            if self.find(resource, namespace, name) is not None:
                raise ApiError.already_exists(resource.qualified, name)
            for server_set in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
                metadata.pop(server_set, None)
            metadata.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=rfc3339(), generation=1)
            if namespace:
                metadata["namespace"] = namespace
            obj["apiVersion"], obj["kind"] = resource.api_version, kind
            if self._types[resource].status_subresource:
                obj.pop("status", None)  # status is written through /status only
            prepare_create(resource, obj)
            validate(resource, kind, obj)
            return self._write(resource, "ADDED", obj, None)

    def update(self, resource: Resource, namespace: str, name: str, change: Callable[[Obj], Any], subresource: str | None = None) -> Obj:
        """Replace an object by `change(copy of it)`, with the apiserver's rules: a stale resourceVersion is a 409,
        server-set metadata is kept, the status of a kind with a status subresource changes through /status only
        (and /status changes nothing else), generation counts spec changes, and a no-op writes nothing."""
        with self.lock:
            current = self.find(resource, namespace, name)
            if current is None:
                raise ApiError.not_found(resource.qualified, name)
            proposed = change(copy.deepcopy(current))
            if not isinstance(proposed, dict) or not isinstance(proposed.get("metadata", {}), dict):
                raise ApiError.bad_request("the body must be a JSON object with an object `metadata`")
            rv = (proposed.get("metadata") or {}).get("resourceVersion")
            if rv not in (None, "") and str(rv) != current["metadata"]["resourceVersion"]:
                raise ApiError.conflict(resource.qualified, name)
            resource_type = self.type_of(resource)
            if subresource == "status":
                new = copy.deepcopy(current)
                new["status"] = copy.deepcopy(proposed.get("status"))
                if new["status"] is None:
                    del new["status"]
            else:
                new = copy.deepcopy(proposed)
                new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
                if resource_type.status_subresource:
                    new.pop("status", None)
                    if "status" in current:
                        new["status"] = copy.deepcopy(current["status"])
                metadata = new.setdefault("metadata", {})
                for server_set in (
                    "name",
                    "namespace",
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                ):
                    metadata.pop(server_set, None)
                    if server_set in current["metadata"]:
                        metadata[server_set] = current["metadata"][server_set]
                validate_update(resource, resource_type.kind, current, new)
                if _content(new) != _content(current):
                    metadata["generation"] = int(current["metadata"].get("generation", 0)) + 1
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if new == current:
                return copy.deepcopy(current)
            written = self._write(resource, "MODIFIED", new, current)
            if (
                "deletionTimestamp" in new["metadata"]
                and not new["metadata"].get("finalizers")
                and new["metadata"]["uid"] not in self._pending
            ):
                return self._remove(resource, new, "Background")  # its last finalizer is gone
            return written

    def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        policy: str | None = None,
        grace: int | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> tuple[Obj, bool]:
        """Delete as the apiserver and garbage collector do; answers the object and whether it is gone already
        (False: it waits for graceful termination, dependents, or finalizers, and carries a deletionTimestamp)."""
        with self.lock:
            current = self.find(resource, namespace, name)
            if current is None:
                raise ApiError.not_found(resource.qualified, name)
            for field in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(field)
                if wanted and wanted != current["metadata"].get(field):
                    raise ApiError(
                        409,
                        f"Precondition failed: {field} in precondition: {wanted}, {field} in object meta: {current['metadata'].get(field)}",
                        "Conflict",
                    )
            if policy is None:
                policy = "Orphan" if self.type_of(resource).orphans_by_default else "Background"
            if policy not in POLICIES:
                raise ApiError.bad_request(f"propagationPolicy: Unsupported value: {policy!r}: supported values: {', '.join(POLICIES)}")
            return self._delete(resource, current, policy, grace)

    def remove(self, resource: Resource, namespace: str, name: str) -> None:
        """Finish a graceful deletion (the kubelet's confirmation): the object goes now."""
        with self.lock:
            current = self.find(resource, namespace, name)
            if current is not None:
                self._remove(resource, current, self._pending.pop(current["metadata"]["uid"], "Background"))

    def _mark(self, resource: Resource, current: Obj, **metadata: Any) -> Obj:
        new = copy.deepcopy(current)
        new["metadata"].setdefault("deletionTimestamp", rfc3339())
        new["metadata"].update(metadata)
        return self._write(resource, "MODIFIED", new, current)

    def _delete(self, resource: Resource, current: Obj, policy: str, grace: int | None) -> tuple[Obj, bool]:
        metadata = current["metadata"]
        uid = metadata["uid"]
        if "deletionTimestamp" in metadata:  # already on its way out; a grace period of 0 hurries a graceful one
            if grace == 0 and uid in self._pending:
                return self._remove(resource, current, self._pending.pop(uid)), True
            return copy.deepcopy(current), False
        if self.graceful_deleter is not None and self.graceful_deleter(resource, current, grace):
            seconds = grace if grace is not None else int((current.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
            self._pending[uid] = policy
            when = rfc3339(datetime.now(timezone.utc) + timedelta(seconds=seconds))
            return self._mark(resource, current, deletionTimestamp=when, deletionGracePeriodSeconds=seconds), False
        finalizers = list(metadata.get("finalizers") or [])
        if policy == "Orphan":
            marked = self._mark(resource, current, finalizers=[*finalizers, "orphan"])
            self._orphan_dependents(uid)
            if finalizers:
                return self._write(
                    resource, "MODIFIED", {**marked, "metadata": {**marked["metadata"], "finalizers": finalizers}}, marked
                ), False
            self._remove(resource, self.find(resource, metadata.get("namespace", ""), metadata["name"]) or marked, "Orphan")
            return marked, False
        if policy == "Foreground":
            self._mark(resource, current, finalizers=[*finalizers, "foregroundDeletion"])
            for dependent_resource, dependent in self.dependents(uid):
                self._delete(dependent_resource, dependent, "Background", None)
            waiting = self.find(resource, metadata.get("namespace", ""), metadata["name"])
            if waiting is not None:
                self._release(resource, waiting)  # no dependents: it goes now
            return copy.deepcopy(waiting or current), False
        if finalizers:
            return self._mark(resource, current), False
        return self._remove(resource, current, policy), True

    def _remove(self, resource: Resource, current: Obj, policy: str) -> Obj:
        gone = self._write(resource, "DELETED", copy.deepcopy(current), current)
        uid = current["metadata"]["uid"]
        self._pending.pop(uid, None)
        if policy == "Orphan":
            self._orphan_dependents(uid)
        else:
            for dependent_resource, dependent in self.dependents(uid):
                self._delete(dependent_resource, dependent, "Background", None)
        for ref in current["metadata"].get("ownerReferences") or []:
            owner = self.by_uid(ref.get("uid", ""))
            if owner is not None:
                self._release(*owner)
        return gone

    def _release(self, resource: Resource, owner: Obj) -> None:
        """A foreground deletion ends when the owner's last dependent is gone."""
        finalizers = owner["metadata"].get("finalizers") or []
        if "foregroundDeletion" not in finalizers or self.dependents(owner["metadata"]["uid"]):
            return
        remaining = [finalizer for finalizer in finalizers if finalizer != "foregroundDeletion"]
        if remaining:
            self._write(resource, "MODIFIED", {**owner, "metadata": {**owner["metadata"], "finalizers": remaining}}, owner)
        else:
            self._remove(resource, owner, "Background")

    def _orphan_dependents(self, uid: str) -> None:
        for resource, dependent in self.dependents(uid):
            new = copy.deepcopy(dependent)
            new["metadata"]["ownerReferences"] = [ref for ref in dependent["metadata"]["ownerReferences"] if ref.get("uid") != uid]
            if not new["metadata"]["ownerReferences"]:
                del new["metadata"]["ownerReferences"]
            self._write(resource, "MODIFIED", new, dependent)
