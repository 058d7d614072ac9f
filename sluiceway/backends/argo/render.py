"""A pipeline run as an Argo `Workflow` (argoproj.io/v1alpha1): one DAG template per level of the graph.

Argo starts the pods; Sluiceway's engine, watching the run, decides what each one does and hands it a ticket
(sluiceway/core/tickets.py), so that a pipeline means what docs/explanation/semantics.md says on Argo too. The
Workflow therefore mirrors the graph so that Argo starts each pod when the engine may need it:

- each level (the pipeline, a branch, a loop body, an exit handler's body, a nested pipeline's graph) is a DAG
  template taking the instance path `prefix` of its nodes; a task is a container template running the executor;
- edges are `depends` expressions over the lifted edges of the level (DEP-1): `P.Succeeded` for a data edge, a
  bare `P` (Succeeded, Skipped or Daemoned) for an ordering or collected edge, so that a branch not taken or an
  empty loop (Skipped) does not block what runs after it, and a failure stops its dependants (they are Omitted);
- a condition is a DAG of a driver step, which writes the index of the branch the engine took, and one task per
  branch with `when` on that index; a loop is a DAG of a driver step, which writes the iteration indices, and the
  body fanned out with `withParam` under the loop's `parallelism`;
- an exit handler is the DAG task of its body with `hooks.exit` running the exit task, or `spec.onExit` when it
  guards the whole pipeline;
- every task template carries `retryStrategy` (limit, `retryPolicy: Always`, backoff) and, with a timeout,
  `activeDeadlineSeconds`, always explicit (TIME-6); output values are `outputs.parameters` read from the files the
  executor writes (`valueFrom.path`), for display; consumers take their inputs from their tickets.

IntOrString fields are written as strings, which both Argo's JSON Schema and its CRD accept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...core import ir, types
from ...core.errors import Unsupported
from ...core.graph import level
from ...core.tickets import BRANCH_OUTPUT, ITERATIONS_OUTPUT, OUTPUTS_DIR
from ..kube.pods import (
    RUN_LABEL,
    TASK_LABEL,
    PodSettings,
    hashed_name,
    label_value,
    node_selector_of,
    secret_volumes,
    ticket_container,
)
from ..kube.workflow import ENGINE_DEADLINE_MARGIN_SECONDS, Submission

API_VERSION = "argoproj.io/v1alpha1"
PIPELINE_LABEL = "sluiceway.dev/pipeline"
MAX_TEMPLATE_NAME = 128
ENTRYPOINT = "pipeline"
TICKETS_PARAMETER = "sluiceway-tickets"
"""The workflow parameter holding the run's tickets root (core/tickets.py): filled in at submission."""
STORES_PARAMETER = "sluiceway-stores"
"""The workflow parameter holding the artifact stores' settings as JSON (STORES_ENV), to read tickets with."""
PREFIX = "prefix"
WITHIN = "within"
"""The instance paths of the groups around a template's instances, space-separated: a pod ends unrun when one of them
ended without creating its instance (an iteration never opened)."""
HANDLER = "handler"
"""An exit task's exit handler: the exit task ends unrun when the handler was never entered."""
INSTANCE = "instance"
P = "{{inputs.parameters.prefix}}"
W = "{{inputs.parameters.within}}"
DRIVER, BODY = "driver", "body"


class ArgoRefusal(Unsupported):
    """The pipeline uses a feature the argo backend cannot express (docs/reference/backends.md lists them)."""


def render_workflow(pipeline: ir.Pipeline, settings: PodSettings, submission: Submission | None = None) -> dict[str, Any]:
    """The Workflow of `pipeline`; without a `submission`, for `sluiceway compile --target argo` (the run's values are
    then workflow parameters to fill in)."""
    return _Renderer(pipeline, settings).workflow(submission)


@dataclass
class _Renderer:
    pipeline: ir.Pipeline
    settings: PodSettings
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def workflow(self, submission: Submission | None) -> dict[str, Any]:
        nodes = self.pipeline.nodes
        spec: dict[str, Any] = {"entrypoint": ENTRYPOINT}
        whole_handler = nodes[0] if len(nodes) == 1 and isinstance(nodes[0], ir.ExitHandler) else None
        if whole_handler is not None:  # it guards the whole pipeline: Argo's own exit handler
            self._dag(ENTRYPOINT, whole_handler.nodes, scope="main")
            spec["onExit"] = self._task_template("main", whole_handler.exit_task, instance=whole_handler.exit_task.name)
        else:
            self._dag(ENTRYPOINT, nodes, scope="main")
        spec["arguments"] = {"parameters": self._workflow_parameters(submission)}
        spec["templates"] = [self.templates[name] for name in sorted(self.templates, key=lambda n: (n != ENTRYPOINT, n))]
        spec["ttlStrategy"] = {"secondsAfterCompletion": self.settings.ttl_seconds_after_finished}
        spec["podMetadata"] = {"labels": dict(self.settings.labels), "annotations": dict(self.settings.annotations)}
        if self.settings.service_account:
            spec["serviceAccountName"] = self.settings.service_account
        if self.settings.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": secret} for secret in self.settings.image_pull_secrets]
        if self.settings.node_selector:
            spec["nodeSelector"] = dict(self.settings.node_selector)
        if self.settings.tolerations:
            spec["tolerations"] = [dict(toleration) for toleration in self.settings.tolerations]
        metadata: dict[str, Any] = {"namespace": self.settings.namespace, "labels": {PIPELINE_LABEL: label_value(self.pipeline.name)}}
        if submission is None:
            metadata["generateName"] = f"{hashed_name(self.pipeline.name, 50)}-"
        else:
            metadata["name"] = submission.name
            metadata["labels"][RUN_LABEL] = label_value(submission.run_id)
            metadata["annotations"] = {RUN_LABEL: submission.run_id}
            spec["podMetadata"]["labels"][RUN_LABEL] = label_value(submission.run_id)
            if submission.timeout_seconds is not None:  # TIME-3, Sluiceway's first; exit handlers are exempt, as Argo exempts them
                spec["activeDeadlineSeconds"] = max(1, math.ceil(submission.timeout_seconds)) + ENGINE_DEADLINE_MARGIN_SECONDS
            if submission.max_parallel is not None:
                spec["parallelism"] = submission.max_parallel
        return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": spec}

    def _workflow_parameters(self, submission: Submission | None) -> list[dict[str, Any]]:
        tickets = {"name": TICKETS_PARAMETER}
        stores = {"name": STORES_PARAMETER}
        if submission is not None:
            tickets["value"], stores["value"] = submission.tickets_root, submission.stores_json
        return [tickets, stores, {"name": PREFIX, "value": ""}, {"name": WITHIN, "value": ""}]

    # --- levels -------------------------------------------------------------------------------

    def _dag(self, name: str, nodes: tuple[ir.Node, ...], scope: str) -> str:
        """A DAG template for one level of nodes (its tasks get their instance paths from `prefix`, and the groups
        around them from `within`); its name."""
        if name in self.templates:
            return name
        self.templates[name] = {}  # claimed first: a nested pipeline may appear again below
        graph = level(nodes)
        tasks = []
        for node in nodes:
            if isinstance(node, ir.Importer):
                continue  # recorded by the engine; nothing runs in a pod
            task: dict[str, Any] = {"name": node.name, **self._call(node, scope)}
            depends = self._depends(node.name, nodes, graph.waits_for)
            if depends:
                task["depends"] = depends
            tasks.append(task)
        if not tasks:
            raise ArgoRefusal(f"a group in {scope} holds only importers: the argo backend needs a task in every group")
        self.templates[name] = _dag_template(name, tasks)
        return name

    def _call(self, node: ir.Node, scope: str) -> dict[str, Any]:
        """How a level's DAG task runs `node`: the template it calls, and with what."""
        here, inside = f"{P}{node.name}", f"{W} {P}{node.name}"  # its instance path; the groups around what it holds
        if isinstance(node, ir.Task):
            component = self.pipeline.components[node.component]
            if isinstance(component.implementation, ir.Graph):  # a nested pipeline: its graph's DAG, one level deeper
                template = self._dag(self._name("graph", node.component), component.implementation.nodes, scope=node.component)
                return _calling(template, {PREFIX: f"{here}/", WITHIN: inside})
            return _calling(self._task_template(scope, node), {INSTANCE: here, WITHIN: W})
        if isinstance(node, ir.Condition):
            return _calling(self._condition(node, scope), {PREFIX: P, WITHIN: W})
        if isinstance(node, ir.Loop):
            return _calling(self._loop(node, scope), {PREFIX: P, WITHIN: W})
        assert isinstance(node, ir.ExitHandler)
        call = _calling(self._dag(self._name(scope, node.name), node.nodes, scope), {PREFIX: P, WITHIN: inside})
        # The exit task sits beside its handler (EXIT-6): it ends unrun only if the handler was never entered.
        exit_task = self._task_template(scope, node.exit_task, exit_task=True)
        return {**call, "hooks": {"exit": _calling(exit_task, {INSTANCE: f"{P}{node.exit_task.name}", WITHIN: W, HANDLER: here})}}

    def _depends(self, name: str, nodes: tuple[ir.Node, ...], waits_for: dict[str, dict[str, str]]) -> str:
        """The `depends` expression of a level's DAG task: its edges, through importers (which have no DAG task; an
        edge through one is as strong as the importer's own edge)."""
        importers = {node.name for node in nodes if isinstance(node, ir.Importer)}
        strongest: dict[str, str] = {}
        pending, seen = list(waits_for[name].items()), set()
        while pending:
            upstream, kind = pending.pop()
            if upstream in importers:
                if upstream not in seen:
                    seen.add(upstream)
                    pending.extend(waits_for[upstream].items())
            elif kind == "data" or upstream not in strongest:
                strongest[upstream] = kind
        return " && ".join(f"{upstream}.Succeeded" if kind == "data" else upstream for upstream, kind in sorted(strongest.items()))

    # --- groups -------------------------------------------------------------------------------

    def _condition(self, condition: ir.Condition, scope: str) -> str:
        """A DAG: the driver writes the taken branch's index; each branch runs `when` it is that index."""
        name = self._name(scope, condition.name)
        driver = self._driver(scope, condition.name, BRANCH_OUTPUT, "condition")
        tasks: list[dict[str, Any]] = [{"name": DRIVER, **_calling(driver, {INSTANCE: f"{P}{condition.name}", WITHIN: W})}]
        for index, branch in enumerate(condition.branches):
            if not any(not isinstance(node, ir.Importer) for node in branch.nodes):
                continue
            template = self._dag(self._name(scope, condition.name, f"branch-{index}"), branch.nodes, scope)
            tasks.append(
                {
                    "name": f"branch-{index}",
                    **_calling(template, {PREFIX: P, WITHIN: f"{W} {P}{condition.name}"}),
                    "depends": DRIVER,
                    "when": f"{{{{tasks.{DRIVER}.outputs.parameters.{BRANCH_OUTPUT}}}}} == {index}",
                }
            )
        self.templates[name] = _dag_template(name, tasks)
        return name

    def _loop(self, loop: ir.Loop, scope: str) -> str:
        """A DAG: the driver writes the iteration indices; the body runs once per index, `parallelism` at a time."""
        name = self._name(scope, loop.name)
        body = self._dag(self._name(scope, loop.name, BODY), loop.nodes, scope)
        driver = self._driver(scope, loop.name, ITERATIONS_OUTPUT, "loop")
        tasks = [
            {"name": DRIVER, **_calling(driver, {INSTANCE: f"{P}{loop.name}", WITHIN: W})},
            {
                "name": BODY,
                **_calling(body, {PREFIX: f"{P}{loop.name}/{{{{item}}}}/", WITHIN: f"{W} {P}{loop.name}"}),
                "depends": DRIVER,
                "withParam": f"{{{{tasks.{DRIVER}.outputs.parameters.{ITERATIONS_OUTPUT}}}}}",
            },
        ]
        template = _dag_template(name, tasks)
        if loop.parallelism:
            template["parallelism"] = loop.parallelism  # LOOP-4: the body's iterations at once (the driver is done by then)
        self.templates[name] = template
        return name

    # --- pods ---------------------------------------------------------------------------------

    def _driver(self, scope: str, group: str, output: str, kind: str) -> str:
        """A step that writes what the engine decided for a condition or loop, for Argo to branch or fan out on."""
        name = self._name(scope, group, DRIVER)
        args = [*_ticket_args(f"{{{{inputs.parameters.{INSTANCE}}}}}", "0"), "--driver", kind]
        self.templates[name] = {
            "name": name,
            "inputs": {"parameters": [{"name": INSTANCE}, {"name": WITHIN}]},
            "metadata": {"labels": {TASK_LABEL: label_value(group)}},
            "container": self._container(None, ir.TaskSettings(), args),
            "volumes": [{"name": "work", "emptyDir": {}}],
            "outputs": {"parameters": [{"name": output, "valueFrom": {"path": f"{OUTPUTS_DIR}/{output}"}}]},
            "retryStrategy": {"limit": "0", "retryPolicy": "Always"},
        }
        return name

    def _task_template(self, scope: str, task: ir.Task, instance: str | None = None, exit_task: bool = False) -> str:
        """The container template of a task; with `instance`, one for that instance alone (the workflow's onExit,
        which Argo calls without arguments)."""
        name = self._name(scope, task.name)
        component = self.pipeline.components[task.component]
        settings = task.settings
        template: dict[str, Any] = {"name": name}
        if instance is None:
            template["inputs"] = {"parameters": [{"name": INSTANCE}, {"name": WITHIN}, *([{"name": HANDLER}] if exit_task else [])]}
            args = _ticket_args(f"{{{{inputs.parameters.{INSTANCE}}}}}", "{{retries}}", handler=exit_task)
        else:
            args = _ticket_args(instance, "{{retries}}", within="")
        template["metadata"] = {"labels": {TASK_LABEL: label_value(task.name)}}
        template["container"] = self._container(component, settings, args)
        template["volumes"] = [{"name": "work", "emptyDir": {}}, *secret_volumes(settings.secrets)]
        values = [spec.name for spec in component.outputs if not types.is_artifact(spec.type)]
        if values:  # for display: Argo shows them on the node; nothing reads them back
            template["outputs"] = {
                "parameters": [{"name": value, "valueFrom": {"path": f"{OUTPUTS_DIR}/{value}", "default": ""}} for value in values]
            }
        template["retryStrategy"] = _retry_strategy(task)
        if settings.timeout_seconds is not None:  # TIME-1: per pod, so per attempt
            template["activeDeadlineSeconds"] = str(max(1, math.ceil(settings.timeout_seconds)))
        node_selector = node_selector_of(settings, self.settings)
        if settings.node_selector:
            template["nodeSelector"] = node_selector
        self.templates[name] = template
        return name

    def _container(self, component: ir.Component | None, settings: ir.TaskSettings, args: list[str]) -> dict[str, Any]:
        stores = f"{{{{workflow.parameters.{STORES_PARAMETER}}}}}"
        return ticket_container(component, settings, self.settings, backend="argo", executor_args=args, stores=stores)

    def _name(self, *parts: str) -> str:
        """A template name from the node's place (scope: `main` or the nested pipeline's component; the node; what the
        template does for it), ending with a hash of the parts: unique, since node names are unique in a graph, and
        within Argo's 128 characters (ART-9)."""
        return hashed_name("/".join(parts), MAX_TEMPLATE_NAME)


def _ticket_args(instance: str, retry: str, *, within: str | None = None, handler: bool = False) -> list[str]:
    """The executor's arguments in a pod: its ticket (core/tickets.py), the groups around it, where outputs go."""
    groups = f"{{{{inputs.parameters.{WITHIN}}}}}" if within is None else within
    args = ["--ticket", f"{{{{workflow.parameters.{TICKETS_PARAMETER}}}}}", "--instance", instance, "--retry", retry, "--within", groups]
    if handler:
        args += ["--handler", f"{{{{inputs.parameters.{HANDLER}}}}}"]
    return [*args, "--outputs", f"{OUTPUTS_DIR}/"]


def _dag_template(name: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "inputs": {"parameters": [{"name": PREFIX}, {"name": WITHIN}]}, "dag": {"tasks": tasks}}


def _calling(template: str, parameters: dict[str, str]) -> dict[str, Any]:
    return {"template": template, "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]}}


def _retry_strategy(task: ir.Task) -> dict[str, Any]:
    """RETRY-1, RETRY-2: every failure retried (`Always`; Argo's default retries only non-zero exits), N times."""
    retry = task.settings.retry
    strategy: dict[str, Any] = {"limit": str(retry.max_retries if retry else 0), "retryPolicy": "Always"}
    if retry is not None and retry.backoff_seconds > 0:
        if retry.backoff_factor != int(retry.backoff_factor):
            raise ArgoRefusal(
                f"task '{task.name}': a retry backoff factor of {retry.backoff_factor:g}; Argo's backoff factor is a whole number"
            )
        strategy["backoff"] = {
            "duration": f"{retry.backoff_seconds:g}s",
            "factor": str(int(retry.backoff_factor)),
            "cap": f"{retry.backoff_max_seconds:g}s",
        }
    return strategy


__all__ = ["API_VERSION", "ArgoRefusal", "Submission", "render_workflow"]
