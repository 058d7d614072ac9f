"""A SIMULATOR OF ARGO WORKFLOWS. IT IS NOT ARGO: a Python stand-in for the workflow controller (v4.1 semantics, as
../shared/backend-semantics.md section 1 states them, citing argoproj/argo-workflows), inside the fake cluster.

`FakeKubernetes(engines=("argo",))` runs `ArgoController`: it watches `argoproj.io/v1alpha1` Workflows, runs each
container template as a Pod that the fake kubelet runs as a local process, and writes `status` (phase, startedAt,
finishedAt, message, `nodes` keyed by node id) and the labels `workflows.argoproj.io/phase` and
`workflows.argoproj.io/completed` onto the Workflow with the store's update, as the controller does (no status
subresource). What it simulates:

- `container` and `dag` templates; `spec.entrypoint`, `spec.arguments.parameters`, `inputs.parameters` (`default`),
  `outputs.parameters` from `valueFrom.path` (container: read after exit, one trailing newline trimmed, a missing
  file without `valueFrom.default` makes the node Error) and `valueFrom.parameter` (dag).
- DAG tasks: `depends` (the whole boolean language, bare `X` = Succeeded||Skipped||Daemoned), `dependencies`, `when`
  (the govaluate subset `==`, `!=`, `&&`, `||`, `!`, parentheses, numbers, strings), `withItems`/`withParam` (TaskGroup
  `task(i:item)`, aggregated outputs as a JSON list in item order, empty list Skipped), `hooks.exit`; Omitted cascade,
  failFast, the DAG phase from its leaf tasks' branches (dag.py).
- Variables: `inputs.parameters.*`, `workflow.name|namespace|uid|status|parameters.*`, `tasks.X.outputs.parameters.*`,
  `tasks.X.status`, `retries`, `item`, `item.key`; outputs of Skipped/Omitted producers as backend-semantics 1.7 says.
- `retryStrategy` (`limit`, `retryPolicy`, `backoff`: Retry nodes with attempts `name(0)`, `name(1)`),
  `activeDeadlineSeconds` (template: the pod's; workflow: running pods killed, no new nodes, exit handlers exempt),
  template and workflow `parallelism`, `spec.onExit` (`{{workflow.status}}`; a failing exit handler fails a workflow
  that succeeded), `spec.shutdown` Stop (exit handlers and hooks still run) and Terminate (they do not).
- Pods: one container `main`, `restartPolicy: Never`, labels `workflows.argoproj.io/workflow` and
  `workflows.argoproj.io/completed`, annotations `workflows.argoproj.io/node-name` and `node-id`, an owner reference
  to the Workflow (deleting it deletes them), `spec.podMetadata` and template `metadata`, nodeSelector and
  tolerations (the template's, else the workflow's), serviceAccountName, imagePullSecrets, activeDeadlineSeconds,
  template `volumes` and container `volumeMounts`/`envFrom` (passed on; the kubelet mounts no volume); named
  `<workflow>-<template>-<fnv32a(node name)>`.

What it does NOT simulate: Argo's init and wait containers (the kubelet's exit hook reads output files instead;
the folder of each output path is mapped into pods, so a step must write the path as its command line names it),
steps/script/resource/suspend/http templates, templateRef and WorkflowTemplates, artifacts, `outputs.result`,
`{{= expr}}` expressions, `dag.target`, `continueOn`, `timeout`, memoization, synchronization, daemons, metrics,
`workflow.failures`, `ttlStrategy` (accepted; the Workflow is not deleted), transient-error detection (OnTransientError never retries), the controller's own
configuration, events, and the exact wording of most messages. A Workflow using a field outside this subset fails
at once with "invalid spec: <field>: not supported by the Argo simulator".
"""

from __future__ import annotations

from .controller import ArgoController

__all__ = ["ArgoController"]
