"""One plugin manager per application instance: built-ins first, then entry-point plugins."""

from __future__ import annotations

import importlib
import os
from importlib import metadata
from typing import Any

import pluggy

from .. import __version__
from ..core.errors import PluginError
from . import hookspecs
from .registry import Registrar, Registry

ENTRY_POINT_GROUP = "sluiceway.plugins"
DISABLE_ENV = "SLUICEWAY_DISABLE_PLUGINS"
DEFAULT_PLUGINS = ("sluiceway.plugins.builtins",)
"""Built-in features, registered through the same hooks as third-party plugins."""

_PROVIDER_HOOKS = {
    "backend": "register_backends",
    "metadata_store": "register_metadata_stores",
    "artifact_store": "register_artifact_stores",
}


class PluginManager:
    """Loads plugins and holds what they registered. Create one per application instance."""

    def __init__(self, *, load_entry_points: bool = True, disabled: set[str] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._origins: dict[str, str] = {}
        env_disabled = {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}
        self.disabled = (disabled or set()) | env_disabled
        for module_name in DEFAULT_PLUGINS:
            self.register(importlib.import_module(module_name), name=module_name, origin=f"sluiceway {__version__} (built-in)")
        if load_entry_points:
            self._load_entry_points()
        self.registry = self._collect()

    @property
    def hook(self) -> Any:
        """Call observer hooks: `manager.hook.before_run(run_id=..., ...)`."""
        return self.pm.hook

    def register(self, plugin: object, *, name: str, origin: str) -> None:
        if name in self.disabled:
            self.pm.set_blocked(name)
            return
        try:
            self.pm.register(plugin, name=name)
        except ValueError as error:
            raise PluginError(f"plugin '{name}' ({origin}) cannot be registered: {error}") from None
        self._origins[name] = origin

    def plugins(self) -> list[tuple[str, str]]:
        """(name, origin) of each loaded plugin."""
        return sorted(self._origins.items())

    def _load_entry_points(self) -> None:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(entry_point, "dist", None)
            origin = f"{dist.name} {dist.version}" if dist is not None else entry_point.value
            if entry_point.name in self.disabled:
                continue
            if self.pm.get_plugin(entry_point.name) is not None:
                raise PluginError(f"two plugins are named '{entry_point.name}': {self._origins[entry_point.name]} and {origin}")
            try:
                plugin = entry_point.load()
            except Exception as error:  # any import failure of third-party code
                raise PluginError(f"plugin '{entry_point.name}' ({origin}) failed to load: {type(error).__name__}: {error}") from error
            self.register(plugin, name=entry_point.name, origin=origin)

    def _collect(self) -> Registry:
        registry = Registry()
        for kind, hook_name in _PROVIDER_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            # Each plugin is called on its own so that the registry knows who registered what.
            for implementation in caller.get_hookimpls():
                name = implementation.plugin_name
                implementation.function(register=Registrar(registry, kind, name, self._origins.get(name, name)))
        return registry
