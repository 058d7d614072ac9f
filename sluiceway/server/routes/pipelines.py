"""Pipelines and their versions: upload IR (YAML or JSON), get, list, delete.

A version is identified by its IR's content digest, so uploading the same content again is
answered with the version made the first time (200 instead of 201), and nothing new is kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ...core.access import Role
from ...core.serialize import loads, to_dict
from ...core.validation import validate
from ...stores.sql.catalog import VersionRecord
from ..access import Allowed
from ..schemas import NamespacedPageQuery, Page, PageQuery, Pipeline, PipelineVersion, PipelineVersionDetail, UploadQuery, page_of
from ..services import Services, services
from .responses import problems

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])
Given = Annotated[Services, Depends(services)]

IR_BODY = {
    "requestBody": {
        "required": True,
        "description": "The compiled pipeline (IR), as `sluiceway compile` writes it: YAML or JSON.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post(
    "/upload",
    status_code=201,
    response_model=PipelineVersion,
    responses={
        200: {"model": PipelineVersion, "description": "The same content was uploaded before: its version."},
        **problems(403, 404, 422),
    },
    openapi_extra=IR_BODY,
)
async def upload_pipeline(
    request: Request, query: Annotated[UploadQuery, Query()], given: Given, allowed: Allowed, response: Response
) -> PipelineVersion:
    """Add the IR in the body as a version of a pipeline (made if new); invalid IR is answered 422 with the validator's message."""
    namespace = allowed.namespace(query.namespace, Role.EDITOR)
    body = await request.body()

    def upload() -> tuple[VersionRecord, bool]:
        pipeline = validate(loads(body, origin="the uploaded pipeline"))
        return given.catalog.upload(namespace, pipeline, name=query.name, description=query.description)

    version, new = await run_in_threadpool(upload)  # parsing, validating and the database: off the event loop
    response.status_code = 201 if new else 200
    response.headers["Location"] = f"{router.prefix}/{version.pipeline_id}/versions/{version.digest}"
    return PipelineVersion.model_validate(version)


@router.get("", response_model=Page[Pipeline], responses=problems(400, 404))
def list_pipelines(query: Annotated[NamespacedPageQuery, Query()], given: Given, allowed: Allowed) -> Page[Pipeline]:
    """A namespace's pipelines, a page at a time. Filter fields: name, created_at; sort by name or created_at."""
    page = given.catalog.list_pipelines(allowed.namespace(query.namespace, Role.VIEWER), query.listing())
    return page_of(Pipeline, page.items, page.next_page_token)


@router.get("/{pipeline_id}", response_model=Pipeline, responses=problems(404))
def get_pipeline(pipeline_id: str, allowed: Allowed) -> Pipeline:
    return Pipeline.model_validate(allowed.pipeline(pipeline_id, Role.VIEWER))


@router.delete("/{pipeline_id}", status_code=204, responses=problems(403, 404))
def delete_pipeline(pipeline_id: str, given: Given, allowed: Allowed) -> None:
    """Delete a pipeline and its versions; runs made from them keep their IR."""
    allowed.pipeline(pipeline_id, Role.ADMIN)
    given.catalog.delete_pipeline(pipeline_id)


@router.get("/{pipeline_id}/versions", response_model=Page[PipelineVersion], responses=problems(400, 404))
def list_versions(pipeline_id: str, query: Annotated[PageQuery, Query()], given: Given, allowed: Allowed) -> Page[PipelineVersion]:
    """A pipeline's versions, a page at a time. Filter fields: digest, created_at; sort by created_at."""
    allowed.pipeline(pipeline_id, Role.VIEWER)
    page = given.catalog.list_versions(pipeline_id, query.listing())
    return page_of(PipelineVersion, page.items, page.next_page_token)


@router.get("/{pipeline_id}/versions/{digest}", response_model=PipelineVersionDetail, responses=problems(404))
def get_version(pipeline_id: str, digest: str, given: Given, allowed: Allowed) -> PipelineVersionDetail:
    """A version, with its IR."""
    allowed.pipeline(pipeline_id, Role.VIEWER)
    record, pipeline = given.catalog.get_version(pipeline_id, digest)
    return PipelineVersionDetail(**PipelineVersion.model_validate(record).model_dump(), pipeline_spec=to_dict(pipeline))


@router.delete("/{pipeline_id}/versions/{digest}", status_code=204, responses=problems(403, 404))
def delete_version(pipeline_id: str, digest: str, given: Given, allowed: Allowed) -> None:
    allowed.pipeline(pipeline_id, Role.ADMIN)
    given.catalog.delete_version(pipeline_id, digest)
