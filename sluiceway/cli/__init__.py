"""The `sluiceway` command."""

from __future__ import annotations

from .catalog_commands import experiments_group, pipelines_group
from .main import cli, main
from .recurring_commands import recurring_group

# Registered here, not in main.py: these modules use main's helpers, and main must not import them back.
cli.add_command(experiments_group)
cli.add_command(pipelines_group)
cli.add_command(recurring_group)

__all__ = ["cli", "main"]
