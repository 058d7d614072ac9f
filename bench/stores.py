"""Store benchmark: listing runs from a large metadata database on PostgreSQL and MySQL (MariaDB).

    python bench/stores.py                      # 10,000 then 100,000 runs, on PostgreSQL and MariaDB
    python bench/stores.py --sizes 1000 10000   # smaller
    python bench/stores.py --json results.json

For each database server it makes a scratch database, upgrades it to Sluiceway's schema, and fills it with runs
spread over 10 namespaces, 5 experiments each and four states. At each size it times, through
`SqlMetadataStore.list_runs` (the code `sluiceway runs list` and the server use):

- the first page of 50 runs of one namespace, filtered by experiment and state, for random namespaces and
  experiments (p50 and p99 of 300 queries);
- the 20th page of the same listing, reached by following page tokens (keyset paging);
- beside it, the same 20th page fetched the way many APIs do, with OFFSET (raw SQL, same filter and order);
- the floor: a `SELECT 1` round trip on the same connection pool.

Targets: p50 of a filtered page at most 20 ms, and flat as the table grows (the larger size's p50 at most 1.5x the
smaller's). For scale: Kubeflow Pipelines takes about 15 s to list runs at 200k runs (kubeflow/pipelines #9890);
its API server cannot run here, so it is not measured side by side.

Servers: PostgreSQL at postgresql+psycopg://postgres@127.0.0.1:5432/postgres and MariaDB at
mysql+pymysql://root@127.0.0.1:3306/ (change them with SLUICEWAY_TEST_POSTGRES_URL and SLUICEWAY_TEST_MYSQL_URL;
`make services` starts them). This is a benchmark, not a test.
"""

from __future__ import annotations

import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` beside this script, from any folder
from common import (
    Target,
    add_json_option,
    add_strict_option,
    argument_parser,
    duration_text,
    exit_code,
    platform_summary,
    print_targets,
    ratio,
    ratio_text,
    render_table,
    source_revision,
    write_json_report,
)

SERVERS = {
    "postgresql": os.environ.get("SLUICEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("SLUICEWAY_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"),
}
NAMESPACES = [f"team-{i}" for i in range(10)]
EXPERIMENTS = [f"experiment-{i}" for i in range(5)]
"""Few enough that at 100,000 runs a filtered listing has 20 pages, and at 10,000 its first page is full."""
STATES = ["SUCCEEDED"] * 14 + ["FAILED"] * 4 + ["RUNNING", "CANCELLED"]
PAGE = 50
QUERIES = 300
DEEP_PAGE = 20
TARGET_P50_SECONDS = 0.020
TARGET_GROWTH = 1.5


@dataclass
class Measurement:
    database: str
    runs: int
    first_page_p50_s: float
    first_page_p99_s: float
    deep_page_p50_s: float | None
    offset_deep_page_p50_s: float | None
    floor_p50_s: float
    rows_per_page: float
    samples: dict[str, list[float]] = field(default_factory=dict, repr=False)


@contextmanager
def scratch_store(admin_url: str) -> Iterator[object]:
    """A SqlMetadataStore on a fresh database of the server at `admin_url`, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sluiceway.stores.sql import SqlMetadataStore

    admin_address = make_url(admin_url)
    name = f"sluiceway_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_address, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    store = SqlMetadataStore(admin_address.set(database=name).render_as_string(hide_password=False), upgrade=True)
    try:
        yield store
    finally:
        store.engine.dispose()  # type: ignore[attr-defined]
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def fill(store: object, start: int, stop: int, rng: random.Random) -> None:
    """Add runs number start..stop-1, one minute apart, in bulk (the benchmark is about reading them)."""
    from sqlalchemy import insert

    from sluiceway.stores.sql.models import PipelineVersion, Run

    engine = store.engine  # type: ignore[attr-defined]
    epoch = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as connection:
        if start == 0:
            connection.execute(insert(PipelineVersion).values(digest="sha256:bench", name="bench", ir="{}", created_at=epoch))
        for batch in range(start, stop, 5000):
            rows = [
                {
                    "id": f"bench-{index:08d}",
                    "namespace": rng.choice(NAMESPACES),
                    "experiment": rng.choice(EXPERIMENTS),
                    "pipeline_name": "bench",
                    "pipeline_digest": "sha256:bench",
                    "state": rng.choice(STATES),
                    "parameters": {},
                    "created_at": epoch + timedelta(minutes=index),
                    "finished_at": None,
                    "message": "",
                    "version": 1,
                }
                for index in range(batch, min(batch + 5000, stop))
            ]
            connection.execute(insert(Run), rows)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(database: str, store: object, size: int, rng: random.Random) -> Measurement:
    from sqlalchemy import text

    engine = store.engine  # type: ignore[attr-defined]
    filters = [(rng.choice(NAMESPACES), rng.choice(EXPERIMENTS)) for _ in range(QUERIES)]
    first_pages: list[float] = []
    rows_seen = 0
    for namespace, experiment in filters:
        started = time.perf_counter()
        page = store.list_runs(namespace=namespace, experiment=experiment, state="SUCCEEDED", limit=PAGE)  # type: ignore[attr-defined]
        first_pages.append(time.perf_counter() - started)
        rows_seen += len(page.runs)

    deep_pages: list[float] = []
    offset_pages: list[float] = []
    offset_sql = text(
        "SELECT * FROM runs WHERE namespace = :ns AND experiment = :exp AND state = 'SUCCEEDED' "
        "ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
    )
    for namespace, experiment in filters[:30]:
        token = None
        for _ in range(DEEP_PAGE - 1):
            token = store.list_runs(  # type: ignore[attr-defined]
                namespace=namespace, experiment=experiment, state="SUCCEEDED", limit=PAGE, page_token=token
            ).next_page_token
            if token is None:
                break
        if token is None:
            continue
        deep_pages.append(
            timed(
                lambda ns=namespace, exp=experiment, tok=token: store.list_runs(  # type: ignore[attr-defined]
                    namespace=ns, experiment=exp, state="SUCCEEDED", limit=PAGE, page_token=tok
                )
            )
        )
        with engine.connect() as connection:
            offset_pages.append(
                timed(
                    lambda c=connection, ns=namespace, exp=experiment: c.execute(
                        offset_sql, {"ns": ns, "exp": exp, "limit": PAGE, "offset": PAGE * (DEEP_PAGE - 1)}
                    ).all()
                )
            )
    floors: list[float] = []
    with engine.connect() as connection:
        for _ in range(QUERIES):
            floors.append(timed(lambda c=connection: c.execute(text("SELECT 1")).one()))
    return Measurement(
        database=database,
        runs=size,
        first_page_p50_s=statistics.median(first_pages),
        first_page_p99_s=percentile(first_pages, 0.99),
        deep_page_p50_s=statistics.median(deep_pages) if deep_pages else None,  # fewer than 20 pages at this size
        offset_deep_page_p50_s=statistics.median(offset_pages) if offset_pages else None,
        floor_p50_s=statistics.median(floors),
        rows_per_page=rows_seen / len(filters),
    )


def evaluate(results: list[Measurement], sizes: list[int]) -> list[Target]:
    targets = []
    for database in SERVERS:
        mine = {m.runs: m for m in results if m.database == database}
        if not mine:
            targets.append(Target(f"{database}: filtered page p50 <= 20 ms", "N/A", "not measured"))
            continue
        largest = mine[max(mine)]
        verdict = "PASS" if largest.first_page_p50_s <= TARGET_P50_SECONDS else "FAIL"
        targets.append(
            Target(
                f"{database}: filtered page p50 <= 20 ms at {largest.runs:,} runs",
                verdict,
                f"{duration_text(largest.first_page_p50_s)}, p99 {duration_text(largest.first_page_p99_s)}",
            )
        )
        if len(mine) >= 2:
            small, large = mine[min(mine)], mine[max(mine)]
            growth = ratio(large.first_page_p50_s, small.first_page_p50_s)
            targets.append(
                Target(
                    f"{database}: flat as the table grows ({small.runs:,} -> {large.runs:,} runs: p50 at most {TARGET_GROWTH}x)",
                    "PASS" if growth is not None and growth <= TARGET_GROWTH else "FAIL",
                    f"{duration_text(large.first_page_p50_s)} / {duration_text(small.first_page_p50_s)} = {ratio_text(growth)}",
                )
            )
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000], help="table sizes, ascending")
    parser.add_argument("--databases", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    add_json_option(parser)
    add_strict_option(parser)
    options = parser.parse_args(argv)
    revision = source_revision()
    print(f"{platform_summary()}; {sys.executable}" + (f"; sluiceway {revision}" if revision else ""), flush=True)
    rng = random.Random(20261128)
    results: list[Measurement] = []
    failed = False
    for database in options.databases:
        try:
            with scratch_store(SERVERS[database]) as store:
                filled = 0
                for size in sorted(options.sizes):
                    started = time.perf_counter()
                    fill(store, filled, size, rng)
                    filled = size
                    print(f"  {database}: {size:,} runs loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
                    results.append(measure(database, store, size, rng))
        except Exception as error:  # a server that is not there: report it, measure the others
            print(f"! {database}: {type(error).__name__}: {error}", file=sys.stderr)
            failed = True
    rows = [
        [
            m.database,
            f"{m.runs:,}",
            duration_text(m.first_page_p50_s),
            duration_text(m.first_page_p99_s),
            duration_text(m.deep_page_p50_s),
            duration_text(m.offset_deep_page_p50_s),
            ratio_text(ratio(m.offset_deep_page_p50_s, m.deep_page_p50_s), 1),
            duration_text(m.floor_p50_s),
            ratio_text(ratio(m.first_page_p50_s, m.floor_p50_s), 1),
            f"{m.rows_per_page:.0f}",
        ]
        for m in results
    ]
    print()
    print(f"Listing runs: a page of {PAGE}, one namespace, filtered by experiment and state; {QUERIES} queries per size")
    headers = ["database", "runs", "p50", "p99", f"page {DEEP_PAGE} keyset", f"page {DEEP_PAGE} OFFSET", "OFFSET/keyset"]
    print(render_table([*headers, "floor SELECT 1", "p50/floor", "rows/page"], rows, left_columns=1))
    print()
    print("keyset: list_runs following page tokens; OFFSET: the same page by LIMIT/OFFSET in raw SQL, for comparison.")
    print("floor: a SELECT 1 round trip through the same pool. Kubeflow Pipelines: about 15 s at 200k runs (#9890).")
    targets = evaluate(results, options.sizes)
    print_targets(targets)
    if options.json:
        write_json_report(options.json, {"sluiceway_revision": revision, "page": PAGE, "queries": QUERIES}, results, targets)
    return exit_code(failed=failed, strict=options.strict, targets=targets)


if __name__ == "__main__":
    sys.exit(main())
