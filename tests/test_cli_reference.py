"""docs/reference/cli.md shows each command's `--help` as the command prints it."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from sluiceway.cli import cli
from tests.conftest import REPO

REFERENCE = REPO / "docs" / "reference" / "cli.md"
HELP_BLOCKS = re.findall(r"```console\n\$ sluiceway ([^\n]*)--help\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize(("command", "shown"), HELP_BLOCKS, ids=[command.strip() or "sluiceway" for command, _ in HELP_BLOCKS])
def test_the_reference_shows_the_real_help(command, shown):
    printed = CliRunner().invoke(cli, [*command.split(), "--help"], prog_name="sluiceway", terminal_width=78).output
    assert shown == printed, f"docs/reference/cli.md: `sluiceway {command}--help` is stale"


def test_every_command_has_its_help_in_the_reference():
    documented = {command.strip() for command, _ in HELP_BLOCKS}
    commands = {"", *cli.commands} | {f"{name} {sub}" for name, group in cli.commands.items() for sub in getattr(group, "commands", {})}
    # `cache clear` and the `db` subcommands are shown together on their group's section, without a block each.
    assert commands - documented == {"cache clear", "db current", "db check", "db upgrade"}
