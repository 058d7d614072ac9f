"""A third-party backend runs the conformance suite as its author would: a plugin found through its entry point, a
test module subclassing ConformanceSuite, plain pytest. Its refusal of a feature skips the cases using it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = '''
"""A backend that runs tasks as local processes and cannot express ParallelFor."""

from sluiceway.backends.local import LocalLauncher
from sluiceway.core import Unsupported, ir
from sluiceway.plugins import hookimpl


class NoLoops(LocalLauncher):
    def begin(self, run):
        if "kind: loop" in ir_text(run.pipeline):
            raise Unsupported("the no_loops backend cannot run a ParallelFor")

    def decided(self, instance, decision):
        pass

    def cancel_run(self, *, force=False):
        pass


def ir_text(pipeline):
    from sluiceway.core import dump_yaml

    return dump_yaml(pipeline)


@hookimpl
def register_backends(register):
    register.add("no_loops", "no_loops_backend:NoLoops", description="local processes, no ParallelFor")
'''

TESTS = """
import pytest

from sluiceway.testing import Target
from sluiceway.testing.pytest_suite import ConformanceSuite


class TestNoLoops(ConformanceSuite):
    @pytest.fixture
    def target(self):
        return Target("no_loops")
"""


def test_a_plugin_backend_runs_the_suite_and_its_refusals_are_skipped_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "no_loops_backend.py").write_text(PLUGIN)
    info = tmp_path / "no_loops_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: no-loops-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sluiceway.plugins]\nno_loops = no_loops_backend\n")
    (tmp_path / "test_no_loops.py").write_text(textwrap.dedent(TESTS))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "test_no_loops.py",
            "-k",
            "parameters or loop-literal or retries",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "2 passed, 1 skipped" in result.stdout, result.stdout + result.stderr
    assert "no_loops refuses this pipeline: the no_loops backend cannot run a ParallelFor" in result.stdout
