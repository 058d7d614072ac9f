"""`sluiceway experiments create|list|archive` and `sluiceway pipelines upload|list`: what a server keeps beside its runs.

Server-only (`--host`, or `client.host` of the configuration): on this machine, runs name their
experiment and carry their IR, and there is no catalog to manage.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from .main import OUTPUT_FORMAT, _load_pipeline
from .servers import api_errors, needs_server, server_options

if TYPE_CHECKING:
    from ..client import Client, Page

PAGE_OPTIONS = (
    click.option("--filter", "where", default="", metavar="EXPR", help="e.g. 'name = \"baseline\"' (docs/how-to/run-a-server.md)."),
    click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Records per page."),
    click.option("--page", "page_token", metavar="TOKEN", help="The next page, as the previous page's last line said."),
)


def page_options(command: Any) -> Any:
    for option in reversed(PAGE_OPTIONS):
        command = option(command)
    return command


def print_page(page: Page[Any], output_format: str, line: Any) -> None:
    """Each record as a line (or all as JSON), and how to get the next page."""
    if output_format == "json":
        click.echo(json.dumps([vars(item) for item in page.items], indent=2, default=str))
    else:
        for item in page.items:
            click.echo(line(item))
    if page.next_page_token:
        click.echo(f"more: add --page {page.next_page_token}", err=True)


@click.group("experiments")
def experiments_group() -> None:
    """A server's experiments: create, list and archive them (--host)."""


@experiments_group.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the experiment is for.")
@server_options
def experiments_create(name: str, description: str, server: Client | None) -> None:
    """Create an experiment; its name must be new in the namespace."""
    client = needs_server(server, "experiments create")
    with api_errors():
        made = client.create_experiment(name, description)
    click.echo(f"created experiment {made.name} ({made.id}) in namespace {made.namespace}")


@experiments_group.command("list")
@page_options
@OUTPUT_FORMAT
@server_options
def experiments_list(where: str, limit: int, page_token: str | None, output_format: str, server: Client | None) -> None:
    """The namespace's experiments, newest first."""
    client = needs_server(server, "experiments list")
    with api_errors():
        page = client.list_experiments(page_token=page_token, page_size=limit, filter=where)
    print_page(
        page,
        output_format,
        lambda e: f"{e.id:<36} {e.name:<30} {'archived' if e.archived else 'active':<8} {e.created_at.astimezone():%Y-%m-%d %H:%M:%S}",
    )


@experiments_group.command("archive")
@click.argument("experiment")
@server_options
def experiments_archive(experiment: str, server: Client | None) -> None:
    """Archive an experiment, named by id or by name: it is kept, with its runs, and takes no new runs."""
    client = needs_server(server, "experiments archive")
    with api_errors():
        archived = client.archive_experiment(_experiment_id(client, experiment))
    click.echo(f"archived experiment {archived.name} ({archived.id})")


def _experiment_id(client: Client, given: str) -> str:
    """The id of the experiment `given` names: an id, else a name in the namespace."""
    from ..client import ApiError

    try:
        return client.get_experiment(experiment_id=given).id
    except ApiError as error:
        if error.status != 404:
            raise
    return client.get_experiment(experiment_name=given).id  # its 404 says there is no experiment of that name


@click.group("pipelines")
def pipelines_group() -> None:
    """A server's pipelines: upload and list them (--host)."""


@pipelines_group.command("upload")
@click.argument("source", metavar="FILE.py[:FUNC]|FILE.yaml")
@click.option("--name", help="The pipeline to add the version to (default: the name the IR gives).")
@click.option("--description", default="", help="The pipeline's description, when the upload creates it.")
@server_options
def pipelines_upload(source: str, name: str | None, description: str, server: Client | None) -> None:
    """Upload a pipeline (compiled here from FILE.py, or an IR file) as a version; the same content twice is one version."""
    client = needs_server(server, "pipelines upload")
    pipeline = _load_pipeline(source)
    with api_errors():
        version = client.upload_pipeline(pipeline, pipeline_name=name, description=description)
    click.echo(f"pipeline {version.pipeline_id} version {version.digest}")


@pipelines_group.command("list")
@page_options
@OUTPUT_FORMAT
@server_options
def pipelines_list(where: str, limit: int, page_token: str | None, output_format: str, server: Client | None) -> None:
    """The namespace's pipelines, newest first."""
    client = needs_server(server, "pipelines list")
    with api_errors():
        page = client.list_pipelines(page_token=page_token, page_size=limit, filter=where)
    print_page(page, output_format, lambda p: f"{p.id:<36} {p.name:<30} {p.created_at.astimezone():%Y-%m-%d %H:%M:%S}")
