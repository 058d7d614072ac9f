"""Plugins: pluggy hooks that register backends and stores, and observe runs.

from sluiceway.plugins import hookimpl

@hookimpl
def register_backends(register):
    register.add("acme", "acme_backend:AcmeBackend")
"""

from __future__ import annotations

from .hookspecs import hookimpl
from .manager import DISABLE_ENV, ENTRY_POINT_GROUP, PluginManager
from .registry import Registrar, Registration, Registry

__all__ = ["DISABLE_ENV", "ENTRY_POINT_GROUP", "PluginManager", "Registrar", "Registration", "Registry", "hookimpl"]
