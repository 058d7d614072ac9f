"""Artifact stores as the task spec names them, and content digests of artifacts."""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import Any

from ..core.stores import ArtifactStore
from ..core.task_spec import StoreRef

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


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in name order)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                file_path = Path(root, name)
                digest.update(file_path.relative_to(path).as_posix().encode() + b"\0")
                _feed(digest, file_path)
    else:
        _feed(digest, path)
    return "sha256:" + digest.hexdigest()


def _feed(digest: Any, path: Path) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
