"""Validation rejects broken pipelines, naming the pipeline, task, field and source line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluiceway import compiler, dsl
from sluiceway.core import PipelineValidationError, loads
from sluiceway.core.validation import find_problems

THIS_FILE = Path(__file__)


def line_of(marker: str) -> str:
    """'test_validation.py:N' for the line carrying the comment `# @marker`."""
    for number, text in enumerate(THIS_FILE.read_text().splitlines(), start=1):
        if text.rstrip().endswith(f"# @{marker}"):
            return f"{THIS_FILE.name}:{number}"
    raise AssertionError(f"marker {marker} not found")


def problems_of(pipeline_func) -> list[str]:
    with pytest.raises(PipelineValidationError) as caught:
        compiler.compile_pipeline(pipeline_func)
    return [str(problem) for problem in caught.value.problems]


@dsl.component
def make_number() -> int:
    return 1


@dsl.component
def make_text() -> str:
    return "a"


@dsl.component
def add(a: int, b: int = 0) -> int:
    return a + b


@dsl.component
def read_dataset(data: dsl.Input[dsl.Dataset]) -> str:
    return data.path


@dsl.component
def train(model: dsl.Output[dsl.Model]):
    pass


@dsl.component
def shout(text: str) -> str:
    return text.upper()


def test_int_into_dataset_is_rejected_with_its_location():
    @dsl.pipeline(name="typed")
    def typed():
        number = make_number()
        read_dataset(data=number.output)  # @int-into-dataset

    (problem,) = problems_of(typed)
    assert line_of("int-into-dataset") in problem
    assert "pipeline 'typed'" in problem
    assert "task 'read-dataset'" in problem
    assert "field 'arguments.data'" in problem
    assert "expects a Dataset, but is given an int (output 'Output' of task 'make-number')" in problem


def test_model_into_str_is_rejected():
    @dsl.pipeline(name="typed")
    def typed():
        trained = train()
        shout(text=trained.outputs["model"])  # @model-into-str

    (problem,) = problems_of(typed)
    assert line_of("model-into-str") in problem
    assert "expects a str, but is given a Model" in problem


def test_constant_of_the_wrong_type_is_rejected():
    @dsl.pipeline(name="typed")
    def typed():
        add(a="three")  # @str-constant

    (problem,) = problems_of(typed)
    assert line_of("str-constant") in problem and "expects an int, but is given a str (constant 'three')" in problem


def test_an_int_is_accepted_where_a_float_is_expected():
    @dsl.component
    def half(x: float) -> float:
        return x / 2

    @dsl.pipeline(name="widening")
    def widening():
        half(x=make_number().output)

    assert compiler.compile_pipeline(widening).name == "widening"


def test_missing_required_input_is_rejected():
    @dsl.pipeline(name="missing")
    def missing():
        add(b=2)  # @missing-input

    (problem,) = problems_of(missing)
    assert line_of("missing-input") in problem
    assert "missing required input 'a' of component 'add'" in problem and "field 'arguments.a'" in problem


def test_unknown_input_is_rejected_and_lists_the_inputs_there_are():
    @dsl.pipeline(name="unknown")
    def unknown():
        add(a=1, c=2)  # @unknown-input

    (problem,) = problems_of(unknown)
    assert line_of("unknown-input") in problem
    assert "component 'add' has no input 'c' (inputs: a, b)" in problem


def test_a_cycle_through_after_is_rejected():
    @dsl.pipeline(name="cyclic")
    def cyclic():
        first = make_number()
        second = add(a=first.output)
        first.after(second)

    (problem,) = problems_of(cyclic)
    assert "dependency cycle: " in problem
    assert "make-number -> add -> make-number" in problem or "add -> make-number -> add" in problem


def test_a_task_depending_on_itself_is_rejected():
    @dsl.pipeline(name="selfish")
    def selfish():
        task = make_number()
        task.after(task)

    (problem,) = problems_of(selfish)
    assert "'make-number' depends on itself" in problem


def test_parallel_for_over_a_constant_that_is_not_a_list():
    @dsl.pipeline(name="loop")
    def loop():
        with dsl.ParallelFor(5):  # @loop-over-int
            make_number()

    (problem,) = problems_of(loop)
    assert line_of("loop-over-int") in problem and "ParallelFor needs a list, got int 5" in problem


def test_parallel_for_over_a_str_parameter_or_output():
    @dsl.pipeline(name="loop")
    def loop(names: str = "a,b"):
        with dsl.ParallelFor(names):  # @loop-over-param
            make_number()
        with dsl.ParallelFor(make_text().output):  # @loop-over-output
            make_number()

    found = problems_of(loop)
    assert len(found) == 2
    assert line_of("loop-over-param") in found[0] and "ParallelFor needs a list, got a str" in found[0]
    assert line_of("loop-over-output") in found[1] and "ParallelFor needs a list, got a str" in found[1]


def test_using_a_loop_task_output_outside_the_loop_needs_collected():
    @dsl.pipeline(name="leak")
    def leak():
        with dsl.ParallelFor([1, 2]) as item:
            inner = add(a=item)
        add(a=inner.output)  # @leak

    (problem,) = problems_of(leak)
    assert line_of("leak") in problem and "use dsl.Collected" in problem


def test_using_a_conditional_task_output_outside_the_branch_is_rejected():
    @dsl.pipeline(name="leak")
    def leak():
        number = make_number()
        with dsl.If(number.output > 0):
            inner = add(a=number.output)
        add(a=inner.output)  # @cond-leak

    (problem,) = problems_of(leak)
    assert line_of("cond-leak") in problem and "runs only under condition 'condition'" in problem


def test_final_status_outside_an_exit_handler_is_rejected():
    @dsl.component
    def report(status: dsl.PipelineTaskFinalStatus):
        print(status.state)

    @dsl.pipeline(name="status")
    def status():
        report()  # @status

    (problem,) = problems_of(status)
    assert line_of("status") in problem and "only an ExitHandler's exit task can take the final status" in problem


def test_comparing_an_artifact_is_rejected():
    @dsl.pipeline(name="compare")
    def compare():
        trained = train()
        with dsl.If(trained.outputs["model"] == "x"):  # @compare-artifact
            make_number()

    (problem,) = problems_of(compare)
    assert line_of("compare-artifact") in problem and "a condition can only compare parameters, not a Model" in problem


def test_every_problem_is_reported_at_once():
    @dsl.pipeline(name="many")
    def many():
        add(b=1)
        add(a="x")
        read_dataset(data=5)

    assert len(problems_of(many)) == 3


def test_bad_task_settings_are_rejected():
    @dsl.pipeline(name="settings")
    def settings():
        make_number().set_cpu_limit("two cores").set_retry(-1).set_env_variable("BAD-NAME", "x")  # @settings

    found = problems_of(settings)
    assert len(found) == 3
    assert all(line_of("settings") in problem for problem in found)
    assert any("'two cores' is not a resource quantity" in p and "settings.resources.cpu_limit" in p for p in found)
    assert any("retries cannot be negative" in p for p in found)
    assert any("'BAD-NAME' is not a valid environment variable name" in p for p in found)


# --- IR documents written by hand or by other tools --------------------------------------------

MINIMAL = """
apiVersion: sluiceway.dev/v1alpha1
kind: Pipeline
name: {name}
nodes:
- {{kind: task, name: {first}, component: echo, arguments: {{text: {{kind: constant, value: hi}}}}, source: hand.py:3}}
- {{kind: task, name: {second}, component: echo, arguments: {{text: {argument}}}, source: hand.py:4}}
components:
  echo:
    name: echo
    implementation: {{kind: container, image: alpine, command: [echo, {{kind: input_value, input: text}}]}}
    inputs: [{{name: text, type: str}}]
    outputs: [{{name: out, type: str}}]
"""


def document(name="hand", first="first", second="second", argument="{kind: output, task: first, output: out}"):
    return loads(MINIMAL.format(name=name, first=first, second=second, argument=argument))


def test_the_hand_written_document_is_valid():
    assert find_problems(document()) == []


def test_duplicate_task_names_are_rejected():
    (problem,) = map(str, find_problems(document(second="first")))
    assert "duplicate name 'first' (first defined at hand.py:3)" in problem and "hand.py:4" in problem


@pytest.mark.parametrize("bad", ["Second", "2nd", "second_task", "a" * 64, "-second"])
def test_names_no_kubernetes_backend_can_use_are_rejected(bad):
    (problem,) = map(str, find_problems(document(second=bad, argument="{kind: constant, value: x}")))
    assert f"task '{bad}'" in problem and "field 'name'" in problem
    assert "Kubernetes backends" in problem


def test_an_invalid_pipeline_name_is_rejected():
    (problem,) = map(str, find_problems(document(name="My Pipeline")))
    assert "pipeline 'My Pipeline'" in problem and "field 'name'" in problem and "e.g. 'my-pipeline'" in problem


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("{kind: output, task: nowhere, output: out}", "refers to unknown task 'nowhere'"),
        ("{kind: output, task: first, output: nothing}", "task 'first' has no output 'nothing'"),
        ("{kind: parameter, name: nothing}", "unknown pipeline parameter 'nothing'"),
        ("{kind: loop_item, loop: nowhere}", "uses the item of loop 'nowhere', which does not enclose it"),
    ],
)
def test_unknown_references_are_rejected(argument, message):
    (problem,) = map(str, find_problems(document(argument=argument)))
    assert message in problem and "task 'second'" in problem and "hand.py:4" in problem


def test_unknown_component_is_rejected():
    text = MINIMAL.format(name="hand", first="first", second="second", argument="{kind: constant, value: x}")
    (problem,) = map(
        str, find_problems(loads(text.replace("component: echo, arguments: {text: {kind: constant, value: x}}", "component: nope")))
    )
    assert "unknown component 'nope'" in problem


def test_duplicate_input_names_in_a_component_are_rejected():
    text = MINIMAL.format(name="hand", first="first", second="second", argument="{kind: constant, value: x}")
    text = text.replace("inputs: [{name: text, type: str}]", "inputs: [{name: text, type: str}, {name: text, type: int}]")
    found = [str(p) for p in find_problems(loads(text))]
    assert any("duplicate name 'text' among inputs and outputs" in p and "pipeline 'hand', component 'echo'" in p for p in found)


def test_placeholders_must_name_real_inputs():
    text = MINIMAL.format(name="hand", first="first", second="second", argument="{kind: constant, value: x}")
    text = text.replace("{kind: input_value, input: text}", "{kind: input_value, input: txet}")
    (problem,) = map(str, find_problems(loads(text)))
    assert "placeholder names unknown input 'txet'" in problem


def test_a_default_of_the_wrong_type_is_rejected():
    @dsl.pipeline(name="defaults")
    def defaults(count: int = "three"):
        add(a=count)

    (problem,) = problems_of(defaults)
    assert "field 'parameters.count.default'" in problem and "default 'three' is a str, not an int" in problem


def test_a_loop_item_key_the_items_lack_is_rejected():
    @dsl.pipeline(name="keys")
    def keys():
        with dsl.ParallelFor([{"a": 1}, {"b": 2}]) as item:
            add(a=item.a)  # @item-key

    (problem,) = problems_of(keys)
    assert line_of("item-key") in problem and "loop 'for-loop' has items without the key 'a'" in problem


def test_a_loop_item_used_outside_its_loop_is_rejected():
    @dsl.pipeline(name="escape")
    def escape():
        with dsl.ParallelFor([1, 2]) as item:
            add(a=item)
        add(a=item)  # @escaped-item

    (problem,) = problems_of(escape)
    assert line_of("escaped-item") in problem and "uses the item of loop 'for-loop', which does not enclose it" in problem


def test_nested_loops_collect_into_lists_of_lists():
    @dsl.component
    def flatten(rows: list) -> int:
        return sum(map(len, rows))

    @dsl.pipeline(name="nested-loops")
    def nested_loops():
        with dsl.ParallelFor([1, 2]) as outer:
            with dsl.ParallelFor([3, 4]) as inner:
                product = add(a=outer, b=inner)
        flatten(rows=dsl.Collected(product.output))

    assert compiler.compile_pipeline(nested_loops).name == "nested-loops"


def test_exit_task_names_follow_the_rules_and_are_unique():
    text = MINIMAL.format(name="hand", first="first", second="second", argument="{kind: constant, value: x}")
    text = text.replace(
        "- {kind: task, name: second",
        "- {kind: exit_handler, name: guard, exit_task: {kind: task, name: first, component: echo, arguments: {text: {kind: constant, value: y}}, source: hand.py:9}, nodes: []}\n- {kind: task, name: second",
    )
    (problem,) = map(str, find_problems(loads(text)))
    assert "duplicate name 'first'" in problem and "hand.py:9" in problem


def test_component_problems_name_the_component():
    text = MINIMAL.format(name="hand", first="first", second="second", argument="{kind: constant, value: x}")
    (problem,) = map(str, find_problems(loads(text.replace("{kind: input_value, input: text}", "{kind: input_value, input: txet}"))))
    assert problem.startswith("pipeline 'hand', component 'echo', field 'implementation.command_line[1]'")


def test_an_untyped_parameter_can_be_compared():
    @dsl.pipeline(name="flip")
    def flip(mode="fast"):
        with dsl.If(mode == "fast"):
            make_number()

    assert compiler.compile_pipeline(flip).parameters[0].type == "Any"


# --- comparisons that can never be made (CND-3) --------------------------------------------------


def test_ordering_a_str_against_an_int_is_rejected():
    @dsl.pipeline(name="mixed")
    def mixed(limit: int = 3):
        text = make_text()
        with dsl.If(text.output < 3):  # @str-lt-int
            make_number()
        with dsl.If(limit >= text.output):  # @int-ge-str
            make_number()

    found = problems_of(mixed)
    assert len(found) == 2
    first, second = found
    assert line_of("str-lt-int") in first and "pipeline 'mixed'" in first and "task 'condition'" in first
    assert "field 'branches[0].when'" in first
    assert "'<' orders two numbers or two strings (CND-3), not a str and an int" in first
    assert line_of("int-ge-str") in second and "task 'condition-2'" in second
    assert "'>=' orders two numbers or two strings (CND-3), not an int and a str" in second


def test_ordering_a_str_loop_item_against_a_float_in_an_elif_is_rejected():
    @dsl.pipeline(name="mixed")
    def mixed():
        with dsl.ParallelFor(["a", "b"]) as letter:
            with dsl.If(letter == "a"):  # @item-if
                make_number()
            with dsl.Elif(letter > 0.5):
                make_number()

    (problem,) = problems_of(mixed)
    assert line_of("item-if") in problem and "field 'branches[1].when'" in problem
    assert "'>' orders two numbers or two strings (CND-3), not a str and a float" in problem


def test_ordering_against_null_is_rejected():
    @dsl.pipeline(name="null")
    def null():
        with dsl.If(make_number().output <= None):  # @le-null
            make_number()

    (problem,) = problems_of(null)
    assert line_of("le-null") in problem and "'<=' orders two numbers or two strings (CND-3), not an int and null" in problem


def test_comparisons_that_can_be_made_are_accepted():
    @dsl.component
    def make_ratio() -> float:
        return 0.5

    @dsl.pipeline(name="fine")
    def fine(rows: list, limit: int = 3, name: str = "a", untyped=1):
        text, number, ratio = make_text(), make_number(), make_ratio()
        with dsl.If(text.output == 3):  # kinds differ: false, never an error (CND-3)
            make_number()
        with dsl.If(number.output != "3"):
            make_number()
        with dsl.If(ratio.output < limit):  # two numbers
            make_number()
        with dsl.If(text.output >= name):  # two strings
            make_number()
        with dsl.If(untyped < "b"):  # untyped: converted at run time (CND-4)
            make_number()
        with dsl.If(number.output == None):  # noqa: E711  equality with null is defined
            make_number()
        with dsl.ParallelFor(rows) as row:  # items of unknown kinds
            with dsl.If(row < 3):
                make_number()

    assert compiler.compile_pipeline(fine).name == "fine"


# --- settings of a task that runs a nested pipeline (GRP-5) -----------------------------------------


@dsl.pipeline(name="inner")
def inner(a: int) -> int:
    return add(a=a).output


def test_settings_on_a_nested_pipeline_task_are_rejected():
    @dsl.pipeline(name="outer")
    def outer():
        inner(a=1).set_retry(2).set_memory_limit("1Gi").set_env_variable("MODE", "fast")  # @nested-settings

    found = problems_of(outer)
    assert len(found) == 3
    assert all(line_of("nested-settings") in p and "pipeline 'outer'" in p and "task 'inner'" in p for p in found)
    for where in ("settings.retry", "settings.resources", "settings.env"):
        (problem,) = [p for p in found if f"field '{where}'" in p]
        assert "task 'inner' runs the nested pipeline 'inner': only display_name applies to it (GRP-5)" in problem


def test_a_nested_pipeline_task_inside_a_nested_pipeline_is_checked_too():
    @dsl.pipeline(name="middle")
    def middle(a: int) -> int:
        return inner(a=a).set_caching_options(False).output  # @inner-caching

    @dsl.pipeline(name="outer")
    def outer():
        middle(a=1).set_timeout(60)  # @middle-timeout

    found = problems_of(outer)
    assert len(found) == 2
    inner_problem, middle_problem = sorted(found, key=lambda p: "component 'middle'" not in p)
    assert line_of("inner-caching") in inner_problem
    assert "pipeline 'outer', component 'middle', task 'inner', field 'settings.caching'" in inner_problem
    assert line_of("middle-timeout") in middle_problem and "field 'settings.timeout_seconds'" in middle_problem


def test_a_display_name_on_a_nested_pipeline_task_is_accepted():
    @dsl.pipeline(name="outer")
    def outer():
        inner(a=1).set_display_name("Inner pipeline")

    assert compiler.compile_pipeline(outer).name == "outer"


# --- name lengths (IR name rules; backends cut and hash longer engine names, ART-9) ---------------


def test_a_63_character_node_name_is_accepted_and_the_backends_make_room_for_suffixes():
    assert find_problems(document(first="a" * 63, second="b" * 63, argument="{kind: constant, value: x}")) == []


def test_a_name_that_is_too_long_reports_the_limit_and_its_length():
    (node,) = map(str, find_problems(document(second="b" * 70, argument="{kind: constant, value: x}")))
    assert "is 70 characters long; Kubernetes backends allow at most 63" in node and "field 'name'" in node
    text = MINIMAL.format(name="hand", first="first", second="second", argument="{kind: constant, value: x}")
    text = text.replace("outputs: [{name: out, type: str}]", f"outputs: [{{name: out, type: str}}, {{name: {'o' * 64}, type: str}}]")
    (output,) = map(str, find_problems(loads(text)))
    assert f"component 'echo', field 'outputs.{'o' * 64}'" in output
    assert "is 64 characters long; Kubernetes backends allow at most 63" in output
