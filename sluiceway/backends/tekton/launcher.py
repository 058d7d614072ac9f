"""The tekton backend's launcher: the run as a Tekton PipelineRun, its pods handed their tickets (kube/workflow.py)."""

from __future__ import annotations

from typing import Any

from ...core import ir
from ..kube.pods import PodSettings
from ..kube.workflow import EngineKind, Submission, WorkflowEngineLauncher, linted
from .lint import lint
from .render import TektonRefusal, render_pipeline_run

PIPELINE_RUN_LABEL = "tekton.dev/pipelineRun"
TASK_RUN_LABEL = "tekton.dev/taskRun"


def checked_pipeline_run(pipeline: ir.Pipeline, settings: PodSettings, submission: Submission | None = None) -> dict[str, Any]:
    """The PipelineRun of `pipeline`, refused (TektonRefusal) if Tekton would reject it: see lint.py."""
    return linted(
        render_pipeline_run(pipeline, settings, submission),
        lint,
        TektonRefusal,
        f"Tekton would reject the PipelineRun of pipeline '{pipeline.name}'",
    )


def _finished(pipeline_run: dict[str, Any]) -> bool:
    conditions = (pipeline_run.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False") for c in conditions)


def _stop(force: bool) -> dict[str, Any]:
    """CancelledRunFinally cancels running TaskRuns and runs `finally`; Cancelled does not run it [BS §2.11]."""
    return {"spec": {"status": "Cancelled" if force else "CancelledRunFinally"}}


def _timed_out(launcher: WorkflowEngineLauncher, pod: dict[str, Any]) -> bool:
    """Tekton times an attempt on its TaskRun (reason TaskRunTimeout) and then stops the pod [BS §2.9]."""
    name = (pod.get("metadata", {}).get("labels") or {}).get(TASK_RUN_LABEL)
    if not name:
        return False
    try:
        task_run = launcher.custom.get_namespaced_custom_object("tekton.dev", "v1", launcher.settings.namespace, "taskruns", name)
    except Exception:  # not readable: the outcome is what the pod says
        return False
    conditions = (task_run.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Succeeded" and c.get("reason") == "TaskRunTimeout" for c in conditions)


TEKTON = EngineKind(
    backend="tekton",
    group="tekton.dev",
    version="v1",
    plural="pipelineruns",
    pod_label=PIPELINE_RUN_LABEL,
    container="step-main",
    render=checked_pipeline_run,
    finished=_finished,
    stop=_stop,
    timed_out=_timed_out,
)


class TektonLauncher(WorkflowEngineLauncher):
    """Each run a Tekton PipelineRun (extra `tekton`); see docs/explanation/workflow-engines.md."""

    kind = TEKTON
