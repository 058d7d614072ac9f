"""Comparing two runs of one pipeline: only what FAIL-6 leaves to timing may differ."""

from __future__ import annotations

from typing import Any

from sluiceway.testing import differences


def task(state: str, skip_reason: str | None = None, **values: Any) -> dict[str, Any]:
    return {
        "state": state,
        "attempts": 0 if skip_reason else 1,
        "values": values,
        "artifacts": {},
        "skip_reason": skip_reason,
        "error_kind": None,
    }


FAILED_HERE = {"state": "FAILED", "attempts": 1, "values": {}, "artifacts": {}, "skip_reason": None, "error_kind": "ComponentFailed"}


def test_an_independent_task_that_started_before_the_failure_on_one_side_only_is_no_difference() -> None:
    local = {"state": "FAILED", "tasks": {"fail": FAILED_HERE, "add": task("SKIPPED", "run_stopping")}}
    other = {"state": "FAILED", "tasks": {"fail": FAILED_HERE, "add": task("SUCCEEDED", Output="3"), "for-loop/0/add": task("SUCCEEDED")}}
    assert differences(local, other, timing=True) == []
    assert differences(local, other) == [
        "task 'for-loop/0/add': not expected (it is SUCCEEDED)",
        "task 'add': state 'SUCCEEDED', expected 'SKIPPED'",
        "task 'add': attempts 1, expected 0",
        "task 'add': values {'Output': '3'}, expected {}",
        "task 'add': skip_reason None, expected 'run_stopping'",
    ]


def test_timing_excuses_nothing_else() -> None:
    local = {"state": "FAILED", "tasks": {"fail": FAILED_HERE, "add": task("SUCCEEDED", Output="3")}}
    other = {"state": "FAILED", "tasks": {"fail": FAILED_HERE, "add": task("SUCCEEDED", Output="4")}}
    assert differences(local, other, timing=True) == ["task 'add': values {'Output': '4'}, expected {'Output': '3'}"]


def test_a_task_missing_from_a_run_that_did_not_fail_is_a_difference() -> None:
    local = {"state": "SUCCEEDED", "tasks": {"add": task("SUCCEEDED"), "for-loop/0/add": task("SUCCEEDED")}}
    other = {"state": "SUCCEEDED", "tasks": {"add": task("SUCCEEDED")}}
    assert differences(local, other, timing=True) == ["task 'for-loop/0/add': missing (expected SUCCEEDED)"]


def test_a_nested_pipeline_whose_inner_task_ran_on_one_side_only_is_no_difference() -> None:
    """GRP-5: a nested pipeline's outputs are its inner tasks'; whether they exist after a failure is timing (found by
    the property tests)."""
    local = {"state": "FAILED", "tasks": {"fail": FAILED_HERE, "inner": task("SUCCEEDED"), "inner/add": task("SKIPPED", "run_stopping")}}
    other = {
        "state": "FAILED",
        "tasks": {"fail": FAILED_HERE, "inner": task("SUCCEEDED", Output="1"), "inner/add": task("SUCCEEDED", Output="1")},
    }
    assert differences(local, other, timing=True) == []
    assert "task 'inner': values {'Output': '1'}, expected {}" in differences(local, other)
