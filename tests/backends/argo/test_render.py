"""The Argo Workflow of a pipeline: valid in strict mode against Argo's JSON Schema and full CRD, checked in as golden
manifests for every example, mapped as sluiceway/backends/argo/render.py says, and refused with the rule broken
when Argo would reject it.

Regenerate the golden manifests after an intended change with `make golden`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sluiceway import dsl
from sluiceway.backends.argo import ArgoRefusal, checked_workflow, lint, render_workflow
from sluiceway.backends.kube.pods import PodSettings
from sluiceway.backends.kube.workflow import Submission
from sluiceway.compiler import compile_pipeline, load_pipeline_from_file
from sluiceway.core import SluicewayError, ir
from sluiceway.core.yaml_emitter import dumps
from tests.conftest import EXAMPLES, UPDATE_GOLDEN
from tests.manifest_schemas import argo_crd, argo_schema, errors

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "argo"
SETTINGS = PodSettings(image="ghcr.io/sluiceway/runtime:test", service_account="pipelines", credentials_secret="store-credentials")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))


@pytest.fixture(scope="module")
def examples() -> dict[str, ir.Pipeline]:
    return {path.stem: compile_pipeline(load_pipeline_from_file(str(path))) for path in EXAMPLE_FILES}


@pytest.mark.parametrize("example", [path.stem for path in EXAMPLE_FILES])
def test_every_example_renders_to_its_golden_manifest(example: str, examples: dict[str, ir.Pipeline]) -> None:
    text = dumps(checked_workflow(examples[example], SETTINGS))
    golden = GOLDEN / f"{example}.yaml"
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden Argo manifest for {example}: run `make golden`"
    assert golden.read_text() == text, f"{example} renders differently from {golden.name}: run `make golden` if intended"


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_golden_manifests_are_valid_in_strict_mode_and_pass_the_linter(golden: Path) -> None:
    workflow = yaml.safe_load(golden.read_text())
    assert errors(argo_schema(), workflow) == []
    assert errors(argo_crd(), workflow) == []
    assert lint(workflow) == []
    assert (EXAMPLES / f"{golden.stem}.py").exists(), f"{golden.name} has no example any more"


def test_a_submitted_run_fills_in_its_values_and_stays_valid(examples: dict[str, ir.Pipeline]) -> None:
    submission = Submission(
        run_id="hyperparameter-sweep-20261129-1",
        name="hs-1",
        tickets_root="s3://b/r/.sluiceway/tickets/hs-1",
        stores_json="{}",
        timeout_seconds=90.5,
        max_parallel=8,
    )
    workflow = checked_workflow(examples["hyperparameter_sweep"], SETTINGS, submission)
    assert workflow["metadata"]["name"] == "hs-1"
    assert workflow["metadata"]["annotations"]["sluiceway.dev/run-id"] == submission.run_id
    assert workflow["spec"]["activeDeadlineSeconds"] == 91 + 60  # TIME-3, rounded up, after the engine's own
    assert workflow["spec"]["parallelism"] == 8
    parameters = {p["name"]: p.get("value") for p in workflow["spec"]["arguments"]["parameters"]}
    assert parameters["sluiceway-tickets"] == submission.tickets_root
    assert errors(argo_schema(), workflow) == errors(argo_crd(), workflow) == []


def test_rendering_is_deterministic(examples: dict[str, ir.Pipeline]) -> None:
    for pipeline in examples.values():
        assert dumps(render_workflow(pipeline, SETTINGS)) == dumps(render_workflow(pipeline, SETTINGS))


# --- the mapping --------------------------------------------------------------------------------


@dsl.component
def produce() -> str:
    return "x"


@dsl.component
def consume(text: str) -> str:
    return text


@dsl.component
def take_list(values: list) -> int:
    return len(values)


@dsl.component
def read_dataset(data: dsl.Input[dsl.Dataset]) -> int:
    return len(data.path)


def _templates(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {template["name"]: template for template in workflow["spec"]["templates"]}


def _dag_tasks(workflow: dict[str, Any], template: str = "pipeline") -> dict[str, dict[str, Any]]:
    return {task["name"]: task for task in _templates(workflow)[template]["dag"]["tasks"]}


def test_data_edges_need_success_and_ordering_and_collected_edges_do_not() -> None:
    """DEP-3 mapping: `P.Succeeded` for a data edge; bare `P` (Succeeded, Skipped) for an ordering or collected edge,
    so that a branch not taken or an empty loop does not block what comes after (A: docs/enhanced-depends-logic.md)."""

    @dsl.pipeline(name="edges")
    def edges(items: list = [1, 2]) -> None:  # noqa: B006 (a pipeline default, never mutated)
        first = produce()
        second = consume(text=first.output)
        with dsl.ParallelFor(items) as item:
            looped = consume(text=item)
        take_list(values=dsl.Collected(looped.output)).after(second)

    tasks = _dag_tasks(checked_workflow(compile_pipeline(edges), SETTINGS))
    assert tasks["consume"]["depends"] == "produce.Succeeded"
    assert tasks["take-list"]["depends"] == "consume && for-loop"


def test_an_edge_through_an_importer_goes_to_what_the_importer_waits_for() -> None:
    @dsl.pipeline(name="imports")
    def imports() -> None:
        uri = produce()
        imported = dsl.importer(artifact_uri=uri.output, artifact_class=dsl.Dataset)
        read_dataset(data=imported.output)

    pipeline = compile_pipeline(imports)
    tasks = _dag_tasks(checked_workflow(pipeline, SETTINGS))
    assert set(tasks) == {"produce", "read-dataset"}  # the importer runs no pod
    assert tasks["read-dataset"]["depends"] == "produce.Succeeded"


def test_conditions_branch_on_the_drivers_index_and_loops_fan_out_over_its_iterations(examples: dict[str, ir.Pipeline]) -> None:
    workflow = checked_workflow(examples["train_and_evaluate"], SETTINGS)
    condition = _templates(workflow)[_dag_tasks(workflow)["good-enough"]["template"]]
    branches = [task for task in condition["dag"]["tasks"] if task["name"].startswith("branch-")]
    assert [task["when"] for task in branches] == [f"{{{{tasks.driver.outputs.parameters.branch}}}} == {i}" for i in range(3)]
    assert all(task["depends"] == "driver" for task in branches)

    workflow = checked_workflow(examples["hyperparameter_sweep"], SETTINGS)
    loop = _templates(workflow)[_dag_tasks(workflow)["for-loop"]["template"]]
    assert loop["parallelism"] == 2  # LOOP-4
    body = {task["name"]: task for task in loop["dag"]["tasks"]}["body"]
    assert body["withParam"] == "{{tasks.driver.outputs.parameters.iterations}}"
    assert body["arguments"]["parameters"] == [
        {"name": "prefix", "value": "{{inputs.parameters.prefix}}for-loop/{{item}}/"},
        {"name": "within", "value": "{{inputs.parameters.within}} {{inputs.parameters.prefix}}for-loop"},  # its pods end with the loop
    ]


def test_an_exit_handler_over_the_whole_pipeline_is_on_exit_and_a_nested_one_a_hook(examples: dict[str, ir.Pipeline]) -> None:
    workflow = checked_workflow(examples["exit_handler"], SETTINGS)
    on_exit = _templates(workflow)[workflow["spec"]["onExit"]]
    command = on_exit["container"]["command"]
    assert command[command.index("--instance") + 1] == "send-run-report"

    @dsl.pipeline(name="nested-exit")
    def nested_exit() -> None:
        first = produce()
        with dsl.ExitHandler(consume(text="bye"), name="guarded"):
            consume(text=first.output)

    tasks = _dag_tasks(checked_workflow(compile_pipeline(nested_exit), SETTINGS))
    hook = tasks["guarded"]["hooks"]["exit"]
    assert hook["arguments"]["parameters"] == [
        {"name": "instance", "value": "{{inputs.parameters.prefix}}consume"},
        {"name": "within", "value": "{{inputs.parameters.within}}"},
        {"name": "handler", "value": "{{inputs.parameters.prefix}}guarded"},  # ends unrun if its handler was never entered
    ]
    assert tasks["guarded"]["depends"] == "produce.Succeeded"


def test_retries_and_timeouts_are_always_explicit(examples: dict[str, ir.Pipeline]) -> None:
    """TIME-6, RETRY-1: `retryPolicy: Always` (Argo's default retries only non-zero exits, A: docs/retries.md) and a
    limit on every task, backoff and deadlines as strings (IntOrString)."""
    workflow = checked_workflow(examples["nightly_segmentation"], SETTINGS)
    tasks = [t for t in workflow["spec"]["templates"] if "container" in t]
    assert all(t["retryStrategy"]["retryPolicy"] == "Always" and isinstance(t["retryStrategy"]["limit"], str) for t in tasks)
    flaky = next(t for t in tasks if t["retryStrategy"]["limit"] != "0" and "backoff" in t["retryStrategy"])
    assert all(isinstance(value, str) for value in flaky["retryStrategy"]["backoff"].values())
    assert any(isinstance(t.get("activeDeadlineSeconds"), str) for t in tasks)


def test_a_fractional_backoff_factor_is_refused_naming_the_task() -> None:
    @dsl.pipeline(name="backoff")
    def backoff() -> None:
        produce().set_retry(num_retries=2, backoff_duration="1s", backoff_factor=1.5)

    with pytest.raises(ArgoRefusal, match=r"task 'produce'.*backoff factor of 1\.5"):
        checked_workflow(compile_pipeline(backoff), SETTINGS)


def test_without_a_runtime_image_the_error_says_which_setting() -> None:
    @dsl.pipeline(name="no-image")
    def no_image() -> None:
        produce()

    with pytest.raises(SluicewayError, match=r"backend\.image"):
        checked_workflow(compile_pipeline(no_image), PodSettings())


# --- the linter ---------------------------------------------------------------------------------


def test_the_linter_refuses_more_than_200_tasks_in_one_dag_naming_the_rule() -> None:
    @dsl.pipeline(name="wide")
    def wide() -> None:
        for _ in range(201):
            produce()

    with pytest.raises(ArgoRefusal, match="201 tasks in one DAG; Argo allows at most 200"):
        checked_workflow(compile_pipeline(wide), SETTINGS)


def test_the_linter_finds_cycles_missing_references_and_bad_names(examples: dict[str, ir.Pipeline]) -> None:
    workflow = render_workflow(examples["quickstart"], SETTINGS)
    tasks = workflow["spec"]["templates"][0]["dag"]["tasks"]
    first, second = tasks[0]["name"], tasks[1]["name"]
    tasks[0]["depends"] = second
    tasks[1]["template"] = "no-such-template"
    tasks.append({"name": "9lives", "template": tasks[0]["template"], "depends": first, "dependencies": [first]})
    problems = lint(workflow)
    assert any("cycle" in p and first in p and second in p for p in problems)
    assert any(f"task '{second}': template 'no-such-template' does not exist" in p for p in problems)
    assert any("'9lives'" in p and "cannot start with a digit" in p for p in problems)
    assert any("depends and dependencies cannot be used together" in p for p in problems)


def test_the_linter_wants_a_dependency_for_every_task_reference(examples: dict[str, ir.Pipeline]) -> None:
    workflow = render_workflow(examples["train_and_evaluate"], SETTINGS)
    condition = next(t for t in workflow["spec"]["templates"] if any(task.get("when") for task in t.get("dag", {}).get("tasks", [])))
    del condition["dag"]["tasks"][1]["depends"]
    assert any("uses {{tasks.driver...}} without depending on 'driver'" in p for p in lint(workflow))
