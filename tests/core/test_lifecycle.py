"""The transition table: every (from, to) pair of run and task states, allowed or not."""

from __future__ import annotations

import itertools

import pytest

from sluiceway.core.lifecycle import (
    RUN_TRANSITIONS,
    TASK_TRANSITIONS,
    TERMINAL_RUN_STATES,
    TERMINAL_TASK_STATES,
    IllegalTransition,
    RunState,
    TaskState,
)

R, T = RunState, TaskState

# The specification, written out independently of the rules in core/lifecycle.py.
RUN_ALLOWED = {
    (R.PENDING, R.RUNNING),
    (R.PENDING, R.FAILED),
    (R.PENDING, R.CANCELLED),
    (R.RUNNING, R.SUCCEEDED),
    (R.RUNNING, R.FAILED),
    (R.RUNNING, R.CANCELLING),
    (R.CANCELLING, R.CANCELLED),
}
RUN_RETRY_ONLY = {(R.FAILED, R.PENDING), (R.CANCELLED, R.PENDING)}

TASK_ALLOWED = {
    (T.PENDING, T.RUNNING),
    (T.PENDING, T.SKIPPED),
    (T.PENDING, T.CACHED),
    (T.PENDING, T.CANCELLED),
    (T.RUNNING, T.SUCCEEDED),
    (T.RUNNING, T.FAILED),
    (T.RUNNING, T.RETRYING),
    (T.RUNNING, T.CANCELLED),
    (T.RUNNING, T.SKIPPED),
    (T.RETRYING, T.RUNNING),
    (T.RETRYING, T.FAILED),
    (T.RETRYING, T.CANCELLED),
}
TASK_RETRY_ONLY = {(T.FAILED, T.PENDING), (T.CANCELLED, T.PENDING), (T.SKIPPED, T.PENDING)}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RunState, RunState)), ids=lambda s: s.value)
def test_every_run_state_pair(current, target):
    ordinary = RUN_TRANSITIONS.decide(current, target)
    retrying = RUN_TRANSITIONS.decide(current, target, retrying=True)
    assert ordinary.allowed is ((current, target) in RUN_ALLOWED)
    assert retrying.allowed is ((current, target) in RUN_ALLOWED | RUN_RETRY_ONLY)
    if not ordinary.allowed:
        assert f"from {current.value} to {target.value}" in ordinary.reason
        with pytest.raises(IllegalTransition):
            RUN_TRANSITIONS.check(current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(TaskState, TaskState)), ids=lambda s: s.value)
def test_every_task_state_pair(current, target):
    ordinary = TASK_TRANSITIONS.decide(current, target)
    retrying = TASK_TRANSITIONS.decide(current, target, retrying=True)
    assert ordinary.allowed is ((current, target) in TASK_ALLOWED)
    assert retrying.allowed is ((current, target) in TASK_ALLOWED | TASK_RETRY_ONLY)
    if not ordinary.allowed:
        assert f"from {current.value} to {target.value}" in ordinary.reason
        with pytest.raises(IllegalTransition):
            TASK_TRANSITIONS.check(current, target)


def test_terminal_states_lead_nowhere_except_by_retry():
    for state in TERMINAL_RUN_STATES:
        assert {t for t in RunState if RUN_TRANSITIONS.decide(state, t).allowed} == set()
    for state in TERMINAL_TASK_STATES:
        assert {t for t in TaskState if TASK_TRANSITIONS.decide(state, t).allowed} == set()
    assert not TASK_TRANSITIONS.decide(T.SUCCEEDED, T.PENDING, retrying=True).allowed  # reused, never re-run
    assert not TASK_TRANSITIONS.decide(T.CACHED, T.PENDING, retrying=True).allowed


def test_a_refusal_says_what_is_allowed_instead():
    decision = TASK_TRANSITIONS.decide(T.SUCCEEDED, T.RUNNING)
    assert decision.reason == "a task cannot go from SUCCEEDED to RUNNING (from SUCCEEDED: nothing: it is final)"
    decision = RUN_TRANSITIONS.decide(R.PENDING, R.SUCCEEDED)
    assert decision.reason == "a run cannot go from PENDING to SUCCEEDED (from PENDING: CANCELLED, FAILED, RUNNING)"
    assert RUN_TRANSITIONS.decide(R.FAILED, R.PENDING).reason == "a run goes from FAILED to PENDING only when the run is retried"


def test_allowed_changes_name_their_rule():
    assert TASK_TRANSITIONS.check(T.RUNNING, T.RETRYING).name == "await_retry"
    assert RUN_TRANSITIONS.check(R.CANCELLED, R.PENDING, retrying=True).name == "retry"
