"""Sluiceway: write ML pipelines in Python, compile them to a backend-neutral IR, run them anywhere."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def run(pipeline: Any, arguments: dict[str, Any] | None = None, **options: Any) -> Any:
    """Run a pipeline on this machine (the embedded default); options as sluiceway.local.RunOptions."""
    from .local import run as run_locally

    return run_locally(pipeline, arguments, **options)


def __getattr__(name: str) -> Any:
    # `sluiceway.Client` is imported on first use: the HTTP client it needs would slow down every `import sluiceway`,
    # tasks' included (tests/test_import_cost.py).
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module 'sluiceway' has no attribute '{name}'")
