"""The DSL: write components and pipelines in Python, as with KFP v2.

    from sluiceway import dsl, compiler

Only the IR is built here; nothing runs, and nothing is compiled at import or decoration time.
"""

from __future__ import annotations

from .annotations import Input, InputPath, Output, OutputPath, PipelineTaskFinalStatus
from .artifacts import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Markdown,
    Metrics,
    Model,
    SlicedClassificationMetrics,
)
from .components import (
    BaseComponent,
    ConcatPlaceholder,
    ContainerSpec,
    IfPresentPlaceholder,
    component,
    container_component,
)
from .control_flow import Condition, Elif, Else, ExitHandler, If, ParallelFor, importer
from .pipeline import Pipeline, pipeline
from .refs import Collected
from .tasks import PipelineTask

__all__ = [
    "HTML",
    "Artifact",
    "BaseComponent",
    "ClassificationMetrics",
    "Collected",
    "ConcatPlaceholder",
    "Condition",
    "ContainerSpec",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "IfPresentPlaceholder",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputPath",
    "ParallelFor",
    "Pipeline",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "SlicedClassificationMetrics",
    "component",
    "container_component",
    "importer",
    "pipeline",
]
