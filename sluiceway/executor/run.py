"""Run one attempt of a task: stage its inputs, run its code, collect and publish its outputs."""

from __future__ import annotations
import __future__

import json
import linecache
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..core import ir, types
from ..core.task_spec import ATTEMPT_ENV, MAX_VALUE_BYTES, ArtifactRef, InputBinding, TaskError, TaskResult, TaskSpec
from .artifacts import Stores, content_digest
from .values import BadValue, check_type, command_line_text, encoded_size, file_text, parse_file_text


class TaskFailed(Exception):
    """The attempt failed; `error` says how."""

    def __init__(self, error: TaskError) -> None:
        super().__init__(error.message)
        self.error = error


def _fail(kind: str, message: str, trace: str | None = None) -> TaskFailed:
    return TaskFailed(TaskError(kind=kind, message=message, traceback=trace))


@dataclass
class _Staged:
    """Inputs and outputs as the component sees them."""

    values: dict[str, Any] = field(default_factory=dict)
    """Input name -> what the component receives (a value, a path, an artifact object)."""
    present: set[str] = field(default_factory=set)
    """Inputs the caller bound (for IfPresent placeholders)."""
    uris: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Output name -> what the component receives to write to (a path, an artifact object)."""
    output_paths: dict[str, Path] = field(default_factory=dict)


def run_task(spec: TaskSpec, stores: Stores | None = None) -> TaskResult:
    """Run the attempt. Never raises for a failing task: the result says what went wrong. `stores`: the ones the spec
    names, when the caller has made them already."""
    stores = stores if stores is not None else Stores(spec.stores)
    work = Path(spec.work_dir)
    try:
        staged = _stage(spec, stores, work)
        returned = _execute(spec, staged)
        return _publish(spec, stores, staged, returned)
    except TaskFailed as failure:
        return TaskResult(succeeded=False, error=failure.error)


# --- Inputs ---------------------------------------------------------------------------------------


def _stage(spec: TaskSpec, stores: Stores, work: Path) -> _Staged:
    from ..dsl.annotations import PipelineTaskFinalStatus
    from ..dsl.artifacts import ARTIFACT_CLASSES

    component = spec.component
    staged = _Staged()
    read_from_files = _path_inputs(component)
    unknown = set(spec.inputs) - {i.name for i in component.inputs}
    if unknown:
        raise _fail("spec", f"task '{spec.task}' is given inputs its component does not have: {', '.join(sorted(unknown))}")
    for spec_input in component.inputs:
        name = spec_input.name
        binding = spec.inputs.get(name)
        if spec_input.type == types.FINAL_STATUS:
            if spec.final_status is None:
                raise _fail("spec", f"input '{name}' needs the final status, which only an exit task is given")
            staged.values[name] = PipelineTaskFinalStatus(**msgspec.structs.asdict(spec.final_status))
            continue
        if binding is None:
            if spec_input.required:
                raise _fail("spec", f"required input '{name}' of task '{spec.task}' is not bound")
            staged.values[name] = spec_input.default
            continue
        staged.present.add(name)
        folder = work / "inputs" / name
        if binding.artifacts:
            local = []
            for index, ref in enumerate(binding.artifacts):
                path = folder / str(index) / (ref.uri.rstrip("/").rsplit("/", 1)[-1] or "data")
                try:
                    stores.download(ref.uri, path)
                except Exception as error:  # any store failure: the input cannot be staged
                    raise _fail("spec", f"input '{name}': cannot fetch {ref.uri}: {error}") from None
                artifact_class = ARTIFACT_CLASSES.get(ref.type, ARTIFACT_CLASSES["Artifact"])
                local.append(artifact_class(name=name, uri=ref.uri, metadata=dict(ref.metadata), path=str(path)))
            staged.uris[name] = binding.artifacts[0].uri
            is_list = spec_input.type.startswith("list[")
            if spec_input.as_path:
                staged.values[name] = [a.path for a in local] if is_list else local[0].path
            else:
                staged.values[name] = local if is_list else local[0]
            continue
        value = _input_value(name, binding, spec_input.type, stores, folder)
        if spec_input.as_path or name in read_from_files:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "value"
            path.write_text(file_text(value), encoding="utf-8")
            staged.values[name] = str(path)
        else:
            staged.values[name] = value
    for output in component.outputs:
        _prepare_output(spec, output, work, staged, ARTIFACT_CLASSES)
    return staged


def _path_inputs(component: ir.Component) -> set[str]:
    """Inputs a container's command line reads from a file ({inputPath: ...})."""
    implementation = component.implementation
    if not isinstance(implementation, ir.Container):
        return set()
    found: set[str] = set()
    pending: list[ir.CommandPart] = [*implementation.command, *implementation.args]
    while pending:
        part = pending.pop()
        if isinstance(part, ir.InputPathPlaceholder):
            found.add(part.input)
        elif isinstance(part, ir.ConcatPlaceholder):
            pending.extend(part.items)
        elif isinstance(part, ir.IfPresentPlaceholder):
            pending.extend((*part.then, *part.otherwise))
    return found


def _input_value(name: str, binding: InputBinding, declared: str, stores: Stores, folder: Path) -> Any:
    if binding.value_uri is not None:
        path = folder / "spilled.json"
        try:
            stores.download(binding.value_uri, path)
            value = json.loads(path.read_text(encoding="utf-8"))
        except Exception as error:  # a store failure or a corrupt value: the input cannot be staged
            raise _fail("spec", f"input '{name}': cannot fetch its value from {binding.value_uri}: {error}") from None
    elif binding.value is msgspec.UNSET:
        raise _fail("spec", f"input '{name}' is bound to neither a value nor an artifact")
    else:
        value = binding.value
    try:
        return check_type(value, declared, f"input '{name}'")
    except BadValue as error:
        raise _fail("spec", str(error)) from None


def _prepare_output(spec: TaskSpec, output: ir.OutputSpec, work: Path, staged: _Staged, classes: dict[str, Any]) -> None:
    name = output.name
    folder = work / "outputs" / name
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"{spec.output_root.rstrip('/')}/{name}"
    staged.uris[name] = uri
    if types.is_artifact(output.type) or output.as_path:
        path = folder / ("data" if types.is_artifact(output.type) else "value")
        staged.output_paths[name] = path
        if types.is_artifact(output.type) and not output.as_path:
            staged.outputs[name] = classes.get(output.type, classes["Artifact"])(name=name, uri=uri, path=str(path))
        else:
            staged.outputs[name] = str(path)


# --- Running the code -----------------------------------------------------------------------------


def _execute(spec: TaskSpec, staged: _Staged) -> Any:
    implementation = spec.component.implementation
    os.environ.update(spec.env)
    os.environ[ATTEMPT_ENV] = str(spec.attempt)
    if isinstance(implementation, ir.PythonFunction):
        return _call_function(spec, implementation, staged)
    if isinstance(implementation, ir.Container):
        _run_command(spec, implementation, staged)
        return None
    raise _fail("spec", f"task '{spec.task}' runs a nested pipeline, which the orchestrator expands; the executor cannot run it")


def _call_function(spec: TaskSpec, function: ir.PythonFunction, staged: _Staged) -> Any:
    filename = f"<component {spec.component.name}>"
    # Register the source so that tracebacks show the component's own lines.
    linecache.cache[filename] = (len(function.source), None, function.source.splitlines(keepends=True), filename)
    namespace = _prelude()
    try:
        # Annotations stay unevaluated, as under `from __future__ import annotations`: a
        # component's annotations may name things that exist only where it was written.
        code = compile(function.source, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
        exec(code, namespace)
    except Exception as error:  # the component's own definition is broken
        raise _fail("user_code", f"defining {function.function}() failed: {type(error).__name__}: {error}", _trace()) from None
    target = namespace.get(function.function)
    if not callable(target):
        raise _fail("spec", f"the component source defines no function '{function.function}'")
    python_name = function.parameter_names
    arguments = {python_name.get(name, name): value for name, value in {**staged.values, **staged.outputs}.items()}
    try:
        return target(**arguments)
    except BaseException as error:  # whatever the user's code raised, SystemExit included
        if isinstance(error, KeyboardInterrupt):
            raise
        raise _fail("user_code", f"{function.function}() raised {type(error).__name__}: {error}", _trace()) from None


def _prelude() -> dict[str, Any]:
    """The names a KFP-style component's source may use without importing them."""
    import typing

    from .. import dsl
    from ..dsl.annotations import Input, InputPath, Output, OutputPath

    return {
        "__name__": "__sluiceway_component__",
        "dsl": dsl,
        "Input": Input,
        "Output": Output,
        "InputPath": InputPath,
        "OutputPath": OutputPath,
        **{name: getattr(typing, name) for name in ("Any", "Dict", "List", "NamedTuple", "Optional", "Tuple", "Union")},
    }


def _trace() -> str:
    """The traceback of the exception being handled, without the executor's own frames."""
    kind, error, trace = sys.exc_info()
    frames = traceback.extract_tb(trace)
    user = [frame for frame in frames if frame.filename.startswith("<component ")]
    start = frames.index(user[0]) if user else 0
    return "".join(
        ["Traceback (most recent call last):\n", *traceback.format_list(frames[start:]), *traceback.format_exception_only(kind, error)]
    )


def _run_command(spec: TaskSpec, container: ir.Container, staged: _Staged) -> None:
    command_line = [piece for part in (*container.command, *container.args) for piece in _expand(part, staged)]
    if not command_line:
        raise _fail("spec", f"container component '{spec.component.name}' has an empty command line")
    try:
        completed = subprocess.run(command_line, env=os.environ.copy(), check=False)
    except OSError as error:
        raise _fail("user_code", f"cannot start {command_line[0]!r}: {error.strerror or error}") from None
    if completed.returncode != 0:
        raise _fail("user_code", f"the command {command_line[0]!r} exited with status {completed.returncode}")


def _expand(part: ir.CommandPart, staged: _Staged) -> list[str]:
    """One command-line item, placeholders filled in (an IfPresent may give zero or several)."""
    if isinstance(part, str):
        return [part]
    if isinstance(part, ir.InputValuePlaceholder):
        return [command_line_text(staged.values.get(part.input))]
    if isinstance(part, ir.InputPathPlaceholder):
        value = staged.values.get(part.input)
        return [str(getattr(value, "path", value))]
    if isinstance(part, (ir.InputUriPlaceholder, ir.OutputUriPlaceholder)):
        return [staged.uris[part.input if isinstance(part, ir.InputUriPlaceholder) else part.output]]
    if isinstance(part, ir.OutputPathPlaceholder):
        return [str(staged.output_paths[part.output])]
    if isinstance(part, ir.ConcatPlaceholder):
        return ["".join(piece for item in part.items for piece in _expand(item, staged))]
    chosen = part.then if part.input in staged.present else part.otherwise
    return [piece for item in chosen for piece in _expand(item, staged)]


# --- Outputs --------------------------------------------------------------------------------------


def _publish(spec: TaskSpec, stores: Stores, staged: _Staged, returned: Any) -> TaskResult:
    component = spec.component
    implementation = component.implementation
    values: dict[str, Any] = {}
    if isinstance(implementation, ir.PythonFunction) and implementation.returns:
        values.update(_returned_values(implementation, returned))
    artifacts: dict[str, ArtifactRef] = {}
    for output in component.outputs:
        name = output.name
        if name in values:
            values[name] = _checked(values[name], output)
            continue
        path = staged.output_paths.get(name)
        if path is not None and not path.exists() and output.type in _METRICS_TYPES:
            # Metrics live in the artifact's metadata; a component that only logs them writes no file.
            path.write_text(json.dumps(getattr(staged.outputs.get(name), "metadata", {}), sort_keys=True), encoding="utf-8")
        if path is None or not path.exists():
            raise _fail("outputs", f"task '{spec.task}' did not write its output '{name}'" + (f" (expected at {path})" if path else ""))
        if types.is_artifact(output.type):
            artifacts[name] = _upload_artifact(stores, staged, output, path)
        else:
            try:
                values[name] = parse_file_text(path.read_text(encoding="utf-8"), output.type, f"output '{name}'")
            except BadValue as error:
                raise _fail("outputs", str(error)) from None
    inline, spilled = _spill(spec, stores, values)
    return TaskResult(succeeded=True, values=inline, spilled_values=spilled, artifacts=artifacts)


_METRICS_TYPES = frozenset({"Metrics", "ClassificationMetrics", "SlicedClassificationMetrics"})


def _returned_values(function: ir.PythonFunction, returned: Any) -> dict[str, Any]:
    if not function.returns_named_tuple:
        return {function.returns[0]: returned}
    if not isinstance(returned, tuple) or len(returned) != len(function.returns):
        raise _fail(
            "outputs", f"{function.function}() must return {len(function.returns)} values ({', '.join(function.returns)}), got {returned!r}"
        )
    return dict(zip(function.returns, returned, strict=True))


def _checked(value: Any, output: ir.OutputSpec) -> Any:
    try:
        value = check_type(value, output.type, f"output '{output.name}'")
        json.dumps(value)
    except (BadValue, TypeError) as error:
        raise _fail("outputs", str(error)) from None
    return value


def _upload_artifact(stores: Stores, staged: _Staged, output: ir.OutputSpec, path: Path) -> ArtifactRef:
    uri = staged.uris[output.name]
    produced = staged.outputs.get(output.name)
    metadata = dict(getattr(produced, "metadata", {}) or {})
    try:
        stores.upload(path, uri)
    except Exception as error:  # the store refused: the output is lost, so the attempt fails
        raise _fail("outputs", f"output '{output.name}': cannot store it at {uri}: {error}") from None
    return ArtifactRef(
        uri=uri, type=output.type if output.type != types.ANY else "Artifact", metadata=metadata, digest=content_digest(path)
    )


def _spill(spec: TaskSpec, stores: Stores, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Keep values inline up to MAX_VALUE_BYTES in all; store the largest others as JSON artifacts."""
    sizes = {name: encoded_size(value) for name, value in values.items()}
    inline = dict(values)
    spilled: dict[str, str] = {}
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        if sum(sizes[n] for n in inline) <= MAX_VALUE_BYTES:
            break
        uri = f"{spec.output_root.rstrip('/')}/{name}.value.json"
        staging = Path(spec.work_dir) / "outputs" / f"{name}.value.json"
        staging.write_text(json.dumps(inline.pop(name)), encoding="utf-8")
        try:
            stores.upload(staging, uri)
        except Exception as error:  # the value is lost without the store
            raise _fail("outputs", f"output '{name}' is too large to pass inline and cannot be stored at {uri}: {error}") from None
        spilled[name] = uri
    return inline, spilled
