"""The argo and tekton backends' tests run through the official client against tests/fake_kubernetes with its Argo
and Tekton simulators (test doubles, not the engines: see their docstrings), whose pods run as local processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_kubernetes import FakeKubernetes
from tests.stores.conftest import moto_s3  # noqa: F401  (a fixture: S3 on moto's server, for the credentials test)

ENGINES = ("argo", "tekton")
OBJECTS = {"argo": ("argoproj.io/v1alpha1", "workflows"), "tekton": ("tekton.dev/v1", "pipelineruns")}


@dataclass
class EngineCluster:
    backend: str
    fake: FakeKubernetes
    kubeconfig: Path
    work_root: Path
    namespace: str = "pipelines"

    def config(self, path: Path, **backend: Any) -> Path:
        """A configuration file selecting this cluster for the backend."""
        settings = {
            "backend": {
                "name": self.backend,
                "namespace": self.namespace,
                "image": "sluiceway-runtime:test",
                "kubeconfig": str(self.kubeconfig),
                "options": {
                    "work_root": str(self.work_root),
                    "python": sys.executable,
                    "watch_timeout_seconds": 5,
                    **backend.pop("options", {}),
                },
                **backend,
            }
        }
        path.write_text(yaml.safe_dump(settings))
        return path

    def objects(self) -> list[dict[str, Any]]:
        """The engine objects (Workflows, PipelineRuns) submitted so far."""
        group_version, plural = OBJECTS[self.backend]
        return self.fake.list(group_version, plural, self.namespace)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineCluster]:
    with FakeKubernetes(command_map={"python": sys.executable}, engines=(request.param,), kill_grace_seconds=0.5) as fake:
        yield EngineCluster(request.param, fake, fake.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "pods")
