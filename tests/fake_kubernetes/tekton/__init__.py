"""A SIMULATOR OF TEKTON PIPELINES. IT IS NOT TEKTON: a PipelineRun and a TaskRun controller in Python, for tests.

`FakeKubernetes(engines=("tekton",))` runs it beside the fake Job controller and kubelet. It interprets
`tekton.dev/v1` PipelineRuns with an embedded `spec.pipelineSpec` whose tasks embed their `taskSpec`, as Tekton
Pipelines v1.x does (../shared/backend-semantics.md section 2; "T:" paths are in tektoncd/pipeline):

- One `tekton.dev/v1` TaskRun per pipeline task, named `<run>-<task>`, or `<run>-<task>-<i>` per matrix combination,
  owned by the PipelineRun; one pod per attempt, `<taskrun>-pod` then `<taskrun>-pod-retry<n>`, owned by the
  TaskRun, with container `step-<step>`, `restartPolicy: Never`, Tekton's labels (`tekton.dev/pipelineRun`,
  `tekton.dev/pipelineTask`, `tekton.dev/taskRun`, `tekton.dev/memberOf`, `app.kubernetes.io/managed-by`), the
  `taskRunTemplate` (service account; podTemplate nodeSelector, tolerations, imagePullSecrets, ...) and
  `activeDeadlineSeconds` at 1.5 times the TaskRun timeout, as Tekton sets it.
- The graph from `runAfter` and `$(tasks.t.results.r)` references; `when` (in/notin) evaluated once parents are done;
  skips checked in the order of Tekton's `skip()` with its reason strings in `status.skippedTasks`; a when-skip does
  not cascade over `runAfter`, every other skip does; stopping after a failure (running tasks finish, with their
  retries); `onError: continue`; `finally` after every task is done, with `$(tasks.status)` and `$(tasks.t.status)`.
- Params (string, array, object; defaults; propagated into embedded taskSpecs), `$(context.pipelineRun.*)`,
  `$(context.taskRun.*)`, `$(context.task.retry-count)`, `$(results.r.path)`.
- Results: a step writes `/tekton/results/<r>` (a real folder of the pod's on the host); when it exits, this
  simulator does what Tekton's entrypoint does and puts the declared results, as JSON, in the container's
  termination message; over 4096 bytes the step fails (exit code 1) with no results, as the entrypoint does
  ("Termination message is above max allowed size 4096, caused by large task result.").
- Matrix fan-out (cartesian product of `matrix.params`), results aggregated into arrays, an empty array skipping
  the task; `retries` (every failure but a cancellation, at once, `status.retriesStatus`); per-attempt task
  `timeout`; `spec.timeouts` {pipeline, tasks, finally} (60 min pipeline default); `spec.status` Cancelled,
  CancelledRunFinally, StoppedRunFinally and PipelineRunPending.
- Statuses as Tekton writes them, through the status subresource: conditions with Tekton's reasons and messages
  ("Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 1"), `startTime`, `completionTime`, `childReferences`,
  `skippedTasks`, `results`, `finallyStartTime`; TaskRun `podName`, `steps`, `results`, `retriesStatus`.

Not simulated: `pipelineRef` and `taskRef` (the run fails, CouldntGetPipeline/CouldntGetTask), more than one step
per task and step `script` (PipelineValidationFailed: Sluiceway renders one command step), Tekton's init containers
(entrypoint and script preparation) and sidecars, `stepTemplate`, workspaces, mounting volumes (a step's `envFrom`
and `volumeMounts` and the taskSpec's `volumes` are passed on to the pod as written), `matrix.include`, CEL
`when`, `taskRunSpecs`, custom tasks and pipelines in pipelines, `$(tasks.t.reason)`, object results, the
admission webhook (validate manifests against ../shared/schemas separately; some of its checks are made at
run time instead), the 12 KiB per-pod termination message budget (only the 4096 bytes per container),
`results-from: sidecar-logs`, events, metrics and the exact wording of most messages.
"""

from __future__ import annotations

from .controller import TektonController

__all__ = ["TektonController"]
