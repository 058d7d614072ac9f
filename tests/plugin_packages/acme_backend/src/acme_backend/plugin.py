"""Registers one backend and one artifact store, as a third-party plugin would."""

from sluiceway.plugins import hookimpl


class AcmeBackend:
    """Stands for a backend implementation; the tests only check that it is found."""


@hookimpl
def register_backends(register):
    register.add("acme", "acme_backend.plugin:AcmeBackend", description="Runs pipelines on the Acme cluster")


@hookimpl
def register_artifact_stores(register):
    register.add("acme", AcmeBackend, description="Acme object storage")


@hookimpl
def before_run(run_id, pipeline_name, parameters):
    print(f"acme saw run {run_id} of {pipeline_name}")
