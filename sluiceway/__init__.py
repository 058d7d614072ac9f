"""Sluiceway: write ML pipelines in Python, compile them to a backend-neutral IR, run them anywhere."""

from __future__ import annotations

__version__ = "0.1.0"
