"""The DSL builds the IR a KFP v2 user expects, and says clearly what is wrong when it cannot."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

import pytest

from sluiceway import compiler, components, dsl
from sluiceway.core import DefinitionError, ir, load


def compile_ir(pipeline_func) -> ir.Pipeline:
    return compiler.compile_pipeline(pipeline_func)


def node(pipeline: ir.Pipeline, name: str) -> ir.Node:
    """Find a node by name anywhere in the graph."""

    def walk(nodes):
        for candidate in nodes:
            if candidate.name == name:
                return candidate
            if isinstance(candidate, ir.ExitHandler) and candidate.exit_task.name == name:
                return candidate.exit_task
            children = (
                [n for b in candidate.branches for n in b.nodes] if isinstance(candidate, ir.Condition) else getattr(candidate, "nodes", ())
            )
            found = walk(children)
            if found is not None:
                return found
        return None

    found = walk(pipeline.nodes)
    assert found is not None, f"no node {name}"
    return found


@dsl.component
def produce() -> int:
    return 1


@dsl.component
def consume(number: int) -> str:
    return str(number)


class Split(NamedTuple):
    low: int
    high: float


@dsl.component(base_image="python:3.12-slim", packages_to_install=["numpy==2.1.0"])
def split(value: int) -> Split:
    return Split(value, value * 1.5)


@dsl.component
def train(
    data: dsl.Input[dsl.Dataset],
    rows: dsl.InputPath("CSV"),
    model: dsl.Output[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    report_path: dsl.OutputPath(str),
    epochs: int = 3,
):
    pass


# --- Components ------------------------------------------------------------------------------------


def test_decorating_describes_nothing_until_the_component_is_used():
    @dsl.component
    def odd(value: complex) -> int:  # unsupported annotation, noticed only when used
        return 1

    @dsl.pipeline(name="uses-odd")
    def uses_odd():
        odd(value=1)

    with pytest.raises(DefinitionError) as caught:
        compile_ir(uses_odd)
    assert "test_dsl.py:" in str(caught.value) and "parameter 'value': unsupported type annotation" in str(caught.value)


def test_inputs_and_outputs_map_to_typed_ir_specs():
    @dsl.pipeline(name="typed")
    def typed():
        train(
            data=dsl.importer(artifact_uri="file:///d.csv", artifact_class=dsl.Dataset).output,
            rows=dsl.importer(artifact_uri="file:///r.csv").output,
        )

    component = compile_ir(typed).components["train"]
    assert [(i.name, i.type, i.as_path, i.required) for i in component.inputs] == [
        ("data", "Dataset", False, True),
        ("rows", "Artifact", True, True),
        ("epochs", "int", False, False),
    ]
    assert [(o.name, o.type, o.as_path) for o in component.outputs] == [
        ("model", "Model", False),
        ("metrics", "Metrics", False),
        ("report_path", "str", True),
    ]


def test_named_tuple_returns_are_outputs_and_options_are_kept():
    @dsl.pipeline(name="tuples")
    def tuples():
        parts = split(value=produce().output)
        consume(number=parts.outputs["low"])

    pipeline = compile_ir(tuples)
    component = pipeline.components["split"]
    implementation = component.implementation
    assert isinstance(implementation, ir.PythonFunction)
    assert [(o.name, o.type) for o in component.outputs] == [("low", "int"), ("high", "float")]
    assert implementation.returns == ("low", "high") and implementation.returns_named_tuple
    assert implementation.base_image == "python:3.12-slim" and implementation.packages_to_install == ("numpy==2.1.0",)
    assert implementation.source.startswith("def split(value: int) -> Split:\n")
    assert node(pipeline, "consume").arguments["number"] == ir.OutputRef(task="split", output="low")


def test_output_of_a_multi_output_task_says_which_to_pick():
    @dsl.pipeline(name="ambiguous")
    def ambiguous():
        consume(number=split(value=1).output)

    with pytest.raises(DefinitionError) as caught:
        compile_ir(ambiguous)
    assert "task 'split' has 2 outputs (low, high); use task.outputs['<name>']" in str(caught.value)


def test_unknown_output_name_lists_the_outputs():
    @dsl.pipeline(name="typo")
    def typo():
        consume(number=split(value=1).outputs["lo"])

    with pytest.raises(DefinitionError, match=r"task 'split' has no output 'lo' \(outputs: low, high\)"):
        compile_ir(typo)


def test_calling_a_component_outside_a_pipeline_is_explained():
    with pytest.raises(DefinitionError, match=r"can only be used inside a @dsl\.pipeline function"):
        produce()


def test_branching_on_a_runtime_value_with_python_if_is_explained():
    @dsl.pipeline(name="python-if")
    def python_if():
        if produce().output == 1:
            consume(number=1)

    with pytest.raises(DefinitionError, match=r"pass it to dsl.If"):
        compile_ir(python_if)


def test_the_same_component_is_stored_once_and_tasks_get_unique_names():
    @dsl.pipeline(name="twice")
    def twice():
        consume(number=produce().output)
        consume(number=produce().output)

    pipeline = compile_ir(twice)
    assert sorted(pipeline.components) == ["consume", "produce"]
    assert [n.name for n in pipeline.nodes] == ["produce", "consume", "produce-2", "consume-2"]


def test_two_different_components_with_one_name_both_survive():
    def make(value):
        @dsl.component
        def constant() -> int:
            return 1

        return constant

    first, second = make(1), make(2)
    second.python_func.__doc__ = "A different description."

    @dsl.pipeline(name="clash")
    def clash():
        first()
        second()

    pipeline = compile_ir(clash)
    assert sorted(pipeline.components) == ["constant", "constant-2"]
    assert [n.component for n in pipeline.nodes] == ["constant", "constant-2"]


# --- Task settings ---------------------------------------------------------------------------------


def test_task_settings_reach_the_ir():
    @dsl.pipeline(name="settings")
    def settings():
        (
            produce()
            .set_display_name("Produce a number")
            .set_retry(3, backoff_duration="10s", backoff_factor=3, backoff_max_duration="5m")
            .set_timeout("1h")
            .set_caching_options(True, max_staleness="2d")
            .set_cpu_request("500m")
            .set_cpu_limit("2")
            .set_memory_request("1Gi")
            .set_memory_limit("4Gi")
            .set_accelerator_type("nvidia.com/gpu")
            .set_accelerator_limit(1)
            .set_env_variable("MODE", "fast")
            .use_secret_as_env("db-credentials", {"password": "DB_PASSWORD"})
            .use_secret_as_volume("tls", "/etc/tls")
            .add_node_selector("pool", "gpu")
        )

    task = node(compile_ir(settings), "produce")
    assert isinstance(task, ir.Task)
    assert task.settings == ir.TaskSettings(
        display_name="Produce a number",
        retry=ir.RetryPolicy(max_retries=3, backoff_seconds=10.0, backoff_factor=3.0, backoff_max_seconds=300.0),
        timeout_seconds=3600.0,
        caching=ir.CachingPolicy(enabled=True, max_staleness_seconds=172800),
        resources=ir.Resources(
            cpu_request="500m",
            cpu_limit="2",
            memory_request="1Gi",
            memory_limit="4Gi",
            accelerator_type="nvidia.com/gpu",
            accelerator_count=1,
        ),
        env={"MODE": "fast"},
        secrets=(ir.SecretRef(secret="db-credentials", env={"DB_PASSWORD": "password"}), ir.SecretRef(secret="tls", mount_path="/etc/tls")),
        node_selector={"pool": "gpu"},
    )


def test_after_and_caching_off():
    @dsl.pipeline(name="ordered")
    def ordered():
        first = produce()
        consume(number=2).after(first).set_caching_options(enable_caching=False)

    task = node(compile_ir(ordered), "consume")
    assert task.after == ("produce",) and task.settings.caching.enabled is False


def test_a_malformed_duration_is_reported_where_it_was_written():
    @dsl.pipeline(name="durations")
    def durations():
        produce().set_timeout("ten minutes")

    with pytest.raises(DefinitionError, match=r"test_dsl.py:\d+: set_timeout: 'ten minutes' is not a duration"):
        compile_ir(durations)


# --- Control flow ----------------------------------------------------------------------------------


def test_if_elif_else_become_one_condition_with_three_branches():
    @dsl.pipeline(name="branches")
    def branches():
        number = produce()
        with dsl.If(number.output > 5, name="big"):
            consume(number=1)
        with dsl.Elif(number.output == 5):
            consume(number=2)
        with dsl.Else():
            consume(number=3)
        with dsl.Condition(number.output != 0):
            consume(number=4)

    pipeline = compile_ir(branches)
    condition = pipeline.nodes[1]
    assert isinstance(condition, ir.Condition) and condition.name == "big"
    assert [b.when.op if b.when else None for b in condition.branches] == [">", "==", None]
    assert [b.nodes[0].arguments["number"] for b in condition.branches] == [ir.Constant(value=v) for v in (1, 2, 3)]
    assert isinstance(pipeline.nodes[2], ir.Condition) and pipeline.nodes[2].branches[0].when.op == "!="


def test_else_without_if_is_rejected_where_it_stands():
    @dsl.pipeline(name="lonely")
    def lonely():
        produce()
        with dsl.Else():
            consume(number=1)

    with pytest.raises(DefinitionError, match=r"test_dsl.py:\d+: dsl.Else must directly follow a dsl.If or dsl.Elif block"):
        compile_ir(lonely)


def test_parallel_for_over_literals_parameters_and_outputs():
    @dsl.component
    def numbers() -> list:
        return [1, 2]

    @dsl.component
    def total(values: list) -> int:
        return sum(values)

    @dsl.pipeline(name="loops")
    def loops(sizes: list = [1, 2]):  # noqa: B006
        with dsl.ParallelFor([{"n": 1}, {"n": 2}], parallelism=1) as item:
            consume(number=item.n)
        with dsl.ParallelFor(sizes) as size:
            consume(number=size)
        with dsl.ParallelFor(numbers().output, parallelism=4) as value:
            squared = consume(number=value)
        total(values=dsl.Collected(squared.output))

    pipeline = compile_ir(loops)
    literal, over_parameter, over_output = (n for n in pipeline.nodes if isinstance(n, ir.Loop))
    assert literal.parallelism == 1 and literal.nodes[0].arguments["number"] == ir.LoopItemRef(loop="for-loop", key="n")
    assert over_parameter.items == ir.ParameterRef(name="sizes")
    assert over_output.items == ir.OutputRef(task="numbers", output="Output") and over_output.parallelism == 4
    assert node(pipeline, "total").arguments["values"] == ir.CollectedRef(task="consume-3", output="Output")


def test_collected_into_a_wrong_type_is_a_type_error():
    @dsl.pipeline(name="collect")
    def collect():
        with dsl.ParallelFor([1, 2]) as item:
            inner = consume(number=item)
        consume(number=dsl.Collected(inner.output))

    with pytest.raises(Exception, match="expects an int, but is given a list"):
        compile_ir(collect)


def test_exit_handler_takes_the_exit_task_and_binds_the_final_status():
    @dsl.component
    def notify(status: dsl.PipelineTaskFinalStatus, channel: str):
        print(channel, status.state)

    @dsl.pipeline(name="guarded")
    def guarded():
        exit_task = notify(channel="#ml")
        with dsl.ExitHandler(exit_task, name="cleanup"):
            consume(number=produce().output)

    pipeline = compile_ir(guarded)
    (handler,) = pipeline.nodes
    assert isinstance(handler, ir.ExitHandler) and handler.name == "cleanup"
    assert handler.exit_task.arguments == {"channel": ir.Constant(value="#ml"), "status": ir.TaskFinalStatusRef()}
    assert [n.name for n in handler.nodes] == ["produce", "consume"]
    assert [i.name for i in pipeline.components["notify"].inputs] == ["status", "channel"]


def test_nested_pipelines_become_graph_components():
    @dsl.pipeline(name="inner")
    def inner(seed: int) -> str:
        return consume(number=seed).output

    @dsl.component
    def shout(text: str) -> str:
        return text.upper()

    @dsl.pipeline(name="outer")
    def outer():
        nested = inner(seed=produce().output)
        shout(text=nested.output)

    pipeline = compile_ir(outer)
    component = pipeline.components["inner"]
    assert isinstance(component.implementation, ir.Graph)
    assert component.implementation.outputs == {"Output": ir.OutputRef(task="consume", output="Output")}
    assert [(o.name, o.type) for o in component.outputs] == [("Output", "str")]
    assert "consume" in pipeline.components  # the inner pipeline's components share the table


def test_a_nested_pipeline_must_return_what_it_declares():
    @dsl.pipeline(name="liar")
    def liar(seed: int) -> int:
        return consume(number=seed).output

    @dsl.pipeline(name="outer")
    def outer():
        liar(seed=1)

    with pytest.raises(
        Exception, match=r"pipeline 'outer', component 'liar', field 'outputs': output 'Output' is declared as an int but is bound to a str"
    ):
        compile_ir(outer)


def test_importer_output_is_typed_by_its_artifact_class():
    @dsl.component
    def count_rows(data: dsl.Input[dsl.Dataset]) -> int:
        return len(open(data.path).readlines())

    @dsl.pipeline(name="imports")
    def imports(uri: str = "file:///tmp/rows.csv"):
        rows = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset, reimport=True, metadata={"source": "crm"})
        count_rows(data=rows.output)

    importer = compile_ir(imports).nodes[0]
    assert importer == ir.Importer(
        name="importer",
        uri=ir.ParameterRef(name="uri"),
        artifact_type="Dataset",
        metadata={"source": "crm"},
        reimport=True,
        source=importer.source,
    )


def test_builds_in_threads_do_not_see_each_other():
    results: dict[int, ir.Pipeline] = {}
    barrier = threading.Barrier(4)

    def build(index: int) -> None:
        @dsl.pipeline(name=f"thread-{index}")
        def threaded():
            for _ in range(index + 1):
                barrier.wait() if index < 4 and _ == 0 else None
                produce()

        results[index] = compile_ir(threaded)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {i: len(p.nodes) for i, p in results.items()} == {0: 1, 1: 2, 2: 3, 3: 4}


# --- Container components ------------------------------------------------------------------------


@dsl.container_component
def say(text: str, times: int, words: dsl.Output[dsl.Artifact], summary: dsl.OutputPath(str)):
    return dsl.ContainerSpec(
        image="alpine:3.20",
        command=["sh", "-c"],
        args=[f"for i in $(seq {times}); do echo {text}; done > {words.path} && echo done > {summary}", text],
    )


def test_container_component_placeholders_from_f_strings():
    @dsl.pipeline(name="talk")
    def talk():
        say(text="hi", times=2)

    implementation = compile_ir(talk).components["say"].implementation
    assert isinstance(implementation, ir.Container)
    assert implementation.command == ("sh", "-c")
    assert implementation.args == (
        ir.ConcatPlaceholder(
            items=(
                "for i in $(seq ",
                ir.InputValuePlaceholder(input="times"),
                "); do echo ",
                ir.InputValuePlaceholder(input="text"),
                "; done > ",
                ir.OutputPathPlaceholder(output="words"),
                " && echo done > ",
                ir.OutputPathPlaceholder(output="summary"),
            )
        ),
        ir.InputValuePlaceholder(input="text"),
    )


# --- Components from YAML and KFP v1 helpers -------------------------------------------------------

V1_COMPONENT = """
name: Get Lines
description: Gets the specified number of lines from the input file.
inputs:
- {name: Input 1, type: String, description: Data for input_1}
- {name: Parameter 1, type: Integer, default: '100'}
- {name: Header, type: String, optional: true}
outputs:
- {name: Output 1, type: String}
implementation:
  container:
    image: gcr.io/my-org/get-lines:1.0
    command: [python3, /src/program.py, --input1-path, {inputPath: Input 1}, --param1, {inputValue: Parameter 1},
              --output1-path, {outputPath: Output 1}, {if: {cond: {isPresent: Header}, then: [--header, {inputValue: Header}]}}]
"""


def test_kfp_v1_component_yaml_loads_with_pythonic_names():
    get_lines = components.load_component_from_text(V1_COMPONENT)

    @dsl.pipeline(name="lines")
    def lines():
        get_lines(input_1="one\ntwo", parameter_1=5)

    pipeline = compile_ir(lines)
    component = pipeline.components["get-lines"]
    assert [(i.name, i.type, i.default) for i in component.inputs] == [
        ("input_1", "str", component.inputs[0].default),
        ("parameter_1", "int", 100),
        ("header", "str", None),
    ]
    assert component.inputs[0].required
    implementation = component.implementation
    assert isinstance(implementation, ir.Container)
    assert implementation.command[3] == ir.InputPathPlaceholder(input="input_1")
    assert implementation.command[-1] == ir.IfPresentPlaceholder(
        input="header", then=("--header", ir.InputValuePlaceholder(input="header"))
    )


def test_component_files_load_and_bad_ones_are_named(tmp_path: Path):
    good = tmp_path / "get_lines.yaml"
    good.write_text(V1_COMPONENT)
    assert components.load_component_from_file(str(good)).component_spec.name == "get-lines"
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nimplementation: {container: {command: [echo]}}\n")
    with pytest.raises(DefinitionError, match=r"broken.yaml: implementation.container has no image"):
        components.load_component_from_file(str(broken)).component_spec  # noqa: B018


def test_a_compiled_component_file_loads_back(tmp_path: Path):
    path = tmp_path / "consume.yaml"
    compiler.Compiler().compile(consume, str(path))
    loaded = components.load_component_from_file(str(path))
    assert loaded.component_spec == consume.component_spec


def repeat_line(line: str, output_text_path: components.OutputPath(str), count: int = 10):
    """Repeat the line specified number of times"""
    with open(output_text_path, "w") as writer:
        for _ in range(count):
            writer.write(line + "\n")


def print_text(text_path: components.InputPath()):
    """Print text"""
    with open(text_path) as reader:
        for line in reader:
            print(line, end="")


def test_kfp_v1_function_components_strip_path_suffixes(tmp_path: Path):
    repeat_line_op = components.func_to_container_op(repeat_line)
    print_text_op = components.func_to_container_op(print_text, output_component_file=str(tmp_path / "print_text.yaml"))

    def print_repeating_lines_pipeline():
        repeat_lines_task = repeat_line_op(line="Hello", count=5000)
        print_text_op(repeat_lines_task.output)  # positional, as in KFP v1

    out = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(print_repeating_lines_pipeline, str(out))
    pipeline = load(out)
    assert pipeline.name == "print-repeating-lines-pipeline"
    assert [o.name for o in pipeline.components["repeat-line"].outputs] == ["output_text"]
    assert pipeline.components["repeat-line"].implementation.parameter_names == {"output_text": "output_text_path"}
    assert pipeline.nodes[1].arguments == {"text": ir.OutputRef(task="repeat-line", output="output_text")}
    assert (tmp_path / "print_text.yaml").exists()


def test_free_text_pipeline_names_become_valid_names_and_stay_for_display():
    @dsl.pipeline(name="Two step pipeline", description="KFP v1 style")
    def two_step():
        produce()

    pipeline = compile_ir(two_step)
    assert (pipeline.name, pipeline.display_name, pipeline.description) == ("two-step-pipeline", "Two step pipeline", "KFP v1 style")


def test_pipeline_parameter_overrides_and_name_override():
    @dsl.pipeline(name="params")
    def params(count: int = 1, label: str = "x"):
        consume(number=count)

    pipeline = compiler.compile_pipeline(params, pipeline_name="renamed", pipeline_parameters={"count": 7})
    assert pipeline.name == "renamed"
    assert [(p.name, p.type, p.default) for p in pipeline.parameters] == [("count", "int", 7), ("label", "str", "x")]


def test_a_generic_artifact_fits_a_specific_input_and_the_reverse():
    @dsl.component
    def anything(out: dsl.Output[dsl.Artifact]):
        pass

    @dsl.component
    def dataset_in(data: dsl.Input[dsl.Dataset]):
        pass

    @dsl.component
    def model_out(model: dsl.Output[dsl.Model]):
        pass

    @dsl.component
    def artifact_in(data: dsl.Input[dsl.Artifact]):
        pass

    @dsl.pipeline(name="loose")
    def loose():
        dataset_in(data=anything().output)
        artifact_in(data=model_out().output)

    @dsl.pipeline(name="strict")
    def strict():
        dataset_in(data=model_out().output)

    assert compile_ir(loose).name == "loose"
    with pytest.raises(Exception, match="expects a Dataset, but is given a Model"):
        compile_ir(strict)


@pytest.mark.parametrize(
    ("given", "expected"), [("P30D", 2592000), ("PT1H30M", 5400), ("P1W", 604800), ("PT0.5S", 0), (90, 90), ("2h", 7200)]
)
def test_staleness_takes_iso_8601_and_short_durations(given, expected):
    @dsl.pipeline(name="stale")
    def stale():
        produce().set_caching_options(True, max_staleness=given)

    assert node(compile_ir(stale), "produce").settings.caching.max_staleness_seconds == expected


def test_indexing_a_single_output_suggests_named_outputs():
    @dsl.pipeline(name="indexing")
    def indexing():
        consume(number=produce().output["x"])

    with pytest.raises(
        DefinitionError, match=r"output 'Output' of task 'produce' is one value and cannot be indexed with 'x'; .* NamedTuple"
    ):
        compile_ir(indexing)


def test_node_selector_takes_kfp_kubernetes_keywords():
    @dsl.pipeline(name="selector")
    def selector():
        produce().add_node_selector(label_key="pool", label_value="gpu")

    assert node(compile_ir(selector), "produce").settings.node_selector == {"pool": "gpu"}


def test_python_if_on_a_comparison_names_the_line():
    @dsl.pipeline(name="python-if")
    def python_if():
        if produce().output > 1:  # @python-if
            consume(number=1)

    with pytest.raises(DefinitionError, match=r"test_dsl.py:\d+: a comparison of pipeline values is decided at run time"):
        compile_ir(python_if)


def test_an_importer_task_can_be_passed_directly():
    @dsl.component
    def size(data: dsl.Input[dsl.Dataset]) -> int:
        return 0

    @dsl.pipeline(name="direct")
    def direct():
        size(data=dsl.importer(artifact_uri="file:///x.csv", artifact_class=dsl.Dataset))

    assert node(compile_ir(direct), "size").arguments["data"] == ir.OutputRef(task="importer", output="artifact")


def test_structured_kfp_v1_types_load_as_untyped():
    loaded = components.load_component_from_text(
        "name: Upload\ninputs:\n- {name: Path, type: {GCSPath: {data_type: CSV}}}\nimplementation:\n  container: {image: alpine, command: [echo, {inputValue: Path}]}\n"
    )
    assert [(i.name, i.type) for i in loaded.component_spec.inputs] == [("path", "Any")]


def test_component_files_carry_their_kind_and_may_be_json(tmp_path: Path):
    for name in ("consume.yaml", "consume.json"):
        path = tmp_path / name
        compiler.Compiler().compile(consume, str(path))
        assert "apiVersion" in path.read_text() and "Component" in path.read_text()
        assert components.load_component_from_file(str(path)).component_spec == consume.component_spec
    assert (tmp_path / "consume.json").read_text().startswith("{")


def test_pipeline_name_given_to_the_compiler_is_made_valid_too():
    @dsl.pipeline
    def sum_numbers(a: int = 1):
        consume(number=a)

    plain = compile_ir(sum_numbers)
    assert (plain.name, plain.display_name) == ("sum-numbers", None)
    renamed = compiler.compile_pipeline(sum_numbers, pipeline_name="My greetings")
    assert (renamed.name, renamed.display_name) == ("my-greetings", "My greetings")


def test_unannotated_parameters_are_untyped_in_pipelines_and_components():
    @dsl.component
    def echo(x, y=2):
        print(x, y)

    @dsl.pipeline
    def loose(x, y=2):
        echo(x=x, y=y)

    pipeline = compile_ir(loose)
    assert [(p.name, p.type) for p in pipeline.parameters] == [("x", "Any"), ("y", "Any")]
    assert [(i.name, i.type) for i in pipeline.components["echo"].inputs] == [("x", "Any"), ("y", "Any")]


def test_yaml_inputs_read_from_files_are_marked_as_paths():
    component = components.load_component_from_text(V1_COMPONENT).component_spec
    assert {i.name: i.as_path for i in component.inputs} == {"input_1": True, "parameter_1": False, "header": False}
    assert [o.as_path for o in component.outputs] == [True]


@pytest.mark.parametrize(
    ("vendor", "resource"), [("nvidia", "nvidia.com/gpu"), ("amd", "amd.com/gpu"), ("example.com/tpu", "example.com/tpu")]
)
def test_kfp_v1_gpu_limit_vendors(vendor, resource):
    @dsl.pipeline(name="gpu")
    def gpu():
        produce().set_gpu_limit(2, vendor=vendor)

    resources = node(compile_ir(gpu), "produce").settings.resources
    assert (resources.accelerator_type, resources.accelerator_count) == (resource, 2)


def test_elif_and_else_accept_names_as_kfp_does():
    @dsl.pipeline(name="named-branches")
    def named_branches():
        number = produce()
        with dsl.If(number.output > 1, name="big"):
            consume(number=1)
        with dsl.Elif(number.output > 0, name="small"):
            consume(number=2)
        with dsl.Else(name="other"):
            consume(number=3)

    (_, condition) = compile_ir(named_branches).nodes
    assert condition.name == "big" and len(condition.branches) == 3
