"""Prometheus metrics of one server: request latency per route, runs by state, and the queue of runs not started yet.

Each application has a registry of its own rather than prometheus_client's global one, so that
two applications in one process (tests, the benchmark) count apart. Runs by state are counted by
the database when Prometheus scrapes, not kept in counters: they are then right after a restart,
and whoever changed a run (this server, `sluiceway run` on the same database) is counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.lifecycle import RunState
from ..stores.sql.models import Run
from ..stores.sql.store import SqlMetadataStore

UNMATCHED = "unmatched"
"""The route label of requests no route took: one label for them all, so that scanners cannot grow the series."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""From a millisecond (a get on a warm database) to seconds (an upload of a large pipeline)."""


class RunsByState(Collector):
    """`sluiceway_runs{state}` for every state, and `sluiceway_queue_depth`: the runs PENDING, waiting to start."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        with self.store.transaction() as session:
            counts: dict[str, int] = {state: count for state, count in session.execute(select(Run.state, func.count()).group_by(Run.state))}
        runs = GaugeMetricFamily("sluiceway_runs", "Runs in the metadata database, by state.", labels=["state"])
        for state in RunState:
            runs.add_metric([state.value], counts.get(state.value, 0))
        yield runs
        yield GaugeMetricFamily("sluiceway_queue_depth", "Runs created and not started yet (PENDING).", value=counts.get("PENDING", 0))


class ServerMetrics:
    """The registry `/metrics` renders, and the latency histogram the middleware fills."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self.registry = CollectorRegistry()  # no auto_describe: registering RunsByState must not query the database
        self.latency = Histogram(
            "sluiceway_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template, method and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(RunsByState(store))


class RequestLatency:
    """ASGI middleware: observes each HTTP request's duration under its route's template (`/api/v1/runs/{run_id}`, not
    the path: one series per route, not per run). A streamed response counts until its last chunk."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escaped every handler

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            route = scope.get("route")  # the router puts the route it matched into the scope it was given
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(time.perf_counter() - started)
