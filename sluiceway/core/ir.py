"""The pipeline IR: plain, immutable, versioned values.

A `Pipeline` is what the DSL produces, what the compiler writes to disk and what every
backend reads. It holds no Kubernetes or protobuf types; wire formats are rendered at the
edge, in the backends.

Shape, in brief:
- A pipeline has typed `parameters`, a `nodes` graph and a `components` table.
- A node is a `Task` (runs a component), an `Importer`, or a control-flow group
  (`Condition`, `Loop`, `ExitHandler`) holding nodes of its own.
- Node names are unique within one graph, groups included, so references are by name.
- A component is a Python function, a container, or a nested pipeline (`Graph`).
- Task arguments are typed references: a constant, a pipeline parameter, an upstream
  output, a loop item, a collected fan-in, or the final status of an exit handler's tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

import msgspec

API_VERSION = "sluiceway.dev/v1alpha1"
PIPELINE_KIND = "Pipeline"
COMPONENT_KIND = "Component"


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base of every IR value: immutable, strict on load, and terse on disk."""


class _Tagged(Record, frozen=True, tag_field="kind"):
    """Base of the IR values that are one choice among several, told apart by `kind`."""


_S = TypeVar("_S", bound=msgspec.Struct)


def terse(cls: type[_S], **values: Any) -> _S:
    """Build `cls`, leaving out values equal to their defaults so that they stay off disk.

    (msgspec omits a default only when it is the very default object, not an equal one.)
    """
    defaults = _field_defaults(cls)
    return cls(**{name: value for name, value in values.items() if name not in defaults or value != defaults[name]})


@functools.cache
def _field_defaults(cls: type[msgspec.Struct]) -> dict[str, Any]:
    fields = cls.__struct_fields__
    return dict(zip(fields[len(fields) - len(cls.__struct_defaults__) :], cls.__struct_defaults__, strict=True))


def canonical(value: Any, *, drop_sources: bool = False) -> Any:
    """`value` with every field equal to its default replaced by the default itself.

    Equal IR values then serialize identically, whether they were built by the DSL, loaded
    from a file that spells defaults out, or constructed by hand. With `drop_sources`, node
    source lines are cleared too (for the digest).
    """
    if isinstance(value, msgspec.Struct):
        defaults = _field_defaults(type(value))
        changes: dict[str, Any] = {}
        for name in value.__struct_fields__:
            current = getattr(value, name)
            if drop_sources and name == "source" and isinstance(value, _NODE_TYPES):
                new = None
            else:
                new = canonical(current, drop_sources=drop_sources)
            if name in defaults and new == defaults[name]:
                new = defaults[name]
            if new is not current:
                changes[name] = new
        return msgspec.structs.replace(value, **changes) if changes else value
    if isinstance(value, tuple):
        items = tuple(canonical(item, drop_sources=drop_sources) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        mapping = {key: canonical(item, drop_sources=drop_sources) for key, item in value.items()}
        return value if all(mapping[key] is value[key] for key in value) else mapping
    return value


# --- Arguments: what a task input is bound to -------------------------------------------


class Constant(_Tagged, frozen=True, tag="constant"):
    """A literal value written in the pipeline."""

    value: Any


class ParameterRef(_Tagged, frozen=True, tag="parameter"):
    """An input of the enclosing graph: a pipeline parameter, or a nested pipeline's input."""

    name: str


class OutputRef(_Tagged, frozen=True, tag="output"):
    """An output of an upstream task or importer."""

    task: str
    output: str


class LoopItemRef(_Tagged, frozen=True, tag="loop_item"):
    """The current item of an enclosing loop, or one key of it when the items are mappings."""

    loop: str
    key: str | None = None


class CollectedRef(_Tagged, frozen=True, tag="collected"):
    """Every iteration's value of a task output inside a loop, gathered into one list."""

    task: str
    output: str


class TaskFinalStatusRef(_Tagged, frozen=True, tag="task_final_status"):
    """The final status of the tasks an exit handler guards; only the exit task may take it."""


Argument = Constant | ParameterRef | OutputRef | LoopItemRef | CollectedRef | TaskFinalStatusRef

ComparisonOperator = Literal["==", "!=", "<", "<=", ">", ">="]


class Comparison(Record, frozen=True):
    """A condition: `left op right`, evaluated when the enclosing branch is reached."""

    left: Argument
    op: ComparisonOperator
    right: Argument


# --- Per-task settings --------------------------------------------------------------------


class RetryPolicy(Record, frozen=True):
    """Retry a failed attempt up to `max_retries` times, waiting with exponential backoff."""

    max_retries: int
    backoff_seconds: float = 0.0
    backoff_factor: float = 2.0
    backoff_max_seconds: float = 3600.0


class CachingPolicy(Record, frozen=True):
    """Whether a task may reuse an earlier identical execution, and how old it may be."""

    enabled: bool = True
    max_staleness_seconds: int | None = None


class Resources(Record, frozen=True):
    """Kubernetes-style resource quantities ("500m", "2", "4Gi")."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None


class SecretRef(Record, frozen=True):
    """A secret, by reference only: exposed as environment variables or mounted as files."""

    secret: str
    env: dict[str, str] = {}
    """Environment variable name -> key in the secret."""
    mount_path: str | None = None


class TaskSettings(Record, frozen=True):
    display_name: str | None = None
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = None
    """Per attempt."""
    caching: CachingPolicy = CachingPolicy()
    resources: Resources = Resources()
    env: dict[str, str] = {}
    secrets: tuple[SecretRef, ...] = ()
    node_selector: dict[str, str] = {}


# --- Graph nodes ----------------------------------------------------------------------------


class Task(_Tagged, frozen=True, tag="task"):
    """Runs one component with bound arguments."""

    name: str
    component: str
    arguments: dict[str, Argument] = {}
    after: tuple[str, ...] = ()
    settings: TaskSettings = TaskSettings()
    source: str | None = None
    """Where the task was created ("file.py:LINE"). Not part of the pipeline's digest."""


class Importer(_Tagged, frozen=True, tag="importer"):
    """Brings an artifact that already exists into the pipeline as the output `artifact`."""

    name: str
    uri: Argument
    artifact_type: str = "Artifact"
    metadata: dict[str, Any] = {}
    reimport: bool = False
    after: tuple[str, ...] = ()
    source: str | None = None


class Branch(Record, frozen=True):
    """One arm of a Condition: runs when `when` holds (no `when`: the Else arm)."""

    when: Comparison | None = None
    nodes: tuple[Node, ...] = ()


class Condition(_Tagged, frozen=True, tag="condition"):
    """If/Elif/Else: the first branch whose comparison holds runs; the rest are skipped."""

    name: str
    branches: tuple[Branch, ...]
    source: str | None = None


class Loop(_Tagged, frozen=True, tag="loop"):
    """ParallelFor: runs `nodes` once per item of a list, at most `parallelism` at once (0: no limit)."""

    name: str
    items: Argument
    parallelism: int = 0
    nodes: tuple[Node, ...] = ()
    source: str | None = None


class ExitHandler(_Tagged, frozen=True, tag="exit_handler"):
    """Runs `exit_task` after `nodes` have finished, whatever their outcome."""

    name: str
    exit_task: Task
    nodes: tuple[Node, ...] = ()
    source: str | None = None


Node = Task | Importer | Condition | Loop | ExitHandler
Group = Condition | Loop | ExitHandler
_NODE_TYPES = (Task, Importer, Condition, Loop, ExitHandler)


# --- Components -----------------------------------------------------------------------------


class InputSpec(Record, frozen=True):
    name: str
    type: str
    """A parameter type (str, int, float, bool, list, dict), an artifact type, or Any."""
    default: Any | msgspec.UnsetType = msgspec.UNSET
    """An input without a default is required."""
    as_path: bool = False
    """The component reads the value from a file (InputPath) rather than receiving it."""
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is msgspec.UNSET


class OutputSpec(Record, frozen=True):
    name: str
    type: str
    as_path: bool = False
    """The component writes the value to a file (OutputPath) rather than returning it."""
    description: str = ""


class PythonFunction(_Tagged, frozen=True, tag="python"):
    """A Python function, carried as source text, called by the executor inside the task."""

    function: str
    source: str
    base_image: str
    """Always written out: which image runs the code is part of what the pipeline means."""
    packages_to_install: tuple[str, ...] = ()
    pip_index_urls: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    """Outputs taken from the return value: one name, or a NamedTuple's fields in order."""
    returns_named_tuple: bool = False
    parameter_names: dict[str, str] = {}
    """Input/output name -> the function's parameter name, where the two differ."""


# Container command-line placeholders, filled in by the executor.


class InputValuePlaceholder(_Tagged, frozen=True, tag="input_value"):
    input: str


class InputPathPlaceholder(_Tagged, frozen=True, tag="input_path"):
    input: str


class InputUriPlaceholder(_Tagged, frozen=True, tag="input_uri"):
    input: str


class OutputPathPlaceholder(_Tagged, frozen=True, tag="output_path"):
    output: str


class OutputUriPlaceholder(_Tagged, frozen=True, tag="output_uri"):
    output: str


class ConcatPlaceholder(_Tagged, frozen=True, tag="concat"):
    items: tuple[CommandPart, ...]


class IfPresentPlaceholder(_Tagged, frozen=True, tag="if_present"):
    """Expands to `then` when the optional input was given, else to `otherwise`."""

    input: str
    then: tuple[CommandPart, ...] = ()
    otherwise: tuple[CommandPart, ...] = ()


Placeholder = (
    InputValuePlaceholder
    | InputPathPlaceholder
    | InputUriPlaceholder
    | OutputPathPlaceholder
    | OutputUriPlaceholder
    | ConcatPlaceholder
    | IfPresentPlaceholder
)
CommandPart = str | Placeholder


class Container(_Tagged, frozen=True, tag="container"):
    """A container image and the command line to run in it."""

    image: str
    command: tuple[CommandPart, ...] = ()
    args: tuple[CommandPart, ...] = ()


class Graph(_Tagged, frozen=True, tag="pipeline"):
    """A nested pipeline: its nodes see the component's inputs as parameters."""

    nodes: tuple[Node, ...]
    outputs: dict[str, OutputRef] = {}
    """Component output name -> the inner task output that provides it."""


Implementation = PythonFunction | Container | Graph


class Component(Record, frozen=True):
    name: str
    implementation: Implementation
    description: str = ""
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()

    def input(self, name: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def output(self, name: str) -> OutputSpec | None:
        return next((spec for spec in self.outputs if spec.name == name), None)


# --- The pipeline --------------------------------------------------------------------------


class Pipeline(Record, frozen=True, kw_only=True, omit_defaults=False):
    """A compiled pipeline: the document `sluiceway compile` writes.

    Defaults are written out at this level so that `apiVersion` and `kind` are always on disk.
    """

    api_version: str = msgspec.field(default=API_VERSION, name="apiVersion")
    kind: Literal["Pipeline"] = "Pipeline"
    name: str
    display_name: str | None = None
    description: str = ""
    parameters: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    output_bindings: dict[str, OutputRef] = {}
    nodes: tuple[Node, ...] = ()
    components: dict[str, Component] = {}

    @property
    def graph(self) -> Graph:
        """The pipeline's top level, seen as a graph like any nested pipeline."""
        return Graph(nodes=self.nodes, outputs=self.output_bindings)


def tasks_in(nodes: tuple[Node, ...]) -> Iterator[Task]:
    """Every task among `nodes` and inside their groups (branches, loop bodies, exit handlers and their exit tasks), in order.

    Nested pipelines' own nodes are not entered: walk `pipeline.components[task.component]` for that.
    """
    for node in nodes:
        if isinstance(node, Task):
            yield node
        elif isinstance(node, Condition):
            for branch in node.branches:
                yield from tasks_in(branch.nodes)
        elif isinstance(node, (Loop, ExitHandler)):
            yield from tasks_in(node.nodes)
            if isinstance(node, ExitHandler):
                yield node.exit_task
