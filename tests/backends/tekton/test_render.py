"""The Tekton PipelineRun of a pipeline: valid in strict mode against Tekton's v1 schemas (embedded specs), checked in
as golden manifests for every example, mapped as sluiceway/backends/tekton/render.py says, and refused with the rule
broken when Tekton would reject it.

Regenerate the golden manifests after an intended change with `make golden`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sluiceway import dsl
from sluiceway.backends.kube.pods import PodSettings
from sluiceway.backends.kube.workflow import Submission
from sluiceway.backends.tekton import TektonRefusal, checked_pipeline_run, lint, render_pipeline_run
from sluiceway.compiler import compile_pipeline, load_pipeline_from_file
from sluiceway.core import ir
from sluiceway.core.yaml_emitter import dumps
from sluiceway.testing.generated import Add, Loop, Plan
from tests.conftest import EXAMPLES, UPDATE_GOLDEN
from tests.manifest_schemas import errors, tekton_schema

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "tekton"
SETTINGS = PodSettings(image="ghcr.io/sluiceway/runtime:test", service_account="pipelines", credentials_secret="store-credentials")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))


@pytest.fixture(scope="module")
def examples() -> dict[str, ir.Pipeline]:
    return {path.stem: compile_pipeline(load_pipeline_from_file(str(path))) for path in EXAMPLE_FILES}


@pytest.mark.parametrize("example", [path.stem for path in EXAMPLE_FILES])
def test_every_example_renders_to_its_golden_manifest(example: str, examples: dict[str, ir.Pipeline]) -> None:
    text = dumps(checked_pipeline_run(examples[example], SETTINGS))
    golden = GOLDEN / f"{example}.yaml"
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden Tekton manifest for {example}: run `make golden`"
    assert golden.read_text() == text, f"{example} renders differently from {golden.name}: run `make golden` if intended"


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_golden_manifests_are_valid_in_strict_mode_and_pass_the_linter(golden: Path) -> None:
    pipeline_run = yaml.safe_load(golden.read_text())
    assert errors(tekton_schema(), pipeline_run) == []
    assert lint(pipeline_run) == []
    assert (EXAMPLES / f"{golden.stem}.py").exists(), f"{golden.name} has no example any more"


def test_a_submitted_run_fills_in_its_values_and_timeouts(examples: dict[str, ir.Pipeline]) -> None:
    submission = Submission(
        run_id="regional-sales-1", name="rs-1", tickets_root="s3://b/r/.sluiceway/tickets/rs-1", stores_json="{}", timeout_seconds=60
    )
    pipeline_run = checked_pipeline_run(examples["regional_sales"], SETTINGS, submission)
    assert pipeline_run["metadata"]["name"] == "rs-1"
    assert {p["name"]: p["value"] for p in pipeline_run["spec"]["params"]}["sluiceway-tickets"] == submission.tickets_root
    assert pipeline_run["spec"]["timeouts"] == {"pipeline": "720s", "tasks": "120s", "finally": "600s"}  # TIME-3 (+60 s), TIME-4
    assert errors(tekton_schema(), pipeline_run) == []


def test_timeouts_are_always_explicit_since_tekton_defaults_to_an_hour(examples: dict[str, ir.Pipeline]) -> None:
    """TIME-6 (T: docs/pipelineruns.md "Configuring a failure timeout": 60 minutes unless set)."""
    for pipeline in examples.values():
        assert set(render_pipeline_run(pipeline, SETTINGS)["spec"]["timeouts"]) == {"pipeline", "tasks", "finally"}


def test_rendering_is_deterministic(examples: dict[str, ir.Pipeline]) -> None:
    for pipeline in examples.values():
        assert dumps(render_pipeline_run(pipeline, SETTINGS)) == dumps(render_pipeline_run(pipeline, SETTINGS))


# --- the mapping --------------------------------------------------------------------------------


@dsl.component
def produce() -> str:
    return "x"


@dsl.component
def consume(text: str) -> str:
    return text


def _tasks(pipeline_run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = pipeline_run["spec"]["pipelineSpec"]
    return {task["name"]: task for task in [*spec["tasks"], *spec.get("finally", [])]}


def test_branches_wait_for_the_driver_and_run_when_it_chose_them(examples: dict[str, ir.Pipeline]) -> None:
    tasks = _tasks(checked_pipeline_run(examples["train_and_evaluate"], SETTINGS))
    driver = next(name for name in tasks if name.startswith("good-enough-driver-"))
    for index, branch_task in enumerate(("deploy-model", "request-review", "flag-poor-model")):
        assert tasks[branch_task]["when"] == [{"input": f"$(tasks.{driver}.results.branch)", "operator": "in", "values": [str(index)]}]
        assert driver in tasks[branch_task]["runAfter"]


def test_a_loop_body_is_matrixed_over_the_iterations_and_skipped_by_when_if_empty(examples: dict[str, ir.Pipeline]) -> None:
    """An empty matrix would skip the loop's dependants too (T: docs/matrix.md; [BS §2.4]); a `when` skip does not."""
    tasks = _tasks(checked_pipeline_run(examples["regional_sales"], SETTINGS))
    driver = next(name for name in tasks if name.startswith("for-loop-driver-"))
    (matrixed,) = [name for name in tasks if name.startswith("simulate-sales-each-")]
    body = tasks[matrixed]
    assert body["matrix"] == {"params": [{"name": "iteration", "value": f"$(tasks.{driver}.results.iterations[*])"}]}
    assert body["when"] == [{"input": f"$(tasks.{driver}.results.empty)", "operator": "in", "values": ["false"]}]
    command = body["taskSpec"]["steps"][0]["command"]
    assert command[command.index("--instance") + 1] == "for-loop/$(params.iteration)/simulate-sales"
    assert command[command.index("--within") + 1] == "for-loop"
    assert {matrixed, driver} <= set(tasks["merge-sales"]["runAfter"])  # the loop as a whole


def test_exit_tasks_are_finally_tasks(examples: dict[str, ir.Pipeline]) -> None:
    pipeline_run = checked_pipeline_run(examples["exit_handler"], SETTINGS)
    assert [task["name"] for task in pipeline_run["spec"]["pipelineSpec"]["finally"]] == ["send-run-report"]
    assert "runAfter" not in pipeline_run["spec"]["pipelineSpec"]["finally"][0]


def test_nested_pipelines_are_flattened_with_their_path_in_the_names(examples: dict[str, ir.Pipeline]) -> None:
    tasks = _tasks(checked_pipeline_run(examples["nested_pipeline"], SETTINGS))
    inner = [name for name in tasks if name.startswith("prepare-features-")]
    assert len(inner) == 2 and all(len(name) <= 63 for name in inner)
    command = tasks[next(n for n in inner if "drop" in n)]["taskSpec"]["steps"][0]["command"]
    assert command[command.index("--instance") + 1] == "prepare-features/drop-incomplete-rows"


def test_a_loop_inside_a_loop_is_refused_naming_both() -> None:
    @dsl.pipeline(name="nested-loops")
    def nested_loops() -> None:
        with dsl.ParallelFor([1, 2], name="outer"):
            with dsl.ParallelFor(["a", "b"], name="inner") as item:
                consume(text=item)

    with pytest.raises(TektonRefusal, match="ParallelFor 'inner' is inside ParallelFor 'outer'"):
        checked_pipeline_run(compile_pipeline(nested_loops), SETTINGS)


@pytest.mark.parametrize(
    ("shape", "refusal"),
    [
        ("condition", "condition 'check' is inside ParallelFor 'each'"),
        ("two-tasks", "ParallelFor 'each' has a parallelism of 2 and more than one task in its body"),
    ],
)
def test_what_tekton_cannot_run_per_iteration_is_refused(shape: str, refusal: str) -> None:
    """Tekton evaluates `when` once per matrixed task [BS §2.3]; a matrixed task waits for all of the one before it."""

    @dsl.pipeline(name="per-iteration")
    def per_iteration() -> None:
        with dsl.ParallelFor(["a", "b"], name="each", parallelism=2 if shape == "two-tasks" else 0) as item:
            first = consume(text=item)
            if shape == "condition":
                with dsl.If(first.output == "a", name="check"):
                    consume(text=item)
            else:
                consume(text=first.output)

    with pytest.raises(TektonRefusal, match=refusal):
        checked_pipeline_run(compile_pipeline(per_iteration), SETTINGS)


def test_the_linter_finds_bad_references_and_cycles(examples: dict[str, ir.Pipeline]) -> None:
    pipeline_run = render_pipeline_run(examples["quickstart"], SETTINGS)
    tasks = pipeline_run["spec"]["pipelineSpec"]["tasks"]
    first, second = tasks[0]["name"], tasks[1]["name"]
    tasks[0]["runAfter"] = [second]
    tasks[1]["when"] = [{"input": "$(tasks.nowhere.results.x)", "operator": "=", "values": []}]
    tasks.append(dict(tasks[0], name="Bad_Name", runAfter=["missing"]))
    problems = lint(pipeline_run)
    assert any("cycle" in p and first in p and second in p for p in problems)
    assert any(f"pipeline task '{second}': refers to task 'nowhere'" in p for p in problems)
    assert any("in or notin" in p for p in problems)
    assert any("'Bad_Name': a name must be a DNS-1123 label" in p for p in problems)
    assert any("runAfter names 'missing'" in p for p in problems)


def test_a_matrixed_task_is_named_so_its_task_runs_are_no_other_tasks() -> None:
    """Tekton names a matrixed task's TaskRuns NAME-0, NAME-1, ...: beside a loop over `add`, a task `add-2` would have
    its TaskRun taken for the loop's third (found by the property tests: the run never ended)."""
    pipeline = Plan(seed=0, steps=(Loop(items=(1, 2, 3), count_of=0, addend=0, parallelism=0), Add(0, 0))).pipeline()
    pipeline_run = checked_pipeline_run(pipeline, SETTINGS)
    names = [task["name"] for task in pipeline_run["spec"]["pipelineSpec"]["tasks"]]
    (matrixed,) = [task["name"] for task in pipeline_run["spec"]["pipelineSpec"]["tasks"] if "matrix" in task]
    assert "add-2" in names and matrixed.startswith("add-each-")
    pipeline_run["spec"]["pipelineSpec"]["tasks"][names.index(matrixed)]["name"] = "add"
    assert "pipeline task 'add-2' has the name of a TaskRun of matrixed task 'add'" in lint(pipeline_run)
