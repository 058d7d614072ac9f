"""The exception tree. Every error Sluiceway raises on purpose derives from SluicewayError."""

from __future__ import annotations

from dataclasses import dataclass


class SluicewayError(Exception):
    """Root of every error Sluiceway raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a pipeline, and where it is."""

    message: str
    pipeline: str = ""
    component: str = ""
    """Set when the problem is inside a component (a nested pipeline's task, say)."""
    task: str = ""
    field: str = ""
    source: str = ""

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.pipeline:
            where.append(f"pipeline '{self.pipeline}'")
        if self.component:
            where.append(f"component '{self.component}'")
        if self.task:
            where.append(f"task '{self.task}'")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class PipelineValidationError(SluicewayError):
    """A pipeline breaks one or more IR rules. `problems` lists each of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the pipeline:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class IRFormatError(SluicewayError):
    """An IR document could not be read: bad YAML/JSON, or a value of the wrong shape."""


class DefinitionError(SluicewayError):
    """A component or pipeline was written in a way the DSL cannot accept."""


class Unsupported(SluicewayError):
    """A backend cannot express a feature the pipeline uses. The run is refused before any task starts, never run with
    other semantics; the message names the feature and the backend (docs/reference/backends.md lists each backend's)."""


class PluginError(SluicewayError):
    """A plugin could not be loaded, or two plugins registered the same name."""
