"""An artifact's bytes, read through the configured artifact stores a chunk at a time: a download never holds a whole
file in the server's memory.

The stores Sluiceway ships (`file`, `s3`, `oss`) read their objects as chunks themselves
(`read_chunks`). A store a plugin adds may only have the protocol's `download`: its artifact is
then downloaded to a temporary file first, and streamed from there.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import config, local
from ..core.stores import Stores

CHUNK_BYTES = 1 << 20


def artifact_stores(settings: config.Config) -> Stores:
    """Every registered artifact store by scheme, the configured one with its settings (as the runs' tasks get them)."""
    from ..plugins import PluginManager

    by_scheme, _credentials = local._artifact_stores(PluginManager().registry, local.artifact_root(settings.artifacts), settings.artifacts)
    # The credentials are in the server's environment already, or in the SDK's chain: a run sets them only for itself.
    return Stores(by_scheme)


def read_chunks(stores: Stores, uri: str) -> Iterator[bytes]:
    """The file at `uri` in chunks. Raises at once, before any chunk: FileNotFoundError when it is gone,
    IsADirectoryError for a folder artifact."""
    store: Any = stores.for_uri(uri)
    if hasattr(store, "read_chunks"):
        chunks: Iterator[bytes] = store.read_chunks(uri)
        return chunks
    return _through_a_temporary_file(store, uri)


def _through_a_temporary_file(store: Any, uri: str) -> Iterator[bytes]:
    folder = Path(tempfile.mkdtemp(prefix="sluiceway-download-"))
    try:
        target = folder / "artifact"
        try:
            store.download(uri, target)
        except Exception as error:  # each store says "missing" its own way; a download that failed is gone for us
            raise FileNotFoundError(f"cannot read {uri}: {error}") from error
        if target.is_dir():
            raise IsADirectoryError(f"{uri} is a folder")
        opened = open(target, "rb")  # noqa: SIM115  (closed by the generator below)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def chunks() -> Iterator[bytes]:
        try:
            with opened:
                while chunk := opened.read(CHUNK_BYTES):
                    yield chunk
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return chunks()
