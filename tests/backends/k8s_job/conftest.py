"""The k8s_job backend's tests run through the official client against tests/fake_kubernetes (a test double, not
Kubernetes), whose kubelet runs each pod's command as a process of this machine, with this interpreter as `python`.

With `pytest -m real_cluster` and KUBECONFIG pointing to a cluster, the tests marked `real_cluster` run there
instead: the namespace from SLUICEWAY_TEST_K8S_NAMESPACE (default `default`) and the runtime image from
SLUICEWAY_TEST_K8S_IMAGE, with the artifacts in the S3 bucket SLUICEWAY_TEST_K8S_ARTIFACTS (`s3://BUCKET/PREFIX`)
that both the pods and this machine reach.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_kubernetes import FakeKubernetes
from tests.stores.conftest import moto_s3  # noqa: F401  (a fixture: S3 on moto's server, for the credentials test)

REAL_CLUSTER = "real_cluster"


@dataclass
class Cluster:
    """Where the backend's Jobs go: the fake (with its handle for faults and assertions) or a real cluster."""

    kubeconfig: Path
    namespace: str
    image: str
    work_root: str
    fake: FakeKubernetes | None = None
    python: str = "python"
    """The interpreter in the image; on the fake, this one (a task's `sh -c` script runs it by this name)."""

    def config(self, path: Path, artifacts: dict[str, Any] | None = None, **backend: Any) -> Path:
        """A configuration file selecting this cluster for the k8s_job backend."""
        settings = {
            "backend": {
                "name": "k8s_job",
                "namespace": self.namespace,
                "image": self.image,
                "kubeconfig": str(self.kubeconfig),
                "ttl_seconds_after_finished": backend.pop("ttl_seconds_after_finished", 600),
                "options": {"work_root": self.work_root, "watch_timeout_seconds": 5, "python": self.python, **backend.pop("options", {})},
                **backend,
            }
        }
        if artifacts:
            settings["artifacts"] = artifacts
        path.write_text(yaml.safe_dump(settings))
        return path


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    if request.node.get_closest_marker(REAL_CLUSTER) and request.config.getoption("-m") == REAL_CLUSTER:
        yield Cluster(
            kubeconfig=Path(os.environ["KUBECONFIG"]),
            namespace=os.environ.get("SLUICEWAY_TEST_K8S_NAMESPACE", "default"),
            image=os.environ["SLUICEWAY_TEST_K8S_IMAGE"],
            work_root="/tmp/sluiceway",
        )
        return
    with FakeKubernetes(command_map={"python": sys.executable}, kill_grace_seconds=0.5) as fake:
        yield Cluster(
            kubeconfig=fake.write_kubeconfig(tmp_path / "kubeconfig"),
            namespace="pipelines",
            image="sluiceway-runtime:test",
            work_root=str(tmp_path / "pods"),
            fake=fake,
            python=sys.executable,
        )
