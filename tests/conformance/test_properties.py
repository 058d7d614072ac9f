"""Property tests across backends: any generated pipeline gives every backend the local backend's outcome, and
compiling, loading and rendering are stable.

Profiles (SLUICEWAY_HYPOTHESIS_PROFILE): `ci` (the default; few examples, the same ones every time) and `thorough`
(`make test-thorough`: many, random, remembered in hypothesis' example database). A generated pipeline that gives a
backend another outcome is shrunk by hypothesis, and the smallest one is saved under sluiceway/testing/regressions/,
which every run replays on every backend.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from sluiceway.backends import argo, tekton
from sluiceway.core import Unsupported, ir
from sluiceway.core.serialize import digest, dump_yaml, loads
from sluiceway.testing import Target, differences, observed, regressions, run_pipeline
from sluiceway.testing.generated import Plan, plans
from tests.conformance.test_conformance import cluster_target
from tests.fake_kubernetes import FakeKubernetes

pytestmark = pytest.mark.filterwarnings("ignore::sluiceway.local.SettingIgnoredHere")

settings.register_profile(
    "ci", max_examples=5, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("SLUICEWAY_HYPOTHESIS_PROFILE", "ci"))
CLUSTER_BACKENDS = ("k8s_job", "argo", "tekton")


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Target]]:
    """The backends compared with the local one: one fake cluster runs Jobs, Argo Workflows and Tekton PipelineRuns."""
    folder = tmp_path_factory.mktemp("cluster")
    with FakeKubernetes(command_map={"python": sys.executable}, engines=("argo", "tekton"), kill_grace_seconds=0.5) as fake:
        yield [cluster_target(backend, fake, folder) for backend in CLUSTER_BACKENDS]


def disagreements(pipeline: ir.Pipeline, targets: list[Target]) -> list[str]:
    """Where each backend's outcome of `pipeline` differs from the local backend's. A refusal is one too: the
    generator makes only what every built-in backend can express (the capability table lists what each refuses)."""
    with tempfile.TemporaryDirectory() as homes:
        local = observed(run_pipeline(pipeline, Target("local"), Path(homes) / "local", {}))
        found = []
        for target in targets:
            report = run_pipeline(pipeline, target, Path(homes) / target.backend, {})
            if report.refused is not None:
                found.append(f"{target.backend}: refused: {report.refused}")
            else:
                found += [f"{target.backend}: {line}" for line in differences(local, observed(report), timing=True)]
        return found


_SAVED_THIS_SESSION: list[Path] = []


def keep_as_regression(pipeline: ir.Pipeline) -> Path:
    """Save a failing pipeline; hypothesis tries the smallest failing one last, so only the last saved is kept."""
    for earlier in _SAVED_THIS_SESSION:
        earlier.unlink(missing_ok=True)
    existed = set(regressions.saved())
    path = regressions.save(pipeline)
    _SAVED_THIS_SESSION[:] = [] if path in existed else [path]
    return path


@settings(PROFILE, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_a_generated_pipeline_gives_every_backend_the_local_outcome(plan: Plan, targets: list[Target]) -> None:
    pipeline = plan.pipeline()
    try:
        found = disagreements(pipeline, targets)
    except Exception:  # a crash is a failure too: keep the pipeline that caused it
        keep_as_regression(pipeline)
        raise
    if found:
        path = keep_as_regression(pipeline)
        pytest.fail(f"saved as {path}:\n" + "\n".join(found))


@pytest.mark.parametrize("path", regressions.saved(), ids=lambda path: path.stem)
def test_a_saved_regression_gives_every_backend_the_local_outcome(path: Path, targets: list[Target]) -> None:
    assert disagreements(regressions.pipeline_of(path), targets) == []


def rendered(pipeline: ir.Pipeline, backend: object) -> str:
    """A backend's manifest of `pipeline` as YAML text, or its refusal."""
    try:
        return yaml.safe_dump(backend.render_manifest(pipeline, {"image": "runtime:1"}))  # type: ignore[attr-defined]
    except Unsupported as refusal:
        return f"refused: {refusal}"


@settings(PROFILE, max_examples=PROFILE.max_examples * 20)
@given(plan=plans())
def test_compiling_loading_and_rendering_are_stable(plan: Plan) -> None:
    pipeline = plan.pipeline()
    text = dump_yaml(pipeline)
    assert loads(text) == pipeline
    assert dump_yaml(loads(text)) == text
    again = plan.pipeline()
    assert digest(again) == digest(pipeline)
    for backend in (argo, tekton):
        assert rendered(again, backend) == rendered(pipeline, backend)
