"""SqlRecurringRuns: recurring runs in the metadata database, and the runs their firings made.

A firing is identified by (recurring run, scheduled time): the run it makes carries the
idempotency key `recurring:<id>:<time>`, and runs are unique per (namespace, key). So however
two ticks race, or a server stops between making a firing's run and moving `next_fire_at` on,
a firing makes one run at most. `next_fire_at` moves on only with the version it was read at
(optimistic concurrency): of two writers, the second finds the record changed and reads again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ...core import ir
from ...core.lifecycle import TERMINAL_RUN_STATES
from ...core.serialize import loads
from .listing import Field, Listing, ListRequest, fetch
from .models import ID, NAME, NAMESPACE, Base, PipelineVersion, Run
from .store import ConcurrentUpdate, Conflict, NotFound, SqlMetadataStore, _aware, _now, _retried_on_disconnect

FINAL_STATES = [state.value for state in TERMINAL_RUN_STATES]


class RecurringRun(Base):
    """A pipeline version run on a schedule (sluiceway/server/scheduling.py says when)."""

    __tablename__ = "recurring_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    namespace: Mapped[str] = mapped_column(NAMESPACE)
    name: Mapped[str] = mapped_column(NAME)
    pipeline_id: Mapped[str] = mapped_column(ID)
    """The pipeline the version was uploaded to; not a foreign key: deleting the pipeline leaves the IR, which firings use."""
    pipeline_digest: Mapped[str] = mapped_column(String(80))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    experiment: Mapped[str | None] = mapped_column(NAME)
    cron: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    max_concurrency: Mapped[int] = mapped_column(Integer, default=1)
    catch_up: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_fire_at: Mapped[datetime | None]
    """The next scheduled time not yet fired; None once the schedule has ended."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Raised on every change: a writer holding an older version loses (optimistic concurrency)."""

    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        Index(None, "namespace", "created_at", "id"),  # listing, newest first
        Index(None, "enabled", "next_fire_at"),  # the scheduler's question each tick: what is due
    )


@dataclass(frozen=True)
class RecurringRunRecord:
    id: str
    namespace: str
    name: str
    pipeline_id: str
    pipeline_digest: str
    parameters: dict[str, Any]
    experiment: str | None
    cron: str | None
    timezone: str
    interval_seconds: int | None
    start_at: datetime | None
    end_at: datetime | None
    max_concurrency: int
    catch_up: bool
    enabled: bool
    next_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class RecurringPage:
    items: list[RecurringRunRecord]
    next_page_token: str | None


RECURRING_LISTING = Listing(
    fields={
        "name": Field(RecurringRun.name, str, sortable=True),
        "enabled": Field(RecurringRun.enabled, bool),
        "experiment": Field(RecurringRun.experiment, str),
        "next_fire_at": Field(RecurringRun.next_fire_at, datetime),
        "created_at": Field(RecurringRun.created_at, datetime, sortable=True),
    },
    id_column=RecurringRun.id,
)


def firing_key(recurring_id: str, scheduled: datetime) -> str:
    """The idempotency key of the run a firing makes: the firing's identity."""
    return f"recurring:{recurring_id}:{scheduled.astimezone(timezone.utc).isoformat()}"


class SqlRecurringRuns:
    """Recurring runs in the database of `store`. Each method is one transaction, retried when the connection drops."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    @_retried_on_disconnect
    def create(self, *, now: datetime | None = None, **fields: Any) -> RecurringRunRecord:
        """Record a recurring run with these columns (all but id, the record's times and version), created `now`."""
        now = now or _now()
        row = RecurringRun(id=uuid.uuid4().hex, created_at=now, updated_at=now, version=1, **fields)
        try:
            with self.store.transaction() as session:
                session.add(row)
                session.flush()
                session.refresh(row)  # the times as stored (MySQL keeps whole seconds), so this answer equals every later one
                return _record(row)
        except IntegrityError:
            raise Conflict(f"namespace '{fields['namespace']}' already has a recurring run named '{fields['name']}'") from None

    @_retried_on_disconnect
    def get(self, recurring_id: str) -> RecurringRunRecord:
        with self.store.transaction() as session:
            return _record(_row(session, recurring_id))

    @_retried_on_disconnect
    def listing(self, namespace: str, request: ListRequest) -> RecurringPage:
        with self.store.transaction() as session:
            page = fetch(session, select(RecurringRun).where(RecurringRun.namespace == namespace), RECURRING_LISTING, request)
            return RecurringPage([_record(row) for row in page.rows], page.next_page_token)

    @_retried_on_disconnect
    def due(self, now: datetime) -> list[RecurringRunRecord]:
        """The enabled recurring runs whose next time has come, the most overdue first."""
        with self.store.transaction() as session:
            query = select(RecurringRun).where(RecurringRun.enabled.is_(True), RecurringRun.next_fire_at <= now)
            return [_record(row) for row in session.scalars(query.order_by(RecurringRun.next_fire_at, RecurringRun.id))]

    @_retried_on_disconnect
    def update(self, recurring_id: str, version: int, **changes: Any) -> RecurringRunRecord:
        """Change the record, if it is still at `version`; ConcurrentUpdate if another writer changed it first."""
        with self.store.transaction() as session:
            changed = session.execute(
                update(RecurringRun)
                .where(RecurringRun.id == recurring_id, RecurringRun.version == version)
                .values(**changes, version=version + 1, updated_at=_now())
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                _row(session, recurring_id)  # NotFound if it is gone
                raise ConcurrentUpdate(f"recurring run '{recurring_id}' was changed by another writer")
            return _record(_row(session, recurring_id))

    @_retried_on_disconnect
    def delete(self, recurring_id: str) -> None:
        """Delete a recurring run; the runs it made are kept."""
        with self.store.transaction() as session:
            session.delete(_row(session, recurring_id))

    @_retried_on_disconnect
    def active_runs(self, record: RecurringRunRecord) -> int:
        """How many runs its firings made have not ended."""
        with self.store.transaction() as session:
            query = select(func.count()).where(
                Run.namespace == record.namespace,
                Run.idempotency_key.startswith(f"recurring:{record.id}:", autoescape=True),
                Run.state.not_in(FINAL_STATES),
            )
            return int(session.scalar(query) or 0)

    @_retried_on_disconnect
    def pipeline(self, record: RecurringRunRecord) -> ir.Pipeline:
        """The IR its firings run: kept by digest, so it outlives the pipeline record (as runs' IR does)."""
        with self.store.transaction() as session:
            document = session.get(PipelineVersion, record.pipeline_digest)
            if document is None:
                raise NotFound(f"pipeline version '{record.pipeline_digest}' of recurring run '{record.id}' is gone")
            return loads(document.ir, origin=f"pipeline version {record.pipeline_digest}")


def _row(session: Session, recurring_id: str) -> RecurringRun:
    row = session.get(RecurringRun, recurring_id)
    if row is None:
        raise NotFound(f"no recurring run '{recurring_id}'")
    return row


def _record(row: RecurringRun) -> RecurringRunRecord:
    def maybe(moment: datetime | None) -> datetime | None:
        return _aware(moment) if moment is not None else None

    return RecurringRunRecord(
        id=row.id,
        namespace=row.namespace,
        name=row.name,
        pipeline_id=row.pipeline_id,
        pipeline_digest=row.pipeline_digest,
        parameters=dict(row.parameters),
        experiment=row.experiment,
        cron=row.cron,
        timezone=row.timezone,
        interval_seconds=row.interval_seconds,
        start_at=maybe(row.start_at),
        end_at=maybe(row.end_at),
        max_concurrency=row.max_concurrency,
        catch_up=bool(row.catch_up),
        enabled=bool(row.enabled),
        next_fire_at=maybe(row.next_fire_at),
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        version=row.version,
    )
