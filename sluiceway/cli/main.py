"""`sluiceway compile | validate | schema | plugins`.

Errors in the user's input are printed as one clear message (what and where), never as a traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from .. import __version__
from ..core.errors import SluicewayError


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _user_code_error(error: BaseException, path: str) -> str:
    """Name the line in the user's file where an unexpected exception came from."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename).name == Path(path).name]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}: " if frames else f"{path}: "
    return f"{where}{type(error).__name__}: {error}"


@click.group()
@click.version_option(__version__, prog_name="sluiceway")
def cli() -> None:
    """Sluiceway: write ML pipelines in Python, compile them to a backend-neutral IR, run them anywhere."""


@cli.command("compile")
@click.argument("source", metavar="FILE.py[:FUNC]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Where to write the IR (.json for JSON, else YAML).")
def compile_command(source: str, output: str) -> None:
    """Compile the pipeline in FILE.py (the one @dsl.pipeline in it, or FUNC) to an IR file."""
    from ..compiler import compile_pipeline, load_pipeline_from_file
    from ..core.serialize import dump

    try:
        pipeline = compile_pipeline(load_pipeline_from_file(source))
    except SluicewayError as error:
        _fail(str(error))
    except Exception as error:  # the user's pipeline code raised
        _fail(_user_code_error(error, source.partition(":")[0]))
    try:
        dump(pipeline, output)
    except OSError as error:
        _fail(f"cannot write {output}: {error.strerror or error}")
    count = _count_tasks(pipeline)
    click.echo(f"Wrote {output} ({pipeline.name}: {count} task{'' if count == 1 else 's'})")


@cli.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def validate_command(path: str) -> None:
    """Check an IR file (YAML or JSON) against every IR rule."""
    from ..core.serialize import digest, load
    from ..core.validation import validate

    try:
        pipeline = validate(load(path))
    except SluicewayError as error:
        _fail(str(error))
    click.echo(f"{path}: valid ({pipeline.name}, {digest(pipeline)})")


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the IR."""
    from ..core.schema import render

    click.echo(render(), nl=False)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the installed backends and stores, and the plugin each comes from."""
    from ..plugins import PluginManager

    try:
        manager = PluginManager()
    except SluicewayError as error:
        _fail(str(error))
    entries = manager.registry.all()
    if as_json:
        table = [{"kind": e.kind, "name": e.name, "plugin": e.plugin, "origin": e.origin, "description": e.description} for e in entries]
        click.echo(json.dumps({"plugins": [{"name": n, "origin": o} for n, o in manager.plugins()], "registered": table}, indent=2))
        return
    width = max([len(e.name) for e in entries] + [4])
    for kind in ("backend", "metadata_store", "artifact_store"):
        click.echo(f"{kind.replace('_', ' ')}s:")
        rows = [e for e in entries if e.kind == kind]
        if not rows:
            click.echo("  (none installed)")
        for entry in rows:
            click.echo(f"  {entry.name:<{width}}  {entry.description or '-'}  [plugin {entry.plugin}, {entry.origin}]")


def _count_tasks(pipeline: object) -> int:
    from ..core.ir import ExitHandler, Pipeline, Task

    assert isinstance(pipeline, Pipeline)
    count = 0

    def walk(nodes: tuple[object, ...]) -> None:
        nonlocal count
        for node in nodes:
            if isinstance(node, Task):
                count += 1
            if isinstance(node, ExitHandler):
                count += 1
            for child in getattr(node, "nodes", ()):
                walk((child,))
            for branch in getattr(node, "branches", ()):
                walk(branch.nodes)

    walk(pipeline.nodes)
    return count


def main() -> None:
    cli()
