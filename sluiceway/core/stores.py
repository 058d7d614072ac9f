"""The artifact store interface: where the files that flow between tasks are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


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
