"""Random valid pipelines for property tests (hypothesis): DAG shapes, value and artifact flows, conditions (If, Elif,
Else) on generated values, loops over literal and upstream lists with Collected results, nested pipelines, exit
handlers, and failures and retries at chosen points.

A pipeline is drawn as a plan (plain frozen data, so hypothesis shrinks it to a small one) and built with the DSL:

    from hypothesis import given
    from sluiceway.testing.generated import plans

    @given(plans())
    def test_something(plan):
        pipeline = plan.pipeline()      # compiled IR

Every value is an int; a step reads earlier values of its own scope or of a scope around it. Needs the `testing`
extra (hypothesis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from hypothesis import strategies as st

from .. import dsl
from ..compiler import compile_pipeline
from ..core import ir
from . import components as c

MAX_STEPS = 6


@dataclass(frozen=True)
class Add:
    """add(left, right): a value from two earlier ones (a DAG edge from each)."""

    left: int
    right: int


@dataclass(frozen=True)
class Flaky:
    """A value that takes `failures` failed attempts to produce, with `retries` retries: it fails if they are fewer."""

    source: int
    failures: int
    retries: int


@dataclass(frozen=True)
class Fail:
    """A task that fails; what reads its value is skipped."""

    source: int


@dataclass(frozen=True)
class ThroughArtifact:
    """A value written to a Dataset by one task and read back by another: an artifact flow."""

    source: int


@dataclass(frozen=True)
class Loop:
    """ParallelFor over a literal list, or over count_below(value) upstream (0 to 3 items); each iteration adds an earlier value;
    the Collected sums are a new value. `parallelism` 0 is none."""

    items: tuple[int, ...] | None
    count_of: int
    addend: int
    parallelism: int


@dataclass(frozen=True)
class Nested:
    """A nested pipeline adding one to a value: its output is a new value."""

    source: int


@dataclass(frozen=True)
class Condition:
    """If value > threshold: the steps inside run (their values are seen only inside); Elif value > elif_threshold
    (when given) and Else (when with_else): an add each."""

    source: int
    threshold: int
    inside: tuple[Step, ...]
    elif_threshold: int | None
    with_else: bool


@dataclass(frozen=True)
class Guarded:
    """An exit handler around the steps inside (values seen only inside); its exit task reports how they ended."""

    inside: tuple[Step, ...]


Step = Union[Add, Flaky, Fail, ThroughArtifact, Loop, Nested, Condition, Guarded]


@dataclass(frozen=True)
class Plan:
    seed: int
    steps: tuple[Step, ...]

    def pipeline(self, name: str = "generated") -> ir.Pipeline:
        """The plan as compiled IR (deterministic: the same plan gives the same document)."""
        plan = self

        @dsl.pipeline(name=name)
        def generated(seed: int = plan.seed) -> None:
            _build(plan.steps, [seed])

        return compile_pipeline(generated)


def _pick(values: list[Any], index: int) -> Any:
    return values[index % len(values)]


def _build(steps: tuple[Step, ...], values: list[Any]) -> None:
    """Add each step's tasks at the current place of the DSL, appending the values they make to `values` (a copy per
    scope, so values made inside a group are not read outside it)."""
    for step in steps:
        if isinstance(step, Add):
            values.append(c.add(left=_pick(values, step.left), right=_pick(values, step.right)).output)
        elif isinstance(step, Flaky):
            task = c.add_after_failures(number=_pick(values, step.source), failures=step.failures)
            values.append(task.set_retry(step.retries).output)
        elif isinstance(step, Fail):
            values.append(c.fail_number(number=_pick(values, step.source)).output)
        elif isinstance(step, ThroughArtifact):
            written = c.write_number(number=_pick(values, step.source))
            values.append(c.read_number(dataset=written.outputs["dataset"]).output)
        elif isinstance(step, Loop):
            items: Any = list(step.items) if step.items is not None else c.count_below(n=_pick(values, step.count_of)).output
            with dsl.ParallelFor(items, parallelism=step.parallelism) as item:
                added = c.add(left=item, right=_pick(values, step.addend))
            values.append(c.total(numbers=dsl.Collected(added.output)).output)
        elif isinstance(step, Nested):
            values.append(_plus_one()(n=_pick(values, step.source)).output)
        elif isinstance(step, Guarded):
            with dsl.ExitHandler(c.status_of()):
                _build(step.inside, list(values))
        else:
            source = _pick(values, step.source)
            with dsl.If(source > step.threshold):
                _build(step.inside, list(values))
            if step.elif_threshold is not None:
                with dsl.Elif(source > step.elif_threshold):
                    c.add(left=source, right=step.elif_threshold)
            if step.with_else:
                with dsl.Else():
                    c.add(left=source, right=step.threshold)


def _plus_one() -> Any:
    @dsl.pipeline(name="plus-one")
    def plus_one(n: int) -> int:
        return c.add(left=n, right=1).output

    return plus_one


def _index() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=7)


def _steps(depth: int) -> st.SearchStrategy[tuple[Step, ...]]:
    simple: list[st.SearchStrategy[Any]] = [
        st.builds(Add, _index(), _index()),
        st.builds(Nested, _index()),
        st.builds(Flaky, _index(), st.integers(0, 2), st.integers(0, 2)),
        st.builds(Fail, _index()),
        st.builds(ThroughArtifact, _index()),
        st.builds(
            Loop,
            st.one_of(st.none(), st.lists(st.integers(-3, 9), max_size=3).map(tuple)),
            _index(),
            _index(),
            st.sampled_from((0, 0, 1, 2)),
        ),
    ]
    if depth > 0:
        inside = _steps(depth - 1)
        simple.append(st.builds(Condition, _index(), st.integers(-2, 12), inside, st.none() | st.integers(-2, 12), st.booleans()))
        simple.append(st.builds(Guarded, inside))
    return st.lists(st.one_of(simple), min_size=1, max_size=MAX_STEPS if depth == 2 else 3).map(tuple)


def plans() -> st.SearchStrategy[Plan]:
    """Plans of 1 to 6 steps, conditions nested at most two deep."""
    return st.builds(Plan, st.integers(0, 5), _steps(2))
