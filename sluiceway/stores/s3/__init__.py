"""Artifacts in S3 and S3-compatible object stores (MinIO, SeaweedFS, Ceph, ...), under `s3://` URIs.

Needs the extra `s3` (boto3). boto3 is imported on the store's first request, never on import,
so that nothing pays for it until an `s3://` URI is used.
"""

from __future__ import annotations

from .store import FOLDER_MANIFEST, S3ArtifactStore

__all__ = ["FOLDER_MANIFEST", "S3ArtifactStore"]
