"""`/metrics`: the server's Prometheus metrics, in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..metrics import ServerMetrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus' text exposition format.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Request latency per route (`sluiceway_http_request_duration_seconds`), runs by state (`sluiceway_runs`) and the
    runs waiting to start (`sluiceway_queue_depth`)."""
    collected: ServerMetrics = request.app.state.metrics
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
