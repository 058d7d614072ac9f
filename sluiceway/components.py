"""KFP's `components` module: components from YAML files, and the KFP v1 function helpers.

from sluiceway import components
get_lines = components.load_component_from_file("get_lines.yaml")
repeat_line = components.func_to_container_op(repeat_line_func)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dsl.annotations import InputPath, OutputPath
from .dsl.components import BaseComponent, PythonComponent
from .dsl.yaml_components import LoadedComponent, load_component_from_file, load_component_from_text

__all__ = [
    "BaseComponent",
    "InputPath",
    "LoadedComponent",
    "OutputPath",
    "create_component_from_func",
    "func_to_container_op",
    "load_component_from_file",
    "load_component_from_text",
]


def func_to_container_op(
    func: Callable[..., Any],
    output_component_file: str | None = None,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    **_kfp_v1_options: Any,
) -> PythonComponent:
    """KFP v1's helper. As in KFP v1, a `text_path: InputPath()` parameter is the input `text`."""
    made = PythonComponent(func, base_image=base_image, packages_to_install=packages_to_install, strip_path_suffix=True)
    if output_component_file:
        from .compiler import Compiler

        Compiler().compile(made, output_component_file)
    return made


create_component_from_func = func_to_container_op
