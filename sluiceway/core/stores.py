"""Store interfaces: artifacts (the files that flow between tasks) and metadata (what happened)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .task_spec import StoreRef

if TYPE_CHECKING:
    from .ir import Pipeline
    from .launcher import AttemptRecord
    from .lifecycle import RunState
    from .task_spec import InputBinding


@runtime_checkable
class ArtifactStore(Protocol):
    """Keeps artifacts under URIs of one scheme (`file`, `s3`, `oss`, ...)."""

    scheme: str

    def upload(self, local_path: Path, uri: str) -> None:
        """Copy a local file or folder to `uri`, replacing what was there."""

    def download(self, uri: str, local_path: Path) -> None:
        """Copy what is at `uri` to a local file or folder."""

    def exists(self, uri: str) -> bool:
        """Whether anything is stored at `uri`."""


DEFAULT_STORES: dict[str, StoreRef | str] = {"file": "sluiceway.stores.local:LocalArtifactStore"}


class Stores:
    """The artifact store for each URI scheme, created on first use."""

    def __init__(self, by_scheme: dict[str, StoreRef | str]) -> None:
        self._targets = {**DEFAULT_STORES, **by_scheme}
        self._stores: dict[str, ArtifactStore] = {}

    def for_uri(self, uri: str) -> ArtifactStore:
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        store = self._stores.get(scheme)
        if store is None:
            target = self._targets.get(scheme)
            if target is None:
                raise LookupError(f"no artifact store for '{scheme}://' URIs (the task spec names: {', '.join(sorted(self._targets))})")
            ref = target if isinstance(target, StoreRef) else StoreRef(target=target)
            module_name, _, attribute = ref.target.partition(":")
            factory: Any = getattr(importlib.import_module(module_name), attribute)
            store = self._stores[scheme] = factory(**ref.settings)
        return store

    def upload(self, local_path: Path, uri: str) -> None:
        self.for_uri(uri).upload(local_path, uri)

    def download(self, uri: str, local_path: Path) -> None:
        self.for_uri(uri).download(uri, local_path)


class MetadataStore(Protocol):
    """Keeps runs, their tasks, outputs, artifacts and lineage."""

    def create_run(self, run_id: str, pipeline: Pipeline, parameters: dict[str, Any]) -> None: ...

    def set_run_state(
        self, run_id: str, state: RunState, *, retrying: bool = False, error_kind: str | None = None, message: str = ""
    ) -> None:
        """Move a run to `state`; a FAILED run says why (an ST-10 kind and a sentence)."""

    def record_task(
        self,
        run_id: str,
        task_id: str,
        *,
        kind: str,
        state: str,
        skip_reason: str | None,
        message: str,
        attempts: int,
        error_kind: str | None = None,
        attempt: AttemptRecord | None = None,
        outputs: dict[str, InputBinding] | None = None,
        cache_parts: dict[str, str] | None = None,
    ) -> None:
        """Record a task's state; outputs, when given, are recorded in the same transaction."""

    def record_inputs(self, run_id: str, task_id: str, inputs: dict[str, InputBinding]) -> None:
        """Record the artifacts a task consumed."""


class CacheStore(Protocol):
    """Keeps the outputs of succeeded tasks under their cache keys."""

    def write_cache_entry(self, key: str, run_id: str, task_id: str, outputs: dict[str, InputBinding]) -> None: ...

    def find_cache_entry(self, key: str, max_age_seconds: float | None = None) -> tuple[str, str, dict[str, InputBinding]] | None:
        """(run, task, outputs) of the newest entry for `key` not older than `max_age_seconds`."""
