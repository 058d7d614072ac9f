"""Comparisons on typed JSON values (CND-3) and untyped operands (CND-4)."""

from __future__ import annotations

import pytest

from sluiceway.engine.conditions import ConditionError, compare


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        (1, "==", 1.0, True),
        (True, "==", 1, False),
        ("1", "==", 1, False),
        (None, "==", None, True),
        ([1, {"a": True}], "==", [1.0, {"a": True}], True),
        ([1, {"a": True}], "==", [1, {"a": 1}], False),
        ({"a": 1}, "!=", {"a": 1, "b": 2}, True),
        (2, "<", 3.5, True),
        ("apple", "<", "banana", True),
        ("b", ">=", "b", True),
    ],
)
def test_typed_comparisons(left, op, right, expected):
    assert compare(left, op, right) is expected


@pytest.mark.parametrize(("left", "op", "right"), [("1", "<", 2), (True, ">", False), ([1], "<", [2]), (None, "<=", 1)])
def test_orderings_need_two_numbers_or_two_strings(left, op, right):
    with pytest.raises(ConditionError, match="ordering needs two numbers or two strings"):
        compare(left, op, right)


@pytest.mark.parametrize(
    ("untyped", "op", "typed", "expected"),
    [
        ("42", "==", 42, True),
        ("heads", "==", "heads", True),
        (42, "==", "42", True),
        ("TRUE", "==", True, True),
        ('{"a": 1}', "==", {"a": 1}, True),
        ("x", "==", 1, False),
        ("x", "!=", 1, True),
        ("10", ">", 9, True),
    ],
)
def test_untyped_values_are_read_as_the_other_side(untyped, op, typed, expected):
    assert compare(untyped, op, typed, left_untyped=True) is expected


def test_an_untyped_value_that_cannot_be_read_cannot_be_ordered():
    with pytest.raises(ConditionError):
        compare("x", "<", 1, left_untyped=True)
