"""Turn pipeline functions into validated IR files.

from sluiceway import compiler
compiler.Compiler().compile(my_pipeline, "my_pipeline.yaml")
"""

from __future__ import annotations

from .compiler import Compiler, compile_pipeline
from .loader import load_pipeline_from_file

__all__ = ["Compiler", "compile_pipeline", "load_pipeline_from_file"]
