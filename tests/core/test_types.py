"""Which argument types each input type accepts."""

from __future__ import annotations

import pytest

from sluiceway.core.types import ANY, ANY_PARAMETER, FINAL_STATUS, accepts


@pytest.mark.parametrize(
    ("input_type", "argument_type", "expected"),
    [
        ("int", "int", True),
        ("float", "int", True),
        ("int", "float", False),
        ("str", "int", False),
        ("Dataset", "Dataset", True),
        ("Dataset", "Model", False),
        ("Dataset", "Artifact", True),
        ("Artifact", "Model", True),
        ("Dataset", "int", False),
        ("str", "Model", False),
        ("list[Artifact]", "list[Dataset]", True),
        ("list[Dataset]", "list[Artifact]", True),
        ("list[Dataset]", "list[Model]", False),
        ("list[Dataset]", "list", False),
        (ANY, "Model", True),
        ("str", ANY, True),
        ("Dataset", ANY, True),
        (FINAL_STATUS, ANY, False),
        ("bool", ANY_PARAMETER, True),
        ("Dataset", ANY_PARAMETER, False),
    ],
)
def test_accepts(input_type, argument_type, expected):
    assert accepts(input_type, argument_type) is expected
