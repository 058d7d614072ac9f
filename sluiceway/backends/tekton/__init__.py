"""The tekton backend: each run a Tekton PipelineRun, whose pods take their work from Sluiceway's engine (extra `tekton`)."""

from __future__ import annotations

from typing import Any

from ...core import ir
from ..kube.pods import PodSettings
from .launcher import TektonLauncher, checked_pipeline_run
from .lint import lint
from .render import TektonRefusal, render_pipeline_run

__all__ = ["TektonLauncher", "TektonRefusal", "checked_pipeline_run", "lint", "render_manifest", "render_pipeline_run"]


def render_manifest(pipeline: ir.Pipeline, backend_settings: dict[str, Any]) -> dict[str, Any]:
    """`sluiceway compile --target tekton`: the PipelineRun, its run's values left as parameters to fill in."""
    return checked_pipeline_run(pipeline, PodSettings.of(backend_settings))
