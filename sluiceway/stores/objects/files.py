"""The local side of a transfer: digests, the partial file a download grows in, and swapping it in.

A download is written to `.NAME.sluiceway-partial` beside its destination, with a small
`.NAME.sluiceway-partial.json` saying which object (URI, ETag, size, SHA-256) it holds part of.
Both stay when a download is interrupted, so the next download of the same object continues
where this one stopped; they are removed once the file is verified and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from ...core.errors import SluicewayError

PARTIAL_SUFFIX = ".sluiceway-partial"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partial_path(target: Path) -> Path:
    """Where a download to `target` is staged: beside it, so the final rename stays on one file system."""
    return target.with_name(f".{target.name}{PARTIAL_SUFFIX}")


@dataclass(frozen=True)
class PartialObject:
    """Which object a partial file holds the first bytes of."""

    uri: str
    etag: str
    size: int
    sha256: str | None

    @staticmethod
    def sidecar(partial: Path) -> Path:
        return partial.with_name(partial.name + ".json")

    @classmethod
    def load(cls, partial: Path) -> PartialObject | None:
        """The record of an interrupted download into `partial`, if both the file and a readable record are there."""
        try:
            if not partial.is_file():
                return None
            return cls(**json.loads(cls.sidecar(partial).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, partial: Path) -> None:
        self.sidecar(partial).write_text(json.dumps(asdict(self)))


def discard(path: Path) -> None:
    """Remove a partial file or folder and its record, whatever is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    PartialObject.sidecar(path).unlink(missing_ok=True)


def replace(staged: Path, target: Path) -> None:
    """Put `staged` (a file or folder) at `target`, whatever `target` was: a file, a folder or nothing."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif staged.is_dir() and (target.exists() or target.is_symlink()):
        target.unlink()
    os.replace(staged, target)


def folder_contents(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The files under `folder` by relative POSIX path, and its empty subfolders (which object stores cannot hold as objects)."""
    files: dict[str, Path] = {}
    empty: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=True):  # as the local store copies: links by what they point to
        dirs.sort()
        here = Path(root)
        for name in sorted(names):
            files[(here / name).relative_to(folder).as_posix()] = here / name
        if here != folder and not dirs and not names:
            empty.append(here.relative_to(folder).as_posix())
    return files, empty


def safe_relative(name: str, where: str) -> str:
    """`name` if it is a plain relative path; a folder listing naming `..` or `/x` could write outside the destination."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in name:
        raise SluicewayError(f"{where} lists the unsafe file name {name!r}; refusing to download it")
    return name


def stray_files(folder: Path, keep: set[str]) -> Iterator[Path]:
    """Files under `folder` that are not in `keep`: left in a partial folder by an older version of it."""
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            if path.relative_to(folder).as_posix() not in keep:
                yield path
