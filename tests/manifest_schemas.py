"""Strict validators for workflow-engine manifests, from the upstream schemas in ../shared/schemas (see its README).

Strict: every object schema that lists `properties` and neither sets `additionalProperties` nor preserves unknown
fields is closed, so a misspelt key fails, as it does on a real API server (strict field validation) and in
Tekton's webhook (unknown fields disallowed). Loaded once per test session.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parents[1].parent / "shared" / "schemas"


def make_strict(schema: Any) -> Any:
    """A copy of `schema` with every open object schema closed (`additionalProperties: false`)."""
    if isinstance(schema, dict):
        strict = {key: make_strict(value) for key, value in schema.items()}
        if "properties" in strict and "additionalProperties" not in strict and not strict.get("x-kubernetes-preserve-unknown-fields"):
            strict["additionalProperties"] = False
        return strict
    if isinstance(schema, list):
        return [make_strict(item) for item in schema]
    return schema


@functools.cache
def argo_schema() -> jsonschema.Draft202012Validator:
    """Argo's published JSON Schema (api/jsonschema/schema.json), for a Workflow."""
    document = json.loads((SCHEMAS / "argo" / "schema.json").read_text())
    schema = {
        "$schema": document["$schema"],
        "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow",
        "definitions": document["definitions"],
    }
    return jsonschema.Draft202012Validator(make_strict(schema))


@functools.cache
def argo_crd() -> jsonschema.Draft202012Validator:
    """Argo's full Workflow CRD (what the API server enforces: int-or-string, enums, patterns, maxItems)."""
    crd = yaml.load((SCHEMAS / "argo" / "argoproj.io_workflows.yaml").read_text(), Loader=yaml.CSafeLoader)
    return jsonschema.Draft202012Validator(make_strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))


@functools.cache
def tekton_schema() -> jsonschema.Draft202012Validator:
    """Tekton v1 PipelineRun with embedded pipelineSpec and taskSpecs (schemas/tekton/derived)."""
    document = json.loads((SCHEMAS / "tekton" / "derived" / "tekton-v1.embedded.schema.json").read_text())
    return jsonschema.Draft202012Validator(make_strict(document))


def errors(validator: jsonschema.Draft202012Validator, manifest: dict[str, Any]) -> list[str]:
    """Every violation, as `path: message` lines (empty when valid)."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(manifest)]
