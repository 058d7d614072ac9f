"""Tasks as a pipeline function sees them: returned by calling a component, configured by setters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..core import ir
from ..core.errors import DefinitionError
from .refs import TaskOutput

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
# ISO 8601, as KFP v1's max_cache_staleness took them: P30D, PT1H30M, P1W.
_ISO_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_ISO_UNIT_SECONDS = (604800, 86400, 3600, 60, 1)


def seconds(value: float | int | str | timedelta, what: str) -> float:
    """A duration given as seconds, a timedelta or a string like '30s', '5m', '2h'."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        iso = _ISO_DURATION.match(value)
        if iso and value not in ("P", "PT") and not value.endswith("T"):
            return sum(float(part) * unit for part, unit in zip(iso.groups(), _ISO_UNIT_SECONDS, strict=True) if part)
    raise DefinitionError(f"{what}: {value!r} is not a duration (seconds, a timedelta, or a string like '30s', '5m', '2h' or 'P30D')")


class _Outputs(Mapping[str, TaskOutput]):
    """`task.outputs['name']`, with an error that lists the outputs there are."""

    def __init__(self, task: PipelineTask | ImporterTask, names: tuple[str, ...]) -> None:
        self._task = task
        self._names = names

    def __getitem__(self, name: str) -> TaskOutput:
        if name not in self._names:
            raise DefinitionError(
                f"{self._task.source}: task '{self._task.name}' has no output '{name}' (outputs: {', '.join(self._names) or 'none'})"
            )
        return TaskOutput(self._task, name)

    def __iter__(self) -> Any:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _TaskBase:
    name: str
    source: str
    _after: dict[str, None]
    """Upstream task names, in the order given (a dict as an ordered set)."""
    _output_names: tuple[str, ...]

    @property
    def outputs(self) -> Mapping[str, TaskOutput]:
        return _Outputs(self, self._output_names)  # type: ignore[arg-type] # only subclasses are instantiated

    @property
    def output(self) -> TaskOutput:
        """The task's only output."""
        if len(self._output_names) != 1:
            listing = ", ".join(self._output_names) or "none"
            raise DefinitionError(
                f"{self.source}: task '{self.name}' has {len(self._output_names)} outputs ({listing}); "
                "use task.outputs['<name>'] to pick one"
            )
        return TaskOutput(self, self._output_names[0])  # type: ignore[arg-type] # only subclasses are instantiated

    def after(self, *tasks: _TaskBase) -> _TaskBase:
        """Run this task only once `tasks` have finished."""
        for task in tasks:
            if not isinstance(task, _TaskBase):
                raise DefinitionError(f"{self.source}: .after() takes tasks, not {task!r}")
            self._after[task.name] = None
        return self


class PipelineTask(_TaskBase):
    """One use of a component in a pipeline. Setters return the task, so they chain."""

    def __init__(self, name: str, component_key: str, component: ir.Component, arguments: dict[str, ir.Argument], source: str) -> None:
        self.name = name
        self.component_key = component_key
        self.component_spec = component
        self.arguments = arguments
        self.source = source
        self._after = {}
        self._output_names = tuple(output.name for output in component.outputs)
        self._display_name: str | None = None
        self._retry: ir.RetryPolicy | None = None
        self._timeout: float | None = None
        self._caching = ir.CachingPolicy()
        self._resources: dict[str, Any] = {}
        self._env: dict[str, str] = {}
        self._secrets: list[ir.SecretRef] = []
        self._node_selector: dict[str, str] = {}

    def after(self, *tasks: _TaskBase) -> PipelineTask:
        super().after(*tasks)
        return self

    def set_display_name(self, name: str) -> PipelineTask:
        self._display_name = name
        return self

    def set_caching_options(self, enable_caching: bool, max_staleness: float | str | timedelta | None = None) -> PipelineTask:
        """Turn step caching on or off; with `max_staleness`, older cache entries are not reused."""
        staleness = None if max_staleness is None else int(seconds(max_staleness, f"{self.source}: max_staleness"))
        self._caching = ir.terse(ir.CachingPolicy, enabled=bool(enable_caching), max_staleness_seconds=staleness)
        return self

    def set_retry(
        self,
        num_retries: int,
        backoff_duration: float | str | timedelta | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: float | str | timedelta | None = None,
    ) -> PipelineTask:
        """Retry a failed attempt up to `num_retries` times, waiting longer each time."""
        where = f"{self.source}: set_retry"
        self._retry = ir.terse(
            ir.RetryPolicy,
            max_retries=int(num_retries),
            backoff_seconds=seconds(backoff_duration, where) if backoff_duration is not None else 0.0,
            backoff_factor=float(backoff_factor) if backoff_factor is not None else 2.0,
            backoff_max_seconds=seconds(backoff_max_duration, where) if backoff_max_duration is not None else 3600.0,
        )
        return self

    def set_timeout(self, timeout: float | str | timedelta) -> PipelineTask:
        """Fail an attempt that runs longer than `timeout` (seconds, a timedelta or '10m')."""
        self._timeout = seconds(timeout, f"{self.source}: set_timeout")
        return self

    def set_cpu_request(self, cpu: str | int | float) -> PipelineTask:
        self._resources["cpu_request"] = str(cpu)
        return self

    def set_cpu_limit(self, cpu: str | int | float) -> PipelineTask:
        self._resources["cpu_limit"] = str(cpu)
        return self

    def set_memory_request(self, memory: str | int) -> PipelineTask:
        self._resources["memory_request"] = str(memory)
        return self

    def set_memory_limit(self, memory: str | int) -> PipelineTask:
        self._resources["memory_limit"] = str(memory)
        return self

    def set_accelerator_type(self, accelerator: str) -> PipelineTask:
        self._resources["accelerator_type"] = accelerator
        return self

    def set_accelerator_limit(self, limit: int | str) -> PipelineTask:
        self._resources["accelerator_count"] = int(limit)
        return self

    def set_gpu_limit(self, gpu: int | str, vendor: str = "nvidia") -> PipelineTask:
        """KFP v1's spelling: `vendor` 'nvidia' or 'amd' means the resource nvidia.com/gpu or amd.com/gpu."""
        return self.set_accelerator_type(vendor if "/" in vendor else f"{vendor}.com/gpu").set_accelerator_limit(gpu)

    def set_env_variable(self, name: str, value: str) -> PipelineTask:
        self._env[name] = str(value)
        return self

    def add_node_selector(self, label_key: str, label_value: str) -> PipelineTask:
        """Schedule only on nodes with this label (kfp-kubernetes' `add_node_selector`)."""
        self._node_selector[label_key] = label_value
        return self

    def add_node_selector_constraint(self, accelerator: str) -> PipelineTask:
        """Schedule on nodes with this accelerator (KFP v2's spelling)."""
        return self.add_node_selector("cloud.google.com/gke-accelerator", accelerator)

    def use_secret_as_env(self, secret_name: str, secret_key_to_env: dict[str, str]) -> PipelineTask:
        """Expose keys of a Kubernetes secret as environment variables: {key: ENV_NAME}."""
        env = {env_name: key for key, env_name in secret_key_to_env.items()}
        self._secrets.append(ir.SecretRef(secret=secret_name, env=env))
        return self

    def use_secret_as_volume(self, secret_name: str, mount_path: str) -> PipelineTask:
        self._secrets.append(ir.SecretRef(secret=secret_name, mount_path=mount_path))
        return self

    def to_ir(self) -> ir.Task:
        settings = ir.terse(
            ir.TaskSettings,
            display_name=self._display_name,
            retry=self._retry,
            timeout_seconds=self._timeout,
            caching=self._caching,
            resources=ir.terse(ir.Resources, **self._resources),
            env=dict(self._env),
            secrets=tuple(self._secrets),
            node_selector=dict(self._node_selector),
        )
        return ir.terse(
            ir.Task,
            name=self.name,
            component=self.component_key,
            arguments=self.arguments,
            after=tuple(self._after),
            settings=settings,
            source=self.source,
        )

    def __repr__(self) -> str:
        return f"PipelineTask({self.name!r})"


class ImporterTask(_TaskBase):
    """The task dsl.importer returns; its one output, `artifact`, is the imported artifact."""

    def __init__(self, name: str, uri: ir.Argument, artifact_type: str, metadata: dict[str, Any], reimport: bool, source: str) -> None:
        self.name = name
        self.uri = uri
        self.artifact_type = artifact_type
        self.metadata = metadata
        self.reimport = reimport
        self.source = source
        self._after = {}
        self._output_names = ("artifact",)

    def to_ir(self) -> ir.Importer:
        return ir.terse(
            ir.Importer,
            name=self.name,
            uri=self.uri,
            artifact_type=self.artifact_type,
            metadata=self.metadata,
            reimport=self.reimport,
            after=tuple(self._after),
            source=self.source,
        )
