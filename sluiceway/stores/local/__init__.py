"""Artifacts on the local disk, under `file://` URIs."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from ...core.errors import SluicewayError

READ_CHUNK = 1 << 20


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

    def read_chunks(self, uri: str, chunk_bytes: int = READ_CHUNK) -> Iterator[bytes]:
        """The file at `uri`, a chunk at a time: a server streams it without holding it in memory. Opened here, not on
        the first chunk, so that a missing file (FileNotFoundError) or a folder (IsADirectoryError) is known before a
        response starts."""
        path = _path(uri)
        if path.is_dir():
            raise IsADirectoryError(f"{uri} is a folder")
        opened = open(path, "rb")  # noqa: SIM115  (closed by the generator, which may outlive this call)

        def chunks() -> Iterator[bytes]:
            with opened:
                while chunk := opened.read(chunk_bytes):
                    yield chunk

        return chunks()


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
