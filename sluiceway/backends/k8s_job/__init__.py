"""The k8s_job backend: the local backend's engine, with each attempt a Kubernetes Job (extra `k8s`)."""

from .launcher import KubernetesJobLauncher

__all__ = ["KubernetesJobLauncher"]
