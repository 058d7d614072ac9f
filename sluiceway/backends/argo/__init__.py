"""The argo backend: each run an Argo Workflow, whose pods take their work from Sluiceway's engine (extra `argo`)."""

from __future__ import annotations

from typing import Any

from ...core import ir
from ..kube.pods import PodSettings
from .lint import lint
from .render import ArgoRefusal, Submission, render_workflow

__all__ = ["ArgoRefusal", "Submission", "checked_workflow", "lint", "render_manifest", "render_workflow"]


def checked_workflow(pipeline: ir.Pipeline, settings: PodSettings, submission: Submission | None = None) -> dict[str, Any]:
    """The Workflow of `pipeline`, refused (ArgoRefusal) if Argo would reject it: see lint.py."""
    workflow = render_workflow(pipeline, settings, submission)
    problems = lint(workflow)
    if problems:
        raise ArgoRefusal(f"Argo would reject the Workflow of pipeline '{pipeline.name}': " + "; ".join(problems))
    return workflow


def render_manifest(pipeline: ir.Pipeline, backend_settings: dict[str, Any]) -> dict[str, Any]:
    """`sluiceway compile --target argo`: the Workflow, its run's values left as workflow parameters."""
    return checked_workflow(pipeline, PodSettings.of(backend_settings))
