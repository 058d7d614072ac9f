"""The SQL metadata store on SQLite, PostgreSQL and MariaDB: migrations, the schema gate, records, concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from sluiceway import compiler, dsl
from sluiceway.core.errors import SluicewayError
from sluiceway.core.launcher import AttemptRecord
from sluiceway.core.lifecycle import IllegalTransition, RunState
from sluiceway.core.task_spec import ArtifactRef, InputBinding
from sluiceway.stores.sql import SchemaVersionError, SqlMetadataStore, migrations
from sluiceway.stores.sql.listing import ListRequest
from sluiceway.stores.sql.models import AttemptRow, Base, CacheEntry, LineageEvent, TaskOutput, TaskRecord
from sluiceway.stores.sql.store import Conflict, NotFound
from tests.databases import scratch_database


@dsl.component
def hello(name: str) -> str:
    return name


@dsl.pipeline(name="hello-pipeline")
def hello_pipeline(name: str = "x"):
    hello(name=name)


def test_migrations_go_up_and_down_and_match_the_models(url):
    engine = create_engine(url)
    with engine.begin() as connection:
        migrations.upgrade(connection)
        assert migrations.current(connection) == migrations.head()
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        migrations.downgrade(connection, "base")
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(connection)
        assert {"runs", "tasks", "task_outputs", "artifacts", "lineage_events", "pipeline_versions", "cache_entries"} <= set(
            inspect(connection).get_table_names()
        )


def test_a_schema_of_another_version_is_refused_with_the_command_to_run(url):
    engine = create_engine(url)
    with engine.begin() as connection:
        migrations.upgrade(connection)
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(
        SchemaVersionError,
        match=rf"has schema version 0000, and this Sluiceway needs {migrations.head()}: run `sluiceway db upgrade --url {re.escape(url)}`",
    ):
        SqlMetadataStore(url)


def test_an_empty_database_is_created_only_when_asked(url):
    with pytest.raises(SchemaVersionError, match="has schema version none"):
        SqlMetadataStore(url)
    SqlMetadataStore(url, upgrade=True)
    SqlMetadataStore(url)  # now current


def test_foreign_and_corrupt_files_are_refused_and_left_alone(tmp_path):
    foreign = tmp_path / "foreign.db"
    engine = create_engine(f"sqlite:///{foreign}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (id INTEGER)"))
    with pytest.raises(SchemaVersionError, match=r"holds tables that are not a Sluiceway schema \(users\)"):
        SqlMetadataStore(f"sqlite:///{foreign}", upgrade=True)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"\x00not a database" * 100)
    with pytest.raises(SchemaVersionError, match="cannot be used as a Sluiceway metadata database: file is not a database"):
        SqlMetadataStore(f"sqlite:///{corrupt}", upgrade=True)
    assert corrupt.read_bytes() == b"\x00not a database" * 100


def test_a_run_and_its_tasks_are_recorded(url):
    store = SqlMetadataStore(url, upgrade=True)
    pipeline = compiler.compile_pipeline(hello_pipeline)
    store.create_run("r1", pipeline, {"name": "ada"})
    store.create_run("r2", pipeline, {"name": "bob"})  # the same pipeline version is stored once
    store.set_run_state("r1", RunState.RUNNING)
    model = ArtifactRef(uri="file:///a/model", type="Model", digest="sha256:00", metadata={"acc": 0.9})
    store.record_task("r1", "train", kind="task", state="RUNNING", skip_reason=None, message="", attempts=1)
    store.record_task(
        "r1",
        "train",
        kind="task",
        state="SUCCEEDED",
        skip_reason=None,
        message="",
        attempts=1,
        outputs={"model": InputBinding(artifacts=(model,)), "loss": InputBinding(value=0.25)},
    )
    store.record_inputs("r1", "evaluate", {"model": InputBinding(artifacts=(model,))})
    store.set_run_state("r1", RunState.SUCCEEDED)
    run = store.get_run("r1")
    assert (run.state, run.parameters, run.finished_at is not None) == ("SUCCEEDED", {"name": "ada"}, True)
    (task,) = store.tasks("r1")
    assert (task.task_id, task.state, task.attempts) == ("train", "SUCCEEDED", 1)
    assert task.outputs["loss"] == {"value": 0.25}
    assert task.outputs["model"]["artifacts"][0]["uri"] == "file:///a/model"
    assert store.lineage("file:///a/model") == [("produced", "r1", "train", "model"), ("consumed", "r1", "evaluate", "model")]
    assert [r.id for r in store.list_runs().runs] == ["r2", "r1"]  # newest first
    assert [r.id for r in store.list_runs(state="SUCCEEDED").runs] == ["r1"]


def test_run_states_follow_the_transition_table(url):
    store = SqlMetadataStore(url, upgrade=True)
    store.create_run("r1", compiler.compile_pipeline(hello_pipeline), {})
    with pytest.raises(IllegalTransition, match="a run cannot go from PENDING to SUCCEEDED"):
        store.set_run_state("r1", RunState.SUCCEEDED)
    store.set_run_state("r1", RunState.RUNNING)
    store.set_run_state("r1", RunState.FAILED)
    with pytest.raises(IllegalTransition, match="only when the run is retried"):
        store.set_run_state("r1", RunState.PENDING)
    store.set_run_state("r1", RunState.PENDING, retrying=True)


def _write_tasks(url: str, writer: int, count: int) -> None:
    store = SqlMetadataStore(url)
    for index in range(count):
        store.record_task(
            "shared",
            f"w{writer}-t{index}",
            kind="task",
            state="SUCCEEDED",
            skip_reason=None,
            message="",
            attempts=1,
            outputs={"n": InputBinding(value=index)},
        )


def test_two_processes_writing_one_run_lose_nothing(url):
    store = SqlMetadataStore(url, upgrade=True)
    store.create_run("shared", compiler.compile_pipeline(hello_pipeline), {})
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_tasks, args=(url, writer, 40)) for writer in range(2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    tasks = store.tasks("shared")
    assert len(tasks) == 80 and all(task.outputs["n"]["value"] == int(task.task_id.split("-t")[1]) for task in tasks)


@dsl.component
def make_rows(data: dsl.Output[dsl.Dataset]):
    from pathlib import Path

    Path(data.path).write_text("1\n2\n")


@dsl.component
def count(data: dsl.Input[dsl.Dataset]) -> int:
    from pathlib import Path

    return len(Path(data.path).read_text().split())


def test_a_local_run_is_recorded_with_its_lineage(tmp_path, monkeypatch):
    import sluiceway
    from sluiceway import local

    @dsl.pipeline(name="rows")
    def rows():
        count(data=make_rows().output)

    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))
    report = sluiceway.run(rows)
    store = local.metadata_store()
    assert store.get_run(report.run_id).state == "SUCCEEDED"
    assert {(t.task_id, t.state) for t in store.tasks(report.run_id)} == {("make-rows", "SUCCEEDED"), ("count", "SUCCEEDED")}
    (artifact,) = report.tasks["make-rows"].outputs["data"].artifacts
    assert store.lineage(artifact.uri) == [("produced", report.run_id, "make-rows", "data"), ("consumed", report.run_id, "count", "data")]


@pytest.mark.parametrize(
    "unreachable",
    ["postgresql+psycopg://sluiceway:s3cret@127.0.0.1:1/runs", "mysql+pymysql://sluiceway:s3cret@127.0.0.1:1/runs"],
)
def test_an_unreachable_server_is_named_quickly_without_its_password(unreachable):
    started = time.monotonic()
    with pytest.raises(SchemaVersionError) as raised:
        SqlMetadataStore(unreachable)
    assert time.monotonic() - started < 15
    message = str(raised.value)
    assert "127.0.0.1" in message and ":1/" in message and "s3cret" not in message and "***" in message


def test_runs_are_listed_a_page_at_a_time_by_keyset_with_every_filter(url):
    store = SqlMetadataStore(url, upgrade=True)
    pipeline = compiler.compile_pipeline(hello_pipeline)
    for index in range(7):
        store.create_run(f"run-{index}", pipeline, {}, namespace="team-a", experiment="tuning" if index % 2 else None)
    store.create_run("other-team", pipeline, {}, namespace="team-b", experiment="tuning")
    store.set_run_state("run-3", RunState.RUNNING)

    seen, token = [], None
    while True:
        page = store.list_runs(namespace="team-a", limit=3, page_token=token)
        seen.append([run.id for run in page.runs])
        token = page.next_page_token
        if token is None:
            break
    assert seen == [["run-6", "run-5", "run-4"], ["run-3", "run-2", "run-1"], ["run-0"]]  # newest first, none twice
    store.create_run("run-7", pipeline, {}, namespace="team-a")  # a run created while paging does not shift pages
    assert [
        r.id
        for r in store.list_runs(namespace="team-a", limit=3, page_token=store.list_runs(namespace="team-a", limit=4).next_page_token).runs
    ] == [
        "run-3",
        "run-2",
        "run-1",
    ]
    assert [r.id for r in store.list_runs(namespace="team-a", experiment="tuning").runs] == ["run-5", "run-3", "run-1"]
    assert [r.id for r in store.list_runs(namespace="team-a", state="RUNNING").runs] == ["run-3"]
    oldest = store.list_runs(namespace="team-a", oldest_first=True, limit=2)
    assert [r.id for r in oldest.runs] == ["run-0", "run-1"]
    assert [r.id for r in store.list_runs(namespace="team-a", oldest_first=True, limit=2, page_token=oldest.next_page_token).runs] == [
        "run-2",
        "run-3",
    ]
    assert [r.id for r in store.list_runs(namespace="team-b").runs] == ["other-team"]
    assert store.get_run("other-team").namespace == "team-b" and store.get_run("run-1").experiment == "tuning"
    with pytest.raises(SluicewayError, match="is not a page token"):
        store.list_runs(page_token="garbage")


def test_existing_artifacts_get_their_uri_keys_when_upgraded(url):
    engine = create_engine(url)
    with engine.begin() as connection:
        migrations.upgrade(connection, "0004")
        connection.execute(
            text("INSERT INTO artifacts (uri, type, properties, created_at) VALUES ('s3://b/model', 'Model', '{}', '2026-01-01 00:00:00')")
        )
        migrations.upgrade(connection)
    engine.dispose()
    store = SqlMetadataStore(url)
    assert store.lineage("s3://b/model") == []  # found by its key, with nothing produced or consumed yet
    with engine.connect() as connection:
        (key,) = connection.execute(text("SELECT uri_key FROM artifacts")).one()
    assert key == hashlib.sha256(b"s3://b/model").hexdigest()


def test_runs_recorded_before_0009_are_not_archived_and_archived_runs_leave_the_listing(url):
    engine = create_engine(url)
    with engine.begin() as connection:
        migrations.upgrade(connection, "0008")
        connection.execute(
            text("INSERT INTO pipeline_versions (digest, name, ir, created_at) VALUES ('d1', 'p', '{}', '2026-01-01 00:00:00')")
        )
        connection.execute(
            text(
                "INSERT INTO runs (id, namespace, pipeline_name, pipeline_digest, state, parameters, created_at, message, version) "
                "VALUES ('old', 'default', 'p', 'd1', 'SUCCEEDED', '{}', '2026-01-01 00:00:00', '', 1)"
            )
        )
        migrations.upgrade(connection)
        assert migrations.current(connection) == "0009"
    engine.dispose()
    store = SqlMetadataStore(url)
    assert store.get_run("old").archived is False  # the server default filled the row made before the column
    assert [run.id for run in store.query_runs("default", ListRequest()).runs] == ["old"]
    assert store.set_run_archived("old", True).archived is True
    assert store.query_runs("default", ListRequest()).runs == []  # hidden unless the filter names `archived`
    assert [run.id for run in store.query_runs("default", ListRequest(filter="archived = true")).runs] == ["old"]
    assert [run.id for run in store.query_runs("default", ListRequest(filter="archived != null")).runs] == ["old"]
    assert store.set_run_archived("old", False).archived is False
    with pytest.raises(NotFound):
        store.set_run_archived("nope", True)


def test_deleting_a_run_removes_its_records_and_leaves_its_artifacts(url):
    store = SqlMetadataStore(url, upgrade=True)
    pipeline = compiler.compile_pipeline(hello_pipeline)
    store.create_run("r1", pipeline, {"name": "ada"})
    store.create_run("r2", pipeline, {"name": "bob"})
    model = ArtifactRef(uri="file:///a/model", type="Model", digest="sha256:00", metadata={})
    store.set_run_state("r1", RunState.RUNNING)
    started = AttemptRecord(number=1, started_at=time.time())
    ended = AttemptRecord(number=1, started_at=started.started_at, ended_at=time.time(), end="finished", exit_code=0)
    task = {"kind": "task", "skip_reason": None, "message": "", "attempts": 1}
    store.record_task("r1", "train", state="RUNNING", attempt=started, **task)
    store.record_task(
        "r1",
        "train",
        state="SUCCEEDED",
        attempt=ended,
        outputs={"model": InputBinding(artifacts=(model,))},
        **task,
    )
    store.record_inputs("r2", "evaluate", {"model": InputBinding(artifacts=(model,))})
    store.write_cache_entry("key", "r1", "train", {"model": InputBinding(artifacts=(model,))})
    with pytest.raises(Conflict, match="only a run that has ended can be deleted"):
        store.delete_run("r1")
    store.set_run_state("r1", RunState.SUCCEEDED)
    store.delete_run("r1")
    with pytest.raises(NotFound):
        store.get_run("r1")
    with pytest.raises(NotFound):
        store.delete_run("r1")
    with store.transaction() as session:
        for model_class in (TaskRecord, AttemptRow, TaskOutput, LineageEvent, CacheEntry):
            assert session.scalars(select(model_class).where(model_class.run_id == "r1")).all() == []
    assert store.find_cache_entry("key") is None
    assert store.lineage("file:///a/model") == [("consumed", "r2", "evaluate", "model")]  # the artifact, and r2's use of it, stay
    assert store.get_run("r2").state == "PENDING"


def test_a_run_is_read_with_its_tasks_in_one_statement(url):
    store = SqlMetadataStore(url, upgrade=True)
    pipeline = compiler.compile_pipeline(hello_pipeline)
    store.create_run("r1", pipeline, {"name": "ada"}, experiment="e", idempotency_key="k")
    store.create_run("r2", pipeline, {})
    with pytest.raises(NotFound, match="no run 'r3'"):
        store.run_with_tasks("r3")
    assert store.run_with_tasks("r2") == (store.get_run("r2"), [])  # a run without tasks
    task = {"kind": "task", "skip_reason": None, "message": "", "attempts": 1}
    outputs = {"z": InputBinding(value=1), "a": InputBinding(value_uri="file:///v"), "m": InputBinding(value=[1, 2])}
    store.record_task("r1", "train", state="SUCCEEDED", outputs=outputs, **task)
    store.record_task("r1", "b-skipped", state="SKIPPED", **{**task, "skip_reason": "condition", "attempts": 0})
    store.record_task("r1", "evaluate", state="FAILED", error_kind="USER_CODE", outputs={"score": InputBinding(value=0.5)}, **task)
    store.record_task("r2", "train", state="SUCCEEDED", outputs={"other": InputBinding(value=2)}, **task)  # another run's
    store.set_run_state("r1", RunState.RUNNING)
    store.set_run_state("r1", RunState.FAILED, error_kind="USER_CODE", message="evaluate failed")
    run, tasks = store.run_with_tasks("r1")
    assert run == store.get_run("r1") and run.finished_at is not None and run.finished_at.tzinfo is not None
    assert tasks == store.tasks("r1")
    assert [t.task_id for t in tasks] == ["b-skipped", "evaluate", "train"]
    assert [(t.state, t.skip_reason, t.error_kind, t.outputs) for t in tasks] == [
        ("SKIPPED", "condition", None, {}),
        ("FAILED", None, "USER_CODE", {"score": {"value": 0.5}}),
        ("SUCCEEDED", None, None, {"a": {"value_uri": "file:///v"}, "m": {"value": [1, 2]}, "z": {"value": 1}}),
    ]
    assert list(tasks[2].outputs) == ["a", "m", "z"]  # in name order on every database
    store.engine.dispose()


def test_reading_a_run_is_retried_when_its_connection_was_dropped(caplog):
    """On PostgreSQL (where run_with_tasks reads through an autocommit engine of its own): every connection dropped."""
    with scratch_database("postgresql") as url:
        _read_again_after_dropping_connections(url, caplog)


def _read_again_after_dropping_connections(url, caplog):
    store = SqlMetadataStore(url, upgrade=True)
    store.create_run("r1", compiler.compile_pipeline(hello_pipeline), {})
    expected = store.run_with_tasks("r1")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # every connection of the store's pools, as a failover or a restart drops them
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        )
    admin.dispose()
    assert store.run_with_tasks("r1") == expected
    assert "the metadata database connection dropped" in caplog.text
    store.engine.dispose()
