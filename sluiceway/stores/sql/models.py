"""The metadata schema: SQLAlchemy 2 models, one table per kind of record.

Changes to these models need an alembic migration under `migrations/versions/`; a test
fails when the models and the migrations disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Named constraints, so that migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(255)
NAME = String(255)
NAMESPACE = String(63)
"""A Kubernetes namespace name's limit."""
DEFAULT_NAMESPACE = "default"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, dict[str, Any] | None: JSON, datetime: DateTime(timezone=True)}


class PipelineVersion(Base):
    """A compiled pipeline, identified by its IR digest: the same content is stored once."""

    __tablename__ = "pipeline_versions"

    digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(NAME, index=True)
    ir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class _NamedInNamespace:
    """Columns of a record named once in its namespace (pipelines, experiments), listed by name or newest first: the
    unique key serves the first order, the index the second."""

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    namespace: Mapped[str] = mapped_column(NAMESPACE)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("namespace", "name"), Index(None, "namespace", "created_at", "id"))  # new ones for each table


class Pipeline(_NamedInNamespace, Base):
    """A named pipeline of a namespace, whose versions are IR documents (PipelineVersionLink)."""

    __tablename__ = "pipelines"


class PipelineVersionLink(Base):
    """A version of a pipeline: the pipeline and the digest of an IR document in pipeline_versions.

    The key is (pipeline, digest), so uploading the same content to a pipeline twice finds the
    version it made the first time. The document itself is shared: runs point at it directly, so
    deleting a pipeline or a version leaves the runs made from it whole.
    """

    __tablename__ = "pipeline_version_links"

    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("pipeline_versions.digest"), primary_key=True)
    created_at: Mapped[datetime]

    __table_args__ = (Index(None, "pipeline_id", "created_at", "digest"),)


class Experiment(_NamedInNamespace, Base):
    """A named group of runs in a namespace; runs name it in `runs.experiment`."""

    __tablename__ = "experiments"

    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    namespace: Mapped[str] = mapped_column(NAMESPACE, default=DEFAULT_NAMESPACE, server_default=DEFAULT_NAMESPACE)
    """The tenant the run belongs to; the embedded default has one."""
    experiment: Mapped[str | None] = mapped_column(NAME)
    pipeline_name: Mapped[str] = mapped_column(NAME)
    pipeline_digest: Mapped[str] = mapped_column(ForeignKey("pipeline_versions.digest"))
    state: Mapped[str] = mapped_column(String(20))
    parameters: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    error_kind: Mapped[str | None] = mapped_column(String(40))
    """Why a FAILED run failed (semantics ST-10)."""
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Raised on every state change: a writer holding an older version loses (optimistic concurrency)."""
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    """Chosen by the client that created the run, so that a retried create finds this run instead of making another."""
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Left out of run listings unless a filter names `archived`; the server default gives rows made before 0009 False."""

    # Listing runs filters by namespace, then by state, experiment or pipeline, newest first, a page at a time
    # by keyset (created_at, id): one index per filter, each ending in the sort key, so no page reads more rows
    # than it returns however many runs there are.
    __table_args__ = (
        Index(None, "namespace", "created_at", "id"),
        Index(None, "namespace", "state", "created_at", "id"),
        Index(None, "namespace", "experiment", "created_at", "id"),
        Index(None, "namespace", "pipeline_name", "created_at", "id"),
        Index(None, "namespace", "archived", "created_at", "id"),  # the default listing: a namespace's runs not archived
        UniqueConstraint("namespace", "idempotency_key"),  # NULLs never collide: runs made without a key are not limited
    )


class TaskRecord(Base):
    """One node instance of a run: a task, an importer or a group."""

    __tablename__ = "tasks"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    task_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    error_kind: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cache_parts: Mapped[dict[str, Any] | None]
    """Digests of the parts of the task's cache key, to explain a miss."""
    updated_at: Mapped[datetime]

    __table_args__ = (Index(None, "task_id", "updated_at"),)


class AttemptRow(Base):
    """One attempt of a task (semantics ST-7): numbers go on across `runs retry`."""

    __tablename__ = "attempts"

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    task_id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end: Mapped[str | None] = mapped_column(String(20))
    """finished, timed_out, cancelled or lost; None while it runs."""
    exit_code: Mapped[int | None]
    error_kind: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (ForeignKeyConstraint(["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"], ondelete="CASCADE"),)


class TaskOutput(Base):
    """An output of a task: a value, a value kept in the artifact store, or an artifact."""

    __tablename__ = "task_outputs"

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    task_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[dict[str, Any]]
    """{"value": V}, {"value_uri": U} or {"artifacts": [...]}: the binding, as the task spec has it."""

    __table_args__ = (ForeignKeyConstraint(["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"], ondelete="CASCADE"),)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(1024))
    uri_key: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 of the URI, hex: what makes a URI unique (MySQL cannot index 1024 characters of utf8mb4)."""
    type: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(80), index=True)
    properties: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class LineageEvent(Base):
    """An artifact produced or consumed by a task of a run."""

    __tablename__ = "lineage_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str] = mapped_column(ID)
    task_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16))
    """'produced' or 'consumed'."""
    name: Mapped[str] = mapped_column(NAME)
    """The output or input name the artifact went by."""

    __table_args__ = (Index(None, "run_id", "task_id"),)


class CacheEntry(Base):
    """The outputs of a succeeded task instance, reusable by any task with the same cache key."""

    __tablename__ = "cache_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(80))
    run_id: Mapped[str] = mapped_column(ID)
    task_id: Mapped[str] = mapped_column(ID)
    outputs: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]

    __table_args__ = (Index(None, "key", "created_at"),)


class ApiToken(Base):
    """An API token of the server (sluiceway/stores/sql/tokens.py). Its secret is shown once, when it is made; only the
    secret's SHA-256 is kept, so the table alone lets no one act as the token."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Public: the part of the token before its secret, shown by `sluiceway tokens list` and named by `tokens revoke`."""
    name: Mapped[str] = mapped_column(NAME, default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiTokenGrant(Base):
    """A token's role in one namespace."""

    __tablename__ = "api_token_grants"

    token_id: Mapped[str] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    namespace: Mapped[str] = mapped_column(NAMESPACE, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
