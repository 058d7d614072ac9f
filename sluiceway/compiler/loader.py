"""Find the pipeline in a Python file, for `sluiceway compile FILE.py[:FUNC]`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..core.errors import DefinitionError
from ..dsl.pipelines import Pipeline


def load_pipeline_from_file(spec: str) -> Pipeline:
    """Import FILE.py and return its @dsl.pipeline named FUNC, or its only one."""
    path_text, _, func_name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise DefinitionError(f"{path}: no such file")
    module_name = f"_sluiceway_pipeline_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise DefinitionError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    # Let the pipeline file import its neighbours, as `python FILE.py` would.
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    pipelines = {name: value for name, value in vars(module).items() if isinstance(value, Pipeline)}
    if func_name:
        found = getattr(module, func_name, None)
        if found is None:
            raise DefinitionError(f"{path}: has no '{func_name}'; pipelines in it: {', '.join(sorted(pipelines)) or 'none'}")
        if isinstance(found, Pipeline):
            return found
        if callable(found):
            return Pipeline(found)
        raise DefinitionError(f"{path}: '{func_name}' is not a pipeline function")
    if not pipelines:
        raise DefinitionError(f"{path}: no @dsl.pipeline function found; name one as {path}:FUNCTION")
    # A file may define a pipeline together with the pipelines it nests: take the outermost.
    outermost = _not_nested(list(pipelines.values())) if len(pipelines) > 1 else list(pipelines.values())
    if len(outermost) == 1:
        return outermost[0]
    raise DefinitionError(
        f"{path}: {len(pipelines)} pipelines found; choose one: " + ", ".join(f"{path}:{name}" for name in sorted(pipelines))
    )


def _not_nested(pipelines: list[Pipeline]) -> list[Pipeline]:
    nested: list[Pipeline] = []
    for pipeline in pipelines:
        try:
            nested.extend(pipeline.nested_pipelines())
        except Exception:  # a pipeline that fails to build is reported when it is chosen
            continue
    return [pipeline for pipeline in pipelines if not any(pipeline is inner for inner in nested)]
