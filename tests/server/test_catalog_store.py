"""The records behind the server on SQLite, PostgreSQL and MariaDB: experiments, pipelines and versions, idempotency keys,
and the one listing scheme (filter, order, keyset pages)."""

from __future__ import annotations

import pytest

from sluiceway import compiler, dsl
from sluiceway.stores.sql import SqlMetadataStore
from sluiceway.stores.sql.catalog import SqlCatalog
from sluiceway.stores.sql.listing import BadListRequest, ListRequest
from sluiceway.stores.sql.store import Conflict, KeyTaken, NotFound


@dsl.component
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="echo-pipeline")
def echo_pipeline(text: str = "hi"):
    echo(text=text)


@dsl.pipeline(name="echo-twice")
def echo_twice(text: str = "hi"):
    echo(text=echo(text=text).output)


def test_uploading_the_same_content_twice_finds_the_same_version(url):
    catalog = SqlCatalog(SqlMetadataStore(url, upgrade=True))
    pipeline = compiler.compile_pipeline(echo_pipeline)
    first, new = catalog.upload("team-a", pipeline, description="echoes")
    again, new_again = catalog.upload("team-a", pipeline)
    assert new and not new_again and again == first and first.digest.startswith("sha256:")
    other, _ = catalog.upload("team-a", compiler.compile_pipeline(echo_twice), name="echo-pipeline")
    assert other.pipeline_id == first.pipeline_id and other.digest != first.digest
    elsewhere, new_elsewhere = catalog.upload("team-b", pipeline)
    assert new_elsewhere and elsewhere.pipeline_id != first.pipeline_id  # a namespace's pipelines are its own
    listed = catalog.list_versions(first.pipeline_id, ListRequest(order_by="created_at"))
    assert [v.digest for v in listed.items] == [first.digest, other.digest]
    record, ir = catalog.get_version(first.pipeline_id, first.digest)
    assert record == first and ir.name == "echo-pipeline"
    catalog.delete_version(first.pipeline_id, first.digest)
    with pytest.raises(NotFound):
        catalog.get_version(first.pipeline_id, first.digest)
    catalog.delete_pipeline(first.pipeline_id)
    with pytest.raises(NotFound, match="no pipeline"):
        catalog.get_pipeline(first.pipeline_id)
    assert catalog.get_pipeline(elsewhere.pipeline_id).name == "echo-pipeline"


def test_an_experiment_is_named_once_per_namespace_and_kept_while_runs_name_it(url):
    store = SqlMetadataStore(url, upgrade=True)
    catalog = SqlCatalog(store)
    made = catalog.create_experiment("team-a", "tuning", "learning rates")
    with pytest.raises(Conflict, match="already has an experiment named 'tuning'"):
        catalog.create_experiment("team-a", "tuning")
    assert catalog.create_experiment("team-b", "tuning").id != made.id
    assert catalog.set_archived(made.id, True).archived and catalog.set_archived(made.id, True).archived
    assert not catalog.set_archived(made.id, False).archived
    assert catalog.experiment_named("team-a", "tuning") == catalog.get_experiment(made.id)
    assert catalog.experiment_named("team-a", "new", create=True).name == "new"
    store.create_run("r1", compiler.compile_pipeline(echo_pipeline), {}, namespace="team-a", experiment="tuning")
    with pytest.raises(Conflict, match="has 1 run; archive it instead"):
        catalog.delete_experiment(made.id)
    catalog.delete_experiment(catalog.experiment_named("team-a", "new").id)
    with pytest.raises(NotFound):
        catalog.delete_experiment("nope")


def test_an_idempotency_key_names_one_run_per_namespace(url):
    store = SqlMetadataStore(url, upgrade=True)
    pipeline = compiler.compile_pipeline(echo_pipeline)
    store.create_run("first", pipeline, {}, namespace="team-a", idempotency_key="k-1")
    with pytest.raises(KeyTaken) as taken:
        store.create_run("second", pipeline, {}, namespace="team-a", idempotency_key="k-1")
    assert taken.value.run_id == "first"
    store.create_run("third", pipeline, {}, namespace="team-b", idempotency_key="k-1")
    store.create_run("fourth", pipeline, {}, namespace="team-a")
    store.create_run("fifth", pipeline, {}, namespace="team-a")  # runs without a key never collide
    assert store.get_run("first").idempotency_key == "k-1" and store.run_with_key("team-b", "k-1") == "third"
    with pytest.raises(NotFound):
        store.get_run("second")


def test_runs_are_listed_by_filter_order_and_keyset_pages(url):
    store = SqlMetadataStore(url, upgrade=True)
    pipelines = [compiler.compile_pipeline(echo_pipeline), compiler.compile_pipeline(echo_twice)]
    for index in range(7):
        store.create_run(f"run-{index}", pipelines[index % 2], {}, namespace="team-a")
    store.create_run("elsewhere", pipelines[0], {}, namespace="team-b")

    def ids(**request: object) -> tuple[list[str], str | None]:
        page = store.query_runs("team-a", ListRequest(**request))  # type: ignore[arg-type]
        return [run.id for run in page.runs], page.next_page_token

    seen, token = [], None
    while True:
        got, token = ids(page_size=3, page_token=token)
        seen.append(got)
        if token is None:
            break
    assert seen == [["run-6", "run-5", "run-4"], ["run-3", "run-2", "run-1"], ["run-0"]]
    assert ids(filter='pipeline_name = "echo-twice"')[0] == ["run-5", "run-3", "run-1"]
    assert ids(filter="pipeline_name = 'echo-twice' AND created_at > '2000-01-01T00:00:00Z' AND finished_at = null")[0] == [
        "run-5",
        "run-3",
        "run-1",
    ]
    assert ids(filter='created_at < "2000-01-01"')[0] == []
    first, token = ids(order_by="pipeline_name asc", page_size=4)
    rest, _ = ids(order_by="pipeline_name asc", page_size=4, page_token=token)
    assert first + rest == ["run-0", "run-2", "run-4", "run-6", "run-1", "run-3", "run-5"]
    with pytest.raises(BadListRequest, match="continues a listing ordered by 'pipeline_name asc'"):
        ids(order_by="created_at", page_token=token)


@pytest.mark.parametrize(
    ("request_", "parameter", "message"),
    [
        ({"filter": "state = 'x'; DROP TABLE runs"}, "filter", r"unexpected ';"),
        ({"filter": "state = 'x' OR 1 = 1"}, "filter", "expected AND"),
        ({"filter": "id = 'x'"}, "filter", "cannot filter on 'id'"),
        ({"filter": "parameters = 'x'"}, "filter", "cannot filter on 'parameters'"),
        ({"filter": "state = SUCCEEDED"}, "filter", "state takes a quoted string"),
        ({"filter": "created_at > 'yesterday'"}, "filter", "ISO 8601"),
        ({"filter": "state ="}, "filter", "expected FIELD OP VALUE"),
        ({"filter": "state < null"}, "filter", "null can only be compared"),
        ({"order_by": "message"}, "order_by", "cannot sort by 'message'"),
        ({"order_by": "created_at sideways"}, "order_by", "FIELD asc|desc"),
        ({"page_token": "garbage"}, "page_token", "is not a page token"),
        ({"page_size": 0}, "page_size", "between 1 and 1000"),
    ],
)
def test_bad_listing_requests_name_what_is_wrong(tmp_path, request_, parameter, message):
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'm.db'}", upgrade=True)
    with pytest.raises(BadListRequest, match=message) as raised:
        store.query_runs("default", ListRequest(**request_))
    assert raised.value.parameter == parameter


def test_a_quoted_value_is_only_ever_a_value(url):
    store = SqlMetadataStore(url, upgrade=True)
    store.create_run("r", compiler.compile_pipeline(echo_pipeline), {}, namespace="team-a")
    for hostile in ["x' OR '1'='1", 'x" OR "1"="1', "x\\' OR 1=1 --", "'; DELETE FROM runs; --"]:
        quoted = "'" + hostile.replace("\\", "\\\\").replace("'", "\\'") + "'"
        assert store.query_runs("team-a", ListRequest(filter=f"pipeline_name = {quoted}")).runs == []
    assert [r.id for r in store.query_runs("team-a", ListRequest()).runs] == ["r"]


def test_concurrent_creates_with_one_key_make_one_run(url):
    from concurrent.futures import ThreadPoolExecutor

    store = SqlMetadataStore(url, upgrade=True)
    pipeline = compiler.compile_pipeline(echo_pipeline)

    def create(index: int) -> str:
        try:
            store.create_run(f"racer-{index}", pipeline, {}, idempotency_key="same")
            return f"racer-{index}"
        except KeyTaken as taken:
            return taken.run_id

    with ThreadPoolExecutor(8) as pool:
        holders = set(pool.map(create, range(8)))
    assert len(holders) == 1 and store.run_with_key("default", "same") in holders
    assert len(store.query_runs("default", ListRequest()).runs) == 1


def test_concurrent_uploads_of_one_pipeline_make_one_version(url):
    from concurrent.futures import ThreadPoolExecutor

    catalog = SqlCatalog(SqlMetadataStore(url, upgrade=True))
    pipeline = compiler.compile_pipeline(echo_pipeline)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: catalog.upload("default", pipeline), range(6)))
    assert len({version for version, _ in results}) == 1 and sum(new for _, new in results) == 1
