"""The conformance cases: one pipeline per IR feature, with the outcome every backend must give it.

The expected outcomes are the semantics' (docs/explanation/semantics.md), written out by hand: the local backend is
held to them like every other backend. Task instances are named as in a run's report: a loop iteration's tasks behind
the loop and the index (`for-loop/2/add`), a nested pipeline's behind its task (`inner/add`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .. import dsl
from ..compiler import compile_pipeline
from ..core import ir
from . import components as c
from .expectations import Content, Run, cached, cancelled, failed, ran, skipped


@dataclass(frozen=True)
class Step:
    """One run of a case's pipeline, and what it must give. A case's steps run one after another in one home, so a
    later step can reuse what an earlier one cached."""

    expected: Run
    arguments: Mapping[str, Any] = field(default_factory=dict)
    caching: bool = False
    """Off unless the case is about caching: two equal tasks of one run would otherwise hit or miss by timing."""
    pause_seconds: float = 0.0
    """Waited before the run (to let a cache entry grow stale)."""
    cancel_when_running: str | None = None
    """Cancel the run once this task instance has been running for a moment."""


@dataclass(frozen=True)
class Case:
    name: str
    feature: str
    """The row of the capability table (docs/reference/backends.md) this case decides."""
    build: Callable[[], Any]
    steps: tuple[Step, ...]

    @cached_property
    def pipeline(self) -> ir.Pipeline:
        return compile_pipeline(self.build())

    def __str__(self) -> str:
        return self.name


CASES: list[Case] = []


def case(name: str, feature: str, *steps: Step) -> Callable[[Callable[[], Any]], Case]:
    """Adds the case whose @dsl.pipeline the decorated function returns (built on first use, not at import)."""

    def add(build: Callable[[], Any]) -> Case:
        made = Case(name, feature, build, steps)
        CASES.append(made)
        return made

    return add


def succeeded(**tasks: Any) -> Run:
    return Run("SUCCEEDED", tasks)


# --- Values and artifacts -----------------------------------------------------------------------------


EVERY_TYPE = {"text": "héllo", "number": 3, "ratio": 1.5, "flag": False, "items": [1, "b", None], "mapping": {"k": {"n": [1]}}}


@case(
    "parameters",
    "Parameters of every type (str, int, float, bool, list, dict), from arguments and from upstream outputs",
    Step(
        Run(
            "SUCCEEDED",
            {
                "echo-all": ran(
                    Output='[["str", "héllo"], ["int", 3], ["float", 1.5], ["bool", false], ["list", [1, "b", null]], '
                    '["dict", {"k": {"n": [1]}}]]'
                ),
                "make-values": ran(text="héllo, wörld", number=-7, ratio=0.25, flag=True, items=[1, "two", None], mapping={"k": [1, 2]}),
                "echo-all-2": ran(
                    Output='[["str", "héllo, wörld"], ["int", -7], ["float", 0.25], ["bool", true], ["list", [1, "two", null]], '
                    '["dict", {"k": [1, 2]}]]'
                ),
            },
        ),
        arguments=EVERY_TYPE,
    ),
)
def parameters() -> Any:
    @dsl.pipeline(name="conformance-parameters")
    def pipeline(text: str, number: int, ratio: float, flag: bool, items: list, mapping: dict) -> None:
        c.echo_all(text=text, number=number, ratio=ratio, flag=flag, items=items, mapping=mapping)
        made = c.make_values().outputs
        c.echo_all(
            text=made["text"], number=made["number"], ratio=made["ratio"], flag=made["flag"], items=made["items"], mapping=made["mapping"]
        )

    return pipeline


DATASET = "id,text\n1,hello\n"


@case(
    "artifacts",
    "Artifacts of every kind (Artifact as a folder, Dataset, Model, Metrics, ClassificationMetrics, Markdown, HTML), passed from task to task",
    Step(
        succeeded(
            **{
                "write-artifacts": ran(
                    artifacts={
                        "dataset": DATASET,
                        "model": bytes(range(256)),
                        "metrics": Content('{"accuracy": 0.5}', {"accuracy": 0.5}),
                        "classification": Content(
                            '{"confusionMatrix": {"annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}], '
                            '"rows": [{"row": [3, 1]}, {"row": [0, 4]}]}}',
                            {
                                "confusionMatrix": {
                                    "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
                                    "rows": [{"row": [3, 1]}, {"row": [0, 4]}],
                                }
                            },
                        ),
                        "notes": "# hello\n",
                        "page": "<p>hello</p>",
                        "blob": Content({"part-0": "hello"}),
                    }
                ),
                "describe-artifacts": ran(artifacts={"copy": DATASET}, Output="16 256 # hello"),
            }
        )
    ),
)
def artifacts() -> Any:
    @dsl.pipeline(name="conformance-artifacts")
    def pipeline(text: str = "hello") -> None:
        written = c.write_artifacts(text=text).outputs
        c.describe_artifacts(dataset=written["dataset"], model=written["model"], notes=written["notes"])

    return pipeline


# --- Conditions ---------------------------------------------------------------------------------------


@case(
    "condition",
    "Conditions on an upstream output",
    Step(succeeded(add=ran(Output=5), **{"echo-text": ran(Output="taken"), "echo-text-2": skipped("condition")})),
)
def condition() -> Any:
    @dsl.pipeline(name="conformance-condition")
    def pipeline() -> None:
        five = c.add(left=2, right=3).output
        with dsl.If(five > 4):
            c.echo_text(text="taken")
        with dsl.If(five < 4):
            c.echo_text(text="not taken")

    return pipeline


def _branches(value: int, taken: int, text: str) -> Run:
    names = ["echo-text", "echo-text-2", "echo-text-3"]
    branches = {name: ran(Output=text) if index == taken else skipped("condition") for index, name in enumerate(names)}
    return succeeded(add=ran(Output=value), **branches)


@case(
    "elif-else",
    "Conditions with Elif and Else",
    Step(_branches(7, 1, "medium"), arguments={"n": 7}),
    Step(_branches(2, 2, "small"), arguments={"n": 2}),
    Step(_branches(11, 0, "big"), arguments={"n": 11}),
)
def elif_else() -> Any:
    @dsl.pipeline(name="conformance-elif-else")
    def pipeline(n: int) -> None:
        value = c.add(left=n).output
        with dsl.If(value > 10):
            c.echo_text(text="big")
        with dsl.Elif(value > 5):
            c.echo_text(text="medium")
        with dsl.Else():
            c.echo_text(text="small")

    return pipeline


@case(
    "condition-in-loop",
    "A condition inside a ParallelFor",
    Step(
        succeeded(
            **{
                "for-loop/0/add": ran(Output=1),
                "for-loop/0/echo-text": skipped("condition"),
                "for-loop/1/add": ran(Output=5),
                "for-loop/1/echo-text": ran(Output="big"),
            }
        )
    ),
)
def condition_in_loop() -> Any:
    @dsl.pipeline(name="conformance-condition-in-loop")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 5]) as item:
            with dsl.If(c.add(left=item).output > 2):
                c.echo_text(text="big")

    return pipeline


# --- Loops ---------------------------------------------------------------------------------------------


def _loop(plus: int, items: list[int], **before: Any) -> Run:
    added = {f"for-loop/{index}/add": ran(Output=item + plus) for index, item in enumerate(items)}
    return succeeded(**before, **added, total=ran(Output=sum(item + plus for item in items)))


@case("loop-literal", "ParallelFor over a literal list, with Collected outputs", Step(_loop(10, [1, 2, 3])))
def loop_literal() -> Any:
    @dsl.pipeline(name="conformance-loop-literal")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 2, 3]) as item:
            added = c.add(left=item, right=10)
        c.total(numbers=dsl.Collected(added.output))

    return pipeline


@case("loop-parameter", "ParallelFor over a pipeline parameter", Step(_loop(1, [5, 6]), arguments={"numbers": [5, 6]}))
def loop_parameter() -> Any:
    @dsl.pipeline(name="conformance-loop-parameter")
    def pipeline(numbers: list) -> None:
        with dsl.ParallelFor(numbers) as item:
            added = c.add(left=item, right=1)
        c.total(numbers=dsl.Collected(added.output))

    return pipeline


@case(
    "loop-upstream",
    "ParallelFor over an upstream output",
    Step(_loop(100, [1, 2, 3], **{"count-to": ran(Output=[1, 2, 3])}), arguments={"n": 3}),
)
def loop_upstream() -> Any:
    @dsl.pipeline(name="conformance-loop-upstream")
    def pipeline(n: int) -> None:
        with dsl.ParallelFor(c.count_to(n=n).output) as item:
            added = c.add(left=item, right=100)
        c.total(numbers=dsl.Collected(added.output))

    return pipeline


@case(
    "loop-empty",
    "ParallelFor over an empty list: no iteration, an empty Collected list",
    Step(_loop(100, [], **{"count-to": ran(Output=[])}), arguments={"n": 0}),
)
def loop_empty() -> Any:
    return loop_upstream.build()


@case(
    "loop-nested",
    "ParallelFor inside a ParallelFor",
    Step(
        succeeded(
            **{
                "for-loop/0/for-loop-2/0/add": ran(Output=11),
                "for-loop/0/for-loop-2/1/add": ran(Output=21),
                "for-loop/1/for-loop-2/0/add": ran(Output=12),
                "for-loop/1/for-loop-2/1/add": ran(Output=22),
            }
        )
    ),
)
def loop_nested() -> Any:
    @dsl.pipeline(name="conformance-loop-nested")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 2]) as outer:
            with dsl.ParallelFor([10, 20]) as inner:
                c.add(left=outer, right=inner)

    return pipeline


@case("loop-parallelism", "ParallelFor with a parallelism limit", Step(_loop(1, [1, 2, 3, 4])))
def loop_parallelism() -> Any:
    @dsl.pipeline(name="conformance-loop-parallelism")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 2, 3, 4], parallelism=2) as item:
            added = c.add(left=item, right=1)
        c.total(numbers=dsl.Collected(added.output))

    return pipeline


@case(
    "loop-parallelism-body",
    "ParallelFor with a parallelism limit and two tasks in its body",
    Step(
        succeeded(
            **{f"for-loop/{i}/add": ran(Output=2 * (i + 1)) for i in range(3)},
            **{f"for-loop/{i}/add-2": ran(Output=2 * (i + 1) + 1) for i in range(3)},
        )
    ),
)
def loop_parallelism_body() -> Any:
    @dsl.pipeline(name="conformance-loop-parallelism-body")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 2, 3], parallelism=2) as item:
            doubled = c.add(left=item, right=item)
            c.add(left=doubled.output, right=1)

    return pipeline


@case(
    "collected-artifacts",
    "Collected artifacts of a ParallelFor, in item order",
    Step(
        succeeded(
            **{f"for-loop/{i}/write-dataset": ran(artifacts={"dataset": text}) for i, text in enumerate("abc")},
            **{"join-datasets": ran(Output="a|b|c")},
        )
    ),
)
def collected_artifacts() -> Any:
    @dsl.pipeline(name="conformance-collected-artifacts")
    def pipeline() -> None:
        with dsl.ParallelFor(["a", "b", "c"]) as item:
            written = c.write_dataset(text=item)
        c.join_datasets(datasets=dsl.Collected(written.outputs["dataset"]))

    return pipeline


# --- Nested pipelines and exit handlers -------------------------------------------------------------------


@case(
    "nested-pipeline",
    "A pipeline used as a task of another, with an output",
    Step(succeeded(**{"inner": ran(attempts=0, Output=2), "inner/add": ran(Output=2), "add": ran(Output=12)}), arguments={"n": 1}),
)
def nested_pipeline() -> Any:
    @dsl.pipeline(name="inner")
    def inner(n: int) -> int:
        return c.add(left=n, right=1).output

    @dsl.pipeline(name="conformance-nested")
    def pipeline(n: int) -> None:
        c.add(left=inner(n=n).output, right=10)

    return pipeline


@case(
    "exit-on-success",
    "An exit handler, when its tasks succeed",
    Step(succeeded(**{"echo-text": ran(Output="fine"), "status-of": ran(Output="SUCCEEDED")})),
)
def exit_on_success() -> Any:
    @dsl.pipeline(name="conformance-exit-on-success")
    def pipeline() -> None:
        with dsl.ExitHandler(c.status_of()):
            c.echo_text(text="fine")

    return pipeline


@case(
    "exit-on-failure",
    "An exit handler, when one of its tasks fails",
    Step(Run("FAILED", {"fail": failed(), "echo-text": skipped("upstream_failed"), "status-of": ran(Output="FAILED")})),
)
def exit_on_failure() -> Any:
    @dsl.pipeline(name="conformance-exit-on-failure")
    def pipeline() -> None:
        with dsl.ExitHandler(c.status_of()):
            c.echo_text(text=c.fail(message="on purpose").output)

    return pipeline


@case(
    "exit-in-loop",
    "An exit handler inside a ParallelFor",
    Step(
        succeeded(
            **{f"for-loop/{i}/add": ran(Output=i + 1) for i in range(2)},
            **{f"for-loop/{i}/status-of": ran(Output="SUCCEEDED") for i in range(2)},
        )
    ),
)
def exit_in_loop() -> Any:
    @dsl.pipeline(name="conformance-exit-in-loop")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 2]) as item:
            with dsl.ExitHandler(c.status_of()):
                c.add(left=item)

    return pipeline


# --- Failures, retries, timeouts, cancellation -----------------------------------------------------------


@case(
    "failure",
    "A failing task: what depends on it is skipped, running tasks finish, nothing new starts, the run fails",
    Step(
        Run(
            "FAILED",
            {
                "sleep-then-echo": ran(Output="gate"),
                "echo-text": ran(Output="independent"),
                "fail": failed(),
                "echo-text-2": skipped("upstream_failed"),
                "sleep-then-echo-2": ran(Output="slow"),
                "echo-text-3": skipped("run_stopping"),
            },
        )
    ),
)
def failure() -> Any:
    """Deterministic as FAIL-6 allows: `fail` starts only after `echo-text` has ended (a 1 s gate), `sleep-then-echo-2`
    is still running when it fails (3 s), and `echo-text-3` can only become ready after the failure."""

    @dsl.pipeline(name="conformance-failure")
    def pipeline() -> None:
        gate = c.sleep_then_echo(seconds=1.0, text="gate")
        c.echo_text(text="independent")
        c.echo_text(text=c.fail(message="on purpose").after(gate).output)
        c.echo_text(text=c.sleep_then_echo(seconds=3.0, text="slow").output)

    return pipeline


@case(
    "retries",
    "Retries: a task that fails twice succeeds on its third attempt; one that keeps failing fails after its last",
    Step(Run("FAILED", {"fail-first-attempts": ran(attempts=3, Output=3), "fail-first-attempts-2": failed(attempts=2)})),
)
def retries() -> Any:
    @dsl.pipeline(name="conformance-retries")
    def pipeline() -> None:
        c.fail_first_attempts(failures=2).set_retry(2)
        c.fail_first_attempts(failures=5).set_retry(1)

    return pipeline


@case(
    "retry-backoff",
    "Retries with a backoff growing by a fractional factor",
    Step(succeeded(**{"fail-first-attempts": ran(attempts=2, Output=2)})),
)
def retry_backoff() -> Any:
    @dsl.pipeline(name="conformance-retry-backoff")
    def pipeline() -> None:
        c.fail_first_attempts(failures=1).set_retry(1, backoff_duration="1s", backoff_factor=1.5)

    return pipeline


@case(
    "timeout",
    "A per-attempt timeout",
    Step(Run("FAILED", {"sleep-then-echo": failed("Timeout"), "echo-text": skipped("upstream_failed")})),
)
def timeout() -> Any:
    @dsl.pipeline(name="conformance-timeout")
    def pipeline() -> None:
        c.echo_text(text=c.sleep_then_echo(seconds=60.0, text="late").set_timeout(2).output)

    return pipeline


@case(
    "cancellation",
    "Cancelling a run mid-run: running tasks stop, nothing new starts, exit tasks still run",
    Step(
        Run("CANCELLED", {"sleep-then-echo": cancelled(attempts=1), "echo-text": cancelled(), "status-of": ran(Output="CANCELLED")}),
        cancel_when_running="sleep-then-echo",
    ),
)
def cancellation() -> Any:
    @dsl.pipeline(name="conformance-cancellation")
    def pipeline() -> None:
        with dsl.ExitHandler(c.status_of()):
            c.echo_text(text=c.sleep_then_echo(seconds=60.0, text="late").output)

    return pipeline


# --- Caching -------------------------------------------------------------------------------------------------


@case(
    "caching",
    "Caching: a second run hits; a changed input misses",
    Step(succeeded(add=ran(Output=2)), arguments={"n": 1}, caching=True),
    Step(succeeded(add=cached(Output=2)), arguments={"n": 1}, caching=True),
    Step(succeeded(add=ran(Output=3)), arguments={"n": 2}, caching=True),
)
def caching() -> Any:
    @dsl.pipeline(name="conformance-caching")
    def pipeline(n: int) -> None:
        c.add(left=n, right=1)

    return pipeline


@case(
    "caching-stale",
    "Caching: an entry older than the task's max staleness misses",
    Step(succeeded(add=ran(Output=2)), caching=True),
    Step(succeeded(add=ran(Output=2)), caching=True, pause_seconds=2.0),
)
def caching_stale() -> Any:
    @dsl.pipeline(name="conformance-caching-stale")
    def pipeline(n: int = 1) -> None:
        c.add(left=n, right=1).set_caching_options(True, max_staleness=1)

    return pipeline
