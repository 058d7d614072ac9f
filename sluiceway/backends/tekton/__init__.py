"""The tekton backend: each run a Tekton PipelineRun, whose pods take their work from Sluiceway's engine (extra `tekton`)."""

from __future__ import annotations

from typing import Any

from ...core import ir
from ..kube.pods import PodSettings
from .lint import lint
from .render import Submission, TektonRefusal, render_pipeline_run

__all__ = ["Submission", "TektonRefusal", "checked_pipeline_run", "lint", "render_manifest", "render_pipeline_run"]


def checked_pipeline_run(pipeline: ir.Pipeline, settings: PodSettings, submission: Submission | None = None) -> dict[str, Any]:
    """The PipelineRun of `pipeline`, refused (TektonRefusal) if Tekton would reject it: see lint.py."""
    pipeline_run = render_pipeline_run(pipeline, settings, submission)
    problems = lint(pipeline_run)
    if problems:
        raise TektonRefusal(f"Tekton would reject the PipelineRun of pipeline '{pipeline.name}': " + "; ".join(problems))
    return pipeline_run


def render_manifest(pipeline: ir.Pipeline, backend_settings: dict[str, Any]) -> dict[str, Any]:
    """`sluiceway compile --target tekton`: the PipelineRun, its run's values left as parameters to fill in."""
    return checked_pipeline_run(pipeline, PodSettings.of(backend_settings))
