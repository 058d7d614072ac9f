"""The recurring-run scheduler: a thread of the server that fires due recurring runs every tick.

Each tick asks the store what is due, asks `scheduling.plan` what to do with each, makes a run
for each scheduled time to fire (its idempotency key is the firing's identity: see
stores/sql/recurring.py), and then moves `next_fire_at` on with the version it read. A server
killed between the two makes the same firing's run again after a restart, finds it made
(KeyTaken), and moves on: nothing missed, nothing twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Protocol

from .. import local
from ..stores.sql.catalog import SqlCatalog
from ..stores.sql.recurring import RecurringRunRecord, SqlRecurringRuns, firing_key
from ..stores.sql.store import ConcurrentUpdate, KeyTaken, NotFound
from . import scheduling

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
"""How often the scheduler looks for due recurring runs (tests make it shorter)."""


class Starter(Protocol):
    """What the scheduler needs of the run supervisor: to start a recorded run, and to know the server is stopping."""

    @property
    def stopping(self) -> bool: ...

    def start(self, run_id: str) -> None: ...


def schedule_of(record: RecurringRunRecord) -> scheduling.Schedule:
    return scheduling.Schedule(
        cron=record.cron,
        timezone=record.timezone,
        interval_seconds=record.interval_seconds,
        anchor=record.start_at or record.created_at,
        start_at=record.start_at,
        end_at=record.end_at,
    )


class RecurringScheduler:
    """Fires due recurring runs on a thread, every `tick_seconds`, until stopped."""

    def __init__(self, recurring: SqlRecurringRuns, catalog: SqlCatalog, supervisor: Starter, tick_seconds: float | None = None) -> None:
        self.recurring, self.catalog, self.supervisor = recurring, catalog, supervisor
        self.tick_seconds = TICK_SECONDS if tick_seconds is None else tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="recurring-run scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick(datetime.now(timezone.utc))
            except Exception:  # a database that is away for a moment must not end the scheduler: the next tick tries again
                logger.exception("the recurring-run scheduler's tick failed")

    def tick(self, now: datetime) -> int:
        """Fire what is due at `now`; how many runs were made."""
        made = 0
        for record in self.recurring.due(now):
            if self._stop.is_set() or self.supervisor.stopping:
                break
            try:
                made += self._handle(record, now)
            except Exception:  # one broken recurring run must not hold back the others
                logger.exception("recurring run %s could not fire", record.id)
        return made

    def _handle(self, record: RecurringRunRecord, now: datetime) -> int:
        decided = scheduling.plan(
            schedule_of(record),
            record.next_fire_at,
            now,
            catch_up=record.catch_up,
            max_concurrency=record.max_concurrency,
            active=self.recurring.active_runs(record),
        )
        if decided is None:
            return 0
        made = sum(self._fire(record, scheduled) for scheduled in decided.fire)
        try:
            self.recurring.update(record.id, record.version, next_fire_at=decided.next_fire_at)
        except (ConcurrentUpdate, NotFound):  # disabled, deleted or fired by another tick meanwhile: its runs are keyed, so none doubled
            logger.info("recurring run %s changed while firing; read again next tick", record.id)
        return made

    def _fire(self, record: RecurringRunRecord, scheduled: datetime) -> int:
        """Make and start the run of one firing; 0 when an earlier attempt made it already."""
        pipeline = self.recurring.pipeline(record)
        if record.experiment is not None:
            self.catalog.experiment_named(record.namespace, record.experiment, create=True)
        run_id = local.new_run_id(pipeline)
        try:
            self.catalog.store.create_run(
                run_id,
                pipeline,
                record.parameters,
                namespace=record.namespace,
                experiment=record.experiment,
                idempotency_key=firing_key(record.id, scheduled),
            )
        except KeyTaken:  # made before a restart (or by a racing tick); a PENDING one is started by the supervisor's recovery
            return 0
        self.supervisor.start(run_id)
        logger.info("recurring run %s fired for %s: run %s", record.id, scheduled.isoformat(), run_id)
        return 1
