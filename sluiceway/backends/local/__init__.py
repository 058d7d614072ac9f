"""The local backend: each attempt is an executor process on this machine."""

from __future__ import annotations

from .launcher import LocalLauncher

__all__ = ["LocalLauncher"]
