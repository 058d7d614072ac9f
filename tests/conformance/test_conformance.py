"""The conformance suite (sluiceway.testing) on every built-in backend, and the capability table it decides.

k8s_job, argo and tekton run against tests/fake_kubernetes (with its Argo and Tekton simulators): test doubles, not
Kubernetes or the engines, whose pods run as processes of this machine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluiceway.testing import CASES, Result, Target, capabilities, run_case
from sluiceway.testing.pytest_suite import ConformanceSuite
from tests.conftest import REPO
from tests.fake_kubernetes import FakeKubernetes

pytestmark = pytest.mark.filterwarnings("ignore::sluiceway.local.SettingIgnoredHere")
TABLE = REPO / "docs" / "reference" / "backends.md"
UPDATING = os.environ.get("SLUICEWAY_UPDATE_CAPABILITIES") == "1"


class BuiltInBackend(ConformanceSuite):
    """A built-in backend may refuse a case only as docs/reference/backends.md says, and must say what it says."""

    def judge(self, result: Result) -> None:
        assert result.refused is not None or result.passed, str(result)
        if UPDATING:
            TABLE.write_text(capabilities.with_cell(TABLE.read_text(), result))
            return
        documented = capabilities.read(TABLE.read_text()).get(capabilities.row_of(result), {}).get(result.target.backend)
        assert documented == capabilities.cell(result), (
            f"docs/reference/backends.md is stale for {result.case} on {result.target.backend}: it says {documented!r}, "
            f"the suite found {capabilities.cell(result)!r}; run `make capabilities`"
        )


class TestLocal(BuiltInBackend):
    @pytest.fixture
    def target(self) -> Target:
        return Target("local")


@pytest.fixture(scope="class")
def fake_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeKubernetes, Path]]:
    engines = getattr(request.cls, "engines", ())
    folder = tmp_path_factory.mktemp("cluster")
    with FakeKubernetes(command_map={"python": sys.executable}, engines=engines, kill_grace_seconds=0.5) as fake:
        yield fake, folder


def cluster_target(backend: str, fake: FakeKubernetes, folder: Path, **settings: Any) -> Target:
    return Target(
        backend,
        {
            "backend": {
                "namespace": "pipelines",
                "image": "sluiceway-runtime:test",
                "kubeconfig": str(fake.write_kubeconfig(folder / "kubeconfig")),
                "options": {"work_root": str(folder / "pods"), "python": sys.executable, "watch_timeout_seconds": 5},
                **settings,
            }
        },
    )


class TestK8sJob(BuiltInBackend):
    @pytest.fixture
    def target(self, fake_cluster: tuple[FakeKubernetes, Path]) -> Target:
        return cluster_target("k8s_job", *fake_cluster, ttl_seconds_after_finished=600)


class TestArgo(BuiltInBackend):
    engines = ("argo",)

    @pytest.fixture
    def target(self, fake_cluster: tuple[FakeKubernetes, Path]) -> Target:
        return cluster_target("argo", *fake_cluster)


class TestTekton(BuiltInBackend):
    engines = ("tekton",)

    @pytest.fixture
    def target(self, fake_cluster: tuple[FakeKubernetes, Path]) -> Target:
        return cluster_target("tekton", *fake_cluster)


# --- The suite itself ---------------------------------------------------------------------------------------


def test_the_table_has_one_row_per_case_and_one_column_per_built_in_backend() -> None:
    rows = capabilities.read(TABLE.read_text())
    assert list(rows) == [capabilities.row_label(case) for case in CASES]
    assert all(list(cells) == list(capabilities.BUILT_IN_BACKENDS) for cells in rows.values())


def test_every_case_names_a_feature_of_its_own() -> None:
    assert len({case.name for case in CASES}) == len({case.feature for case in CASES}) == len(CASES)


def test_a_backend_that_gives_another_outcome_is_told_where(tmp_path: Path) -> None:
    """The suite can fail: a case whose expected value is wrong reports the task, the field and both values."""
    from dataclasses import replace

    from sluiceway.testing import Run, Step, ran

    (case,) = [case for case in CASES if case.name == "loop-literal"]
    wrong = replace(case, steps=(Step(Run("SUCCEEDED", {**case.steps[0].expected.tasks, "total": ran(Output=35)})),))
    result = run_case(wrong, Target("local"), tmp_path)
    assert not result.passed
    assert result.problems == ["task 'total': values {'Output': '36'}, expected {'Output': '35'}"]
