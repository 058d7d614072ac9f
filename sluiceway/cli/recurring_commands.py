"""`sluiceway recurring-runs create|list|enable|disable|delete`: a server's pipelines run on a schedule (--host)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from .catalog_commands import page_options, print_page
from .main import OUTPUT_FORMAT
from .remote_runs import pipeline_with_arguments
from .servers import api_errors, needs_server, server_options

if TYPE_CHECKING:
    from ..client import Client, RecurringRun


@click.group("recurring-runs")
def recurring_group() -> None:
    """A server's recurring runs: create, list, enable, disable, delete (--host)."""


@recurring_group.command("create")
@click.argument("name")
@click.argument("source", metavar="FILE.py[:FUNC]|FILE.yaml")
@click.option("--cron", metavar="EXPR", help="Fire at the times of this cron expression, e.g. '0 9 * * 1-5'.")
@click.option("--timezone", default="UTC", show_default=True, metavar="ZONE", help="The IANA time zone --cron is read in.")
@click.option("--every", "interval", type=click.IntRange(min=1), metavar="SECONDS", help="Fire every SECONDS instead.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter; repeat for several.")
@click.option("--experiment", metavar="NAME", help="Record its runs under this experiment.")
@click.option("--start", type=click.DateTime(), metavar="TIME", help="No firing before TIME (UTC, e.g. 2026-12-01T09:00:00).")
@click.option("--end", type=click.DateTime(), metavar="TIME", help="No firing after TIME (UTC).")
@click.option(
    "--max-concurrency", type=click.IntRange(1, 100), default=1, show_default=True, metavar="N", help="At most N of its runs unfinished."
)
@click.option("--catch-up", is_flag=True, help="Make up for every time missed while the server was down.")
@server_options
def recurring_create(
    name: str,
    source: str,
    cron: str | None,
    timezone: str,
    interval: int | None,
    params: tuple[str, ...],
    experiment: str | None,
    start: datetime | None,
    end: datetime | None,
    max_concurrency: int,
    catch_up: bool,
    server: Client | None,
) -> None:
    """Upload a pipeline (as `pipelines upload` does) and run it on a schedule: --cron or --every."""
    client = needs_server(server, "recurring-runs create")
    pipeline, arguments = pipeline_with_arguments(source, params)
    with api_errors():
        version = client.upload_pipeline(pipeline)
        made = client.create_recurring_run(
            name,
            version.pipeline_id,
            version.digest,
            cron_expression=cron,
            timezone=timezone,
            interval_seconds=interval,
            params=arguments,
            experiment_name=experiment,
            start_time=start,
            end_time=end,
            max_concurrency=max_concurrency,
            no_catchup=not catch_up,
        )
    click.echo(f"created recurring run {made.name} ({made.id}); next run at {_when(made)}")


@recurring_group.command("list")
@page_options
@OUTPUT_FORMAT
@server_options
def recurring_list(where: str, limit: int, page_token: str | None, output_format: str, server: Client | None) -> None:
    """The namespace's recurring runs, newest first."""
    client = needs_server(server, "recurring-runs list")
    with api_errors():
        page = client.list_recurring_runs(page_token=page_token, page_size=limit, filter=where)
    print_page(
        page, output_format, lambda r: f"{r.id:<32} {r.name:<30} {_trigger(r):<24} {'enabled' if r.enabled else 'disabled':<8} {_when(r)}"
    )


@recurring_group.command("enable")
@click.argument("recurring_run_id")
@server_options
def recurring_enable(recurring_run_id: str, server: Client | None) -> None:
    """Fire again, from the first scheduled time after now."""
    with api_errors():
        made = needs_server(server, "recurring-runs enable").enable_recurring_run(recurring_run_id)
    click.echo(f"enabled recurring run {made.name} ({made.id}); next run at {_when(made)}")


@recurring_group.command("disable")
@click.argument("recurring_run_id")
@server_options
def recurring_disable(recurring_run_id: str, server: Client | None) -> None:
    """Fire no more until enabled; the runs it made go on."""
    with api_errors():
        made = needs_server(server, "recurring-runs disable").disable_recurring_run(recurring_run_id)
    click.echo(f"disabled recurring run {made.name} ({made.id})")


@recurring_group.command("delete")
@click.argument("recurring_run_id")
@server_options
def recurring_delete(recurring_run_id: str, server: Client | None) -> None:
    """Delete a recurring run; the runs it made are kept."""
    with api_errors():
        needs_server(server, "recurring-runs delete").delete_recurring_run(recurring_run_id)
    click.echo(f"deleted recurring run {recurring_run_id}")


def _trigger(made: RecurringRun) -> str:
    trigger = made.trigger
    return f"every {trigger['interval_seconds']} s" if trigger.get("interval_seconds") else f"{trigger['cron']} {trigger['timezone']}"


def _when(made: RecurringRun) -> str:
    return f"{made.next_fire_at.astimezone():%Y-%m-%d %H:%M:%S}" if made.next_fire_at and made.enabled else "-"
