"""Every example compiles to its checked-in golden IR; together they use every DSL feature.

Regenerate the golden files after an intended change with `make golden`
(SLUICEWAY_UPDATE_GOLDEN=1).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from sluiceway.compiler import compile_pipeline, load_pipeline_from_file
from sluiceway.core import dump_json, dump_yaml, ir, load, validate
from sluiceway.core.schema import SCHEMA_PATH
from sluiceway.dsl.components import DEFAULT_BASE_IMAGE
from tests.conftest import EXAMPLES, UPDATE_GOLDEN

GOLDEN = Path(__file__).with_name("golden")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))


def test_there_are_at_least_eight_examples():
    assert len(EXAMPLE_FILES) >= 8


@pytest.fixture(scope="module")
def compiled() -> dict[str, ir.Pipeline]:
    return {path.stem: compile_pipeline(load_pipeline_from_file(str(path))) for path in EXAMPLE_FILES}


@pytest.mark.parametrize("example", [path.stem for path in EXAMPLE_FILES])
def test_example_matches_its_golden_file(example, compiled):
    golden = GOLDEN / f"{example}.yaml"
    text = dump_yaml(compiled[example])
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file for {example}: run `make golden`"
    assert golden.read_text() == text, f"{example} compiles differently from {golden.name}: run `make golden` if intended"


@pytest.mark.parametrize("example", [path.stem for path in EXAMPLE_FILES])
def test_the_compiler_writes_the_canonical_form(example, compiled):
    """Defaults stay off disk: a file read back and written again is unchanged."""
    pipeline = compiled[example]
    assert dump_yaml(ir.canonical(pipeline)) == dump_yaml(pipeline)


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_golden_files_are_valid_ir_and_match_the_schema(golden):
    pipeline = validate(load(golden))
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(dump_json(pipeline)))
    assert (EXAMPLES / f"{golden.stem}.py").exists(), f"{golden.name} has no example any more"


def _walk(nodes):
    for node in nodes:
        yield node
        if isinstance(node, ir.ExitHandler):
            yield node.exit_task
        if isinstance(node, ir.Condition):
            for branch in node.branches:
                yield from _walk(branch.nodes)
        else:
            yield from _walk(getattr(node, "nodes", ()))


def _placeholders(parts):
    for part in parts:
        yield part
        yield from _placeholders(getattr(part, "items", ()))
        yield from _placeholders(getattr(part, "then", ()))


def test_the_examples_together_use_every_dsl_feature(compiled):
    nodes = []
    components = []
    for pipeline in compiled.values():
        components.extend(pipeline.components.values())
        nodes.extend(_walk(pipeline.nodes))
        for component in pipeline.components.values():
            if isinstance(component.implementation, ir.Graph):
                nodes.extend(_walk(component.implementation.nodes))
    tasks = [n for n in nodes if isinstance(n, ir.Task)]
    arguments = [a for t in tasks for a in t.arguments.values()]
    loops = [n for n in nodes if isinstance(n, ir.Loop)]
    conditions = [n for n in nodes if isinstance(n, ir.Condition)]
    implementations = [c.implementation for c in components]
    settings = [t.settings for t in tasks]
    io_types = {spec.type for c in components for spec in (*c.inputs, *c.outputs)}
    container_parts = [p for i in implementations if isinstance(i, ir.Container) for p in _placeholders((*i.command, *i.args))]
    python = [i for i in implementations if isinstance(i, ir.PythonFunction)]

    features = {
        "python component with base image": any(i.base_image != DEFAULT_BASE_IMAGE for i in python),
        "packages_to_install": any(i.packages_to_install for i in python),
        "container component": any(isinstance(i, ir.Container) for i in implementations),
        "nested pipeline": any(isinstance(i, ir.Graph) for i in implementations),
        "Input/Output artifacts": {"Dataset", "Model"} <= io_types,
        "Metrics and ClassificationMetrics": {"Metrics", "ClassificationMetrics"} <= io_types,
        "InputPath/OutputPath": any(s.as_path for c in components for s in (*c.inputs, *c.outputs)),
        "NamedTuple outputs": any(i.returns_named_tuple for i in python),
        "return value": any(i.returns and not i.returns_named_tuple for i in python),
        "after": any(t.after for t in tasks),
        "caching off": any(not s.caching.enabled for s in settings),
        "max staleness": any(s.caching.max_staleness_seconds for s in settings),
        "retry": any(s.retry for s in settings),
        "timeout": any(s.timeout_seconds for s in settings),
        "cpu/memory requests and limits": any(
            s.resources.cpu_limit and s.resources.memory_limit and s.resources.cpu_request for s in settings
        ),
        "accelerator": any(s.resources.accelerator_count for s in settings),
        "env variable": any(s.env for s in settings),
        "secret": any(s.secrets for s in settings),
        "node selector": any(s.node_selector for s in settings),
        "display name": any(s.display_name for s in settings),
        "If/Elif/Else": any(len(c.branches) >= 3 and c.branches[-1].when is None for c in conditions),
        "ParallelFor over a literal": any(isinstance(lp.items, ir.Constant) for lp in loops),
        "ParallelFor over a parameter": any(isinstance(lp.items, ir.ParameterRef) for lp in loops),
        "ParallelFor over an output": any(isinstance(lp.items, ir.OutputRef) for lp in loops),
        "parallelism": any(lp.parallelism for lp in loops),
        "loop item key": any(isinstance(a, ir.LoopItemRef) and a.key for a in arguments),
        "Collected": any(isinstance(a, ir.CollectedRef) for a in arguments),
        "ExitHandler with final status": any(isinstance(n, ir.ExitHandler) for n in nodes)
        and any(isinstance(a, ir.TaskFinalStatusRef) for a in arguments),
        "importer": any(isinstance(n, ir.Importer) for n in nodes),
        "component from YAML (placeholders)": {ir.InputPathPlaceholder, ir.OutputPathPlaceholder, ir.InputValuePlaceholder}
        <= {type(p) for p in container_parts},
        "KFP v1 func_to_container_op": any(i.parameter_names for i in python),
    }
    missing = [name for name, used in features.items() if not used]
    assert missing == []


RUN_ARGUMENTS = {"nested_pipeline": {"data_uri": (EXAMPLES / "data" / "flowers.csv").as_uri()}}


@pytest.mark.parametrize("example", [path.stem for path in EXAMPLE_FILES])
@pytest.mark.filterwarnings("ignore::sluiceway.local.SettingIgnoredHere")  # the example sets them on purpose
def test_example_runs_on_the_embedded_default(example, compiled, tmp_path, monkeypatch):
    import sluiceway
    from sluiceway.core.lifecycle import RunState, TaskState

    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))
    report = sluiceway.run(compiled[example], RUN_ARGUMENTS.get(example, {}))
    failed = {task.id: task.message for task in report.tasks.values() if task.state == TaskState.FAILED}
    assert (report.state, failed) == (RunState.SUCCEEDED, {})


def test_the_exit_handler_example_reports_a_failure(compiled, tmp_path, monkeypatch):
    import sluiceway
    from sluiceway.core.lifecycle import RunState, TaskState

    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))
    report = sluiceway.run(compiled["exit_handler"], {"max_bad_fraction": 0.0})
    assert report.state == RunState.FAILED
    exit_tasks = [task for task in report.tasks.values() if task.frame.exempt_from_stopping]
    assert exit_tasks and all(task.state == TaskState.SUCCEEDED for task in exit_tasks)
