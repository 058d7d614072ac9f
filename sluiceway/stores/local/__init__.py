"""Artifacts on the local disk, under `file://` URIs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from ...core.errors import SluicewayError


class LocalArtifactStore:
    """Keeps artifacts as plain files and folders. Writes are atomic: a reader never sees half a file."""

    scheme = "file"

    def upload(self, local_path: Path, uri: str) -> None:
        _copy_atomically(Path(local_path), _path(uri))

    def download(self, uri: str, local_path: Path) -> None:
        source = _path(uri)
        if not source.exists():
            raise SluicewayError(f"no artifact at {uri}")
        _copy_atomically(source, Path(local_path))

    def exists(self, uri: str) -> bool:
        return _path(uri).exists()


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise SluicewayError(f"{uri} is not a local file:// URI")
    return Path(unquote(parsed.path))


def _copy_atomically(source: Path, target: Path) -> None:
    if not source.exists():
        raise SluicewayError(f"{source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staged = staging / target.name
        if source.is_dir():
            shutil.copytree(source, staged)
        else:
            shutil.copyfile(source, staged)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif staged.is_dir() and (target.exists() or target.is_symlink()):
            target.unlink()  # a folder replaces a file: rename() cannot do that by itself
        os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
