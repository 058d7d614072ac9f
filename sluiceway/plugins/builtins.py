"""Sluiceway's own backends and stores, registered through the public hooks."""

from __future__ import annotations

from .hookspecs import hookimpl
from .registry import Registrar


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
