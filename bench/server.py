"""Server benchmark: create-run and get-run requests per second on SQLite and PostgreSQL, against a bare endpoint.

    python bench/server.py                           # SQLite and PostgreSQL, 1,000 runs created, listing at 10k and 100k runs
    python bench/server.py --databases sqlite        # SQLite only (no PostgreSQL needed)
    python bench/server.py --runs 200 --sizes 1000 10000 --json results.json

Everything runs on 127.0.0.1, in one run of this script. For each database the benchmark starts the
server as `sluiceway server` starts it (FastAPI on uvicorn, one process, the same uvicorn
settings), with its metadata in a fresh database: SQLite in a scratch home, or a scratch database on
PostgreSQL (postgresql+psycopg://postgres@127.0.0.1:5432/postgres; SLUICEWAY_TEST_POSTGRES_URL changes it).
Beside it, a bare FastAPI application with one hello-world route runs on the same stack: the floor.

Tasks are not executed: the server's launcher is swapped for bench/local.py's InstantLauncher, which
reports each attempt finished at once, so the numbers are the server's (HTTP, validation, the
database, the supervisor and engine recording each run) and not process start-up's.

Requests go one at a time over one keep-alive connection (http.client, the lightest client the
standard library has), so a request's time is its latency and requests per second its inverse:

- **create-run**: `POST /api/v1/runs` of an uploaded one-task pipeline version, `--runs` times (default
  1,000), while the server's RSS (VmRSS) is sampled every tenth of the runs;
- **get-run**: `GET /api/v1/runs/ID` of those runs, in turn (`--gets` requests);
- **bare**: `GET /hello` of the bare application, measured right before and after each database's get-runs (that
  database's get-run is compared with these, so both are timed while the machine was the same);
- **list**: `GET /api/v1/runs` of one namespace filtered by experiment and state (a page of 50), with the
  table filled in bulk to each of `--sizes` runs (default 10,000 and 100,000; as bench/stores.py fills it).

Targets (printed, never failed on unless --strict): a get-run costs at most 2x the bare endpoint (mean
latency); listing stays flat (p50 at the largest size at most 1.5x the smallest's); memory stays
bounded while the runs are created (RSS grows by at most 32 MiB over the second half of them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common`, `stores` and `local` beside this script, from any folder
from common import (
    Target,
    add_json_option,
    add_strict_option,
    argument_parser,
    duration_text,
    exit_code,
    mib_text,
    platform_summary,
    print_targets,
    ratio,
    ratio_text,
    render_table,
    source_revision,
    write_json_report,
)
from stores import EXPERIMENTS, NAMESPACES, SERVERS, fill, percentile, scratch_store

START_SECONDS = 60
SETTLE_SECONDS = 120
TARGET_GET_OVER_BARE = 2.0
TARGET_LIST_GROWTH = 1.5
TARGET_SECOND_HALF_RSS_KIB = 32 * 1024


# --- The servers, each in a process of its own -----------------------------------------------------


BARE = "bare hello-world"


def serve(kind: str, port: int) -> None:
    """The worker: the Sluiceway server (`kind` sluiceway) or the bare application (`bare`), on uvicorn as `sluiceway
    server` runs it. Never returns."""
    import uvicorn

    if kind == "bare":
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/hello")
        def hello() -> dict[str, str]:
            return {"hello": "world"}

    else:
        from local import InstantLauncher

        import sluiceway.local
        from sluiceway import config
        from sluiceway.server import create_app

        sluiceway.local._launcher = lambda *_, **__: InstantLauncher(lambda spec: {o.name: 1 for o in spec.component.outputs})  # type: ignore[attr-defined]
        app = create_app(config.load())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", proxy_headers=False)  # server_commands.py's settings


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def rss_kib(self) -> int:
        """The server process's resident set size now (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


@contextmanager
def server(kind: str, env: dict[str, str], log: Path) -> Iterator[Server]:
    """A server worker on a free port, ready; stopped (by its PID) when the block ends."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, str(port)], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_ready(port, "/hello" if kind == "bare" else "/readyz", process, log)
            yield Server(process, port)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if Connection(port).request("GET", path)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer {path} within {START_SECONDS} s")


# --- Requests ------------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        try:
            self.http.request(method, path, body=payload, headers=headers)
            response = self.http.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # uvicorn closes a connection idle for 5 s (while the table is filled, say): open another, once
            self.http.close()
            self.http.request(method, path, body=payload, headers=headers)
            response = self.http.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        status, data = self.request(method, path, body)
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)


def timed_requests(send: Callable[[int], None], count: int) -> list[float]:
    """The latency of each of `count` calls of `send(i)`, in seconds."""
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        send(index)
        latencies.append(time.perf_counter() - started)
    return latencies


@dataclass
class Rate:
    database: str
    operation: str
    requests: int
    mean_s: float
    p50_s: float
    p99_s: float
    runs_in_table: int | None = None

    @property
    def per_second(self) -> float:
        return 1 / self.mean_s

    @classmethod
    def of(cls, database: str, operation: str, latencies: list[float], runs_in_table: int | None = None) -> Rate:
        return cls(
            database,
            operation,
            len(latencies),
            statistics.fmean(latencies),
            statistics.median(latencies),
            percentile(latencies, 0.99),
            runs_in_table,
        )


@dataclass
class Memory:
    database: str
    runs: list[int] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    """The server's RSS after each tenth of the runs was created (and, last, once they had all ended)."""

    @property
    def second_half_growth_kib(self) -> int:
        half = len(self.rss_kib) // 2
        return max(self.rss_kib[half:]) - self.rss_kib[half - 1]


# --- One database ------------------------------------------------------------------------------------------


def one_task_pipeline() -> dict[str, Any]:
    from sluiceway import compiler, dsl
    from sluiceway.core.serialize import to_dict

    @dsl.component
    def echo(n: int) -> int:
        return n

    @dsl.pipeline(name="bench-echo")
    def one_task(n: int = 1):
        echo(n=n)

    return to_dict(compiler.compile_pipeline(one_task))


def measure_database(database: str, options: Any, scratch: Path, bare: Connection, bare_rates: list[float]) -> tuple[list[Rate], Memory]:
    with metadata_database(database, scratch) as (env, url):
        with server("sluiceway", env, scratch / f"{database}-server.log") as running:
            api = Connection(running.port)
            version = api.json("POST", "/api/v1/pipelines/upload", one_task_pipeline())
            body = {"pipeline_version": {"pipeline_id": version["pipeline_id"], "digest": version["digest"]}, "parameters": {"n": 2}}
            for _ in range(20):  # warm-up: imports, the first connection, the plugin manager
                api.json("POST", "/api/v1/runs", body)
            memory = Memory(database)
            ids: list[str] = []
            step = max(1, options.runs // 10)

            def create(index: int) -> None:
                ids.append(api.json("POST", "/api/v1/runs", body)["id"])
                if (index + 1) % step == 0:
                    memory.runs.append(index + 1)
                    memory.rss_kib.append(running.rss_kib)

            creates = timed_requests(create, options.runs)
            settle(api, options.runs + 20)
            memory.rss_kib.append(running.rss_kib)
            note(f"  {database}: {options.runs} runs created and ended")
            timed_requests(lambda _: bare.request("GET", "/hello"), 50)  # its connection again, its caches warm
            timed_requests(lambda i: api.json("GET", f"/api/v1/runs/{ids[i % len(ids)]}"), 50)
            # The floor is measured right around this database's get-runs, so that the ratio compares requests served
            # while the machine was the same (its speed drifts over a run of this script: other work, clocks).
            adjacent = timed_requests(lambda _: bare.request("GET", "/hello"), options.gets)
            gets = timed_requests(lambda i: api.json("GET", f"/api/v1/runs/{ids[i % len(ids)]}"), options.gets)
            adjacent += timed_requests(lambda _: bare.request("GET", "/hello"), options.gets)
            bare_rates.extend(adjacent)
            rates = [Rate.of(database, BARE, adjacent), Rate.of(database, "create-run", creates), Rate.of(database, "get-run", gets)]
            rates += measure_listing(database, api, url, options)
    return rates, memory


@contextmanager
def metadata_database(database: str, scratch: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The server's environment for a fresh database of this kind, and the database's URL (for filling it)."""
    base = {"SLUICEWAY_SERVER__AUTH__ENABLED": "false", "SLUICEWAY_CONFIG": "", "SLUICEWAY_HOME": str(scratch / f"{database}-home")}
    if database == "sqlite":
        yield base, f"sqlite:///{scratch / f'{database}-home' / 'metadata.db'}"
        return
    with scratch_store(SERVERS[database]) as store:
        url: str = store.url  # type: ignore[attr-defined]
        yield {**base, "SLUICEWAY_METADATA__URL": url}, url


def settle(api: Connection, expected: int) -> None:
    """Wait until the runs created have all ended (the server's /metrics counts them)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        _status, text = api.request("GET", "/metrics")
        ended = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.decode().splitlines()
            if line.startswith("sluiceway_runs{") and any(f'"{state}"' in line for state in ("SUCCEEDED", "FAILED", "CANCELLED"))
        )
        if ended >= expected:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the runs did not end within {SETTLE_SECONDS} s")


def measure_listing(database: str, api: Connection, url: str, options: Any) -> list[Rate]:
    """A filtered page through the API, with the table filled in bulk to each size."""
    from sluiceway.stores.sql import SqlMetadataStore

    store = SqlMetadataStore(url)
    rng = random.Random(5)
    rates, filled = [], 0
    for size in options.sizes:
        fill(store, filled, size, rng)
        filled = size
        note(f"  {database}: {size:,} runs in the table")

        def page(_: int) -> None:
            where = f'experiment = "{rng.choice(EXPERIMENTS)}" AND state = "SUCCEEDED"'
            query = urlencode({"namespace": rng.choice(NAMESPACES), "filter": where, "page_size": 50})
            api.json("GET", f"/api/v1/runs?{query}")

        timed_requests(page, 20)  # the new rows into the database's caches
        rates.append(Rate.of(database, "list-runs", timed_requests(page, options.list_queries), runs_in_table=size))
    store.engine.dispose()
    return rates


# --- The report ------------------------------------------------------------------------------------------


def evaluate(rates: list[Rate], memories: list[Memory], sizes: list[int]) -> list[Target]:
    targets = []
    for memory in memories:
        database = memory.database
        get = next(r for r in rates if r.database == database and r.operation == "get-run")
        bare = next(r for r in rates if r.database == database and r.operation == BARE)
        cost = ratio(get.mean_s, bare.mean_s)
        targets.append(
            Target(
                f"{database}: a get-run costs at most {TARGET_GET_OVER_BARE:g}x the bare endpoint",
                "PASS" if cost is not None and cost <= TARGET_GET_OVER_BARE else "FAIL",
                f"{duration_text(get.mean_s)} / {duration_text(bare.mean_s)} = {ratio_text(cost)}",
            )
        )
        lists = [r for r in rates if r.database == database and r.operation == "list-runs"]
        if len(lists) >= 2:
            growth = ratio(lists[-1].p50_s, lists[0].p50_s)
            targets.append(
                Target(
                    f"{database}: listing flat from {sizes[0]:,} to {sizes[-1]:,} runs (p50 at most {TARGET_LIST_GROWTH}x)",
                    "PASS" if growth is not None and growth <= TARGET_LIST_GROWTH else "FAIL",
                    f"{duration_text(lists[-1].p50_s)} / {duration_text(lists[0].p50_s)} = {ratio_text(growth)}",
                )
            )
        grown = memory.second_half_growth_kib
        targets.append(
            Target(
                f"{database}: RSS bounded while {memory.runs[-1]:,} runs are created (second half grows <= 32 MiB)",
                "PASS" if grown <= TARGET_SECOND_HALF_RSS_KIB else "FAIL",
                f"{mib_text(memory.rss_kib[0])} at {memory.runs[0]:,} runs, {mib_text(memory.rss_kib[len(memory.runs) // 2 - 1])} at "
                f"{memory.runs[len(memory.runs) // 2 - 1]:,}, {mib_text(memory.rss_kib[-2])} at {memory.runs[-1]:,}, "
                f"{mib_text(memory.rss_kib[-1])} once all ended; second half +{grown / 1024:.1f} MiB",
            )
        )
    return targets


def print_report(rates: list[Rate], memories: list[Memory]) -> None:
    print()
    print("Requests one at a time over one keep-alive connection (latency; requests/s = 1 / mean); '/ bare' against the")
    print("bare endpoint measured right before and after the same database's get-runs:")
    bare_of = {r.database: r for r in rates if r.operation == BARE}
    rows = [
        [
            r.database,
            r.operation + (f" @ {r.runs_in_table:,}" if r.runs_in_table else ""),
            str(r.requests),
            f"{r.per_second:,.0f}",
            duration_text(r.mean_s),
            duration_text(r.p50_s),
            duration_text(r.p99_s),
            ratio_text(ratio(r.mean_s, bare_of[r.database].mean_s)),
        ]
        for r in rates
    ]
    print(render_table(["database", "request", "n", "req/s", "mean", "p50", "p99", "/ bare"], rows, left_columns=2))
    print()
    print("Server RSS while the runs are created (after each tenth; the last column once every run had ended):")
    for memory in memories:
        cells = [f"{runs:,}: {mib_text(kib)}" for runs, kib in zip(memory.runs, memory.rss_kib, strict=False)]
        print(f"  {memory.database}: " + ", ".join(cells) + f"; ended: {mib_text(memory.rss_kib[-1])}")


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=1000, help="runs created per database (default 1000)")
    parser.add_argument("--gets", type=int, default=2000, help="get-run (and bare) requests per database (default 2000)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000], help="table sizes for listing, ascending")
    parser.add_argument("--list-queries", type=int, default=300, help="list requests per size (default 300)")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    add_json_option(parser)
    add_strict_option(parser)
    options = parser.parse_args(argv)
    if options.serve:
        serve(options.serve[0], int(options.serve[1]))
        return 0
    print(f"{platform_summary()}; sluiceway {source_revision() or '?'}; load average {os.getloadavg()[0]:.2f}")
    rates: list[Rate] = []
    memories: list[Memory] = []
    bare_latencies: list[float] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="sluiceway-bench-server-") as folder:
        scratch = Path(folder)
        with server("bare", {}, scratch / "bare.log") as bare_server:
            bare = Connection(bare_server.port)
            timed_requests(lambda _: bare.request("GET", "/hello"), 200)  # warm-up
            for database in options.databases:
                note(f"{database}:")
                try:
                    measured, memory = measure_database(database, options, scratch, bare, bare_latencies)
                except Exception as error:  # a database that is not there: report it, measure the others
                    print(f"! {database}: {type(error).__name__}: {error}", file=sys.stderr)
                    log = scratch / f"{database}-server.log"
                    if log.exists():  # what the server said last
                        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                    failed = True
                    continue
                rates += measured
                memories.append(memory)
    if not bare_latencies:
        return 2
    bare_rate = Rate.of("-", BARE, bare_latencies)
    print_report(rates, memories)
    targets = evaluate(rates, memories, options.sizes)
    print_targets(targets)
    print(f"\nLoad average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    if options.json:
        write_json_report(options.json, {"benchmark": "server"}, [bare_rate, *rates, *memories], targets)
    return exit_code(failed=failed, strict=options.strict, targets=targets)


if __name__ == "__main__":
    sys.exit(main())
