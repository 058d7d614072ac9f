"""Registers an artifact store under a name the built-ins already use."""

from sluiceway.plugins import hookimpl


@hookimpl
def register_artifact_stores(register):
    register.add("file", "clashing_store:Nothing")
