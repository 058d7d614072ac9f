"""A pipeline run as a Tekton `PipelineRun` (tekton.dev/v1) with an embedded pipelineSpec and taskSpecs.

Tekton starts the pods; Sluiceway's engine, watching the run, decides what each one does and hands it a ticket
(sluiceway/core/tickets.py), so that a pipeline means what docs/explanation/semantics.md says on Tekton too. Tekton
has no nested DAGs, so the graph is flattened into one pipeline whose tasks start when the engine may need them:

- every task is a pipeline task with one step running the executor; names are the node's path in the graph, cut
  and hashed to a DNS-1123 label (ART-9) when they do not fit;
- edges are `runAfter` (DEP-1): an edge to a group waits for every task inside it, and a node inside a group also
  waits for what the group waits for. A failure makes Tekton stop starting tasks, as FAIL-2 wants;
- a condition is a driver task writing the index of the branch the engine took (result `branch`); the tasks of
  branch i carry `when: branch in [i]`, a skip that does not cascade over `runAfter` [BS §2.4];
- a loop is a driver task writing the iteration indices (array result `iterations`) and whether there are none
  (`empty`); its body's tasks are matrixed over the indices, with `when: empty in [false]`, because an empty matrix
  skip would cascade [BS §2.4];
- every exit task is a `finally` task (Tekton has `finally` only at the top, [BS §2.6]);
- `retries` and, with a timeout, `timeout` on every task, and `timeouts` on the run, always explicit (TIME-6,
  Tekton's default is 60 minutes); output values are written as results for display, each run of the executor
  keeping their sum under Tekton's 4096-byte termination message by storing larger ones in the artifact store.

Refused (docs/reference/backends.md): a loop inside a loop, a condition or an exit handler inside a loop, and a loop
with a parallelism limit whose body holds more than one task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ...core import ir, types
from ...core.errors import Unsupported
from ...core.graph import level
from ...core.tickets import BRANCH_OUTPUT, EMPTY_OUTPUT, ITERATIONS_OUTPUT
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

API_VERSION = "tekton.dev/v1"
PIPELINE_LABEL = "sluiceway.dev/pipeline"
RESULTS_DIR = "/tekton/results"
RESULTS_LIMIT = 3072
"""Bytes of results an executor may write: Tekton's termination message holds 4096 per step, its own data included."""
ITERATION = "iteration"
TICKETS_PARAMETER = "sluiceway-tickets"
STORES_PARAMETER = "sluiceway-stores"
DEFAULT_EXIT_TIMEOUT_SECONDS = 600.0
"""E of docs/explanation/semantics.md (TIME-4), when no run says otherwise."""


class TektonRefusal(Unsupported):
    """The pipeline uses a feature the tekton backend cannot express (docs/reference/backends.md lists them)."""


def render_pipeline_run(pipeline: ir.Pipeline, settings: PodSettings, submission: Submission | None = None) -> dict[str, Any]:
    """The PipelineRun of `pipeline`; without a `submission`, for `sluiceway compile --target tekton` (the run's values
    are then parameters to fill in)."""
    renderer = _Renderer(pipeline, settings)
    renderer.level(pipeline.nodes, _Place())
    return renderer.pipeline_run(submission)


@dataclass(frozen=True)
class _Place:
    """Where a level of nodes sits once flattened: what its tasks inherit from the groups around them."""

    path: str = ""
    """The nested-pipeline tasks around the level, for names: 'prepare/' (node names are unique within one graph)."""
    instance: str = ""
    """The instance path prefix, with the iteration as a Tekton variable inside a loop: 'for-loop/$(params.iteration)/'."""
    after: frozenset[str] = frozenset()
    """Pipeline tasks every task here runs after (the edges of the groups around it)."""
    when: tuple[dict[str, Any], ...] = ()
    matrix: dict[str, Any] | None = None
    """The enclosing loop's matrix, if any."""
    loop: str | None = None
    """The enclosing loop's name, if any."""
    waits_for_slot: bool = False
    """Its iterations may wait for a slot (LOOP-4): their pods start before the engine opens them."""
    within: tuple[str, ...] = ()
    """The instance paths of the groups around it: a pod ends unrun when one ended without creating its instance."""


@dataclass
class _Renderer:
    pipeline: ir.Pipeline
    settings: PodSettings
    tasks: list[dict[str, Any]] = field(default_factory=list)
    finally_tasks: list[dict[str, Any]] = field(default_factory=list)
    node_selectors: dict[str, dict[str, str]] = field(default_factory=dict)

    def pipeline_run(self, submission: Submission | None) -> dict[str, Any]:
        parameters = [{"name": TICKETS_PARAMETER, "type": "string"}, {"name": STORES_PARAMETER, "type": "string"}]
        pipeline_spec: dict[str, Any] = {"params": parameters, "tasks": self.tasks}
        if self.finally_tasks:
            pipeline_spec["finally"] = self.finally_tasks
        spec: dict[str, Any] = {"pipelineSpec": pipeline_spec}
        metadata: dict[str, Any] = {"namespace": self.settings.namespace, "labels": {PIPELINE_LABEL: label_value(self.pipeline.name)}}
        if submission is None:
            metadata["generateName"] = f"{hashed_name(self.pipeline.name, 50)}-"
            spec["timeouts"] = _timeouts(None, DEFAULT_EXIT_TIMEOUT_SECONDS)
        else:
            metadata["name"] = submission.name
            metadata["labels"][RUN_LABEL] = label_value(submission.run_id)
            metadata["annotations"] = {RUN_LABEL: submission.run_id}
            spec["params"] = [
                {"name": TICKETS_PARAMETER, "value": submission.tickets_root},
                {"name": STORES_PARAMETER, "value": submission.stores_json},
            ]
            spec["timeouts"] = _timeouts(submission.timeout_seconds, submission.exit_timeout_seconds)
        template = self._task_run_template()
        if template:
            spec["taskRunTemplate"] = template
        if self.node_selectors:
            spec["taskRunSpecs"] = [
                {"pipelineTaskName": name, "podTemplate": {"nodeSelector": selector}} for name, selector in self.node_selectors.items()
            ]
        return {"apiVersion": API_VERSION, "kind": "PipelineRun", "metadata": metadata, "spec": spec}

    def _task_run_template(self) -> dict[str, Any]:
        pod: dict[str, Any] = {}
        if self.settings.node_selector:
            pod["nodeSelector"] = dict(self.settings.node_selector)
        if self.settings.tolerations:
            pod["tolerations"] = [dict(toleration) for toleration in self.settings.tolerations]
        if self.settings.image_pull_secrets:
            pod["imagePullSecrets"] = [{"name": secret} for secret in self.settings.image_pull_secrets]
        template: dict[str, Any] = {}
        if self.settings.service_account:
            template["serviceAccountName"] = self.settings.service_account
        if pod:
            template["podTemplate"] = pod
        return template

    # --- levels -------------------------------------------------------------------------------

    def level(self, nodes: tuple[ir.Node, ...], place: _Place) -> list[str]:
        """Flatten one level of nodes; the pipeline tasks made for it."""
        graph = level(nodes)
        made: dict[str, list[str]] = {}
        for node in nodes:
            after = set(place.after)
            for upstream in self._upstream(node.name, graph.waits_for, {n.name for n in nodes if isinstance(n, ir.Importer)}):
                after.update(made[upstream])
            made[node.name] = self._node(node, replace(place, after=frozenset(after)))
        return [name for names in made.values() for name in names]

    def _upstream(self, name: str, waits_for: dict[str, dict[str, str]], importers: set[str]) -> set[str]:
        """The nodes of the level `name` waits for, through importers (which make no pipeline task)."""
        found: set[str] = set()
        pending, seen = list(waits_for[name]), set()
        while pending:
            upstream = pending.pop()
            if upstream in importers:
                if upstream not in seen:
                    seen.add(upstream)
                    pending.extend(waits_for[upstream])
            else:
                found.add(upstream)
        return found

    def _node(self, node: ir.Node, place: _Place) -> list[str]:
        if isinstance(node, ir.Importer):
            return []  # recorded by the engine; nothing runs in a pod
        here = f"{place.instance}{node.name}"
        if isinstance(node, ir.Task):
            component = self.pipeline.components[node.component]
            if isinstance(component.implementation, ir.Graph):  # a nested pipeline, flattened one path segment deeper
                inner = replace(place, path=f"{place.path}{node.name}/", instance=f"{here}/", within=(*place.within, here))
                return self.level(component.implementation.nodes, inner)
            return [self._task(node, place)]
        if isinstance(node, ir.Condition):
            return self._condition(node, place)
        if isinstance(node, ir.Loop):
            return self._loop(node, place)
        assert isinstance(node, ir.ExitHandler)
        if place.matrix is not None:
            raise TektonRefusal(
                f"exit handler '{node.name}' is inside ParallelFor '{place.loop}': the tekton backend runs exit tasks as "
                "`finally` tasks, which cannot be fanned out per iteration"
            )
        made = self.level(node.nodes, replace(place, within=(*place.within, here)))
        # The exit task sits beside its handler (EXIT-6): it ends unrun only if the handler was never entered.
        exit_place = replace(place, after=frozenset(), when=())
        self.finally_tasks.append(self._task_body(node.exit_task, exit_place, finally_task=True, handler=here))
        return made

    def _condition(self, condition: ir.Condition, place: _Place) -> list[str]:
        if place.matrix is not None:
            raise TektonRefusal(
                f"condition '{condition.name}' is inside ParallelFor '{place.loop}': Tekton evaluates `when` once per "
                "matrixed task, not per iteration, so the tekton backend cannot branch in each iteration"
            )
        driver = self._driver(condition.name, place, [{"name": BRANCH_OUTPUT, "type": "string"}], "condition")
        made = [driver]
        for index, branch in enumerate(condition.branches):
            when = {"input": f"$(tasks.{driver}.results.{BRANCH_OUTPUT})", "operator": "in", "values": [str(index)]}
            within = (*place.within, f"{place.instance}{condition.name}")
            made += self.level(branch.nodes, replace(place, after=place.after | {driver}, when=(*place.when, when), within=within))
        return made

    def _loop(self, loop: ir.Loop, place: _Place) -> list[str]:
        if place.matrix is not None:
            raise TektonRefusal(
                f"ParallelFor '{loop.name}' is inside ParallelFor '{place.loop}': the tekton backend fans a loop out as a "
                "matrix, and Tekton does not fan a matrix out again"
            )
        if loop.parallelism and (len(loop.nodes) != 1 or not isinstance(loop.nodes[0], ir.Task) or self._is_graph(loop.nodes[0])):
            raise TektonRefusal(
                f"ParallelFor '{loop.name}' has a parallelism of {loop.parallelism} and more than one task in its body: Tekton runs "
                "each body task over every iteration at once (a matrix waits for all of the task before it), so "
                "iterations cannot be run a few at a time; drop the limit, or keep one task in the body"
            )
        results = [{"name": ITERATIONS_OUTPUT, "type": "array"}, {"name": EMPTY_OUTPUT, "type": "string"}]
        driver = self._driver(loop.name, place, results, "loop")
        inner = _Place(
            path=place.path,
            instance=f"{place.instance}{loop.name}/$(params.{ITERATION})/",
            after=place.after | {driver},
            # An empty matrix skips its task and everything after it [BS §2.4]; a `when` skip does not cascade.
            when=(*place.when, {"input": f"$(tasks.{driver}.results.{EMPTY_OUTPUT})", "operator": "in", "values": ["false"]}),
            matrix={"params": [{"name": ITERATION, "value": f"$(tasks.{driver}.results.{ITERATIONS_OUTPUT}[*])"}]},
            loop=loop.name,
            waits_for_slot=loop.parallelism > 0,
            within=(*place.within, f"{place.instance}{loop.name}"),
        )
        return [driver, *self.level(loop.nodes, inner)]

    def _is_graph(self, node: ir.Node) -> bool:
        return isinstance(node, ir.Task) and isinstance(self.pipeline.components[node.component].implementation, ir.Graph)

    # --- tasks --------------------------------------------------------------------------------

    def _driver(self, group: str, place: _Place, results: list[dict[str, Any]], kind: str) -> str:
        """A task that writes what the engine decided for a condition or loop, as results Tekton branches or fans out on."""
        name = _task_name(f"{place.path}{group}/driver")
        step = self._step(None, ir.TaskSettings(), f"{place.instance}{group}", "0", place.within, driver=kind)
        task_spec: dict[str, Any] = {
            "params": self._declared_params(place),
            "results": results,
            "steps": [step],
            "volumes": [{"name": "work", "emptyDir": {}}],
        }
        task: dict[str, Any] = {"name": name, "taskSpec": task_spec, "params": self._passed_params(), "retries": 0}
        self._place_task(task, place)
        task["taskSpec"]["metadata"] = {"labels": {TASK_LABEL: label_value(group)}}
        self.tasks.append(task)
        return name

    def _task(self, task: ir.Task, place: _Place) -> str:
        body = self._task_body(task, place, finally_task=False)
        self.tasks.append(body)
        return str(body["name"])

    def _task_body(self, task: ir.Task, place: _Place, *, finally_task: bool, handler: str | None = None) -> dict[str, Any]:
        # Tekton names a matrixed task's TaskRuns NAME-0, NAME-1, ...: "each" and a hash keep them from ever being
        # another task's TaskRun name (a task `add-2` beside a loop whose body task is `add`).
        name = _task_name(f"{place.path}{task.name}" + ("/each" if place.matrix is not None else ""))
        component = self.pipeline.components[task.component]
        settings = task.settings
        values = [spec.name for spec in component.outputs if not types.is_artifact(spec.type)]
        instance = f"{place.instance}{task.name}"
        step = self._step(component, settings, instance, "$(context.task.retry-count)", place.within, handler=handler)
        task_spec: dict[str, Any] = {"metadata": {"labels": {TASK_LABEL: label_value(task.name)}}, "params": self._declared_params(place)}
        if values:  # for display; nothing reads them back
            task_spec["results"] = [{"name": value, "type": "string"} for value in values]
        task_spec["steps"] = [step]
        task_spec["volumes"] = [{"name": "work", "emptyDir": {}}, *secret_volumes(settings.secrets)]
        body: dict[str, Any] = {"name": name, "taskSpec": task_spec, "params": self._passed_params()}
        retry = settings.retry
        body["retries"] = retry.max_retries if retry else 0
        if settings.timeout_seconds is not None:
            # TIME-1: Tekton times each attempt; a pod that may wait for its loop slot (LOOP-4) is timed by Sluiceway.
            body["timeout"] = "0s" if place.waits_for_slot else _seconds(settings.timeout_seconds)
        if not finally_task:
            self._place_task(body, place)
        if settings.node_selector:
            self.node_selectors[name] = node_selector_of(settings, self.settings)
        return body

    def _place_task(self, task: dict[str, Any], place: _Place) -> None:
        if place.after:
            task["runAfter"] = sorted(place.after)
        if place.when:
            task["when"] = list(place.when)
        if place.matrix is not None:
            task["matrix"] = place.matrix

    def _declared_params(self, place: _Place) -> list[dict[str, Any]]:
        params = [{"name": TICKETS_PARAMETER, "type": "string"}, {"name": STORES_PARAMETER, "type": "string"}]
        if place.matrix is not None:
            params.append({"name": ITERATION, "type": "string"})
        return params

    def _passed_params(self) -> list[dict[str, Any]]:
        return [{"name": name, "value": f"$(params.{name})"} for name in (TICKETS_PARAMETER, STORES_PARAMETER)]

    def _step(
        self,
        component: ir.Component | None,
        settings: ir.TaskSettings,
        instance: str,
        retry: str,
        within: tuple[str, ...],
        *,
        handler: str | None = None,
        driver: str | None = None,
    ) -> dict[str, Any]:
        args = ["--ticket", f"$(params.{TICKETS_PARAMETER})", "--instance", instance, "--retry", retry, "--within", " ".join(within)]
        args += [*(["--handler", handler] if handler else []), *(["--driver", driver] if driver else [])]
        args += ["--outputs", f"{RESULTS_DIR}/", "--outputs-limit", str(RESULTS_LIMIT)]
        stores = f"$(params.{STORES_PARAMETER})"
        step = ticket_container(component, settings, self.settings, backend="tekton", executor_args=args, stores=stores)
        if "resources" in step:
            step["computeResources"] = step.pop("resources")  # a Tekton step's name for them
        return step


def _task_name(path: str) -> str:
    """A pipeline task's name: its path in the graph, which node names keep unique, as a DNS-1123 label (ART-9)."""
    return hashed_name(path.rstrip("/"))


def _seconds(value: float) -> str:
    return f"{max(1, math.ceil(value))}s"


def _timeouts(timeout_seconds: float | None, exit_timeout_seconds: float) -> dict[str, str]:
    """TIME-3 and TIME-4 as Tekton's timeouts, always explicit ("0s": none; its default is 60 minutes [BS §2.9]).
    Sluiceway's engine stops the run at its deadline itself; Tekton's, a margin later, bounds a run no longer followed."""
    exit_budget = _seconds(exit_timeout_seconds) if exit_timeout_seconds > 0 else "0s"
    if timeout_seconds is None:
        return {"pipeline": "0s", "tasks": "0s", "finally": exit_budget}
    tasks = math.ceil(timeout_seconds) + ENGINE_DEADLINE_MARGIN_SECONDS
    if exit_timeout_seconds <= 0:
        return {"pipeline": "0s", "tasks": f"{tasks}s", "finally": "0s"}
    return {"pipeline": f"{tasks + math.ceil(exit_timeout_seconds)}s", "tasks": f"{tasks}s", "finally": exit_budget}
