"""The checked-in JSON Schema is current, and IR files validate against it."""

from __future__ import annotations

import json

import jsonschema
import pytest

from sluiceway.core import dump_yaml
from sluiceway.core.schema import SCHEMA_PATH, render
from tests.conftest import UPDATE_GOLDEN

from .test_serialization import sample_pipeline


def test_checked_in_schema_is_current():
    if UPDATE_GOLDEN:
        SCHEMA_PATH.write_text(render())
    assert SCHEMA_PATH.read_text() == render(), "the IR changed: run `make golden` to regenerate the schema"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_a_compiled_pipeline_validates_against_the_schema(validator):
    import yaml

    validator.validate(yaml.safe_load(dump_yaml(sample_pipeline())))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("apiVersion",), "sluiceway.dev/v0"),
        (("nodes", 0, "kind"), "taks"),
        (("nodes", 0, "setings"), {}),
    ],
)
def test_the_schema_rejects_broken_documents(validator, path, value):
    import yaml

    document = yaml.safe_load(dump_yaml(sample_pipeline()))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(document)
