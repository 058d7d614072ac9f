"""The conformance suite as pytest tests: subclass `ConformanceSuite` and give it a `target` fixture.

    import pytest
    from sluiceway.testing import Target
    from sluiceway.testing.pytest_suite import ConformanceSuite

    class TestMyBackend(ConformanceSuite):
        @pytest.fixture
        def target(self) -> Target:
            return Target("my_backend", {"backend": {"options": {"endpoint": "..."}}})

Every case becomes one test (`TestMyBackend::test_case[loop-nested]`). A case the backend refuses (it raised
core.errors.Unsupported, naming the feature) is skipped with the backend's reason; every other case must give exactly
the expected outcome. Needs the `testing` extra (pytest).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import CASES, Case
from .suite import Result, Target, run_case


class ConformanceSuite:
    """The base class of a backend's conformance tests (not collected itself: its name does not start with Test)."""

    @pytest.fixture
    def target(self) -> Target:
        raise NotImplementedError("a ConformanceSuite subclass gives the `target` fixture: the backend and its configuration")

    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_case(self, case: Case, target: Target, tmp_path: Path) -> None:
        self.judge(run_case(case, target, tmp_path / "home"))

    def judge(self, result: Result) -> None:
        """Pass, skip or fail the test of one case: override to hold refusals to a list (as Sluiceway's own tests do)."""
        if result.refused is not None:
            pytest.skip(f"{result.target.backend} refuses this pipeline: {result.refused}")
        assert result.passed, str(result)
