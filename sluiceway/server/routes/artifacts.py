"""Artifacts: the record of one (by its URI), its content streamed from the artifact store, and its lineage graph.

Only URIs a run recorded are served: the URI is looked up in the metadata first, so a request
cannot make the server read anything else its stores could reach (`file:///etc/passwd`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ...core.access import Role
from ...core.stores import Stores
from ...stores.sql.results import ArtifactRecord, artifact_record
from ...stores.sql.store import Conflict, NotFound
from ..access import Access, Allowed
from ..artifact_content import artifact_stores, read_chunks
from ..result_schemas import Artifact, ArtifactLineage, edges
from ..services import Services, services
from .responses import problems

router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
Given = Annotated[Services, Depends(services)]
Uri = Annotated[str, Query(min_length=1, max_length=1024, description="The artifact's URI, as the run recorded it (s3://..., file://...).")]

DOWNLOAD_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The artifact's bytes.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def stores_of(request: Request, given: Given) -> Stores:
    """The artifact stores, made on first use and kept: a store's client is worth reusing."""
    stores: Stores | None = getattr(request.app.state, "artifact_stores", None)
    if stores is None:
        stores = request.app.state.artifact_stores = artifact_stores(given.settings)
    return stores


def visible_artifact(allowed: Access, uri: str) -> ArtifactRecord:
    """The artifact's record, if the principal may see it: an artifact belongs to the namespace of the run that made it
    (or, for an imported one, first used it). Another namespace's reads as an unknown URI."""
    record = artifact_record(allowed.given.store, uri)
    events = sorted(record.events, key=lambda event: event.kind != "produced")  # the producer first
    namespace = allowed.given.store.get_run(events[0].run_id).namespace if events else None
    allowed.require(namespace or "", Role.VIEWER, unseen=f"no artifact recorded at {uri}")
    return record


@router.get("", response_model=Artifact, responses=problems(404))
def get_artifact(uri: Uri, allowed: Allowed) -> Artifact:
    """The artifact a run recorded at `uri`: its type, digest, properties, and the tasks that made and used it."""
    return Artifact.model_validate(visible_artifact(allowed, uri))


@router.get("/content", response_class=StreamingResponse, responses={**DOWNLOAD_RESPONSE, **problems(404, 409)})
async def download_artifact(uri: Uri, allowed: Allowed, stores: Annotated[Stores, Depends(stores_of)]) -> StreamingResponse:
    """The artifact's bytes, streamed from the artifact store as they are read (never held whole by the server). A folder
    artifact cannot be downloaded as one file (409)."""
    record = await run_in_threadpool(visible_artifact, allowed, uri)
    try:
        chunks = await run_in_threadpool(read_chunks, stores, uri)
    except FileNotFoundError:
        raise NotFound(f"the artifact at {uri} is recorded, and its content is no longer in the artifact store") from None
    except IsADirectoryError:
        raise Conflict(f"the artifact at {uri} is a folder: only a file artifact can be downloaded as one stream") from None
    headers = {"Content-Disposition": f'attachment; filename="{uri.rstrip("/").rpartition("/")[2] or "artifact"}"'}
    if record.digest:
        headers["ETag"] = f'"{record.digest}"'
    # Each chunk is read on a worker thread (Starlette iterates a plain iterator that way): a slow store does not block.
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.get("/lineage", response_model=ArtifactLineage, responses=problems(404))
def get_artifact_lineage(
    uri: Uri, given: Given, allowed: Allowed, depth: Annotated[int, Query(ge=1, le=100, description="How many tasks away to follow.")] = 10
) -> ArtifactLineage:
    """Where the artifact came from (upstream) and what was made from it (downstream), `depth` tasks away."""
    visible_artifact(allowed, uri)  # 404 for a URI no run recorded, or one of a namespace the principal cannot see
    upstream, downstream = given.store.lineage_graph(uri, depth=depth)
    seen = visible_runs(allowed, [*upstream, *downstream])
    return ArtifactLineage(artifact=uri, upstream=edges(upstream, seen), downstream=edges(downstream, seen))


def visible_runs(allowed: Access, pairs: list[tuple[str, str]]) -> set[str]:
    """The runs named in the edges (as RUN/TASK) that the principal may see: a graph crosses namespaces where one
    namespace's task used another's artifact, and the other side must not show."""
    runs = {node.partition("/")[0] for pair in pairs for node in pair if "://" not in node}
    return {run for run in runs if allowed.principal.role_in(allowed.given.store.get_run(run).namespace) is not None}
