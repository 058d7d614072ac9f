"""One pass over a `dag` template's tasks, as Argo v4's Engine makes it (A: workflow/controller/engine.go,
workflow/controller/dag/argo.go, README.md there): every task in dependency order, each evaluated just before it is
acted on, then the DAG's phase assessed.

- A task waits until each dependency is fulfilled and its exit hooks have finished; then its `depends` decides:
  false makes it Omitted ("omitted: depends condition not met"), which its own dependants see in the same pass.
- A task that may run resolves its arguments, expands `withItems`/`withParam` into a TaskGroup of items named
  `task(i:label)` (an empty list: Skipped, "Skipped, empty params"), evaluates `when` per item (false: Skipped),
  and runs its template. `hooks.exit` runs after each of its nodes that ran (A: docs/lifecyclehook.md).
- The DAG is Running while any of its nodes runs; then its targets (the leaf tasks) decide: a target's branch phase is
  its own once it completed, else (Skipped, Omitted) the worst of its dependencies'; a Failed or Errored branch fails
  the DAG. With failFast (the default) no new task starts once a finished target's branch has failed
  (A: docs/walk-through/dag.md; backend-semantics 1.1).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .expressions import RESULTS, ExpressionError, depends_of, depends_tasks, evaluate_depends, evaluate_when
from .nodes import COMPLETED, FAILED, FULFILLED, Call, Node, finish, link, worse
from .spec import SpecError
from .variables import ABSENT, Unresolved, item_label, item_scope, substitute, text
from .variables import arguments as resolve_arguments

if TYPE_CHECKING:
    from .operator import Operation

_PHASE_RESULT = {"Succeeded": "Succeeded", "Failed": "Failed", "Error": "Errored", "Skipped": "Skipped", "Omitted": "Omitted"}
_NO_ITEM = object()
_ITEM_INDEX = re.compile(r"\((\d+):")


def _item_index(item: Node) -> int:
    """The index of an item node, from its display name `task(i:label)`."""
    match = _ITEM_INDEX.search(item["displayName"])
    return int(match.group(1)) if match else 0


class DagRun:
    def __init__(self, operation: Operation, call: Call, template: dict[str, Any], inputs: dict[str, str]) -> None:
        self.op, self.call, self.template = operation, call, template
        self.inputs = inputs
        self.tasks: dict[str, dict[str, Any]] = {task["name"]: task for task in template["dag"]["tasks"]}
        self.deps = {name: depends_tasks(depends_of(task)) for name, task in self.tasks.items()}
        needed = {dependency for dependencies in self.deps.values() for dependency in dependencies}
        self.targets = sorted(name for name in self.tasks if name not in needed)
        self.fail_fast = template["dag"].get("failFast", True) is not False
        self.base = {**operation.globals, **{f"inputs.parameters.{name}": value for name, value in inputs.items()}}
        self.no_new = False  # set for the pass: no task may start (shutdown, deadline, failFast)

    def run(self) -> Node:
        node = self.op.node(self.call.name)
        if node is None:
            node = self.op.add(self.op.new(self.call, "DAG", "Running"))
            if self.inputs:
                node["inputs"] = {"parameters": [{"name": key, "value": value} for key, value in self.inputs.items()]}
        self.node = node
        self.no_new = self.op.halted(self.call.on_exit) or (self.fail_fast and self._failure_decided())
        for name in self._order():
            self._visit(name)
            self._hooks(name)
        phase, message = self._assess()
        if phase in FULFILLED:
            self._complete(phase, message)
        return node

    def _order(self) -> list[str]:
        """The tasks, each after its dependencies (dag.PullOrder)."""
        order: list[str] = []

        def pull(name: str) -> None:
            if name not in order:
                for dependency in self.deps[name]:
                    pull(dependency)
                order.append(name)

        for target in self.targets:
            pull(target)
        return order

    # Nodes of this DAG.

    def _task_node(self, name: str) -> Node | None:
        return self.op.node(f"{self.node['name']}.{name}")

    def _call(self, name: str, display: str, template: str, arguments: list[dict[str, Any]]) -> Call:
        return Call(name, display, template, arguments, self.node["id"], self.call.on_exit)

    def _record(self, task: str, name: str, display: str, kind: str, phase: str, message: str, parents: list[Node]) -> Node:
        """A node that runs nothing (Omitted, Skipped, TaskGroup, or an Error found before running)."""
        call = self._call(name, display, self.tasks[task]["template"], [])
        node = self.op.add(self.op.new(call, kind, phase, message))
        for parent in parents:
            link(parent, node)
        return node

    def _items(self, node: Node) -> list[Node]:
        """The nodes of a task that ran its template: the items of a TaskGroup, in item order, or the node itself."""
        if node["type"] != "TaskGroup":
            return [node]
        items = [self.op.nodes[child] for child in node.get("children", [])]
        return sorted(items, key=_item_index)

    def _finished(self, name: str, node: Node) -> bool:
        """Fulfilled, with the exit hooks of whatever of it ran fulfilled too: only then do dependants see it."""
        if node["phase"] not in FULFILLED:
            return False
        if not (self.tasks[name].get("hooks") or {}).get("exit"):
            return True
        for run in self._items(node):
            hook = self.op.node(f"{run['name']}.onExit")
            if run["phase"] not in COMPLETED:
                continue
            if hook is None and not self.op.halted(True):  # it starts in this pass, right after the task's visit
                return False
            if hook is not None and hook["phase"] not in FULFILLED:
                return False
        return True

    def _outbound(self, node: Node) -> list[Node]:
        """The nodes a dependant hangs off: a pod itself, a Retry's last attempt, a TaskGroup's items, a DAG's ends."""
        if node["type"] == "Retry" and node.get("children"):
            return [self.op.nodes[node["children"][-1]]]
        if node["type"] == "TaskGroup" and node.get("children"):
            return [end for item in self._items(node) for end in self._outbound(item)]
        if node["type"] == "DAG" and node.get("outboundNodes"):
            return [self.op.nodes[end] for end in node["outboundNodes"]]
        return [node]

    def _parents(self, name: str) -> list[Node]:
        parents = [end for dependency in self.deps[name] for end in self._outbound(self._task_node(dependency) or self.node)]
        return parents or [self.node]

    # The walk.

    def _visit(self, name: str) -> None:
        node = self._task_node(name)
        if node is not None:
            if node["phase"] not in FULFILLED:
                self._advance(name, node)
            return
        results = {}
        for dependency in self.deps[name]:
            dependency_node = self._task_node(dependency)
            if dependency_node is None or not self._finished(dependency, dependency_node):
                return
            results[dependency] = self._results(dependency_node)
        node_name = f"{self.node['name']}.{name}"
        try:
            runs = evaluate_depends(depends_of(self.tasks[name]), results) if results else True
        except ExpressionError as error:
            self._record(name, node_name, name, "Skipped", "Error", str(error), self._parents(name))
            return
        if not runs:
            self._record(name, node_name, name, "Skipped", "Omitted", "omitted: depends condition not met", self._parents(name))
        elif not self.no_new:
            self._start(name)

    def _results(self, node: Node) -> dict[str, bool]:
        """A dependency's results as `depends` sees them (A: docs/enhanced-depends-logic.md)."""
        results = dict.fromkeys(RESULTS, False)
        results[_PHASE_RESULT[node["phase"]]] = True
        if node["type"] == "TaskGroup":
            items = self._items(node)
            results["AnySucceeded"] = any(item["phase"] == "Succeeded" for item in items)
            results["AllFailed"] = bool(items) and all(item["phase"] == "Failed" for item in items)
        return results

    def _start(self, name: str) -> None:
        node_name, parents = f"{self.node['name']}.{name}", self._parents(name)
        try:
            items = self._expansion(name)
        except (Unresolved, SpecError) as error:
            self._record(name, node_name, name, "Skipped", "Error", str(error), parents)
            return
        if items is None:
            self._start_one(name, _NO_ITEM, node_name, name, parents)
        elif not items:
            self._record(name, node_name, name, "Skipped", "Skipped", "Skipped, empty params", parents)
        else:
            self._expand(name, self._record(name, node_name, name, "TaskGroup", "Running", "", parents), items)

    def _advance(self, name: str, node: Node) -> None:
        if node["type"] == "TaskGroup":
            try:
                items = self._expansion(name) or []
            except (Unresolved, SpecError) as error:
                finish(node, "Error", str(error))
                return
            self._expand(name, node, items)
        else:
            self.op.execute(self._call(node["name"], node["displayName"], node["templateName"], []))

    def _expansion(self, name: str) -> list[Any] | None:
        """The task's items (A: docs/walk-through/loops.md), or None when it does not fan out."""
        task = self.tasks[name]
        if "withItems" in task:
            items: list[Any] = substitute(task["withItems"], self._scope(name))
            return items
        if "withParam" not in task:
            return None
        value = substitute(task["withParam"], self._scope(name))
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            raise SpecError(f"withParam value could not be parsed as a JSON list: {value.strip()}")
        return parsed

    def _expand(self, name: str, group: Node, items: list[Any]) -> None:
        """Create or advance each item's node; the group ends, with the worst item phase, once every item has (the
        ones that exist, once no new node may start)."""
        phase, done = "Succeeded", True
        for index, item in enumerate(items):
            display = f"{name}({index}:{item_label(item)})"
            item_name = f"{self.node['name']}.{display}"
            node = self.op.node(item_name)
            if node is None and not self.no_new:
                self._start_one(name, item, item_name, display, [group])
                node = self.op.node(item_name)
            elif node is not None and node["phase"] not in FULFILLED:
                node = self.op.execute(self._call(item_name, display, node["templateName"], []))
            if node is None:
                done = done and self.no_new
            elif node["phase"] not in FULFILLED:
                done = False
            else:
                phase = worse(phase, node["phase"])
        if done:
            finish(group, phase)
            self.op.fulfilled(group)

    def _start_one(self, name: str, item: Any, node_name: str, display: str, parents: list[Node]) -> None:
        """Evaluate `when` (per item), then run the task's template; an error in either makes the node Error."""
        task = self.tasks[name]
        scope = {**self._scope(name), **({} if item is _NO_ITEM else item_scope(item))}
        try:
            when = substitute(task.get("when", ""), scope)
            runs = evaluate_when(when) if when else True
            arguments = [] if not runs else resolve_arguments((task.get("arguments") or {}).get("parameters") or [], scope)
        except (Unresolved, ExpressionError) as error:
            self._record(name, node_name, display, "Skipped", "Error", str(error), parents)
            return
        if not runs:
            self._record(name, node_name, display, "Skipped", "Skipped", f"when '{when}' evaluated false", parents)
            return
        node = self.op.execute(self._call(node_name, display, task["template"], arguments))
        if node is not None:  # None: parallelism holds it back, to start in a later pass
            for parent in parents:
                link(parent, node)

    def _hooks(self, name: str) -> None:
        """Run `hooks.exit` after each node of the task that ran, whatever its phase (A: docs/lifecyclehook.md). Hooks
        run as exit handlers do: on after `shutdown: Stop`, not after Terminate."""
        hook = (self.tasks[name].get("hooks") or {}).get("exit")
        node = self._task_node(name)
        if not hook or node is None:
            return
        for run in self._items(node):
            hook_name = f"{run['name']}.onExit"
            if run["phase"] not in COMPLETED or (self.op.node(hook_name) is None and self.op.halted(True)):
                continue
            scope = {**self._scope(name), f"tasks.{name}.status": run["phase"], **self._outputs(name, run)}
            display = f"{run['displayName']}.onExit"
            try:
                arguments = resolve_arguments((hook.get("arguments") or {}).get("parameters") or [], scope)
            except Unresolved as error:
                link(run, self.op.add(self.op.new(self._call(hook_name, display, hook["template"], []), "Pod", "Error", str(error))))
                continue
            hook_node = self.op.execute(self._call(hook_name, display, hook["template"], arguments))
            if hook_node is not None:
                link(run, hook_node)

    # Variables.

    def _scope(self, name: str) -> dict[str, Any]:
        """What a task's fields may refer to: the workflow's and the DAG's variables, and its ancestors' `tasks.X.*`."""
        scope: dict[str, Any] = dict(self.base)
        for ancestor in self._ancestors(name):
            node = self._task_node(ancestor)
            if node is not None:
                scope[f"tasks.{ancestor}.status"] = node["phase"]
                scope[f"tasks.{ancestor}.id"] = node["id"]
                scope.update(self._outputs(ancestor, node))
        return scope

    def _ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        pending = list(self.deps[name])
        while pending:
            dependency = pending.pop()
            if dependency not in found:
                found.add(dependency)
                pending.extend(self.deps[dependency])
        return found

    def _outputs(self, name: str, node: Node) -> dict[str, Any]:
        """`tasks.X.outputs.parameters.P`: a JSON list of the items' values in item order for a TaskGroup
        (A: docs/variables.md), the default or ABSENT for a Skipped or Omitted producer (backend-semantics 1.7)."""
        prefix = f"tasks.{name}.outputs.parameters."
        declared = (self.op.templates[self.tasks[name]["template"]].get("outputs") or {}).get("parameters") or []
        if node["type"] == "TaskGroup":
            lists: dict[str, list[str]] = {}
            for item in self._items(node):
                for parameter in (item.get("outputs") or {}).get("parameters") or []:
                    lists.setdefault(parameter["name"], []).append(parameter["value"])
            return {prefix + key: json.dumps(values, separators=(",", ":")) for key, values in lists.items()}  # as Go marshals
        if node["phase"] in ("Skipped", "Omitted"):
            return {prefix + p["name"]: p["valueFrom"].get("default", ABSENT) for p in declared}
        return {prefix + p["name"]: p["value"] for p in (node.get("outputs") or {}).get("parameters") or []}

    # The DAG's phase (A: workflow/controller/engine.go `assessDAGPhase`; backend-semantics 1.1).

    def _failure_decided(self) -> bool:
        return any(
            (node := self._task_node(target)) is not None and node["phase"] in FULFILLED and self._branch(target, {}) in FAILED
            for target in self.targets
        )

    def _branch(self, name: str, memo: dict[str, str]) -> str:
        if name not in memo:
            node = self._task_node(name)
            phase = node["phase"] if node is not None else "Succeeded"
            if phase not in COMPLETED:
                phase = "Succeeded"
                for dependency in self.deps[name]:
                    phase = worse(phase, self._branch(dependency, memo))
            memo[name] = phase
        return memo[name]

    def _assess(self) -> tuple[str, str]:
        nodes = {name: self._task_node(name) for name in self.tasks}
        if any(node is not None and not self._finished(name, node) for name, node in nodes.items()):
            return "Running", ""
        if self.op.halted(self.call.on_exit):
            return "Failed", self.op.stop_reason
        hook_error = self._hook_error(nodes)
        if hook_error is not None:
            return "Error", hook_error
        phase, message, memo = "Succeeded", "", dict[str, str]()
        for target in self.targets:
            node = nodes[target]
            if node is None:
                phase = "Running"
                if not self.fail_fast:
                    break
                continue
            branch = self._branch(target, memo)
            if branch in FAILED:
                phase, message = branch, f"child '{node['id']}' failed"
                if self.fail_fast:
                    break
        return phase, message

    def _hook_error(self, nodes: dict[str, Node | None]) -> str | None:
        """A hook that Errored ends the DAG Error (one that ran and Failed does not: engine.go `hookErr`)."""
        for name, node in nodes.items():
            for run in self._items(node) if node is not None and (self.tasks[name].get("hooks") or {}).get("exit") else []:
                hook = self.op.node(f"{run['name']}.onExit")
                if hook is not None and hook["phase"] == "Error":
                    return str(hook.get("message") or f"hook {hook['name']} errored")
        return None

    def _complete(self, phase: str, message: str) -> None:
        """Finish the DAG node, with its outputs (`valueFrom.parameter`) when it Succeeded."""
        if phase == "Succeeded":
            try:
                outputs = self._dag_outputs()
            except Unresolved as error:
                phase, message, outputs = "Error", str(error), []
            if outputs:
                self.node["outputs"] = {"parameters": outputs}
        self.node["outboundNodes"] = [
            end["id"] for target in self.targets if (node := self._task_node(target)) is not None for end in self._outbound(node)
        ]
        finish(self.node, phase, message)
        self.op.fulfilled(self.node)

    def _dag_outputs(self) -> list[dict[str, str]]:
        scope = dict(self.base)
        for name in self.tasks:
            node = self._task_node(name)
            if node is not None:
                scope[f"tasks.{name}.status"] = node["phase"]
                scope.update(self._outputs(name, node))
        outputs = []
        for parameter in (self.template.get("outputs") or {}).get("parameters") or []:
            value_from = parameter["valueFrom"]
            try:
                value = text(substitute(value_from["parameter"], scope))
            except Unresolved:
                if "default" not in value_from:
                    raise
                value = value_from["default"]
            outputs.append({"name": parameter["name"], "value": value})
        return outputs
