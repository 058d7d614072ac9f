"""Sluiceway: write ML pipelines in Python, compile them to a backend-neutral IR, run them anywhere."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def run(pipeline: Any, arguments: dict[str, Any] | None = None, **options: Any) -> Any:
    """Run a pipeline on this machine (the embedded default); options as sluiceway.local.RunOptions."""
    from .local import run as run_locally

    return run_locally(pipeline, arguments, **options)
