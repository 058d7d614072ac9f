"""Which server a command talks to: `--host` / `--token` / `--namespace`, else the configuration's `client` section; none
means this machine (the embedded default), as before servers existed."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..core.errors import SluicewayError

if TYPE_CHECKING:
    from ..client import Client

TOKEN_ENV = "SLUICEWAY_TOKEN"


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def connect(host: str | None, token: str | None, namespace: str | None) -> Client | None:
    """The client of the server named by `host` or the configuration; None when neither names one."""
    from .. import config

    if host is None or token is None:
        try:
            settings = config.load().client
        except SluicewayError as error:
            fail(str(error))
        host = host or settings.host
        token = token or os.environ.get(TOKEN_ENV) or settings.token
    if not host:
        if namespace is not None:
            fail("--namespace needs a server (--host, or client.host in the configuration): this machine's runs have no namespaces")
        return None
    try:
        from ..client import Client
    except ImportError as error:
        fail(f"talking to a server needs the `client` extra: pip install 'sluiceway[client]' ({error})")
    return Client(host, token or "", namespace=namespace or "default")


def server_options(command: Callable[..., None]) -> Callable[..., None]:
    """--host, --token and --namespace, passed on to the command as `server`: a Client, or None for this machine."""

    @click.option(
        "--host", metavar="URL", help="Ask this Sluiceway server instead of this machine (default: client.host of the configuration)."
    )
    @click.option("--token", metavar="TOKEN", help="The server's API token (default: $SLUICEWAY_TOKEN, else client.token).")
    @click.option("--namespace", metavar="NAME", help="With a server: the namespace (default: default).")
    @functools.wraps(command)
    def with_server(host: str | None, token: str | None, namespace: str | None, **rest: Any) -> None:
        command(server=connect(host, token, namespace), **rest)

    return with_server


def needs_server(server: Client | None, command: str) -> Client:
    if server is None:
        fail(f"`sluiceway {command}` works on a server: give --host URL, or set client.host in the configuration")
    return server


@contextmanager
def api_errors() -> Iterator[None]:
    """A server's refusal as one `error:` line: its status and problem details' title and detail."""
    from ..client import ApiError

    try:
        yield
    except ApiError as error:
        fail(str(error))
    except TimeoutError as error:
        fail(str(error))
