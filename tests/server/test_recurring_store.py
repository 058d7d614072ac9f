"""Recurring runs in the metadata database, on SQLite, PostgreSQL and MariaDB: a firing, identified by (recurring run,
scheduled time), makes one run however ticks race or a server stops between making the run and moving on."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from sluiceway import compiler
from sluiceway.core.lifecycle import RunState
from sluiceway.server.scheduler import RecurringScheduler
from sluiceway.stores.sql import SqlMetadataStore
from sluiceway.stores.sql.catalog import SqlCatalog
from sluiceway.stores.sql.listing import ListRequest
from sluiceway.stores.sql.recurring import RecurringRunRecord, SqlRecurringRuns, firing_key
from sluiceway.stores.sql.store import ConcurrentUpdate, Conflict
from tests.server.test_api import shout_pipeline

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


class Recorder:
    """The supervisor, as the scheduler sees it: runs are recorded by the scheduler, only noted as started here."""

    stopping = False

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, run_id: str) -> None:
        self.started.append(run_id)


def setup(url: str, **fields: object) -> tuple[SqlMetadataStore, SqlRecurringRuns, RecurringScheduler, Recorder, RecurringRunRecord]:
    store = SqlMetadataStore(url, upgrade=True)
    catalog, recurring, recorder = SqlCatalog(store), SqlRecurringRuns(store), Recorder()
    version, _ = catalog.upload("team-a", compiler.compile_pipeline(shout_pipeline))
    made = recurring.create(
        now=NOW - timedelta(hours=1),
        **{
            "namespace": "team-a",
            "name": "hourly",
            "pipeline_id": version.pipeline_id,
            "pipeline_digest": version.digest,
            "parameters": {"text": "x"},
            "experiment": "nightly",
            "cron": None,
            "timezone": "UTC",
            "interval_seconds": 600,
            "start_at": None,
            "end_at": None,
            "max_concurrency": 5,
            "catch_up": False,
            "enabled": True,
            "next_fire_at": NOW,
            **fields,
        },
    )
    return store, recurring, RecurringScheduler(recurring, catalog, recorder), recorder, made


def fired_runs(store: SqlMetadataStore) -> list[str | None]:
    return sorted(run.idempotency_key for run in store.query_runs("team-a", ListRequest()).runs)


def test_two_ticks_at_the_same_time_make_one_run(url):
    store, recurring, scheduler, recorder, made = setup(url)
    assert scheduler.tick(NOW) == 1
    assert scheduler.tick(NOW) == 0  # moved on: nothing due at NOW any more
    assert fired_runs(store) == [firing_key(made.id, NOW)] and len(recorder.started) == 1
    after = recurring.get(made.id)
    assert after.next_fire_at == NOW + timedelta(minutes=10) and after.version == made.version + 1


def test_a_firing_made_before_a_restart_is_not_made_again(url):
    store, recurring, scheduler, _, made = setup(url)
    scheduler.tick(NOW)
    # As if the server stopped after making the run and before moving next_fire_at on: it is back where it was.
    recurring.update(made.id, recurring.get(made.id).version, next_fire_at=NOW)
    assert scheduler.tick(NOW + timedelta(seconds=1)) == 0
    assert fired_runs(store) == [firing_key(made.id, NOW)] and recurring.get(made.id).next_fire_at == NOW + timedelta(minutes=10)


def test_ticks_racing_on_threads_make_each_firing_once(url):
    store, recurring, _, _, made = setup(url, catch_up=True, next_fire_at=NOW - timedelta(minutes=30))
    schedulers = [RecurringScheduler(recurring, SqlCatalog(store), Recorder()) for _ in range(3)]
    threads = [threading.Thread(target=scheduler.tick, args=(NOW,)) for scheduler in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while schedulers[0].tick(NOW):  # whatever the race left, one scheduler finishes
        pass
    assert fired_runs(store) == sorted(firing_key(made.id, NOW - timedelta(minutes=m)) for m in (30, 20, 10, 0))


def test_max_concurrency_holds_the_firing_until_a_run_ends(url):
    store, recurring, scheduler, _, made = setup(url, max_concurrency=1)
    scheduler.tick(NOW)
    (run,) = store.query_runs("team-a", ListRequest()).runs
    later = NOW + timedelta(minutes=10)
    assert scheduler.tick(later) == 0 and recurring.get(made.id).next_fire_at == later  # held, not skipped
    store.set_run_state(run.id, RunState.RUNNING)
    store.set_run_state(run.id, RunState.SUCCEEDED)
    assert scheduler.tick(later) == 1


def test_names_are_unique_per_namespace_and_versions_guard_changes(url):
    _, recurring, _, _, made = setup(url)
    columns = {key: value for key, value in vars(made).items() if key not in ("id", "created_at", "updated_at", "version")}
    with pytest.raises(Conflict, match="already has a recurring run named 'hourly'"):
        recurring.create(**columns)
    recurring.update(made.id, made.version, enabled=False)
    with pytest.raises(ConcurrentUpdate):
        recurring.update(made.id, made.version, enabled=True)
    assert recurring.due(NOW) == []  # disabled ones do not fire
