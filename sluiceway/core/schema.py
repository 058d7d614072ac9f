"""The JSON Schema of the IR, generated from the types in `ir.py`.

The checked-in copy (`pipeline.schema.json`, beside this file) is what editors and other
tools validate against; a test fails when it is stale. Regenerate it with
`python -m sluiceway.core.schema > sluiceway/core/pipeline.schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from .ir import API_VERSION, Pipeline

SCHEMA_PATH = Path(__file__).with_name("pipeline.schema.json")


def generate() -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(Pipeline)
    pipeline = schema["$defs"]["Pipeline"]
    # Pin the document's identity: a schema for one IR version only.
    pipeline["properties"]["apiVersion"] = {"const": API_VERSION}
    pipeline["properties"]["kind"] = {"const": "Pipeline"}
    pipeline["required"] = sorted({*pipeline.get("required", []), "apiVersion", "kind"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://sluiceway.dev/schemas/{API_VERSION.split('/')[1]}/pipeline.schema.json",
        "title": f"Sluiceway pipeline IR ({API_VERSION})",
        **schema,
    }


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
