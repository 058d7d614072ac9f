"""Deterministic YAML/JSON forms of the IR, loading with clear errors, and the content digest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec
import yaml

from . import yaml_emitter
from .errors import IRFormatError
from .ir import API_VERSION, PIPELINE_KIND, Pipeline

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
        return msgspec.convert(data, Pipeline)
    except msgspec.ValidationError as error:
        raise IRFormatError(f"{origin}: {error}") from None


def digest(pipeline: Pipeline) -> str:
    """A content digest: equal for pipelines that mean the same, whatever their source lines."""
    canonical = msgspec.json.encode(_without_sources(msgspec.to_builtins(pipeline)), order="sorted")
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


_NODE_KINDS = frozenset({"task", "importer", "condition", "loop", "exit_handler"})


def _without_sources(value: Any) -> Any:
    if isinstance(value, dict):
        is_node = value.get("kind") in _NODE_KINDS
        return {key: _without_sources(item) for key, item in value.items() if not (is_node and key == "source")}
    if isinstance(value, (list, tuple)):
        return [_without_sources(item) for item in value]
    return value
