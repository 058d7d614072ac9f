"""The engine's picture of a run: frames (one per level being run) holding node instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core import ir
from ..core.graph import Level, level
from ..core.launcher import Attempt, AttemptRecord
from ..core.lifecycle import TERMINAL_TASK_STATES, ErrorKind, SkipReason, TaskState
from ..core.task_spec import InputBinding


@dataclass(eq=False)
class Instance:
    """One node of one frame: a task, an importer, or a group, with its state and outputs."""

    id: str
    """Unique in the run: the node's name, behind its loop iterations and nested pipelines ('for-loop/2/train')."""
    node: ir.Node
    frame: Frame
    state: TaskState = TaskState.PENDING
    skip_reason: SkipReason | None = None
    message: str = ""
    error_kind: ErrorKind | None = None
    """Why it FAILED (ST-10)."""
    attempts: int = 0
    last_attempt: AttemptRecord | None = None
    """The attempt running, or the one that ended last (ST-7)."""
    stopped_by: ErrorKind | None = None
    """The run's deadline or the exit budget stopped its running attempt: it fails with this, without retry."""
    retry_base: int = 0
    """Attempts made before the run was retried: this task's retry budget starts after them."""
    cache_checked: bool = False
    cache_key: str | None = None
    cache_parts: dict[str, str] = field(default_factory=dict)
    timed_out: bool = False
    """The last attempt ran out of time."""
    inputs: dict[str, InputBinding] = field(default_factory=dict)
    """The task's resolved inputs, kept for its retries and for lineage."""
    outputs: dict[str, InputBinding] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)
    """Frames this instance runs: a chosen branch, loop iterations, a body, a nested pipeline."""
    attempt: Attempt | None = None
    pending_items: list[tuple[int, Any]] = field(default_factory=list)
    """Loop iterations not yet started (parallelism)."""
    exit_frame: Frame | None = None
    """For an exit handler: the frame running its exit task."""
    open_frames: int = 0
    """How many of `frames` still have unfinished nodes."""
    driver_outputs: dict[str, str] = field(default_factory=dict)
    """For a condition or loop on a workflow engine: what its driver step writes (the branch taken, the iterations)."""

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_TASK_STATES


@dataclass(eq=False)
class Frame:
    """One level of nodes being run, with what its nodes can see."""

    prefix: str
    nodes: tuple[ir.Node, ...]
    parent: Frame | None
    """The enclosing frame of the same graph (None at a pipeline's or nested pipeline's top)."""
    parameters: dict[str, InputBinding] | None = None
    """The graph's inputs; set on a graph's top frame only."""
    parameter_types: dict[str, str] = field(default_factory=dict)
    loop_items: dict[str, Any] = field(default_factory=dict)
    owner: Instance | None = None
    group: Instance | None = None
    """The instance whose frames include this one (None for a run's top and for exit tasks)."""
    remaining: int = 0
    """How many of its instances are not final yet."""
    exempt_from_stopping: bool = False
    """Exit tasks run even while the run stops or is cancelled."""
    instances: dict[str, Instance] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.level: Level = level(self.nodes)
        for node in self.nodes:
            self.instances[node.name] = Instance(id=f"{self.prefix}{node.name}", node=node, frame=self)

    def lookup(self, name: str) -> Instance | None:
        """The instance called `name` here or in an enclosing frame of the same graph."""
        frame: Frame | None = self
        while frame is not None:
            found = frame.instances.get(name)
            if found is not None:
                return found
            frame = frame.parent
        return None

    def parameter(self, name: str) -> InputBinding:
        frame: Frame | None = self
        while frame is not None:
            if frame.parameters is not None:
                return frame.parameters[name]
            frame = frame.parent
        raise KeyError(name)

    def parameter_type(self, name: str) -> str | None:
        frame: Frame | None = self
        while frame is not None:
            if frame.parameters is not None:
                return frame.parameter_types.get(name)
            frame = frame.parent
        return None

    def exempt(self) -> bool:
        frame: Frame | None = self
        while frame is not None:
            if frame.exempt_from_stopping:
                return True
            frame = frame.parent
        return False

    def walk(self) -> list[Instance]:
        """Every instance in this frame and the frames below it."""
        found: list[Instance] = []
        for instance in self.instances.values():
            found.append(instance)
            for child in instance.frames:
                found.extend(child.walk())
            if instance.exit_frame is not None:
                found.extend(instance.exit_frame.walk())
        return found
