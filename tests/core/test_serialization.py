"""YAML and JSON forms are deterministic and lossless; the digest tracks meaning, not layout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluiceway import compiler, dsl
from sluiceway.core import IRFormatError, digest, dump, dump_json, dump_yaml, load, loads


@dsl.component
def produce(seed: int) -> int:
    return seed


@dsl.component
def combine(left: int, right: int = 0) -> int:
    """Add two numbers."""
    return left + right


@dsl.component
def report(values: list, status: dsl.PipelineTaskFinalStatus) -> str:
    return f"{values} {status.state}"


def sample_pipeline():
    @dsl.pipeline(name="sample", description="Uses one of each kind of node.")
    def sample(seed: int = 3, names: list = ["a", "b"]):  # noqa: B006 - a pipeline default, never mutated
        first = produce(seed=seed).set_retry(2, "5s").set_caching_options(False)
        exit_task = report(values=names)
        with dsl.ExitHandler(exit_task):
            with dsl.If(first.output > 2):
                combine(left=first.output, right=1).set_display_name("big")
            with dsl.Else():
                combine(left=first.output)
            with dsl.ParallelFor([1, 2, 3], parallelism=2) as item:
                looped = combine(left=item)
            combine(left=seed).after(first)
            dsl.importer(artifact_uri="file:///tmp/data.csv", artifact_class=dsl.Dataset)
        del looped

    return compiler.compile_pipeline(sample)


def test_yaml_and_json_round_trip():
    pipeline = sample_pipeline()
    assert loads(dump_yaml(pipeline)) == pipeline
    assert loads(dump_json(pipeline)) == pipeline


def test_file_round_trip_picks_the_format_from_the_suffix(tmp_path: Path):
    pipeline = sample_pipeline()
    dump(pipeline, tmp_path / "p.json")
    dump(pipeline, tmp_path / "p.yaml")
    assert (tmp_path / "p.json").read_text().lstrip().startswith("{")
    assert load(tmp_path / "p.json") == load(tmp_path / "p.yaml") == pipeline


def test_the_document_names_its_version_and_kind():
    text = dump_yaml(sample_pipeline())
    assert text.startswith("apiVersion: sluiceway.dev/v1alpha1\nkind: Pipeline\nname: sample\n")


def test_function_sources_are_readable_blocks():
    assert "      source: |\n        def produce(seed: int) -> int:\n            return seed\n" in dump_yaml(sample_pipeline())


def test_the_same_pipeline_gives_byte_identical_files_across_processes(tmp_path: Path):
    """Hash seeds differ per process; the output must not."""
    script = tmp_path / "twice.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
            from tests.core.test_serialization import sample_pipeline
            from sluiceway.core import dump_yaml
            sys.stdout.write(dump_yaml(sample_pipeline()))
            """
        )
    )
    outputs = {
        subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert outputs.pop() == dump_yaml(sample_pipeline())


def test_digest_ignores_source_lines_but_not_meaning():
    pipeline = sample_pipeline()
    moved = msgspec.structs.replace(
        pipeline, nodes=tuple(msgspec.structs.replace(node, source="elsewhere.py:99") for node in pipeline.nodes)
    )
    renamed = msgspec.structs.replace(pipeline, description="Another description.")
    assert digest(moved) == digest(pipeline)
    assert digest(renamed) != digest(pipeline)
    assert digest(pipeline).startswith("sha256:") and len(digest(pipeline)) == 7 + 64


def test_digest_covers_component_code():
    pipeline = sample_pipeline()
    component = pipeline.components["produce"]
    changed_code = msgspec.structs.replace(
        component,
        implementation=msgspec.structs.replace(component.implementation, source="def produce(seed: int) -> int:\n    return seed + 1\n"),
    )
    edited = msgspec.structs.replace(pipeline, components={**pipeline.components, "produce": changed_code})
    assert digest(edited) != digest(pipeline)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- not a mapping", "expected a mapping"),
        ("kind: Workflow\napiVersion: sluiceway.dev/v1alpha1", "kind is 'Workflow'"),
        ("kind: Pipeline\napiVersion: sluiceway.dev/v9", "apiVersion 'sluiceway.dev/v9' is not supported"),
        (
            "kind: Pipeline\napiVersion: sluiceway.dev/v1alpha1\nname: x\nnodes: [{kind: task, name: a}]",
            "Object missing required field `component` - at `$.nodes[0]`",
        ),
        ("kind: Pipeline\napiVersion: sluiceway.dev/v1alpha1\nname: x\nnodse: []", "Object contains unknown field `nodse`"),
        ("kind: Pipeline\n  bad: [", "not valid YAML or JSON"),
    ],
)
def test_broken_documents_get_errors_that_say_where(text, message):
    with pytest.raises(IRFormatError) as caught:
        loads(text, origin="broken.yaml")
    assert str(caught.value).startswith("broken.yaml: ")
    assert message in str(caught.value)


def test_ir_values_are_immutable():
    pipeline = sample_pipeline()
    with pytest.raises(AttributeError):
        pipeline.name = "changed"  # type: ignore[misc]


# --- Property: any generated DAG compiles to a stable, lossless document -------------------------


@st.composite
def dags(draw):
    """A random DAG: for each task, the earlier tasks it reads from (at most two)."""
    size = draw(st.integers(min_value=1, max_value=25))
    return [
        draw(st.lists(st.integers(min_value=0, max_value=max(index - 1, 0)), max_size=2 if index else 0, unique=True))
        for index in range(size)
    ]


def build(shape, loop_at, condition_at):
    @dsl.pipeline(name="generated")
    def generated(seed: int = 1):
        tasks = []
        for index, inputs in enumerate(shape):
            args = [tasks[i].output for i in inputs] or [seed]
            if index == loop_at:
                with dsl.ParallelFor([1, 2]) as item:
                    combine(left=args[0], right=item)
            if index == condition_at:
                with dsl.If(args[0] > 0):
                    combine(left=args[0])
            tasks.append(combine(left=args[0], right=args[1] if len(args) > 1 else 0))

    return compiler.compile_pipeline(generated)


@settings(max_examples=40, deadline=None)
@given(shape=dags(), loop_at=st.integers(0, 30), condition_at=st.integers(0, 30))
def test_generated_pipelines_round_trip_and_compile_identically(shape, loop_at, condition_at):
    pipeline = build(shape, loop_at, condition_at)
    assert loads(dump_yaml(pipeline)) == pipeline
    assert loads(dump_json(pipeline)) == pipeline
    again = build(shape, loop_at, condition_at)
    assert dump_yaml(again) == dump_yaml(pipeline)
    assert digest(again) == digest(pipeline)


def test_defaults_spelled_out_in_a_file_do_not_change_the_pipeline():
    pipeline = sample_pipeline()
    text = dump_yaml(pipeline)
    assert "backoff_factor" not in text
    spelled_out = text.replace("      max_retries: 2\n", "      max_retries: 2\n      backoff_factor: 2.0\n", 1)
    assert spelled_out != text
    loaded = loads(spelled_out)
    assert loaded == pipeline and digest(loaded) == digest(pipeline) and dump_yaml(loaded) == text


def test_constants_that_look_like_nodes_keep_their_source_key():
    @dsl.pipeline(name="lookalike")
    def lookalike():
        produce(seed=1)
        combine(left=1)

    base = compiler.compile_pipeline(lookalike)
    task = base.nodes[0]
    with_constant = msgspec.structs.replace(base, description="", nodes=(msgspec.structs.replace(task, source="a.py:1"), *base.nodes[1:]))
    assert digest(with_constant) == digest(base)
    from sluiceway.core import Constant

    marked = [
        msgspec.structs.replace(
            base, nodes=(msgspec.structs.replace(task, arguments={"seed": Constant(value={"kind": "task", "source": s})}), *base.nodes[1:])
        )
        for s in ("x", "y")
    ]
    assert digest(marked[0]) != digest(marked[1])
