"""Run and task states, and the one table of transitions between them.

Every backend, the engine and the metadata store ask this table before changing a state;
nothing else decides what may follow what. Each rule is small and named, so a refused
change says which rule would have applied and why it did not. The meaning of each state
is defined in docs/explanation/semantics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from .errors import SluicewayError


class RunState(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TaskState(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    """An attempt failed and retries remain: waiting out the backoff before the next attempt."""
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CACHED = "CACHED"
    CANCELLED = "CANCELLED"


class SkipReason(str, Enum):
    """Why a task was SKIPPED."""

    CONDITION = "condition"
    UPSTREAM_SKIPPED = "upstream_skipped"
    UPSTREAM_FAILED = "upstream_failed"
    EMPTY_LOOP = "empty_loop"
    RUN_STOPPING = "run_stopping"


class ErrorKind(str, Enum):
    """Why an instance, an attempt or a run failed (semantics ST-10)."""

    COMPONENT_FAILED = "ComponentFailed"
    OUTPUT_ERROR = "OutputError"
    TIMEOUT = "Timeout"
    LAUNCH_FAILED = "LaunchFailed"
    LOST = "Lost"
    RESOLUTION_ERROR = "ResolutionError"
    CONDITION_ERROR = "ConditionError"
    RUN_TIMEOUT = "RunTimeout"
    EXIT_TIMEOUT = "ExitTimeout"
    GROUP_FAILED = "GroupFailed"


TERMINAL_RUN_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})
TERMINAL_TASK_STATES = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED, TaskState.CACHED, TaskState.CANCELLED})

S = TypeVar("S", RunState, TaskState)


@dataclass(frozen=True)
class Rule(Generic[S]):
    """A named transition: from any of `sources` to any of `targets`."""

    name: str
    sources: frozenset[S]
    targets: frozenset[S]
    meaning: str
    retry_only: bool = False
    """Allowed only while retrying a run (`sluiceway runs retry`)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str | None
    reason: str


class IllegalTransition(SluicewayError):
    """A state change the transition table does not allow."""


class TransitionTable(Generic[S]):
    """The allowed changes between states of one kind (runs or tasks)."""

    def __init__(self, kind: str, rules: tuple[Rule[S], ...]) -> None:
        self.kind = kind
        self.rules: tuple[Rule[S], ...] = rules
        self._by_pair: dict[tuple[S, S], Rule[S]] = {
            (source, target): rule for rule in rules for source in rule.sources for target in rule.targets
        }
        if len(self._by_pair) != sum(len(rule.sources) * len(rule.targets) for rule in rules):
            raise ValueError(f"{kind} transition rules overlap")

    def decide(self, current: S, target: S, *, retrying: bool = False) -> Decision:
        rule = self._by_pair.get((current, target))
        if rule is None:
            allowed = sorted(t.value for (s, t) in self._by_pair if s == current)
            after = ", ".join(allowed) if allowed else "nothing: it is final"
            return Decision(False, None, f"a {self.kind} cannot go from {current.value} to {target.value} (from {current.value}: {after})")
        if rule.retry_only and not retrying:
            return Decision(False, rule.name, f"a {self.kind} goes from {current.value} to {target.value} only when the run is retried")
        return Decision(True, rule.name, rule.meaning)

    def check(self, current: S, target: S, *, retrying: bool = False) -> Rule[S]:
        """The rule that allows the change; IllegalTransition if none does."""
        decision = self.decide(current, target, retrying=retrying)
        if not decision.allowed:
            raise IllegalTransition(decision.reason)
        return self._by_pair[(current, target)]


def _rule(name: str, sources: set[S], targets: set[S], meaning: str, *, retry_only: bool = False) -> Rule[S]:
    return Rule(name, frozenset(sources), frozenset(targets), meaning, retry_only)


R, T = RunState, TaskState

RUN_TRANSITIONS: TransitionTable[RunState] = TransitionTable(
    "run",
    (
        _rule("start", {R.PENDING}, {R.RUNNING}, "the backend took the run and starts scheduling its tasks"),
        _rule("refuse", {R.PENDING}, {R.FAILED}, "the run cannot start: bad parameters, or the backend refused it"),
        _rule("cancel_before_start", {R.PENDING}, {R.CANCELLED}, "cancelled before any task ran"),
        _rule("finish", {R.RUNNING}, {R.SUCCEEDED, R.FAILED}, "every task and the exit handler have ended"),
        _rule("cancel", {R.RUNNING}, {R.CANCELLING}, "cancel requested: no new tasks; running ones are stopped; exit tasks run"),
        _rule("cancelled", {R.CANCELLING}, {R.CANCELLED}, "every task has stopped and the exit handler has ended"),
        _rule("retry", {R.FAILED, R.CANCELLED}, {R.PENDING}, "retried from the tasks that did not succeed", retry_only=True),
    ),
)

TASK_TRANSITIONS: TransitionTable[TaskState] = TransitionTable(
    "task",
    (
        _rule("start", {T.PENDING}, {T.RUNNING}, "its dependencies are met: the first attempt starts"),
        _rule("skip", {T.PENDING}, {T.SKIPPED}, "it will not run (see its skip reason)"),
        _rule("not_begun", {T.RUNNING}, {T.SKIPPED}, "the run was stopping and the backend never began the launched attempt"),
        _rule("cache_hit", {T.PENDING}, {T.CACHED}, "an earlier identical execution's outputs are reused"),
        _rule("succeed", {T.RUNNING}, {T.SUCCEEDED}, "the attempt succeeded and its outputs are recorded"),
        _rule("fail", {T.RUNNING, T.RETRYING}, {T.FAILED}, "the last attempt failed, or the run's deadline passed"),
        _rule("await_retry", {T.RUNNING}, {T.RETRYING}, "the attempt failed and retries remain"),
        _rule("next_attempt", {T.RETRYING}, {T.RUNNING}, "the backoff has passed: the next attempt starts"),
        _rule("cancel", {T.PENDING, T.RUNNING, T.RETRYING}, {T.CANCELLED}, "the run was cancelled"),
        _rule("retry", {T.FAILED, T.CANCELLED, T.SKIPPED}, {T.PENDING}, "the run is retried; this task runs again", retry_only=True),
    ),
)
