"""SqlMetadataStore: runs, tasks, outputs, artifacts and lineage in one SQL database."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ParamSpec, TypeVar

import msgspec
from sqlalchemy import Select, and_, bindparam, create_engine, delete, event, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ...core import ir
from ...core.cache import explain_miss
from ...core.errors import SluicewayError
from ...core.launcher import AttemptRecord
from ...core.lifecycle import RUN_TRANSITIONS, TERMINAL_RUN_STATES, ErrorKind, RunState
from ...core.serialize import digest, dump_json, loads
from ...core.task_spec import InputBinding
from . import migrations
from .listing import Field, Listing, ListRequest, fetch, keyset_after
from .models import DEFAULT_NAMESPACE, Artifact, AttemptRow, CacheEntry, LineageEvent, PipelineVersion, Run, TaskOutput, TaskRecord

CONNECT_TIMEOUT_SECONDS = 10
READ_ONLY = "sluiceway_read_only"
"""The execution option that marks a transaction as read-only (SqlMetadataStore._reading)."""


logger = logging.getLogger(__name__)


class SchemaVersionError(SluicewayError):
    """The database holds a schema of another version, or no Sluiceway schema at all."""


class ConcurrentUpdate(SluicewayError):
    """Another writer changed the run first; read it again and decide anew."""


class NotFound(SluicewayError):
    """No record has the id asked for."""


class Conflict(SluicewayError):
    """The change cannot be made to the record as it is now (a name taken, a run already finished, ...)."""


class KeyTaken(Conflict):
    """A run of the namespace was created with this idempotency key before: `run_id` is that run."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run '{run_id}' was created with this idempotency key")
        self.run_id = run_id


@dataclass(frozen=True)
class RunSummary:
    id: str
    pipeline_name: str
    state: str
    created_at: datetime
    finished_at: datetime | None
    parameters: dict[str, Any]
    error_kind: str | None = None
    message: str = ""
    namespace: str = DEFAULT_NAMESPACE
    experiment: str | None = None
    pipeline_digest: str = ""
    idempotency_key: str | None = None
    archived: bool = False


@dataclass(frozen=True)
class RunPage:
    runs: list[RunSummary]
    next_page_token: str | None
    """Pass it back to get the next page; None on the last page."""


@dataclass(frozen=True)
class TaskSummary:
    task_id: str
    kind: str
    state: str
    skip_reason: str | None
    message: str
    attempts: int
    outputs: dict[str, dict[str, Any]]
    error_kind: str | None = None


@dataclass(frozen=True)
class AttemptSummary:
    number: int
    started_at: datetime
    ended_at: datetime | None
    end: str | None
    exit_code: int | None
    error_kind: str | None
    message: str


RETRY_DELAYS_SECONDS = (0.1, 0.3, 1.0, 3.0, 6.0)
"""Waits before retrying an operation whose connection dropped: about 10 s in all, enough for a failover or a restart."""

P = ParamSpec("P")
R = TypeVar("R")


def _retried_on_disconnect(operation: Callable[P, R]) -> Callable[P, R]:
    """Run `operation` again, from the start, when the database connection dropped under it.

    Each operation is one transaction that is safe to repeat: a retried write either finds its
    own earlier commit (create_run, set_run_state) or writes the same rows again.
    """

    @functools.wraps(operation)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for delay in (*RETRY_DELAYS_SECONDS, None):
            try:
                return operation(*args, **kwargs)
            except DBAPIError as error:
                if not error.connection_invalidated or delay is None:
                    raise
                logger.warning("the metadata database connection dropped (%s); retrying in %.1f s", type(error.orig).__name__, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    return retried


def _encode_page_token(created_at: datetime, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), run_id]).encode()).decode().rstrip("=")


def _decode_page_token(token: str) -> tuple[datetime, str]:
    """The (created_at, id) a page ended at, as the database gave them."""
    try:
        created_at, run_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return datetime.fromisoformat(created_at), str(run_id)
    except (ValueError, TypeError) as error:
        raise SluicewayError(f"'{token}' is not a page token from a list of runs") from error


RUN_LISTING = Listing(
    fields={
        "state": Field(Run.state, str, sortable=True),
        "pipeline_name": Field(Run.pipeline_name, str, sortable=True),
        "pipeline_digest": Field(Run.pipeline_digest, str),
        "experiment": Field(Run.experiment, str),
        "error_kind": Field(Run.error_kind, str),
        "created_at": Field(Run.created_at, datetime, sortable=True),
        "finished_at": Field(Run.finished_at, datetime),
        "archived": Field(Run.archived, bool),
    },
    id_column=Run.id,
    implied={"archived": False},  # archiving a run takes it out of the lists, as KFP's does; `archived = true` finds it
)


def uri_key(uri: str) -> str:
    """How an artifact's URI is indexed: its sha256, hex."""
    return hashlib.sha256(uri.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class SqlMetadataStore:
    """Metadata in SQLite, PostgreSQL or MySQL, through SQLAlchemy.

    `upgrade=True` brings an older schema up to date (the embedded default does this for its
    own file); otherwise a schema of another version is refused with the command to run.
    """

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        self.url = url
        self.engine = _engine(url)
        self._check_schema(upgrade)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self._lone_reads = self._lone_reading_engine()
        self._run_with_tasks = _DriverStatement(_RUN_WITH_TASKS, self.engine)

    def _lone_reading_engine(self) -> Engine:
        """Where reads of one statement go (run_with_tasks, through _DriverStatement). One statement reads a consistent
        picture by itself, so it needs no transaction around it: on PostgreSQL an engine of its own whose connections stay
        in autocommit, which saves BEGIN and COMMIT, two round trips of three (switching a pooled connection to
        autocommit and back per read costs SQLAlchemy more than that), disposed of with the main one. SQLite's
        connections are in autocommit already (see _engine); PyMySQL's would cost a SET AUTOCOMMIT each way, so there
        the statement's implicit transaction is ended by the pool's rollback, as before."""
        if self.engine.dialect.name != "postgresql":
            return self.engine
        reads = _engine(self.url, isolation_level="AUTOCOMMIT")
        event.listen(self.engine, "engine_disposed", lambda _engine: reads.dispose())
        return reads

    def _check_schema(self, upgrade: bool) -> None:
        where = self.engine.url.render_as_string(hide_password=True)
        try:
            with self.engine.begin() as connection:
                current = migrations.current(connection)
                tables = set(inspect(connection).get_table_names())
                if current is None and tables - {"alembic_version"}:
                    raise SchemaVersionError(
                        f"{where} holds tables that are not a Sluiceway schema ({', '.join(sorted(tables))}); use another database"
                    )
                if current == migrations.head():
                    return
                if not upgrade:
                    raise SchemaVersionError(
                        f"{where} has schema version {current or 'none'}, and this Sluiceway needs {migrations.head()}: "
                        f"run `sluiceway db upgrade --url {where}`"
                    )
                migrations.upgrade(connection)
        except DatabaseError as error:
            raise SchemaVersionError(f"{where} cannot be used as a Sluiceway metadata database: {error.orig}") from None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it takes no write lock (see _begin), so readers never wait for writers."""
        with self._read_sessions.begin() as session:
            yield session

    # --- writing ------------------------------------------------------------------------------

    @_retried_on_disconnect
    def create_run(
        self,
        run_id: str,
        pipeline: ir.Pipeline,
        parameters: dict[str, Any],
        *,
        namespace: str = DEFAULT_NAMESPACE,
        experiment: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Record a PENDING run. With `idempotency_key`, a run of the namespace made earlier with the same key is found
        instead: nothing is recorded, and KeyTaken names that run."""
        pipeline_digest = digest(pipeline)
        try:
            self._create_run(run_id, pipeline, pipeline_digest, parameters, namespace, experiment, idempotency_key)
        except IntegrityError:
            holder = self.run_with_key(namespace, idempotency_key) if idempotency_key is not None else None
            if holder is None:
                raise
            raise KeyTaken(holder) from None  # another request with the key committed first

    def _create_run(
        self,
        run_id: str,
        pipeline: ir.Pipeline,
        pipeline_digest: str,
        parameters: dict[str, Any],
        namespace: str,
        experiment: str | None,
        idempotency_key: str | None,
    ) -> None:
        with self._session() as session:
            earlier = session.get(Run, run_id)
            if earlier is not None and earlier.pipeline_digest == pipeline_digest:
                return  # this very call committed before its connection dropped, and is being retried
            if idempotency_key is not None:
                holder = session.scalars(select(Run.id).where(Run.namespace == namespace, Run.idempotency_key == idempotency_key)).first()
                if holder is not None:
                    raise KeyTaken(holder)
            keep_pipeline_document(session, pipeline, pipeline_digest)
            session.add(
                Run(
                    id=run_id,
                    namespace=namespace,
                    experiment=experiment,
                    pipeline_name=pipeline.name,
                    pipeline_digest=pipeline_digest,
                    state=RunState.PENDING.value,
                    parameters=parameters,
                    created_at=_now(),
                    version=1,
                    idempotency_key=idempotency_key,
                )
            )

    @_retried_on_disconnect
    def run_with_key(self, namespace: str, idempotency_key: str) -> str | None:
        """The id of the namespace's run created with `idempotency_key`, if any."""
        with self._session() as session:
            found: str | None = session.scalars(
                select(Run.id).where(Run.namespace == namespace, Run.idempotency_key == idempotency_key)
            ).first()
            return found

    @_retried_on_disconnect
    def set_run_state(
        self, run_id: str, state: RunState, *, retrying: bool = False, error_kind: str | None = None, message: str = ""
    ) -> None:
        """Move a run to `state`, as the transition table allows, without losing a concurrent change; a FAILED run says why."""
        with self._session() as session:
            row = session.get(Run, run_id)
            if row is None:
                raise NotFound(f"no run '{run_id}'")
            if row.state == state.value and not retrying and row.error_kind == error_kind:
                return  # already there: a retry of a change that committed before its connection dropped
            RUN_TRANSITIONS.check(RunState(row.state), state, retrying=retrying)
            finished = _now() if state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED) else None
            changed = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.version == row.version)
                .values(state=state.value, version=row.version + 1, finished_at=finished, error_kind=error_kind, message=message)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise ConcurrentUpdate(f"run '{run_id}' changed while it was being moved to {state.value}")

    @_retried_on_disconnect
    def set_run_archived(self, run_id: str, archived: bool) -> RunSummary:
        """Archive or unarchive a run; doing it twice is the same as once.

        The run's version is left alone: it guards state changes, which an archived flag does not race with (the engine
        of a retried run must not lose its next state change to someone archiving the run)."""
        with self._session() as session:
            changed = session.execute(
                update(Run).where(Run.id == run_id).values(archived=archived).execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound(f"no run '{run_id}'")
            return _run_summary(session, run_id)

    @_retried_on_disconnect
    def delete_run(self, run_id: str) -> None:
        """Remove a run that has ended and every record of it: tasks, attempts, outputs, lineage events, cache entries.

        One transaction, so no one sees half a run; the state is checked inside it (the row locked where the database
        can), so a run being retried meanwhile is not deleted under its engine. Conflict if the run has not ended.
        Artifacts stay: other runs may have consumed them, or reuse them through another run's cache entry.
        """
        with self._session() as session:
            row = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"no run '{run_id}'")
            if RunState(row.state) not in TERMINAL_RUN_STATES:
                raise Conflict(f"run '{run_id}' is {row.state}; only a run that has ended can be deleted (cancel it first)")
            # Children first: the foreign keys cascade on most databases, but deleting explicitly does not rely on it
            # (SQLite enforces them only with the pragma) and reaches the tables that keep no foreign key to runs.
            session.execute(delete(AttemptRow).where(AttemptRow.run_id == run_id))
            session.execute(delete(TaskOutput).where(TaskOutput.run_id == run_id))
            session.execute(delete(LineageEvent).where(LineageEvent.run_id == run_id))
            session.execute(delete(CacheEntry).where(CacheEntry.run_id == run_id))
            session.execute(delete(TaskRecord).where(TaskRecord.run_id == run_id))
            session.execute(delete(Run).where(Run.id == run_id))

    @_retried_on_disconnect
    def record_task(
        self,
        run_id: str,
        task_id: str,
        *,
        kind: str,
        state: str,
        skip_reason: str | None,
        message: str,
        attempts: int,
        error_kind: str | None = None,
        attempt: AttemptRecord | None = None,
        outputs: dict[str, InputBinding] | None = None,
        cache_parts: dict[str, str] | None = None,
    ) -> None:
        """Record a task's state, with its attempt's record; with `outputs`, its outputs and the artifacts it produced."""
        with self._session() as session:
            row = session.get(TaskRecord, (run_id, task_id))
            if row is None:
                row = TaskRecord(
                    run_id=run_id, task_id=task_id, kind=kind, state=state, attempts=attempts, message=message, updated_at=_now()
                )
                session.add(row)
            row.state, row.skip_reason, row.message, row.attempts, row.updated_at = state, skip_reason, message, attempts, _now()
            row.error_kind = error_kind
            if cache_parts:
                row.cache_parts = cache_parts
            session.flush()
            if attempt is not None:
                _record_attempt(session, _attempt_row(run_id, task_id, attempt))
            for name, binding in (outputs or {}).items():
                session.merge(TaskOutput(run_id=run_id, task_id=task_id, name=name, value=_binding_json(binding)))
                for ref in binding.artifacts:
                    artifact = self._artifact(session, ref.uri, ref.type, ref.digest, ref.metadata)
                    session.add(LineageEvent(artifact_id=artifact.id, run_id=run_id, task_id=task_id, kind="produced", name=name))

    @_retried_on_disconnect
    def end_abandoned_run(self, run_id: str, message: str) -> str:
        """End a run whose orchestrator is gone: what was running is Lost, what had not started is skipped.

        The run becomes FAILED (Lost), or CANCELLED if it was being cancelled; `runs retry` can
        take it up from there. Returns the run's new state.
        """
        lost = ErrorKind.LOST.value
        with self._session() as session:
            session.execute(
                update(TaskRecord)
                .where(TaskRecord.run_id == run_id, TaskRecord.state.in_(("RUNNING", "RETRYING")))
                .values(state="FAILED", error_kind=lost, message=message, updated_at=_now())
            )
            session.execute(
                update(TaskRecord)
                .where(TaskRecord.run_id == run_id, TaskRecord.state == "PENDING")
                .values(state="SKIPPED", skip_reason="run_stopping", message=message, updated_at=_now())
            )
            session.execute(
                update(AttemptRow)
                .where(AttemptRow.run_id == run_id, AttemptRow.end.is_(None))
                .values(end="lost", ended_at=_now(), error_kind=lost, message=message)
            )
        state = RunState(self.get_run(run_id).state)
        target = RunState.CANCELLED if state == RunState.CANCELLING else RunState.FAILED
        self.set_run_state(run_id, target, error_kind=lost if target == RunState.FAILED else None, message=message)
        return target.value

    @_retried_on_disconnect
    def record_inputs(self, run_id: str, task_id: str, inputs: dict[str, InputBinding]) -> None:
        """Record the artifacts a task consumed (lineage)."""
        if not any(binding.artifacts for binding in inputs.values()):
            return  # no transaction: on SQLite each one takes the write lock, once per task
        with self._session() as session:
            for name, binding in inputs.items():
                for ref in binding.artifacts:
                    artifact = self._artifact(session, ref.uri, ref.type, ref.digest, ref.metadata)
                    session.add(LineageEvent(artifact_id=artifact.id, run_id=run_id, task_id=task_id, kind="consumed", name=name))

    @staticmethod
    def _artifact(session: Session, uri: str, kind: str, content_digest: str | None, properties: dict[str, Any]) -> Artifact:
        artifact = session.scalars(select(Artifact).where(Artifact.uri_key == uri_key(uri))).first()
        if artifact is None:
            artifact = Artifact(uri=uri, uri_key=uri_key(uri), type=kind, digest=content_digest, properties=properties, created_at=_now())
            session.add(artifact)
            session.flush()
        return artifact

    # --- the cache ----------------------------------------------------------------------------

    @_retried_on_disconnect
    def write_cache_entry(self, key: str, run_id: str, task_id: str, outputs: dict[str, InputBinding]) -> None:
        with self._session() as session:
            session.add(
                CacheEntry(
                    key=key, run_id=run_id, task_id=task_id, outputs={n: _binding_json(b) for n, b in outputs.items()}, created_at=_now()
                )
            )

    @_retried_on_disconnect
    def find_cache_entry(self, key: str, max_age_seconds: float | None = None) -> tuple[str, str, dict[str, InputBinding]] | None:
        """(run, task, outputs) of the newest entry for `key` not older than `max_age_seconds`."""
        query = select(CacheEntry).where(CacheEntry.key == key).order_by(CacheEntry.created_at.desc(), CacheEntry.id.desc())
        if max_age_seconds is not None:
            query = query.where(CacheEntry.created_at >= _now() - timedelta(seconds=max_age_seconds))
        with self._session() as session:
            entry = session.scalars(query.limit(1)).first()
            if entry is None:
                return None
            outputs = {name: msgspec.convert(value, InputBinding) for name, value in entry.outputs.items()}
            return entry.run_id, entry.task_id, outputs

    @_retried_on_disconnect
    def clear_cache(self) -> int:
        """Forget every cache entry; returns how many there were."""
        with self._session() as session:
            removed = session.execute(delete(CacheEntry))
            return int(removed.rowcount)  # type: ignore[attr-defined]

    # --- reading ------------------------------------------------------------------------------

    @_retried_on_disconnect
    def list_runs(
        self,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        experiment: str | None = None,
        state: str | None = None,
        pipeline: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        oldest_first: bool = False,
        limit: int = 50,
        page_token: str | None = None,
    ) -> RunPage:
        """One page of a namespace's runs, newest first (or oldest), filtered; `page_token` continues where a page ended.

        Pages are cut by keyset on (created_at, id), never by OFFSET: a page costs the same on the
        millionth run as on the first, and runs created meanwhile neither repeat nor go missing.
        """
        query = select(Run).where(Run.namespace == namespace)
        for column, wanted in ((Run.experiment, experiment), (Run.state, state), (Run.pipeline_name, pipeline)):
            if wanted is not None:
                query = query.where(column == wanted)
        if created_after is not None:
            query = query.where(Run.created_at > created_after)
        if created_before is not None:
            query = query.where(Run.created_at < created_before)
        if page_token is not None:
            after = _decode_page_token(page_token)
            query = query.where(
                keyset_after((Run.created_at, Run.id), after, descending=not oldest_first, dialect=self.engine.dialect.name)
            )
        order = (Run.created_at, Run.id) if oldest_first else (Run.created_at.desc(), Run.id.desc())
        with self._session() as session:
            rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        token = _encode_page_token(rows[-1].created_at, rows[-1].id) if more else None
        return RunPage([_summary(row) for row in rows], token)

    @_retried_on_disconnect
    def query_runs(self, namespace: str, request: ListRequest) -> RunPage:
        """One page of a namespace's runs by the shared listing scheme (listing.py): filter, order and keyset pages."""
        with self._session() as session:
            page = fetch(session, select(Run).where(Run.namespace == namespace), RUN_LISTING, request)
            return RunPage([_summary(row) for row in page.rows], page.next_page_token)

    def transaction(self) -> AbstractContextManager[Session]:
        """One transaction on the store's database, for records kept beside the runs (catalog.py)."""
        return self._session()

    @_retried_on_disconnect
    def pipeline_of(self, run_id: str) -> ir.Pipeline:
        """The pipeline a run ran, as it was compiled then."""
        with self._session() as session:
            row = session.get(Run, run_id)
            if row is None:
                raise NotFound(f"no run '{run_id}'")
            version = session.get(PipelineVersion, row.pipeline_digest)
            assert version is not None  # a foreign key
            return loads(version.ir, origin=f"run {run_id}")

    @_retried_on_disconnect
    def unfinished_runs(self) -> list[tuple[str, str]]:
        """(run id, state) of every run, in every namespace, that has not ended: PENDING, RUNNING or CANCELLING."""
        with self._session() as session:
            rows = session.execute(
                select(Run.id, Run.state).where(Run.state.in_(("PENDING", "RUNNING", "CANCELLING"))).order_by(Run.created_at, Run.id)
            )
            return [(run_id, state) for run_id, state in rows]

    @_retried_on_disconnect
    def get_run(self, run_id: str) -> RunSummary:
        with self._reading() as session:
            return _run_summary(session, run_id)

    @_retried_on_disconnect
    def tasks(self, run_id: str) -> list[TaskSummary]:
        with self._reading() as session:
            return _task_summaries(session, run_id)

    @_retried_on_disconnect
    def run_with_tasks(self, run_id: str) -> tuple[RunSummary, list[TaskSummary]]:
        """A run and its tasks, read together: one statement, so one consistent picture and one round trip."""
        # The run, its tasks and their outputs joined, read through the driver (_DriverStatement): on the most asked-for
        # request of all, ORM objects, SQLAlchemy's own work per statement and round trips cost more than the database's.
        rows = self._run_with_tasks.rows(self._lone_reads, run_id)
        if not rows:
            raise NotFound(f"no run '{run_id}'")
        tasks: list[TaskSummary] = []
        outputs: dict[str, dict[str, Any]] = {}
        for row in rows:
            task_id, kind, state, skip_reason, message, attempts, error_kind, name, value = row[_RUN_FIELDS:]
            if task_id is None:  # a run without tasks: its one row
                continue
            if not tasks or tasks[-1].task_id != task_id:
                outputs = {}
                tasks.append(TaskSummary(task_id, kind, state, skip_reason, message, attempts, outputs, error_kind))
            if name is not None:
                outputs[name] = value
        return _run_summary_of(rows[0][:_RUN_FIELDS]), tasks

    @_retried_on_disconnect
    def attempts(self, run_id: str, task_id: str) -> list[AttemptSummary]:
        """A task's attempts, first to last (ST-7)."""
        with self._session() as session:
            rows = session.scalars(
                select(AttemptRow).where(AttemptRow.run_id == run_id, AttemptRow.task_id == task_id).order_by(AttemptRow.number)
            )
            return [
                AttemptSummary(
                    r.number, _aware(r.started_at), _aware(r.ended_at) if r.ended_at else None, r.end, r.exit_code, r.error_kind, r.message
                )
                for r in rows
            ]

    @_retried_on_disconnect
    def explain_cache(self, run_id: str, task_id: str) -> str:
        """Why a task of a run hit or missed the cache, compared with the closest earlier execution."""
        with self._session() as session:
            row = session.get(TaskRecord, (run_id, task_id))
            if row is None:
                raise SluicewayError(f"run '{run_id}' has no task '{task_id}'")
            if row.state == "CACHED":
                return f"hit: {row.message}"
            if not row.cache_parts:
                return "no cache lookup: the task did not start (it was skipped or cancelled, or is a group)"
            earlier = session.scalars(
                select(TaskRecord)
                .where(TaskRecord.task_id == task_id, TaskRecord.run_id != run_id, TaskRecord.updated_at < row.updated_at)
                .where(TaskRecord.cache_parts.is_not(None))
                .order_by(TaskRecord.updated_at.desc())
                .limit(1)
            ).first()
            if earlier is None:
                return "miss: no earlier execution of this task to reuse"
            reasons = explain_miss(row.cache_parts, earlier.cache_parts or {})
            where = f"run {earlier.run_id}"
            if reasons:
                return f"miss: since {where}, " + "; ".join(reasons)
            if earlier.state not in ("SUCCEEDED", "CACHED"):
                return f"miss: the same key as in {where}, where the task did not succeed ({earlier.state})"
            return f"miss: the same key as in {where}; caching was off, the entry was too old, or one of its artifacts is gone"

    @_retried_on_disconnect
    def lineage_graph(self, uri: str, *, depth: int = 10) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Upstream and downstream of an artifact: edges (from, to) between artifact URIs and 'run/task' names.

        Upstream: the task that produced it, the artifacts that task consumed, their producers, ...
        Downstream: the tasks that consumed it, the artifacts they produced, their consumers, ...
        """
        with self._session() as session:
            events = session.execute(
                select(LineageEvent.kind, LineageEvent.run_id, LineageEvent.task_id, Artifact.uri).join(Artifact)
            ).all()
        produced_by: dict[str, set[str]] = {}
        consumed_by: dict[str, set[str]] = {}
        inputs_of: dict[str, set[str]] = {}
        outputs_of: dict[str, set[str]] = {}
        for kind, run_id, task_id, artifact_uri in events:
            task = f"{run_id}/{task_id}"
            if kind == "produced":
                produced_by.setdefault(artifact_uri, set()).add(task)
                outputs_of.setdefault(task, set()).add(artifact_uri)
            else:
                consumed_by.setdefault(artifact_uri, set()).add(task)
                inputs_of.setdefault(task, set()).add(artifact_uri)
        return (
            _walk_lineage(uri, produced_by, inputs_of, depth, upstream=True),
            _walk_lineage(uri, consumed_by, outputs_of, depth, upstream=False),
        )

    @_retried_on_disconnect
    def lineage(self, uri: str) -> list[tuple[str, str, str, str]]:
        """(kind, run, task, name) of every event of the artifact at `uri`."""
        with self._session() as session:
            query = select(LineageEvent).join(Artifact).where(Artifact.uri_key == uri_key(uri)).order_by(LineageEvent.id)
            return [(e.kind, e.run_id, e.task_id, e.name) for e in session.scalars(query)]


def _walk_lineage(
    uri: str, tasks_of: dict[str, set[str]], artifacts_of: dict[str, set[str]], depth: int, *, upstream: bool
) -> list[tuple[str, str]]:
    """Edges breadth-first from `uri`, alternating artifact -> task -> artifact, `depth` tasks deep."""
    edges: list[tuple[str, str]] = []
    frontier, seen = [uri], {uri}
    for _ in range(depth):
        next_frontier = []
        for artifact in frontier:
            for task in sorted(tasks_of.get(artifact, ())):
                edges.append((task, artifact) if upstream else (artifact, task))
                for other in sorted(artifacts_of.get(task, ())):
                    edges.append((other, task) if upstream else (task, other))
                    if other not in seen:
                        seen.add(other)
                        next_frontier.append(other)
        frontier = next_frontier
    return edges


def keep_pipeline_document(session: Session, pipeline: ir.Pipeline, pipeline_digest: str) -> None:
    """Store the pipeline's IR under its digest, unless it is there already: the same content is stored once."""
    if session.get(PipelineVersion, pipeline_digest) is not None:
        return
    try:
        with session.begin_nested():  # a savepoint: losing the race below undoes this insert only
            session.add(PipelineVersion(digest=pipeline_digest, name=pipeline.name, ir=dump_json(pipeline), created_at=_now()))
    except IntegrityError:  # another process stored the same document first
        pass


def _run_summary(session: Session, run_id: str) -> RunSummary:
    row = session.get(Run, run_id)
    if row is None:
        raise NotFound(f"no run '{run_id}'")
    return _summary(row)


def _task_summaries(session: Session, run_id: str) -> list[TaskSummary]:
    outputs: dict[str, dict[str, dict[str, Any]]] = {}
    for output in session.scalars(select(TaskOutput).where(TaskOutput.run_id == run_id)):
        outputs.setdefault(output.task_id, {})[output.name] = output.value
    rows = session.scalars(select(TaskRecord).where(TaskRecord.run_id == run_id).order_by(TaskRecord.task_id))
    return [
        TaskSummary(r.task_id, r.kind, r.state, r.skip_reason, r.message, r.attempts, outputs.get(r.task_id, {}), r.error_kind)
        for r in rows
    ]


_RUN_COLUMNS = (
    Run.id,
    Run.pipeline_name,
    Run.state,
    Run.created_at,
    Run.finished_at,
    Run.parameters,
    Run.error_kind,
    Run.message,
    Run.namespace,
    Run.experiment,
    Run.pipeline_digest,
    Run.idempotency_key,
    Run.archived,
)
_RUN_FIELDS = len(_RUN_COLUMNS)
_RUN_WITH_TASKS = (
    select(
        *_RUN_COLUMNS,
        TaskRecord.task_id,
        TaskRecord.kind,
        TaskRecord.state.label("task_state"),
        TaskRecord.skip_reason,
        TaskRecord.message.label("task_message"),
        TaskRecord.attempts,
        TaskRecord.error_kind.label("task_error_kind"),
        TaskOutput.name,
        TaskOutput.value,
    )
    .outerjoin(TaskRecord, TaskRecord.run_id == Run.id)
    .outerjoin(TaskOutput, and_(TaskOutput.run_id == TaskRecord.run_id, TaskOutput.task_id == TaskRecord.task_id))
    .where(Run.id == bindparam("run_id"))
    .order_by(TaskRecord.task_id, TaskOutput.name)
)
"""A run's row once per output of each of its tasks (once for a task without outputs, once for a run without tasks), tasks
in task_id order: SqlMetadataStore.run_with_tasks. Built once: the statement's compiled form is then cached."""


class _DriverStatement:
    """A SELECT with one bound parameter, compiled once for a dialect and run on the driver's own cursor, on a connection
    of an engine's pool, its values then converted as SQLAlchemy's Result would (SQLite's times and JSON are text, say).
    SQLAlchemy's Connection and Result cost several times what reading a run from SQLite does, and more than psycopg's
    round trip to PostgreSQL. Driver errors are raised as Connection.execute raises them, a dropped connection
    invalidated, so that _retried_on_disconnect runs the read again."""

    def __init__(self, statement: Select[Any], engine: Engine) -> None:
        dialect = engine.dialect
        (self.parameter,) = statement.compile().params  # its one bound parameter's name
        self.sql = str(statement.compile(dialect=dialect))
        self.positional = dialect.positional
        self.converters = [
            (index, converter)
            for index, column in enumerate(statement.selected_columns)
            if (converter := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]

    def rows(self, engine: Engine, value: Any) -> list[list[Any]]:
        dialect = engine.dialect
        parameters: Any = (value,) if self.positional else {self.parameter: value}
        connection = engine.raw_connection()
        cursor = None
        try:
            cursor = connection.cursor()
            cursor.execute(self.sql, parameters)
            fetched = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            invalidated = dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            if invalidated:
                connection.invalidate(error)
            raise DBAPIError.instance(
                self.sql, parameters, error, dialect.loaded_dbapi.Error, connection_invalidated=invalidated, dialect=dialect
            ) from error
        finally:
            if cursor is not None and connection.is_valid:
                cursor.close()
            connection.close()  # back to the pool, which ends an implicit transaction (PyMySQL's) with a rollback
        rows = []
        for row in fetched:
            values = list(row)
            for index, converter in self.converters:
                if values[index] is not None:
                    values[index] = converter(values[index])
            rows.append(values)
        return rows


def _run_summary_of(values: Sequence[Any]) -> RunSummary:
    """A run's summary from the values of _RUN_COLUMNS, in their order (RunSummary's)."""
    (
        run_id,
        pipeline_name,
        state,
        created_at,
        finished_at,
        parameters,
        error_kind,
        message,
        namespace,
        experiment,
        pipeline_digest,
        idempotency_key,
        archived,
    ) = values
    return RunSummary(
        run_id,
        pipeline_name,
        state,
        _aware(created_at),
        _aware(finished_at) if finished_at else None,
        dict(parameters),
        error_kind,
        message or "",
        namespace,
        experiment,
        pipeline_digest,
        idempotency_key,
        bool(archived),
    )


def _summary(row: Run) -> RunSummary:
    return _run_summary_of([getattr(row, column.key) for column in _RUN_COLUMNS])


def _aware(moment: datetime) -> datetime:
    """Times are stored in UTC; SQLite gives them back without a zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _record_attempt(session: Session, row: AttemptRow) -> None:
    """Insert a starting attempt; update an ending one (one statement each, where merge would read first)."""
    if row.end is not None:
        key = (AttemptRow.run_id == row.run_id, AttemptRow.task_id == row.task_id, AttemptRow.number == row.number)
        values = {
            "ended_at": row.ended_at,
            "end": row.end,
            "exit_code": row.exit_code,
            "error_kind": row.error_kind,
            "message": row.message,
        }
        if session.execute(update(AttemptRow).where(*key).values(**values)).rowcount:  # type: ignore[attr-defined]
            return
    session.add(row)


def _attempt_row(run_id: str, task_id: str, attempt: AttemptRecord) -> AttemptRow:
    ended = datetime.fromtimestamp(attempt.ended_at, timezone.utc) if attempt.ended_at is not None else None
    return AttemptRow(
        run_id=run_id,
        task_id=task_id,
        number=attempt.number,
        started_at=datetime.fromtimestamp(attempt.started_at, timezone.utc),
        ended_at=ended,
        end=attempt.end,
        exit_code=attempt.exit_code,
        error_kind=attempt.error_kind.value if attempt.error_kind else None,
        message=attempt.message,
    )


def _binding_json(binding: InputBinding) -> dict[str, Any]:
    encoded: dict[str, Any] = json.loads(msgspec.json.encode(binding))
    return encoded


def _engine(url: str, **options: Any) -> Engine:
    if not url.startswith("sqlite"):
        # A server that does not answer is reported within seconds instead of hanging (psycopg and PyMySQL both take it).
        # No pool_pre_ping: it costs a round trip per transaction, and a connection the server dropped is already
        # handled by _retried_on_disconnect, which runs the whole transaction again (tests/stores/test_database_faults.py).
        return create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}, **options)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(connection: Any, _record: Any) -> None:
        # WAL lets readers and one writer work at once; the timeout waits out other writers.
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # Let SQLAlchemy, not the driver, begin transactions: the driver would commit DDL
        # statement by statement, so another process could see half a migration.
        connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Take the write lock up front: a transaction that reads and then writes cannot then
        # fail with "database is locked" when another process writes at the same moment, and
        # two processes creating the schema take turns. A read-only one (_reading) needs no lock:
        # in WAL mode it reads a consistent snapshot while a writer writes.
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine
