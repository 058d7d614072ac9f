"""The executor, run as a real process on task specs, as every backend will run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from sluiceway import compiler, components, dsl
from sluiceway.core import ir
from sluiceway.core.task_spec import MAX_VALUE_BYTES, ArtifactRef, FinalStatus, InputBinding, TaskSpec, decode_result, encode


def component_of(component) -> ir.Component:
    """The IR of a DSL component, as the compiler stores it."""

    @dsl.pipeline(name="holder")
    def holder():
        pass

    from sluiceway.dsl.context import ComponentTable

    return ir.canonical(component.describe(ComponentTable()))


class Ran(NamedTuple):
    code: int
    result: object
    stderr: str
    spec: TaskSpec


def execute(tmp_path: Path, component, inputs=None, *, final_status=None, task="task", name="spec") -> Ran:
    root = tmp_path / "store"
    spec = TaskSpec(
        run_id="run-1",
        task=task,
        component=component if isinstance(component, ir.Component) else component_of(component),
        inputs=inputs or {},
        output_root=(root / "run-1" / task).as_uri(),
        work_dir=str(tmp_path / "work" / task),
        result_path=str(tmp_path / f"{task}.result.json"),
        values_dir=str(tmp_path / "values" / task),
        final_status=final_status,
    )
    path = tmp_path / f"{name}.json"
    path.write_bytes(encode(spec))
    completed = subprocess.run([sys.executable, "-m", "sluiceway.executor", str(path)], capture_output=True, text=True, timeout=120)
    result = decode_result(Path(spec.result_path).read_bytes()) if Path(spec.result_path).exists() else None
    return Ran(completed.returncode, result, completed.stderr, spec)


def value(v) -> InputBinding:
    return InputBinding(value=v)


@dsl.component
def add(a: int, b: int = 10) -> int:
    return a + b


def test_a_function_runs_with_its_values_and_defaults(tmp_path):
    ran = execute(tmp_path, add, {"a": value(5)})
    assert ran.code == 0, ran.stderr
    assert ran.result.succeeded and ran.result.values == {"Output": 15}
    assert json.loads((tmp_path / "values" / "task" / "Output").read_text()) == 15


class Stats(NamedTuple):
    mean: float
    count: int


@dsl.component
def stats(numbers: list) -> Stats:
    from statistics import mean

    # Components are self-contained: the module's Stats class is not there at run time.
    return (mean(numbers), len(numbers))


def test_named_tuple_outputs(tmp_path):
    ran = execute(tmp_path, stats, {"numbers": value([1, 2, 3, 4])})
    assert ran.code == 0, ran.stderr
    assert ran.result.values == {"mean": 2.5, "count": 4}


@dsl.component
def train(data: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model], metrics: dsl.Output[dsl.Metrics], scale: float = 2.0):
    from pathlib import Path

    rows = [float(line) for line in Path(data.path).read_text().split()]
    with open(model.path, "w") as handle:
        handle.write(str(sum(rows) * scale))
    model.metadata["framework"] = "sum"
    metrics.log_metric("rows", len(rows))  # and no file: metrics live in metadata


def test_artifacts_are_fetched_and_published_with_digests_and_metadata(tmp_path):
    source = tmp_path / "incoming" / "numbers.txt"
    source.parent.mkdir()
    source.write_text("1\n2\n3\n")
    ran = execute(tmp_path, train, {"data": InputBinding(artifacts=(ArtifactRef(uri=source.as_uri(), type="Dataset"),))})
    assert ran.code == 0, ran.stderr
    model = ran.result.artifacts["model"]
    assert model.uri == f"{ran.spec.output_root}/model" and model.type == "Model" and model.metadata == {"framework": "sum"}
    assert Path(model.uri.removeprefix("file://")).read_text() == "12.0"
    assert model.digest.startswith("sha256:") and len(model.digest) == 71
    metrics = ran.result.artifacts["metrics"]
    assert metrics.metadata == {"rows": 3}
    assert Path(metrics.uri.removeprefix("file://")).read_text() == '{"rows": 3}'  # written for it


@dsl.component
def shout(text_path: dsl.InputPath(str), loud_path: dsl.OutputPath(str), length_path: dsl.OutputPath(int)):
    from pathlib import Path

    text = Path(text_path).read_text()
    Path(loud_path).write_text(text.upper() + "\n")
    Path(length_path).write_text(str(len(text)))


def test_values_pass_through_files_one_trailing_newline_dropped(tmp_path):
    ran = execute(tmp_path, shout, {"text_path": value("hello")})
    assert ran.code == 0, ran.stderr
    assert ran.result.values == {"loud_path": "HELLO", "length_path": 5}


@dsl.component
def explode(numbers: list) -> int:
    total = 0
    for number in numbers:
        total += 100 / number
    return int(total)


def test_a_failing_component_exits_1_with_its_own_traceback(tmp_path):
    ran = execute(tmp_path, explode, {"numbers": value([1, 0])})
    assert ran.code == 1
    assert not ran.result.succeeded and ran.result.error.kind == "user_code"
    assert ran.result.error.message == "explode() raised ZeroDivisionError: division by zero"
    assert '<component explode>", line 4, in explode' in ran.result.error.traceback
    assert "total += 100 / number" in ran.result.error.traceback
    assert "sluiceway/executor" not in ran.result.error.traceback
    assert ran.stderr.strip().endswith("sluiceway: task 'task' attempt 1 failed: explode() raised ZeroDivisionError: division by zero")


@dsl.component
def forgetful(out: dsl.OutputPath(str)):
    pass


@dsl.component
def liar() -> int:
    return "not a number"


def test_broken_output_contracts_exit_3(tmp_path):
    missing = execute(tmp_path, forgetful, task="forgetful")
    assert missing.code == 3 and missing.result.error.kind == "outputs"
    assert "task 'forgetful' did not write its output 'out'" in missing.result.error.message
    wrong = execute(tmp_path, liar, task="liar")
    assert wrong.code == 3 and "output 'Output' must be int, got str 'not a number'" in wrong.result.error.message


@dsl.component
def big(size: int) -> str:
    return "x" * size


@dsl.component
def measure(text: str) -> int:
    return len(text)


def test_large_values_travel_through_the_artifact_store(tmp_path):
    produced = execute(tmp_path, big, {"size": value(MAX_VALUE_BYTES + 1)}, task="big")
    assert produced.code == 0, produced.stderr
    assert produced.result.values == {}
    uri = produced.result.spilled_values["Output"]
    assert uri == f"{produced.spec.output_root}/Output.value.json"
    assert (tmp_path / "values" / "big" / "Output.uri").read_text() == uri
    consumed = execute(tmp_path, measure, {"text": InputBinding(value_uri=uri)}, task="measure")
    assert consumed.code == 0, consumed.stderr
    assert consumed.result.values == {"Output": MAX_VALUE_BYTES + 1}
    small = execute(tmp_path, big, {"size": value(10)}, task="small")
    assert small.result.values == {"Output": "x" * 10} and small.result.spilled_values == {}


@dsl.container_component
def greet(name: str, shout_it: bool, greeting: dsl.OutputPath(str)):
    return dsl.ContainerSpec(
        image="alpine:3.20",
        command=["sh", "-c"],
        args=[f'mkdir -p "$(dirname {greeting})" && echo "hello {name} $0" > {greeting}', shout_it],
    )


def test_a_container_command_runs_with_placeholders_filled(tmp_path):
    ran = execute(tmp_path, greet, {"name": value("ada"), "shout_it": value(True)})
    assert ran.code == 0, ran.stderr
    assert ran.result.values == {"greeting": "hello ada true"}


FAILING_COMMAND = """
name: Fail
inputs:
- {name: Code, type: Integer}
- {name: Note, type: String, optional: true}
implementation:
  container:
    image: alpine
    command: [sh, -c, 'echo "$@" >&2; exit $0', {inputValue: Code}, {if: {cond: {isPresent: Note}, then: [--note, {inputValue: Note}]}}]
"""


def test_a_failing_command_exits_1_and_if_present_expands_only_when_given(tmp_path):
    failing = components.load_component_from_text(FAILING_COMMAND).component_spec
    plain = execute(tmp_path, failing, {"code": value(7)}, task="plain")
    assert plain.code == 1 and plain.result.error.message == "the command 'sh' exited with status 7"
    assert "--note" not in plain.stderr
    noted = execute(tmp_path, failing, {"code": value(3), "note": value("why")}, task="noted")
    assert noted.code == 1 and "--note why" in noted.stderr


@dsl.component
def report(status: dsl.PipelineTaskFinalStatus) -> str:
    return f"{status.pipeline_task_name}: {status.state} ({status.error_message})"


def test_an_exit_task_receives_the_final_status(tmp_path):
    status = FinalStatus(
        state="FAILED", pipeline_job_resource_name="run-1", pipeline_task_name="guarded", error_code=1, error_message="boom"
    )
    ran = execute(tmp_path, report, final_status=status)
    assert ran.code == 0, ran.stderr
    assert ran.result.values == {"Output": "guarded: FAILED (boom)"}


@dsl.component
def concatenate(parts: dsl.Input[list[dsl.Dataset]]) -> str:
    from pathlib import Path

    return "".join(Path(part.path).read_text() for part in parts)


def test_a_collected_list_of_artifacts_is_staged_in_order(tmp_path):
    refs = []
    for index, text in enumerate(["a", "b", "c"]):
        path = tmp_path / "parts" / str(index) / "part"
        path.parent.mkdir(parents=True)
        path.write_text(text)
        refs.append(ArtifactRef(uri=path.as_uri(), type="Dataset"))
    ran = execute(tmp_path, concatenate, {"parts": InputBinding(artifacts=tuple(refs))})
    assert ran.code == 0, ran.stderr
    assert ran.result.values == {"Output": "abc"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "required input 'a' of task 'task' is not bound"),
        ({"a": value("five")}, "input 'a' must be int, got str 'five'"),
        ({"a": value(1), "c": value(2)}, "task 'task' is given inputs its component does not have: c"),
    ],
)
def test_an_unusable_spec_exits_2(tmp_path, inputs, message):
    ran = execute(tmp_path, add, inputs)
    assert ran.code == 2 and ran.result.error.kind == "spec" and ran.result.error.message == message


def test_an_unreadable_spec_file_exits_2_without_a_traceback(tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    completed = subprocess.run([sys.executable, "-m", "sluiceway.executor", str(garbage)], capture_output=True, text=True)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert completed.stderr.startswith(f"sluiceway executor: cannot read the task spec {garbage}:")


def test_it_compiles_from_a_real_pipeline(tmp_path):
    """The component stored by the compiler is what the executor runs."""

    @dsl.pipeline(name="one")
    def one():
        add(a=1)

    component = compiler.compile_pipeline(one).components["add"]
    ran = execute(tmp_path, component, {"a": value(1)})
    assert ran.code == 0 and ran.result.values == {"Output": 11}
