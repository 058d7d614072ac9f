"""A TEST DOUBLE FOR KUBERNETES. IT IS NOT KUBERNETES: an API server, a Job controller and a kubelet in Python.

No kube-apiserver can be had where Sluiceway is built (../shared/test-infrastructure.md). `FakeKubernetes` serves
the Kubernetes REST API on 127.0.0.1 with the standard library's HTTP server; the official `kubernetes` client
talks to it over real HTTP, unpatched. What it does, as a real cluster does:

- Objects of any group/version/plural (core, batch/v1, custom resources such as Argo Workflows and Tekton
  PipelineRuns) with server-set `uid`, `resourceVersion` (one global counter), `creationTimestamp`,
  `generation`; `generateName`; 409 AlreadyExists and Conflict (stale resourceVersion); 422 Invalid for
  bad names and labels, and for Jobs whose template is not `restartPolicy: Never`/`OnFailure`.
- Lists with label and field selectors, `limit`/`continue`; PUT, PATCH (JSON merge, strategic merge treated
  as JSON merge, JSON patch); the `/status` subresource, and status ignored on main-resource writes of kinds
  that have one; DELETE with `propagationPolicy` (Orphan, the batch/v1 Job default; Background; Foreground),
  cascading through `ownerReferences`, graceful deletion of running pods, finalizers.
- Watches: chunked events, replay or resume from a resourceVersion, 410 Expired after `compact()`,
  `timeoutSeconds`, BOOKMARKs, selectors applied to events (an object leaving the selection is DELETED).
- Pod logs, plain and followed, with `tailLines`, `sinceSeconds`, `limitBytes`, `timestamps`; 400 for a
  container that is waiting to start.
- A Job controller (kubernetes 1.31+ conditions and counters) and a kubelet that runs each pod's first
  container as a local process (see controller.py and kubelet.py).
- Faults on demand: dropped watch streams, compaction, failing requests, images that cannot be pulled.

Not simulated: discovery (`/api`, `/apis`), server-side apply, authorization (any request with the token is
allowed), namespaces as a precondition (any namespace exists), admission webhooks and OpenAPI schema
validation (check manifests against `kubernetes-validate` and the CRD schemas separately), scheduling and
nodes, volumes and volume mounts, image entrypoints (a container runs its `command`), init and sidecar
containers and every container after the first, restarts (`restartPolicy` is always Never), probes,
resource limits, service account tokens, Services and networking, events, Job parallelism above 1,
`podFailurePolicy`, Indexed Jobs, strategic-merge list merging, and the exact wording of most messages.
"""

from __future__ import annotations

from .cluster import FakeKubernetes
from .server import RecordedRequest

__all__ = ["FakeKubernetes", "RecordedRequest"]
