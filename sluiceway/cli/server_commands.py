"""`sluiceway server`: serve the REST API (extra `server`) with the configured store, artifacts and backend."""

from __future__ import annotations

import click

from ..core.errors import SluicewayError


@click.command("server")
@click.option("--host", help="The address to listen on (default: server.host of the configuration, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="The TCP port (default: server.port of the configuration, else 8888).")
def server_command(host: str | None, port: int | None) -> None:
    """Serve the REST API: pipelines, experiments and runs, run on this server's backend."""
    import logging

    import msgspec

    from .. import config

    try:
        import uvicorn

        from ..server import create_app
    except ImportError as error:
        raise click.ClickException(f"the server needs the `server` extra: pip install 'sluiceway[server]' ({error})") from None
    try:
        settings = config.load()
        listen = msgspec.structs.replace(settings.server, host=host or settings.server.host, port=port or settings.server.port)
        settings = msgspec.structs.replace(settings, server=listen)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
        app = create_app(settings)
    except SluicewayError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None
    # One process: the runs it supervises live on its threads, so more workers would mean runs no one could cancel.
    uvicorn.run(app, host=listen.host, port=listen.port, log_level="info", proxy_headers=False)
