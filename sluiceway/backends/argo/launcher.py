"""The argo backend's launcher: the run as an Argo Workflow, its pods handed their tickets (kube/workflow.py)."""

from __future__ import annotations

from typing import Any

from ...core import ir
from ..kube.pods import PodSettings
from ..kube.workflow import EngineKind, Submission, WorkflowEngineLauncher, linted
from .lint import lint
from .render import ArgoRefusal, render_workflow

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
FINISHED_PHASES = ("Succeeded", "Failed", "Error")


def checked_workflow(pipeline: ir.Pipeline, settings: PodSettings, submission: Submission | None = None) -> dict[str, Any]:
    """The Workflow of `pipeline`, refused (ArgoRefusal) if Argo would reject it: see lint.py."""
    return linted(
        render_workflow(pipeline, settings, submission), lint, ArgoRefusal, f"Argo would reject the Workflow of pipeline '{pipeline.name}'"
    )


def _finished(workflow: dict[str, Any]) -> bool:
    return (workflow.get("status") or {}).get("phase") in FINISHED_PHASES


def _stop(force: bool) -> dict[str, Any]:
    """`argo stop` runs the exit handlers; `argo terminate` does not [BS §1.6] (CANCEL-1, CANCEL-4)."""
    return {"spec": {"shutdown": "Terminate" if force else "Stop"}}


ARGO = EngineKind(
    backend="argo",
    group="argoproj.io",
    version="v1alpha1",
    plural="workflows",
    pod_label=WORKFLOW_LABEL,
    container="main",
    render=checked_workflow,
    finished=_finished,
    stop=_stop,
)


class ArgoLauncher(WorkflowEngineLauncher):
    """Each run an Argo Workflow (extra `argo`); see docs/explanation/workflow-engines.md."""

    kind = ARGO
