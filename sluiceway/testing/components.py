"""The components the conformance pipelines are made of: small, deterministic, and quick on any backend.

Each is self-contained (it imports what it needs inside), as every component must be, so any backend can run it in any
process or container that has Sluiceway installed.
"""

from __future__ import annotations

from typing import NamedTuple

from ..dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    PipelineTaskFinalStatus,
    component,
)


@component
def echo_text(text: str) -> str:
    return text


@component
def echo_all(text: str, number: int, ratio: float, flag: bool, items: list, mapping: dict) -> str:
    """Every parameter type in, and one line describing them out (their Python types included)."""
    import json

    described = [text, number, ratio, flag, items, mapping]
    return json.dumps([[type(value).__name__, value] for value in described], sort_keys=True, ensure_ascii=False)


@component
def make_values() -> NamedTuple(  # type: ignore[valid-type]
    "Values", [("text", str), ("number", int), ("ratio", float), ("flag", bool), ("items", list), ("mapping", dict)]
):
    """Every parameter type out of one task, so the next one receives each from an upstream output."""
    from collections import namedtuple

    values = namedtuple("Values", ["text", "number", "ratio", "flag", "items", "mapping"])
    return values("héllo, wörld", -7, 0.25, True, [1, "two", None], {"k": [1, 2]})


@component
def add(left: int, right: int = 0) -> int:
    return left + right


@component
def count_to(n: int) -> list:
    return list(range(1, n + 1))


@component
def total(numbers: list) -> int:
    return sum(numbers)


@component
def fail(message: str) -> str:
    raise RuntimeError(message)


@component
def fail_first_attempts(failures: int) -> int:
    """Fails its first `failures` attempts, then succeeds with the attempt it succeeded on."""
    import os

    attempt = int(os.environ["SLUICEWAY_TASK_ATTEMPT"])
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return attempt


@component
def sleep_then_echo(seconds: float, text: str) -> str:
    import time

    time.sleep(seconds)
    return text


@component
def status_of(status: PipelineTaskFinalStatus) -> str:
    """An exit task: how the tasks it guards ended."""
    return status.state


@component
def write_artifacts(
    text: str,
    dataset: Output[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    notes: Output[Markdown],
    page: Output[HTML],
    blob: Output[Artifact],
) -> None:
    """One artifact of each kind, with known contents (metrics are kept in metadata: the executor writes their file)."""
    from pathlib import Path

    Path(dataset.path).write_text(f"id,text\n1,{text}\n")
    Path(model.path).write_bytes(bytes(range(256)))
    metrics.log_metric("accuracy", 0.5)
    classification.log_confusion_matrix(["cat", "dog"], [[3, 1], [0, 4]])
    Path(notes.path).write_text(f"# {text}\n")
    Path(page.path).write_text(f"<p>{text}</p>")
    Path(blob.path).mkdir()
    (Path(blob.path) / "part-0").write_text(text)


@component
def describe_artifacts(dataset: Input[Dataset], model: Input[Model], notes: Input[Markdown], copy: Output[Dataset]) -> str:
    """Reads each artifact it is given and writes a copy of the dataset: artifacts flow from task to task."""
    from pathlib import Path

    Path(copy.path).write_text(Path(dataset.path).read_text())
    return f"{len(Path(dataset.path).read_text())} {len(Path(model.path).read_bytes())} {Path(notes.path).read_text().strip()}"


@component
def write_dataset(text: str, dataset: Output[Dataset]) -> None:
    from pathlib import Path

    Path(dataset.path).write_text(text)


@component
def join_datasets(datasets: Input[list[Dataset]]) -> str:
    """A Collected list of artifacts, in item order."""
    from pathlib import Path

    return "|".join(Path(dataset.path).read_text() for dataset in datasets)


# --- For generated pipelines (generated.py): every value an int ---------------------------------------------


@component
def add_after_failures(number: int, failures: int) -> int:
    """number + 1, once `failures` attempts have failed."""
    import os

    attempt = int(os.environ["SLUICEWAY_TASK_ATTEMPT"])
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return number + 1


@component
def fail_number(number: int) -> int:
    raise RuntimeError(f"failing on purpose with {number}")


@component
def write_number(number: int, dataset: Output[Dataset]) -> None:
    from pathlib import Path

    Path(dataset.path).write_text(str(number))


@component
def read_number(dataset: Input[Dataset]) -> int:
    from pathlib import Path

    return int(Path(dataset.path).read_text()) * 2


@component
def count_below(n: int) -> list:
    """0 to 3 items, whatever n is: a loop over an upstream list stays small."""
    return list(range(abs(n) % 4))
