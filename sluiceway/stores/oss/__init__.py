"""Artifacts in Alibaba Cloud Object Storage Service (OSS), under `oss://` URIs.

Needs the extra `oss` (oss2, Alibaba Cloud's SDK). oss2 is imported on the store's first request,
never on import, so that nothing pays for it until an `oss://` URI is used.
"""

from __future__ import annotations

from .store import FOLDER_MANIFEST, OssArtifactStore

__all__ = ["FOLDER_MANIFEST", "OssArtifactStore"]
