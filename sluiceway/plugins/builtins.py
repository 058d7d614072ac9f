"""Sluiceway's own backends, stores and API tokens, registered through the public hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .hookspecs import hookimpl
from .registry import Registrar

if TYPE_CHECKING:
    from ..core.access import Principal
    from ..stores.sql import SqlMetadataStore


@hookimpl
def register_backends(register: Registrar) -> None:
    register.add("local", "sluiceway.backends.local:LocalLauncher", description="Each task as a process on this machine")
    register.add("k8s_job", "sluiceway.backends.k8s_job:KubernetesJobLauncher", description="Each task as a Kubernetes Job (extra k8s)")
    register.add("argo", "sluiceway.backends.argo:ArgoLauncher", description="Each run as an Argo Workflow (extra argo)")
    register.add("tekton", "sluiceway.backends.tekton:TektonLauncher", description="Each run as a Tekton PipelineRun (extra tekton)")


@hookimpl
def register_metadata_stores(register: Registrar) -> None:
    register.add("sql", "sluiceway.stores.sql:SqlMetadataStore", description="SQLite (embedded default), PostgreSQL or MySQL")


@hookimpl
def register_artifact_stores(register: Registrar) -> None:
    register.add("file", "sluiceway.stores.local:LocalArtifactStore", description="Files in a local folder")
    register.add("s3", "sluiceway.stores.s3:S3ArtifactStore", description="S3, MinIO and other S3-compatible object stores (extra s3)")
    register.add("oss", "sluiceway.stores.oss:OssArtifactStore", description="Aliyun OSS (extra oss)")


@hookimpl
def authenticate(headers: Mapping[str, str], store: SqlMetadataStore) -> Principal | None:
    """A bearer token made by `sluiceway tokens create`; anything else is left to other plugins."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    from ..stores.sql.tokens import SqlTokens  # here, not at the top: listing plugins must not load SQLAlchemy

    return SqlTokens(store).principal(token.strip())
