"""`sluiceway tokens create | list | revoke`: the server's API tokens, kept in the configured metadata database.

They work on the database directly, as `sluiceway db` does, so the first token can be made
before any server runs (and a server need not run to revoke one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ..core.access import NAMESPACE_PATTERN, Role
from ..core.errors import SluicewayError

if TYPE_CHECKING:
    from ..stores.sql.tokens import SqlTokens, TokenRecord


@click.group("tokens")
def tokens_group() -> None:
    """The server's API tokens: create, list and revoke them."""


@contextmanager
def _tokens() -> Iterator[SqlTokens]:
    """The configured store's tokens; a Sluiceway error inside is one line on stderr and exit status 1."""
    try:
        from .. import local
        from ..stores.sql.tokens import SqlTokens

        yield SqlTokens(local.metadata_store())
    except SluicewayError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None


def _namespaces(_context: click.Context, _parameter: click.Parameter, given: tuple[str, ...]) -> tuple[str, ...]:
    for namespace in given:
        if not re.fullmatch(NAMESPACE_PATTERN, namespace):
            raise click.BadParameter(f"'{namespace}' is not a namespace: lower-case letters, digits and '-', at most 63")
    return given


@tokens_group.command("create")
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    required=True,
    callback=_namespaces,
    help="A namespace the token may use; repeat for several.",
)
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True, help="The token's role in each of them.")
@click.option("--name", default="", help="What the token is for, shown by `tokens list`.")
def tokens_create(namespaces: tuple[str, ...], role: str, name: str) -> None:
    """Make a token and print it: the only time it is shown."""
    with _tokens() as tokens:
        made = tokens.create(dict.fromkeys(namespaces, Role(role)), name=name)
    click.echo(made.token)
    click.echo(f"token {made.record.id}: {_roles(made.record)}. Keep it now: it is not kept, and cannot be shown again.", err=True)


@tokens_group.command("list")
@click.option("--output", "output_format", type=click.Choice(["table", "json"]), default="table", help="json for machines.")
def tokens_list(output_format: str) -> None:
    """Every token (never its secret), with its roles and when it was made, last used and revoked."""
    with _tokens() as tokens:
        records = tokens.list()
    if output_format == "json":
        click.echo(json.dumps([_token_json(record) for record in records], indent=2))
        return
    for record in records:
        used = _when(record.last_used_at, "never used")
        state = f"revoked {_when(record.revoked_at, '')}" if record.revoked_at else "active"
        click.echo(f"{record.id}  {record.name or '-'}  {_roles(record)}  made {_when(record.created_at, '')}  {used}  {state}")


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID")
def tokens_revoke(token_id: str) -> None:
    """Make a token unusable from now on (ID as `tokens list` shows it). It stays listed."""
    with _tokens() as tokens:
        record = tokens.revoke(token_id)
    click.echo(f"token {record.id} is revoked")


def _roles(record: TokenRecord) -> str:
    return ", ".join(f"{role.value} in {namespace}" for namespace, role in sorted(record.roles.items()))


def _when(moment: datetime | None, otherwise: str) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S}" if moment is not None else otherwise


def _token_json(record: TokenRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "roles": {namespace: role.value for namespace, role in sorted(record.roles.items())},
        "created_at": record.created_at.isoformat(),
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }
