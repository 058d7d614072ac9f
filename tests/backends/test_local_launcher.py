"""The local launcher starts attempts two ways, forked from the executor's fork server or as a
fresh interpreter, and a task cannot tell them apart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sluiceway import compiler, dsl
from sluiceway.backends.local import LocalLauncher
from sluiceway.core.lifecycle import RunState
from sluiceway.engine.engine import Engine, RunReport


def run(pipeline_func, tmp_path: Path, launcher: LocalLauncher, arguments=None) -> RunReport:
    engine = Engine(
        compiler.compile_pipeline(pipeline_func),
        run_id="run-1",
        launcher=launcher,
        arguments=arguments,
        run_dir=tmp_path / "run",
        artifact_root=(tmp_path / "artifacts").as_uri(),
        max_parallel=2,
    )
    return engine.run()


@pytest.fixture(params=["fork", "spawn"])
def launcher(request) -> LocalLauncher:
    return LocalLauncher(fork_server=request.param == "fork")


@dsl.component
def describe_process(report: str, shared: str) -> str:
    """Write what a task can observe of its process; finish work in a thread and an atexit handler."""
    import atexit
    import json
    import os
    import sys
    import threading
    import time
    from pathlib import Path

    def later() -> None:
        time.sleep(0.2)
        with open(report + ".thread", "w") as out:
            out.write("joined")

    threading.Thread(target=later).start()  # not a daemon: exit waits for it
    atexit.register(lambda: Path(report + ".atexit").write_text("ran"))
    module_state = sys.modules.setdefault("shared_state", type(sys)("shared_state"))
    module_state.count = getattr(module_state, "count", 0) + 1
    facts = {
        "pid": os.getpid(),
        "process_group": os.getpgid(0),
        "session": os.getsid(0),
        "cwd": os.getcwd(),
        "env": os.environ.get("SLUICEWAY_TEST_MARKER"),
        "argv": sys.argv[1:],
        "module_state": module_state.count,
        "stdin": sys.stdin.read(),
    }
    Path(report).write_text(json.dumps(facts))
    print(f"stdout of {shared}")
    print(f"stderr of {shared}", file=sys.stderr)
    return shared


def test_each_attempt_is_a_process_of_its_own_with_the_orchestrators_environment(tmp_path, launcher, monkeypatch):
    import json

    monkeypatch.setenv("SLUICEWAY_TEST_MARKER", "set after import")
    monkeypatch.chdir(tmp_path)

    @dsl.pipeline(name="two")
    def two():
        describe_process(report=str(tmp_path / "first"), shared="a")
        describe_process(report=str(tmp_path / "second"), shared="b")

    report = run(two, tmp_path, launcher)
    assert report.state == RunState.SUCCEEDED
    facts = [json.loads((tmp_path / name).read_text()) for name in ("first", "second")]
    assert facts[0]["pid"] != facts[1]["pid"] and os.getpid() not in {f["pid"] for f in facts}
    for fact in facts:
        assert fact["process_group"] == fact["session"] == fact["pid"]  # its own session and group: stopping it stops all it started
        assert fact["cwd"] == str(tmp_path)
        assert fact["env"] == "set after import"
        assert fact["module_state"] == 1  # nothing leaks from one attempt to the next
        assert fact["stdin"] == ""
        assert len(fact["argv"]) == 1 and fact["argv"][0].endswith("spec.json")
    for name in ("first", "second"):
        assert (tmp_path / f"{name}.thread").read_text() == "joined"
        assert (tmp_path / f"{name}.atexit").read_text() == "ran"
    log = (tmp_path / "run" / "logs" / "describe-process.log").read_text()
    assert "stdout of a" in log and "stderr of a" in log


@dsl.component
def exit_with(code: int) -> int:
    import os

    os._exit(code)


def test_an_attempt_that_exits_without_a_result_is_lost_with_its_status(tmp_path, launcher):
    @dsl.pipeline(name="abrupt")
    def abrupt():
        exit_with(code=7)

    report = run(abrupt, tmp_path, launcher)
    assert report.state == RunState.FAILED
    assert "the executor ended with status 7 and left no result" in report.tasks["exit-with"].message


@dsl.component
def kill_parent() -> int:
    import os
    import signal

    os.kill(os.getppid(), signal.SIGKILL)
    return 1


@dsl.component
def plus_one(a: int) -> int:
    return a + 1


def test_a_run_outlives_its_fork_server(tmp_path):
    """If the fork server dies, the attempts it started still report their results, and later ones start as interpreters."""

    @dsl.pipeline(name="outlive")
    def outlive():
        first = kill_parent()
        plus_one(a=first.output)

    launcher = LocalLauncher(fork_server=True)
    report = run(outlive, tmp_path, launcher)
    assert report.state == RunState.SUCCEEDED, {t: (i.state, i.message) for t, i in report.tasks.items()}
    assert report.tasks["plus-one"].outputs["Output"].value == 2
    assert launcher.fork_server is False


@dsl.component
def note_parent(path: str) -> int:
    import os
    from pathlib import Path

    Path(path).write_text(str(os.getppid()))
    return 0


def test_the_fork_server_ends_with_the_run(tmp_path):
    parent_file = tmp_path / "parent"

    @dsl.pipeline(name="one")
    def one():
        note_parent(path=str(parent_file))

    assert run(one, tmp_path, LocalLauncher(fork_server=True)).state == RunState.SUCCEEDED
    server = int(parent_file.read_text())
    assert server != os.getpid()  # the attempt was forked by the server
    assert not Path(f"/proc/{server}").exists()  # which the engine closed, and which has been reaped
