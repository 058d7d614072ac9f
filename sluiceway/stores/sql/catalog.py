"""SqlCatalog: the named things a server keeps beside the runs, in the same database: pipelines, their versions, experiments.

Every method is one transaction, retried from the start when the connection drops (as the
run store's are); names are unique per namespace, and a second writer racing for a name
gets the record the first made (uploads) or a Conflict (creates).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...core import ir
from ...core.serialize import digest, loads
from .listing import Field, Listing, ListRequest, fetch
from .models import Experiment, Pipeline, PipelineVersion, PipelineVersionLink, Run
from .store import Conflict, NotFound, SqlMetadataStore, _aware, _now, _retried_on_disconnect, keep_pipeline_document


@dataclass(frozen=True)
class ExperimentRecord:
    id: str
    namespace: str
    name: str
    description: str
    archived: bool
    created_at: datetime


@dataclass(frozen=True)
class PipelineRecord:
    id: str
    namespace: str
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class VersionRecord:
    pipeline_id: str
    digest: str
    """The IR's content digest: the version's identity within its pipeline."""
    pipeline_name: str
    """The name the IR gives the pipeline (the pipeline record may be named otherwise)."""
    created_at: datetime


R = TypeVar("R", ExperimentRecord, PipelineRecord, VersionRecord)


@dataclass(frozen=True)
class CatalogPage(Generic[R]):
    items: list[R]
    next_page_token: str | None


EXPERIMENT_LISTING = Listing(
    fields={
        "name": Field(Experiment.name, str, sortable=True),
        "archived": Field(Experiment.archived, bool),
        "created_at": Field(Experiment.created_at, datetime, sortable=True),
    },
    id_column=Experiment.id,
)
PIPELINE_LISTING = Listing(
    fields={"name": Field(Pipeline.name, str, sortable=True), "created_at": Field(Pipeline.created_at, datetime, sortable=True)},
    id_column=Pipeline.id,
)
VERSION_LISTING = Listing(
    fields={"created_at": Field(PipelineVersionLink.created_at, datetime, sortable=True), "digest": Field(PipelineVersionLink.digest, str)},
    id_column=PipelineVersionLink.digest,
)


def _new_id() -> str:
    return uuid.uuid4().hex


class SqlCatalog:
    """Pipelines, versions and experiments in the database of `store`."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    # --- experiments --------------------------------------------------------------------------

    @_retried_on_disconnect
    def create_experiment(self, namespace: str, name: str, description: str = "") -> ExperimentRecord:
        row = Experiment(id=_new_id(), namespace=namespace, name=name, description=description, archived=False, created_at=_now())
        try:
            with self.store.transaction() as session:
                session.add(row)
                session.flush()
                session.refresh(row)  # the time as stored (MySQL keeps whole seconds), so this answer equals every later one
                return _experiment(row)
        except IntegrityError:
            raise Conflict(f"namespace '{namespace}' already has an experiment named '{name}'") from None

    @_retried_on_disconnect
    def experiment_named(self, namespace: str, name: str, *, create: bool = False) -> ExperimentRecord | None:
        """The namespace's experiment called `name`; with `create`, made if there is none (as KFP's client does)."""
        with self.store.transaction() as session:
            row = session.scalars(select(Experiment).where(Experiment.namespace == namespace, Experiment.name == name)).first()
            if row is not None or not create:
                return _experiment(row) if row is not None else None
        try:
            return self.create_experiment(namespace, name)
        except Conflict:  # made by another request meanwhile
            return self.experiment_named(namespace, name)

    @_retried_on_disconnect
    def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        with self.store.transaction() as session:
            return _experiment(_experiment_row(session, experiment_id))

    @_retried_on_disconnect
    def list_experiments(self, namespace: str, request: ListRequest) -> CatalogPage[ExperimentRecord]:
        with self.store.transaction() as session:
            page = fetch(session, select(Experiment).where(Experiment.namespace == namespace), EXPERIMENT_LISTING, request)
            return CatalogPage([_experiment(row) for row in page.rows], page.next_page_token)

    @_retried_on_disconnect
    def set_archived(self, experiment_id: str, archived: bool) -> ExperimentRecord:
        """Archive or unarchive an experiment; doing it twice is the same as once."""
        with self.store.transaction() as session:
            row = _experiment_row(session, experiment_id)
            row.archived = archived
            return _experiment(row)

    @_retried_on_disconnect
    def delete_experiment(self, experiment_id: str) -> None:
        """Delete an experiment that no run names (its runs would otherwise point at nothing)."""
        with self.store.transaction() as session:
            row = _experiment_row(session, experiment_id)
            runs = session.scalar(select(func.count()).select_from(Run).where(Run.namespace == row.namespace, Run.experiment == row.name))
            if runs:
                raise Conflict(f"experiment '{row.name}' has {runs} run{'s' if runs != 1 else ''}; archive it instead")
            session.delete(row)

    # --- pipelines and versions ---------------------------------------------------------------

    @_retried_on_disconnect
    def upload(
        self, namespace: str, pipeline: ir.Pipeline, *, name: str | None = None, description: str = ""
    ) -> tuple[VersionRecord, bool]:
        """Add `pipeline` (validated IR) as a version of the namespace's pipeline `name` (default: the IR's name), making the
        pipeline if it is new. The version is the IR's digest, so the same content uploaded again finds the version made the
        first time: (version, whether it is new)."""
        pipeline_name = name or pipeline.name
        pipeline_digest = digest(pipeline)
        for _ in range(2):  # a second pass when another upload made the same pipeline or version meanwhile
            try:
                with self.store.transaction() as session:
                    return self._upload(session, namespace, pipeline_name, description, pipeline, pipeline_digest)
            except IntegrityError:
                continue
        raise Conflict(f"pipeline '{pipeline_name}' changed during the upload; try again")

    def _upload(
        self, session: Session, namespace: str, name: str, description: str, pipeline: ir.Pipeline, pipeline_digest: str
    ) -> tuple[VersionRecord, bool]:
        record = session.scalars(select(Pipeline).where(Pipeline.namespace == namespace, Pipeline.name == name)).first()
        if record is None:
            record = Pipeline(id=_new_id(), namespace=namespace, name=name, description=description, created_at=_now())
            session.add(record)
        keep_pipeline_document(session, pipeline, pipeline_digest)
        link = session.get(PipelineVersionLink, (record.id, pipeline_digest))
        if link is not None:
            return _version(link, pipeline.name), False
        link = PipelineVersionLink(pipeline_id=record.id, digest=pipeline_digest, created_at=_now())
        session.add(link)
        session.flush()
        session.refresh(link)  # the time as stored (MySQL keeps whole seconds), so this answer equals every later one
        return _version(link, pipeline.name), True

    @_retried_on_disconnect
    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        with self.store.transaction() as session:
            return _pipeline(_pipeline_row(session, pipeline_id))

    @_retried_on_disconnect
    def list_pipelines(self, namespace: str, request: ListRequest) -> CatalogPage[PipelineRecord]:
        with self.store.transaction() as session:
            page = fetch(session, select(Pipeline).where(Pipeline.namespace == namespace), PIPELINE_LISTING, request)
            return CatalogPage([_pipeline(row) for row in page.rows], page.next_page_token)

    @_retried_on_disconnect
    def delete_pipeline(self, pipeline_id: str) -> None:
        """Delete a pipeline and its versions; runs made from them keep their IR."""
        with self.store.transaction() as session:
            row = _pipeline_row(session, pipeline_id)
            session.execute(delete(PipelineVersionLink).where(PipelineVersionLink.pipeline_id == pipeline_id))
            session.delete(row)

    @_retried_on_disconnect
    def get_version(self, pipeline_id: str, version: str) -> tuple[VersionRecord, ir.Pipeline]:
        """A version and its IR."""
        with self.store.transaction() as session:
            link = _link_row(session, pipeline_id, version)
            document = session.get(PipelineVersion, version)
            assert document is not None  # a foreign key
            return _version(link, document.name), loads(document.ir, origin=f"pipeline version {version}")

    @_retried_on_disconnect
    def list_versions(self, pipeline_id: str, request: ListRequest) -> CatalogPage[VersionRecord]:
        with self.store.transaction() as session:
            _pipeline_row(session, pipeline_id)
            versions = select(PipelineVersionLink).where(PipelineVersionLink.pipeline_id == pipeline_id)
            page = fetch(session, versions, VERSION_LISTING, request)
            query = select(PipelineVersion.digest, PipelineVersion.name).where(PipelineVersion.digest.in_([r.digest for r in page.rows]))
            names = {version: name for version, name in session.execute(query)}
            return CatalogPage([_version(row, names[row.digest]) for row in page.rows], page.next_page_token)

    @_retried_on_disconnect
    def delete_version(self, pipeline_id: str, version: str) -> None:
        with self.store.transaction() as session:
            session.delete(_link_row(session, pipeline_id, version))


def _experiment_row(session: Session, experiment_id: str) -> Experiment:
    row = session.get(Experiment, experiment_id)
    if row is None:
        raise NotFound(f"no experiment '{experiment_id}'")
    return row


def _pipeline_row(session: Session, pipeline_id: str) -> Pipeline:
    row = session.get(Pipeline, pipeline_id)
    if row is None:
        raise NotFound(f"no pipeline '{pipeline_id}'")
    return row


def _link_row(session: Session, pipeline_id: str, version: str) -> PipelineVersionLink:
    _pipeline_row(session, pipeline_id)
    link = session.get(PipelineVersionLink, (pipeline_id, version))
    if link is None:
        raise NotFound(f"pipeline '{pipeline_id}' has no version '{version}'")
    return link


def _experiment(row: Experiment) -> ExperimentRecord:
    return ExperimentRecord(row.id, row.namespace, row.name, row.description, bool(row.archived), _aware(row.created_at))


def _pipeline(row: Pipeline) -> PipelineRecord:
    return PipelineRecord(row.id, row.namespace, row.name, row.description, _aware(row.created_at))


def _version(row: PipelineVersionLink, pipeline_name: str) -> VersionRecord:
    return VersionRecord(row.pipeline_id, row.digest, pipeline_name, _aware(row.created_at))
