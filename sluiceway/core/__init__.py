"""The core: the pipeline IR and the interfaces everything else is built on.

It imports nothing from the rest of the package (a test enforces this). Names are loaded
on first use, so that a process needing only the IR types (the executor) does not pay for
YAML, validation or the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_names

if TYPE_CHECKING:
    from .errors import (
        DefinitionError,
        IRFormatError,
        PipelineValidationError,
        PluginError,
        Problem,
        SluicewayError,
    )
    from .ir import (
        API_VERSION,
        Argument,
        Branch,
        CachingPolicy,
        CollectedRef,
        Comparison,
        Component,
        Condition,
        Constant,
        Container,
        ExitHandler,
        Graph,
        Importer,
        InputSpec,
        Loop,
        LoopItemRef,
        Node,
        OutputRef,
        OutputSpec,
        ParameterRef,
        Pipeline,
        PythonFunction,
        Resources,
        RetryPolicy,
        SecretRef,
        Task,
        TaskFinalStatusRef,
        TaskSettings,
    )
    from .serialize import (
        digest,
        dump,
        dump_json,
        dump_yaml,
        load,
        loads,
    )
    from .validation import (
        find_problems,
        validate,
    )

_WHERE = {
    "DefinitionError": "errors",
    "IRFormatError": "errors",
    "PipelineValidationError": "errors",
    "PluginError": "errors",
    "Problem": "errors",
    "SluicewayError": "errors",
    "API_VERSION": "ir",
    "Argument": "ir",
    "Branch": "ir",
    "CachingPolicy": "ir",
    "CollectedRef": "ir",
    "Comparison": "ir",
    "Component": "ir",
    "Condition": "ir",
    "Constant": "ir",
    "Container": "ir",
    "ExitHandler": "ir",
    "Graph": "ir",
    "Importer": "ir",
    "InputSpec": "ir",
    "Loop": "ir",
    "LoopItemRef": "ir",
    "Node": "ir",
    "OutputRef": "ir",
    "OutputSpec": "ir",
    "ParameterRef": "ir",
    "Pipeline": "ir",
    "PythonFunction": "ir",
    "Resources": "ir",
    "RetryPolicy": "ir",
    "SecretRef": "ir",
    "Task": "ir",
    "TaskFinalStatusRef": "ir",
    "TaskSettings": "ir",
    "digest": "serialize",
    "dump": "serialize",
    "dump_json": "serialize",
    "dump_yaml": "serialize",
    "load": "serialize",
    "loads": "serialize",
    "find_problems": "validation",
    "validate": "validation",
}

__all__ = [
    "API_VERSION",
    "Argument",
    "Branch",
    "CachingPolicy",
    "CollectedRef",
    "Comparison",
    "Component",
    "Condition",
    "Constant",
    "Container",
    "DefinitionError",
    "ExitHandler",
    "Graph",
    "IRFormatError",
    "Importer",
    "InputSpec",
    "Loop",
    "LoopItemRef",
    "Node",
    "OutputRef",
    "OutputSpec",
    "ParameterRef",
    "Pipeline",
    "PipelineValidationError",
    "PluginError",
    "Problem",
    "PythonFunction",
    "Resources",
    "RetryPolicy",
    "SecretRef",
    "SluicewayError",
    "Task",
    "TaskFinalStatusRef",
    "TaskSettings",
    "digest",
    "dump",
    "dump_json",
    "dump_yaml",
    "find_problems",
    "load",
    "loads",
    "validate",
]


__getattr__, __dir__ = lazy_names(__name__, globals(), _WHERE)
