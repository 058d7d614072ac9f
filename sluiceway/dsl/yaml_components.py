"""Components loaded from YAML: the KFP v1 `component.yaml` format, and Sluiceway's own.

KFP v1 format (the one most shared components use):

    name: Get Lines
    inputs:  [{name: Input 1, type: String, default: '10', optional: true}]
    outputs: [{name: Output 1, type: String}]
    implementation:
      container:
        image: alpine
        command: [sh, -c, {inputValue: Input 1}, {outputPath: Output 1}]

Sluiceway's format is an IR `Component` (what `Compiler().compile(component, ...)` writes).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import yaml

from ..core import ir, types
from ..core.errors import DefinitionError, IRFormatError
from ..core.names import sanitize
from ..core.serialize import component_from_dict
from .annotations import type_name
from .components import _CachedDescription


class LoadedComponent(_CachedDescription):
    """A component read from a YAML document."""

    def __init__(self, document: dict[str, Any], origin: str) -> None:
        super().__init__(str(document.get("name", "component")))
        self._document = document
        self._origin = origin
        self._aliases: dict[str, str] = {}

    def keyword_names(self) -> dict[str, str]:
        self.component_spec  # noqa: B018 - the aliases are found while describing
        return self._aliases

    def _build(self) -> ir.Component:
        document = self._document
        implementation = document.get("implementation")
        if document.get("kind") == ir.COMPONENT_KIND:
            return component_from_dict(document, self._origin)
        if isinstance(implementation, dict) and isinstance(implementation.get("container"), dict):
            return self._from_v1(document, implementation["container"])
        raise DefinitionError(
            f"{self._origin}: not a component: expected 'kind: Component' (Sluiceway format) or 'implementation: {{container: ...}}' (KFP v1)"
        )

    def _from_v1(self, document: dict[str, Any], container: dict[str, Any]) -> ir.Component:
        names: dict[Any, str] = {}  # name in the file -> IR name

        def io_name(original: str, where: str) -> str:
            name = re.sub(r"[^A-Za-z0-9]+", "_", original.strip()).strip("_").lower()
            if not name or not name[0].isalpha():
                raise DefinitionError(f"{self._origin}: {where} name {original!r} has no usable letters")
            names[original] = name
            self._aliases[original] = name
            return name

        inputs = []
        for index, entry in enumerate(document.get("inputs") or []):
            where = f"inputs[{index}]"
            name = io_name(str(entry.get("name", "")), where)
            kind = type_name(entry.get("type"), f"{self._origin}: {where}")
            default: Any = msgspec.UNSET
            if "default" in entry:
                default = _parse_default(entry["default"], kind, f"{self._origin}: {where}")
            elif entry.get("optional"):
                default = None
            inputs.append(ir.InputSpec(name=name, type=kind, default=default, description=str(entry.get("description", ""))))
        outputs = [
            ir.OutputSpec(
                name=io_name(str(entry.get("name", "")), f"outputs[{index}]"),
                type=type_name(entry.get("type"), f"{self._origin}: outputs[{index}]"),
                description=str(entry.get("description", "")),
            )
            for index, entry in enumerate(document.get("outputs") or [])
        ]

        def part(value: Any) -> ir.CommandPart:
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return str(value)
            if isinstance(value, dict) and len(value) == 1:
                ((key, inner),) = value.items()
                if key == "inputValue":
                    return ir.InputValuePlaceholder(input=names.get(inner, str(inner)))
                if key == "inputPath":
                    return ir.InputPathPlaceholder(input=names.get(inner, str(inner)))
                if key == "inputUri":
                    return ir.InputUriPlaceholder(input=names.get(inner, str(inner)))
                if key == "outputPath":
                    return ir.OutputPathPlaceholder(output=names.get(inner, str(inner)))
                if key == "outputUri":
                    return ir.OutputUriPlaceholder(output=names.get(inner, str(inner)))
                if key == "concat":
                    return ir.ConcatPlaceholder(items=tuple(part(item) for item in inner))
                if key == "if" and isinstance(inner, dict):
                    present = (inner.get("cond") or {}).get("isPresent")
                    if present is None:
                        raise DefinitionError(f"{self._origin}: only 'isPresent' conditions are supported in 'if' placeholders")
                    return ir.IfPresentPlaceholder(
                        input=names.get(present, present),
                        then=tuple(part(item) for item in _as_list(inner.get("then"))),
                        otherwise=tuple(part(item) for item in _as_list(inner.get("else"))),
                    )
            raise DefinitionError(f"{self._origin}: unsupported command-line item {value!r}")

        if "image" not in container:
            raise DefinitionError(f"{self._origin}: implementation.container has no image")
        command = tuple(part(item) for item in container.get("command") or [])
        args = tuple(part(item) for item in container.get("args") or [])
        # Inputs read from, and outputs written to, a file are marked so, as @dsl.container_component does.
        by_path = {p.input for p in _flatten((*command, *args)) if isinstance(p, ir.InputPathPlaceholder)}
        by_path |= {p.output for p in _flatten((*command, *args)) if isinstance(p, ir.OutputPathPlaceholder)}
        return ir.Component(
            name=sanitize(str(document.get("name", ""))) or "component",
            description=str(document.get("description", "")),
            inputs=tuple(ir.terse(ir.InputSpec, **{**msgspec.structs.asdict(i), "as_path": i.name in by_path}) for i in inputs),
            outputs=tuple(ir.terse(ir.OutputSpec, **{**msgspec.structs.asdict(o), "as_path": o.name in by_path}) for o in outputs),
            implementation=ir.Container(image=str(container["image"]), command=command, args=args),
        )


def _flatten(parts: tuple[ir.CommandPart, ...]) -> list[ir.CommandPart]:
    flat: list[ir.CommandPart] = []
    for part in parts:
        flat.append(part)
        if isinstance(part, ir.ConcatPlaceholder):
            flat.extend(_flatten(part.items))
        elif isinstance(part, ir.IfPresentPlaceholder):
            flat.extend(_flatten((*part.then, *part.otherwise)))
    return flat


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _parse_default(value: Any, kind: str, where: str) -> Any:
    """KFP v1 files write every default as a string; turn it into a value of the input's type."""
    if not isinstance(value, str) or kind in ("str", types.ANY) or types.is_artifact(kind):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise DefinitionError(f"{where}: default {value!r} is not a {kind}") from None
    if kind == "float" and isinstance(parsed, int) and not isinstance(parsed, bool):
        parsed = float(parsed)
    return parsed


def load_component_from_text(text: str, origin: str = "<text>") -> LoadedComponent:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise IRFormatError(f"{origin}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise IRFormatError(f"{origin}: a component file must be a mapping with name, inputs, outputs and implementation")
    return LoadedComponent(document, origin)


def load_component_from_file(path: str) -> LoadedComponent:
    with open(path, encoding="utf-8") as handle:
        return load_component_from_text(handle.read(), origin=str(path))
