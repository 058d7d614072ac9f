from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
UPDATE_GOLDEN = os.environ.get("SLUICEWAY_UPDATE_GOLDEN") == "1"


def unavailable(message: str, remedy: str) -> NoReturn:
    """A service a test needs is missing: a failure under CI=true (there it is a broken build), a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI needs it: {remedy})", pytrace=False)
    pytest.skip(message)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `sluiceway` command in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "sluiceway", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.fixture
def cli():
    return run_cli
