"""Step caching: the cache key of a task instance (CACHE-1 in docs/explanation/semantics.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import msgspec

from ..core import ir, types
from ..core.task_spec import FinalStatus, InputBinding


def cache_key(
    component: ir.Component,
    inputs: dict[str, InputBinding],
    settings: ir.TaskSettings,
    value_of: Callable[[InputBinding], Any],
    final_status: FinalStatus | None = None,
) -> str:
    """SHA-256 of what decides a task's outputs: its code, its inputs, its environment."""
    described = msgspec.to_builtins(ir.canonical(component))
    described.pop("name", None)
    described.pop("description", None)
    for spec in (*described.get("inputs", ()), *described.get("outputs", ())):
        spec.pop("description", None)
    values: dict[str, Any] = {}
    for spec in component.inputs:
        if spec.type == types.FINAL_STATUS:
            continue
        binding = inputs.get(spec.name)
        if binding is None:
            values[spec.name] = {"value": spec.default}
        elif binding.artifacts:
            values[spec.name] = {"artifacts": [{"type": ref.type, "content": ref.digest or ref.uri} for ref in binding.artifacts]}
        else:
            value = value_of(binding)
            values[spec.name] = {
                "value": float(value) if spec.type == "float" and isinstance(value, int) and not isinstance(value, bool) else value
            }
    environment = {
        "env": dict(settings.env),
        "secrets": [{"secret": s.secret, "env": dict(s.env), "mount_path": s.mount_path} for s in settings.secrets],
    }
    document = {
        "component": described,
        "inputs": values,
        "environment": environment,
        "final_status": msgspec.to_builtins(final_status) if final_status else None,
    }
    canonical_json = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical_json.encode()).hexdigest()
