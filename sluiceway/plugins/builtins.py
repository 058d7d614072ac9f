"""Sluiceway's own backends and stores, registered through the public hooks."""

from __future__ import annotations

from .hookspecs import hookimpl
from .registry import Registrar


@hookimpl
def register_artifact_stores(register: Registrar) -> None:
    register.add("file", "sluiceway.stores.local:LocalArtifactStore", description="Files in a local folder")
