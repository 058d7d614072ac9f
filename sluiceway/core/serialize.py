"""Deterministic YAML/JSON forms of the IR, loading with clear errors, and the content digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import yaml

from . import yaml_emitter
from .errors import IRFormatError
from .ir import API_VERSION, COMPONENT_KIND, PIPELINE_KIND, Component, Pipeline, canonical

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def to_dict(pipeline: Pipeline) -> dict[str, Any]:
    """Plain builtins, struct fields in declaration order and mapping keys sorted."""
    result: dict[str, Any] = msgspec.to_builtins(pipeline, order="deterministic")
    return result


def dump_yaml(pipeline: Pipeline) -> str:
    return yaml_emitter.dumps(to_dict(pipeline))


def dump_json(pipeline: Pipeline) -> str:
    encoded = msgspec.json.encode(pipeline, order="deterministic")
    return msgspec.json.format(encoded, indent=2).decode() + "\n"


def dump(pipeline: Pipeline, path: str | Path) -> None:
    """Write the pipeline to `path`: JSON if it ends in .json, YAML otherwise."""
    path = Path(path)
    text = dump_json(pipeline) if path.suffix == ".json" else dump_yaml(pipeline)
    path.write_text(text, encoding="utf-8")


def dump_component(component: Component, path: str | Path) -> None:
    """Write one component as a document of its own (kind Component), JSON or YAML by suffix."""
    path = Path(path)
    data = {"apiVersion": API_VERSION, "kind": COMPONENT_KIND, **msgspec.to_builtins(canonical(component), order="deterministic")}
    text = json.dumps(data, indent=2) + "\n" if path.suffix == ".json" else yaml_emitter.dumps(data)
    path.write_text(text, encoding="utf-8")


def component_from_dict(data: dict[str, Any], origin: str) -> Component:
    """Read a document written by dump_component."""
    if data.get("apiVersion") != API_VERSION:
        raise IRFormatError(f"{origin}: apiVersion {data.get('apiVersion')!r} is not supported; this Sluiceway reads {API_VERSION!r}")
    fields = {key: value for key, value in data.items() if key not in ("apiVersion", "kind")}
    try:
        component: Component = canonical(msgspec.convert(fields, Component))
        return component
    except msgspec.ValidationError as error:
        raise IRFormatError(f"{origin}: {error}") from None


def loads(text: str | bytes, origin: str = "<string>") -> Pipeline:
    """Read a pipeline from YAML or JSON text. Raises IRFormatError naming `origin` and the field."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise IRFormatError(f"{origin}: not valid YAML or JSON: {error}") from None
    return from_dict(data, origin)


def load(path: str | Path) -> Pipeline:
    path = Path(path)
    return loads(path.read_bytes(), origin=str(path))


def from_dict(data: object, origin: str = "<data>") -> Pipeline:
    if not isinstance(data, dict):
        raise IRFormatError(f"{origin}: expected a mapping with apiVersion and kind, got {type(data).__name__}")
    if data.get("kind") != PIPELINE_KIND:
        raise IRFormatError(f"{origin}: kind is {data.get('kind')!r}; expected {PIPELINE_KIND!r}")
    if data.get("apiVersion") != API_VERSION:
        raise IRFormatError(f"{origin}: apiVersion {data.get('apiVersion')!r} is not supported; this Sluiceway reads {API_VERSION!r}")
    try:
        pipeline: Pipeline = canonical(msgspec.convert(data, Pipeline))
        return pipeline
    except msgspec.ValidationError as error:
        raise IRFormatError(f"{origin}: {error}") from None


def digest(pipeline: Pipeline) -> str:
    """A content digest: equal for pipelines that mean the same, whatever their source lines."""
    canonical_form = msgspec.json.encode(canonical(pipeline, drop_sources=True), order="sorted")
    return "sha256:" + hashlib.sha256(canonical_form).hexdigest()
