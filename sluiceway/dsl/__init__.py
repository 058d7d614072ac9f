"""The DSL: write components and pipelines in Python, as with KFP v2.

    from sluiceway import dsl, compiler

Only the IR is built here; nothing runs, and nothing is compiled at import or decoration time.
Names load on first use: a task that only needs the artifact classes does not pay for the
whole DSL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_names

if TYPE_CHECKING:
    from .annotations import (
        Input,
        InputPath,
        Output,
        OutputPath,
        PipelineTaskFinalStatus,
    )
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
    from .control_flow import (
        Condition,
        Elif,
        Else,
        ExitHandler,
        If,
        ParallelFor,
        importer,
    )
    from .pipelines import (
        Pipeline,
        pipeline,
    )
    from .refs import (
        Collected,
    )
    from .tasks import (
        PipelineTask,
    )

_WHERE = {
    "Input": "annotations",
    "InputPath": "annotations",
    "Output": "annotations",
    "OutputPath": "annotations",
    "PipelineTaskFinalStatus": "annotations",
    "HTML": "artifacts",
    "Artifact": "artifacts",
    "ClassificationMetrics": "artifacts",
    "Dataset": "artifacts",
    "Markdown": "artifacts",
    "Metrics": "artifacts",
    "Model": "artifacts",
    "SlicedClassificationMetrics": "artifacts",
    "BaseComponent": "components",
    "ConcatPlaceholder": "components",
    "ContainerSpec": "components",
    "IfPresentPlaceholder": "components",
    "component": "components",
    "container_component": "components",
    "Condition": "control_flow",
    "Elif": "control_flow",
    "Else": "control_flow",
    "ExitHandler": "control_flow",
    "If": "control_flow",
    "ParallelFor": "control_flow",
    "importer": "control_flow",
    "Pipeline": "pipelines",
    "pipeline": "pipelines",
    "Collected": "refs",
    "PipelineTask": "tasks",
}

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


__getattr__, __dir__ = lazy_names(__name__, globals(), _WHERE)
