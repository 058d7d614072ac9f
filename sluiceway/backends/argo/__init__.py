"""The argo backend: each run an Argo Workflow, whose pods take their work from Sluiceway's engine (extra `argo`)."""

from __future__ import annotations

from typing import Any

from ...core import ir
from ..kube.pods import PodSettings
from .launcher import ArgoLauncher, checked_workflow
from .lint import lint
from .render import ArgoRefusal, render_workflow

__all__ = ["ArgoLauncher", "ArgoRefusal", "checked_workflow", "lint", "render_manifest", "render_workflow"]


def render_manifest(pipeline: ir.Pipeline, backend_settings: dict[str, Any]) -> dict[str, Any]:
    """`sluiceway compile --target argo`: the Workflow, its run's values left as workflow parameters."""
    return checked_workflow(pipeline, PodSettings.of(backend_settings))
