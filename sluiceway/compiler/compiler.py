"""The compiler: build a pipeline's IR, validate it, write it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from ..core import ir
from ..core.errors import DefinitionError
from ..core.serialize import dump, dump_component
from ..core.validation import validate
from ..dsl.components import BaseComponent
from ..dsl.context import ComponentTable
from ..dsl.pipelines import Pipeline
from ..dsl.pipelines import pipeline_name as dsl_pipeline_name


def compile_pipeline(
    pipeline_func: Any, *, pipeline_name: str | None = None, pipeline_parameters: dict[str, Any] | None = None
) -> ir.Pipeline:
    """The validated IR of a pipeline (a @dsl.pipeline, or a plain function as in KFP v1)."""
    pipeline = _as_pipeline(pipeline_func)
    with _collector_paused():
        built = pipeline.build(parameter_defaults=pipeline_parameters)
        if pipeline_name:
            name, free_text = dsl_pipeline_name(pipeline_name, "pipeline_name")
            built = msgspec.structs.replace(built, name=name, display_name=free_text or built.display_name)
        return validate(built)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Building makes many objects and few cycles: the cycle collector's passes only cost time
    (about half of a large compile). It runs again, as it was, afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _as_pipeline(pipeline_func: Any) -> Pipeline:
    if isinstance(pipeline_func, Pipeline):
        return pipeline_func
    if isinstance(pipeline_func, BaseComponent):
        raise DefinitionError(f"'{pipeline_func.name}' is a component, not a pipeline")
    if callable(pipeline_func):
        # KFP v1 pipelines were often plain functions without @dsl.pipeline.
        return Pipeline(pipeline_func)
    raise DefinitionError(f"{pipeline_func!r} is not a pipeline function")


class Compiler:
    """KFP's compiler interface."""

    def compile(
        self,
        pipeline_func: Any,
        package_path: str | Path,
        pipeline_name: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        type_check: bool = True,
    ) -> None:
        """Write the pipeline's IR (or a component's) to `package_path`: .json for JSON, else YAML.

        Type checks are part of validation and always run; `type_check` is accepted for KFP
        compatibility.
        """
        del type_check
        if isinstance(pipeline_func, BaseComponent) and not isinstance(pipeline_func, Pipeline):
            dump_component(pipeline_func.describe(ComponentTable()), package_path)
            return
        pipeline = compile_pipeline(pipeline_func, pipeline_name=pipeline_name, pipeline_parameters=pipeline_parameters)
        with _collector_paused():
            dump(pipeline, package_path)
