"""Content digests of artifacts (the stores a task spec names are core.stores.Stores)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..core.stores import DEFAULT_STORES, Stores

__all__ = ["DEFAULT_STORES", "Stores", "content_digest"]


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
