"""The type vocabulary of the IR, and which argument types each input type accepts."""

from __future__ import annotations

PARAMETER_TYPES = frozenset({"str", "int", "float", "bool", "list", "dict"})
ARTIFACT_TYPES = frozenset(
    {
        "Artifact",
        "Dataset",
        "Model",
        "Metrics",
        "ClassificationMetrics",
        "SlicedClassificationMetrics",
        "HTML",
        "Markdown",
    }
)
ANY = "Any"
"""An untyped input (KFP v1 `InputPath()`): accepts any parameter or artifact."""
FINAL_STATUS = "PipelineTaskFinalStatus"
ANY_PARAMETER = "any-parameter"
"""The type of a value only known at run time to be a parameter (a loop item of a dynamic list)."""


def is_artifact(type_name: str) -> bool:
    return type_name in ARTIFACT_TYPES or (type_name.startswith("list[") and is_artifact(type_name[5:-1]))


def is_parameter(type_name: str) -> bool:
    return type_name in PARAMETER_TYPES


def list_of(type_name: str) -> str:
    """The type of a Collected fan-in of `type_name` values."""
    return f"list[{type_name}]" if is_artifact(type_name) else "list"


def is_known(type_name: str) -> bool:
    return type_name in PARAMETER_TYPES or is_artifact(type_name) or type_name in (ANY, FINAL_STATUS)


def accepts(input_type: str, argument_type: str) -> bool:
    """Whether an input declared as `input_type` may take a value of `argument_type`."""
    if input_type in (ANY, argument_type):
        return True
    if argument_type == ANY:
        # An untyped value (KFP v1 style) is trusted to fit; the task checks at run time.
        return is_known(input_type) and input_type != FINAL_STATUS
    if argument_type == ANY_PARAMETER:
        return is_parameter(input_type)
    if input_type == "float" and argument_type == "int":
        return True
    # A generic Artifact fits any artifact input and takes any artifact, as in KFP:
    # KFP v1 files type their files loosely (CSV, TFModel, ...), and these load as Artifact.
    if "Artifact" in (input_type, argument_type):
        return input_type in ARTIFACT_TYPES and argument_type in ARTIFACT_TYPES
    if input_type.startswith("list[") and argument_type.startswith("list["):
        return accepts(input_type[5:-1], argument_type[5:-1]) and is_artifact(argument_type)
    return False


def type_of_constant(value: object) -> str | None:
    """The parameter type of a literal; None for a literal None."""
    if value is None:
        return None
    for python_type, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, python_type):
            return name
    return "unsupported"
