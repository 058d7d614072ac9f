"""packages_to_install: a task gets its packages in a cached virtualenv (a real pip install from the index)."""

from __future__ import annotations

import importlib.util

import sluiceway
from sluiceway import dsl
from sluiceway.core.lifecycle import RunState, TaskState


@dsl.component(packages_to_install=["tomli-w==1.0.0"])
def dump_toml(key: str) -> str:
    import tomli_w

    return tomli_w.dumps({key: 1}).strip()


@dsl.component(packages_to_install=["tomli-w==1.0.0"])
def python_used() -> str:
    import sys

    return sys.executable


@dsl.component(packages_to_install=["no-such-package-for-sluiceway-tests==9.9.9"])
def impossible() -> int:
    return 1


def test_tasks_get_their_packages_in_one_shared_virtualenv(tmp_path, monkeypatch):
    assert importlib.util.find_spec("tomli_w") is None, "the test needs tomli_w to be absent from the orchestrator's environment"
    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))

    @dsl.pipeline(name="packaged")
    def packaged():
        dump_toml(key="answer")
        python_used()

    report = sluiceway.run(packaged)
    assert report.state == RunState.SUCCEEDED, {t.id: t.message for t in report.tasks.values()}
    assert report.tasks["dump-toml"].outputs["Output"].value == "answer = 1"
    venvs = [path for path in (tmp_path / "venvs").iterdir() if path.is_dir()]
    assert len(venvs) == 1 and report.tasks["python-used"].outputs["Output"].value == str(venvs[0] / "bin" / "python")


def test_a_package_that_cannot_be_installed_fails_the_task_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))

    @dsl.pipeline(name="unpackaged")
    def unpackaged():
        impossible()

    report = sluiceway.run(unpackaged)
    task = report.tasks["impossible"]
    assert report.state == RunState.FAILED and task.state == TaskState.FAILED
    assert task.message.startswith("the attempt could not start: cannot install no-such-package-for-sluiceway-tests==9.9.9 for the task")
    assert task.error_kind == "LaunchFailed" and task.attempts == 1


def test_the_command_line_runs_packaged_tasks_too(tmp_path, cli):
    """From `sluiceway run`, Sluiceway itself is found through its installation, not the source tree."""
    source = tmp_path / "packaged.py"
    source.write_text(
        "from sluiceway import dsl\n\n\n"
        "@dsl.component(packages_to_install=['tomli-w==1.0.0'])\n"
        "def dump_toml(key: str) -> str:\n    import tomli_w\n\n    return tomli_w.dumps({key: 2}).strip()\n\n\n"
        "@dsl.pipeline(name='packaged')\ndef packaged() -> str:\n    return dump_toml(key='b').output\n"
    )
    result = cli("run", str(source), cwd=tmp_path, env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "output Output = b = 2" in result.stdout


@dsl.component(packages_to_install=["tomli-w==1.0.0"])
def stamp_packaged() -> float:
    import time

    return time.time()


@dsl.component
def stamp(after: float) -> float:
    import time

    return time.time()


def test_other_tasks_go_on_while_a_virtualenv_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))

    @dsl.pipeline(name="meanwhile")
    def meanwhile():
        stamp_packaged()
        task = stamp(after=0.0)
        for _ in range(3):
            task = stamp(after=task.output)

    report = sluiceway.run(meanwhile, max_parallel=2)
    assert report.state == RunState.SUCCEEDED, {t.id: t.message for t in report.tasks.values()}
    packaged_ran_at = report.tasks["stamp-packaged"].outputs["Output"].value
    last_of_chain = report.tasks["stamp-4"].outputs["Output"].value
    assert last_of_chain < packaged_ran_at  # the chain ran to its end while pip was installing
