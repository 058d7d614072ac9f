"""A metadata database that drops its connections under a running pipeline loses nothing (PostgreSQL, for real)."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import sluiceway
from sluiceway import dsl, local
from sluiceway.core.lifecycle import RunState
from sluiceway.stores.sql import SqlMetadataStore
from tests.databases import SERVER_URLS, scratch_database


@dsl.component
def step(a: int) -> int:
    return a + 1


@dsl.pipeline(name="long-chain")
def long_chain(x: int = 0):
    task = step(a=x)
    for _ in range(24):
        task = step(a=task.output)


def test_a_run_survives_its_database_connections_being_killed(tmp_path, monkeypatch):
    with scratch_database("postgresql") as url:
        SqlMetadataStore(url, upgrade=True)
        monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))
        monkeypatch.setenv("SLUICEWAY_METADATA__URL", url)
        admin = create_engine(SERVER_URLS["postgresql"], isolation_level="AUTOCOMMIT")
        database = make_url(url).database
        killed = 0
        done = threading.Event()

        def kill_connections() -> None:  # what a failover or a restarted pgbouncer does to a client
            nonlocal killed
            with admin.connect() as connection:
                while not done.wait(0.05):
                    found = connection.execute(
                        text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                        {"db": database},
                    ).all()
                    killed += len(found)

        killer = threading.Thread(target=kill_connections)
        killer.start()
        try:
            report = sluiceway.run(long_chain, max_parallel=1)
        finally:
            done.set()
            killer.join()
            admin.dispose()
        assert killed > 0, "the test must actually have dropped connections"
        assert report.state == RunState.SUCCEEDED
        store = local.metadata_store()
        assert store.get_run(report.run_id).state == "SUCCEEDED"
        recorded = {task.task_id: task for task in store.tasks(report.run_id)}
        assert len(recorded) == 25 and all(task.state == "SUCCEEDED" for task in recorded.values())
        assert recorded["step-25"].outputs["Output"] == {"value": 25}
        store.engine.dispose()
