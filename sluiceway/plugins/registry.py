"""What plugins register: backends and stores by name, each remembered with where it came from."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..core.errors import PluginError

KINDS = ("backend", "metadata_store", "artifact_store")


@dataclass(frozen=True)
class Registration:
    kind: str
    name: str
    target: Any
    """The implementation, or a "module:attribute" string imported on first use."""
    plugin: str
    origin: str
    """The distribution that provides the plugin ("sluiceway 0.1.0 (built-in)", "acme-backend 1.2")."""
    description: str = ""

    def load(self) -> Any:
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attribute = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attribute) if attribute else module
        except (ImportError, AttributeError) as error:
            raise PluginError(
                f"{self.kind.replace('_', ' ')} '{self.name}' from plugin '{self.plugin}' ({self.origin}) cannot be loaded: {error}"
            ) from None


class Registry:
    """Every backend and store that plugins registered, by kind and name."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Registration] = {}

    def add(self, registration: Registration) -> None:
        key = (registration.kind, registration.name)
        existing = self._entries.get(key)
        if existing is not None:
            raise PluginError(
                f"{registration.kind.replace('_', ' ')} '{registration.name}' is registered twice: by plugin '{existing.plugin}' "
                f"({existing.origin}) and by plugin '{registration.plugin}' ({registration.origin}); "
                "disable one with SLUICEWAY_DISABLE_PLUGINS"
            )
        self._entries[key] = registration

    def get(self, kind: str, name: str) -> Registration:
        entry = self._entries.get((kind, name))
        if entry is None:
            known = ", ".join(sorted(n for k, n in self._entries if k == kind)) or "none"
            raise PluginError(f"no {kind.replace('_', ' ')} named '{name}' is installed (installed: {known})")
        return entry

    def all(self, kind: str | None = None) -> list[Registration]:
        return sorted((e for e in self._entries.values() if kind is None or e.kind == kind), key=lambda e: (KINDS.index(e.kind), e.name))


class Registrar:
    """What a provider hook receives: `register.add(name, target, description=...)`."""

    def __init__(self, registry: Registry, kind: str, plugin: str, origin: str) -> None:
        self._registry = registry
        self._kind = kind
        self._plugin = plugin
        self._origin = origin

    def add(self, name: str, target: Any, description: str = "") -> None:
        self._registry.add(Registration(self._kind, name, target, self._plugin, self._origin, description))
