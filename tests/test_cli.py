"""The `sluiceway` command, run as a real process."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from sluiceway.core import load

TWO_PIPELINES = """
from sluiceway import dsl


@dsl.component
def hello(name: str) -> str:
    return "hello " + name


@dsl.pipeline(name="first")
def first(name: str = "world"):
    hello(name=name)


@dsl.pipeline(name="second")
def second():
    hello(name="again")
"""


def write(tmp_path: Path, text: str, name: str = "pipelines.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_compile_picks_the_only_pipeline(tmp_path, cli):
    source = write(tmp_path, TWO_PIPELINES.replace('@dsl.pipeline(name="second")\ndef second():\n    hello(name="again")\n', ""))
    result = cli("compile", str(source), "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 0, result.stderr
    assert "Wrote" in result.stdout and load(tmp_path / "out.yaml").name == "first"


def test_compile_asks_which_pipeline_when_there_are_several(tmp_path, cli):
    source = write(tmp_path, TWO_PIPELINES)
    result = cli("compile", str(source), "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 1
    assert f"2 pipelines found; choose one: {source}:first, {source}:second" in result.stderr
    chosen = cli("compile", f"{source}:second", "-o", str(tmp_path / "out.json"))
    assert chosen.returncode == 0, chosen.stderr
    assert load(tmp_path / "out.json").name == "second"


def test_compile_for_a_workflow_engine_writes_its_manifest_with_the_configured_settings(tmp_path, cli):
    """`compile --target argo|tekton`: the engine's manifest, with the configuration's backend settings (here the
    service account and runtime image of `backend`), or --image."""
    import yaml

    source = write(tmp_path, TWO_PIPELINES)
    config = tmp_path / "sluiceway.yaml"
    config.write_text("backend:\n  name: argo\n  image: registry.example/runtime:2\n  service_account: pipelines\n")
    argo = cli("--config", str(config), "compile", f"{source}:first", "--target", "argo", "-o", str(tmp_path / "wf.yaml"))
    assert argo.returncode == 0, argo.stderr
    assert "an Argo Workflow" in argo.stdout
    workflow = yaml.safe_load((tmp_path / "wf.yaml").read_text())
    assert workflow["kind"] == "Workflow" and workflow["spec"]["serviceAccountName"] == "pipelines"
    images = {t["container"]["image"] for t in workflow["spec"]["templates"] if "container" in t}
    assert images == {"registry.example/runtime:2"}

    tekton = cli("compile", f"{source}:second", "--target", "tekton", "--image", "rt:3", "-o", str(tmp_path / "pr.yaml"))
    assert tekton.returncode == 0, tekton.stderr
    pipeline_run = yaml.safe_load((tmp_path / "pr.yaml").read_text())
    assert pipeline_run["kind"] == "PipelineRun"
    assert pipeline_run["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]["image"] == "rt:3"


def test_compile_for_a_workflow_engine_says_what_is_missing_or_refused(tmp_path, cli):
    source = write(tmp_path, TWO_PIPELINES)
    no_image = cli("compile", f"{source}:first", "--target", "argo", "-o", str(tmp_path / "wf.yaml"), env={"SLUICEWAY_CONFIG": ""})
    assert no_image.returncode == 1 and "Traceback" not in no_image.stderr
    assert "needs `backend.image`" in no_image.stderr
    nested = write(
        tmp_path,
        """
        from sluiceway import dsl


        @dsl.component
        def echo(text: str) -> str:
            return text


        @dsl.pipeline(name="loops")
        def loops():
            with dsl.ParallelFor(["a"], name="outer"):
                with dsl.ParallelFor(["b"], name="inner") as item:
                    echo(text=item)
        """,
        name="loops.py",
    )
    refused = cli("compile", str(nested), "--target", "tekton", "--image", "rt", "-o", str(tmp_path / "pr.yaml"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "cannot compile loops for tekton: ParallelFor 'inner' is inside ParallelFor 'outer'" in refused.stderr


def test_compile_reports_validation_problems_without_a_traceback(tmp_path, cli):
    source = write(tmp_path, TWO_PIPELINES.replace('hello(name="again")', "hello(name=3)"))
    result = cli("compile", f"{source}:second", "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "pipelines.py:17, pipeline 'second', task 'hello', field 'arguments.name': expects a str, but is given an int (constant 3)"
        in result.stderr
    )
    assert not (tmp_path / "out.yaml").exists()


def test_compile_names_the_line_of_an_error_in_user_code(tmp_path, cli):
    source = write(tmp_path, TWO_PIPELINES.replace('hello(name="again")', "hello(name=undefined_name)"))
    result = cli("compile", f"{source}:second", "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: pipelines.py:17: NameError: name 'undefined_name' is not defined"


def test_compile_of_a_missing_file(tmp_path, cli):
    result = cli("compile", str(tmp_path / "nope.py"), "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 1 and "nope.py: no such file" in result.stderr


def test_validate_accepts_a_compiled_file_and_rejects_a_broken_one(tmp_path, cli):
    source = write(tmp_path, TWO_PIPELINES)
    out = tmp_path / "out.yaml"
    assert cli("compile", f"{source}:first", "-o", str(out)).returncode == 0
    ok = cli("validate", str(out))
    assert ok.returncode == 0 and "valid (first, sha256:" in ok.stdout
    out.write_text(out.read_text().replace("component: hello", "component: missing"))
    broken = cli("validate", str(out))
    assert broken.returncode == 1 and "unknown component 'missing'" in broken.stderr and "Traceback" not in broken.stderr


def test_schema_command_prints_the_checked_in_schema(cli):
    from sluiceway.core.schema import SCHEMA_PATH

    result = cli("schema")
    assert result.returncode == 0 and result.stdout == SCHEMA_PATH.read_text()


NESTED = """
from sluiceway import dsl


@dsl.component
def hello(name: str) -> str:
    return "hello " + name


@dsl.pipeline(name="inner")
def inner(name: str) -> str:
    return hello(name=name).output


@dsl.pipeline(name="outer")
def outer():
    inner(name="nested")
"""


def test_compile_takes_the_outermost_of_nested_pipelines(tmp_path, cli):
    source = write(tmp_path, NESTED)
    result = cli("compile", str(source), "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 0, result.stderr
    assert load(tmp_path / "out.yaml").name == "outer"


def test_compile_into_a_missing_folder_says_so(tmp_path, cli):
    source = write(tmp_path, NESTED)
    result = cli("compile", str(source), "-o", str(tmp_path / "no" / "such" / "out.yaml"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot write" in result.stderr and "No such file or directory" in result.stderr


RUNNABLE = """
from sluiceway import dsl


@dsl.component
def double(n: int) -> int:
    if n < 0:
        raise ValueError("n must not be negative")
    return 2 * n


@dsl.pipeline(name="doubling")
def doubling(n: int) -> int:
    return double(n=n).output
"""


def test_run_shows_progress_and_outputs(tmp_path, cli):
    source = write(tmp_path, RUNNABLE)
    result = cli("run", str(source), "-p", "n=21", env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    assert "✓ double succeeded" in result.stdout and "  output Output = 42" in result.stdout
    assert " SUCCEEDED; logs and results in " in result.stdout


def test_run_exits_1_when_a_task_fails_and_says_why_in_one_line(tmp_path, cli):
    source = write(tmp_path, RUNNABLE)
    result = cli("run", str(source), "-p", "n=-1", env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 1
    assert "task double failed (ComponentFailed): double() raised ValueError: n must not be negative" in result.stderr
    assert " FAILED (ComponentFailed: task 'double' failed: double() raised ValueError" in result.stdout


def test_a_compiled_file_runs_too(tmp_path, cli):
    source = write(tmp_path, RUNNABLE)
    assert cli("compile", str(source), "-o", str(tmp_path / "doubling.yaml")).returncode == 0
    result = cli("run", str(tmp_path / "doubling.yaml"), "-p", "n=2", env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 0 and "output Output = 4" in result.stdout


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["n=two"], "error: parameter 'n' must be int, got 'two'"),
        ([], "error: missing required parameter 'n' (int) of pipeline 'doubling'"),
        (["n=1", "m=2"], "error: pipeline 'doubling' has no parameter 'm' (parameters: n)"),
        (["n"], "error: 'n' is not name=value"),
    ],
)
def test_bad_parameters_get_one_clear_line(tmp_path, cli, params, message):
    source = write(tmp_path, RUNNABLE)
    result = cli("run", str(source), *[arg for p in params for arg in ("-p", p)], env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 1 and result.stderr.strip() == message


def test_a_read_only_home_is_reported(tmp_path, cli):
    import os

    if os.geteuid() == 0:
        home = tmp_path / "file-not-folder"
        home.write_text("")  # root may write anywhere; a file where the folder should be cannot be written into
    else:
        home = tmp_path / "read-only"
        home.mkdir(mode=0o500)
    source = write(tmp_path, RUNNABLE)
    result = cli("run", str(source), "-p", "n=1", env={"SLUICEWAY_HOME": str(home)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"error: cannot write to the Sluiceway home {home}" in result.stderr and "set SLUICEWAY_HOME to a writable folder" in result.stderr
    )


def test_runs_are_kept_and_can_be_listed_shown_and_read(tmp_path, cli):
    import json

    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    source = write(tmp_path, RUNNABLE)
    assert cli("run", str(source), "-p", "n=5", env=home).returncode == 0
    assert cli("run", str(source), "-p", "n=-5", env=home).returncode == 1
    listed = cli("runs", "list", "--output", "json", env=home)
    runs = json.loads(listed.stdout)
    assert [(run["state"], run["parameters"]) for run in runs] == [("FAILED", {"n": -5}), ("SUCCEEDED", {"n": 5})]
    shown = json.loads(cli("runs", "show", runs[1]["id"], "--output", "json", env=home).stdout)
    assert [(t["task_id"], t["state"], t["outputs"]) for t in shown["tasks"]] == [("double", "SUCCEEDED", {"Output": {"value": 10}})]
    table = cli("runs", "show", runs[0]["id"], env=home).stdout
    assert "double() raised ValueError: n must not be negative" in table
    logs = cli("runs", "logs", runs[0]["id"], "--task", "double", env=home).stdout
    assert logs.startswith("==> double <==") and "ValueError: n must not be negative" in logs
    missing = cli("runs", "show", "no-such-run", env=home)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no run 'no-such-run'"


LINEAGE = """
from sluiceway import dsl


@dsl.component
def make(out: dsl.Output[dsl.Dataset]):
    from pathlib import Path

    Path(out.path).write_text("1,2,3")


@dsl.component
def double(data: dsl.Input[dsl.Dataset], out: dsl.Output[dsl.Dataset]):
    from pathlib import Path

    Path(out.path).write_text(",".join(str(2 * int(v)) for v in Path(data.path).read_text().split(",")))


@dsl.component
def total(data: dsl.Input[dsl.Dataset]) -> int:
    from pathlib import Path

    return sum(int(v) for v in Path(data.path).read_text().split(","))


@dsl.pipeline(name="chain")
def chain():
    total(data=double(data=make().output).output)
"""


def test_lineage_shows_where_an_artifact_came_from_and_went(tmp_path, cli):
    import json

    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    assert cli("run", str(write(tmp_path, LINEAGE)), env=home).returncode == 0
    (run,) = json.loads(cli("runs", "list", "--output", "json", env=home).stdout)
    shown = json.loads(cli("runs", "show", run["id"], "--output", "json", env=home).stdout)
    outputs = {task["task_id"]: task["outputs"] for task in shown["tasks"]}
    made = outputs["make"]["out"]["artifacts"][0]["uri"]
    doubled = outputs["double"]["out"]["artifacts"][0]["uri"]
    graph = json.loads(cli("lineage", doubled, "--output", "json", env=home).stdout)
    run_id = run["id"]
    assert graph["upstream"] == [[f"{run_id}/double", doubled], [made, f"{run_id}/double"], [f"{run_id}/make", made]]
    assert graph["downstream"] == [[doubled, f"{run_id}/total"]]
    missing = cli("lineage", "file:///nowhere", env=home)
    assert missing.returncode == 1 and "no lineage recorded for file:///nowhere" in missing.stderr


SLOW = """
from sluiceway import dsl


@dsl.component
def nap(seconds: int) -> int:
    import time

    time.sleep(seconds)
    return seconds


@dsl.component
def report(status: dsl.PipelineTaskFinalStatus) -> str:
    print("final status", status.state)
    return status.state


@dsl.pipeline(name="sleepy")
def sleepy():
    exit_task = report()
    with dsl.ExitHandler(exit_task):
        nap(seconds=120)
"""


def test_runs_cancel_stops_a_run_from_another_process(tmp_path, cli):
    import json
    import os
    import subprocess
    import sys
    import time

    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    running = subprocess.Popen(
        [sys.executable, "-m", "sluiceway", "run", str(write(tmp_path, SLOW))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **home},
    )
    deadline = time.monotonic() + 60
    run_id = None
    while time.monotonic() < deadline and run_id is None:
        listed = json.loads(cli("runs", "list", "--output", "json", env=home).stdout or "[]")
        if listed and listed[0]["state"] == "RUNNING" and (tmp_path / "home" / "runs" / listed[0]["id"] / "tasks" / "nap").exists():
            run_id = listed[0]["id"]
        time.sleep(0.2)
    assert run_id is not None
    cancelled = cli("runs", "cancel", run_id, env=home)
    assert cancelled.returncode == 0 and cancelled.stdout.startswith(f"cancelling run {run_id}")
    out, _err = running.communicate(timeout=60)
    assert running.returncode == 1
    assert "final status CANCELLED" in out and f"run {run_id} CANCELLED" in out
    assert json.loads(cli("runs", "show", run_id, "--output", "json", env=home).stdout)["state"] == "CANCELLED"
    again = cli("runs", "cancel", run_id, env=home)
    assert again.returncode == 1 and "is CANCELLED; only a pending or running run can be cancelled" in again.stderr


RETRYABLE = """
from sluiceway import dsl


@dsl.component
def count_calls(counter: str) -> int:
    from pathlib import Path

    path = Path(counter)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    return calls


@dsl.component
def gate(switch: str, value: int) -> int:
    from pathlib import Path

    if Path(switch).read_text() != "open":
        raise RuntimeError("the gate is closed")
    return value * 10


@dsl.pipeline(name="retryable")
def retryable(counter: str, switch: str) -> int:
    first = count_calls(counter=counter)
    return gate(switch=switch, value=first.output).output
"""


def test_runs_retry_reruns_only_what_did_not_succeed(tmp_path, cli):
    import json

    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    counter, switch = tmp_path / "counter", tmp_path / "switch"
    switch.write_text("closed")
    source = write(tmp_path, RETRYABLE)
    failed = cli("run", str(source), "-p", f"counter={counter}", "-p", f"switch={switch}", env=home)
    assert failed.returncode == 1 and "the gate is closed" in failed.stderr
    (run,) = json.loads(cli("runs", "list", "--output", "json", env=home).stdout)
    switch.write_text("open")
    retried = cli("runs", "retry", run["id"], env=home)
    assert retried.returncode == 0, retried.stderr
    assert f"run {run['id']} SUCCEEDED" in retried.stdout and "output Output = 10" in retried.stdout
    assert counter.read_text() == "1"  # the task that had succeeded was kept, not run again
    shown = json.loads(cli("runs", "show", run["id"], "--output", "json", env=home).stdout)
    assert shown["state"] == "SUCCEEDED"
    assert {t["task_id"]: (t["state"], t["attempts"]) for t in shown["tasks"]} == {
        "count-calls": ("SUCCEEDED", 1),
        "gate": ("SUCCEEDED", 2),
    }
    again = cli("runs", "retry", run["id"], env=home)
    assert again.returncode == 1 and "is SUCCEEDED; only a failed or cancelled run can be retried" in again.stderr


def test_two_runs_sharing_one_home_both_succeed(tmp_path):
    import os
    import subprocess
    import sys

    home = {**os.environ, "SLUICEWAY_HOME": str(tmp_path / "home")}
    source = write(tmp_path, RUNNABLE)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "sluiceway", "run", str(source), "-p", f"n={n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=home,
        )
        for n in (1, 2)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], results
    assert {"output Output = 2", "output Output = 4"} == {
        line.strip() for out, _ in results for line in out.splitlines() if "output Output" in line
    }


KILLED = """
from sluiceway import dsl


@dsl.component
def vanish() -> int:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@dsl.pipeline(name="killed")
def killed():
    vanish()
"""


def test_a_killed_task_fails_the_run_with_one_clear_line(tmp_path, cli):
    result = cli("run", str(write(tmp_path, KILLED)), env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "task vanish failed (Lost): the executor ended with status -9 (killed by signal 9) and left no result" in result.stderr


def test_a_corrupt_metadata_file_is_reported_and_kept(tmp_path, cli):
    home = tmp_path / "home"
    home.mkdir()
    (home / "metadata.db").write_bytes(b"garbage" * 100)
    result = cli("run", str(write(tmp_path, RUNNABLE)), "-p", "n=1", env={"SLUICEWAY_HOME": str(home)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot be used as a Sluiceway metadata database: file is not a database" in result.stderr
    assert (home / "metadata.db").read_bytes() == b"garbage" * 100


def test_db_commands_check_and_upgrade_an_older_schema(tmp_path, cli):
    from sqlalchemy import create_engine

    from sluiceway.stores.sql import migrations

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as connection:
        migrations.upgrade(connection, "0001")
    assert cli("db", "current", "--url", url).stdout.strip() == f"database: 0001; this Sluiceway: {migrations.head()}"
    check = cli("db", "check", "--url", url)
    assert check.returncode == 1 and "run `sluiceway db upgrade`" in check.stderr
    assert cli("db", "upgrade", "--url", url).returncode == 0
    assert cli("db", "check", "--url", url).returncode == 0


def test_a_fresh_home_lists_no_runs(tmp_path, cli):
    result = cli("runs", "list", env={"SLUICEWAY_HOME": str(tmp_path / "new-home")})
    assert result.returncode == 0 and result.stdout == ""


def test_null_is_refused_for_a_parameter_that_does_not_default_to_null(tmp_path, cli):
    result = cli("run", str(write(tmp_path, RUNNABLE)), "-p", "n=null", env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: parameter 'n' (int) cannot be null: only a parameter that defaults to null can"


CRASHABLE = """
from sluiceway import dsl


@dsl.component
def slow_once(marker: str) -> int:
    import os
    import time
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(60)
    return 1


@dsl.pipeline(name="crashable")
def crashable(marker: str):
    first = slow_once(marker=marker)
    slow_once(marker=marker).after(first)
"""


def test_a_run_whose_process_died_is_ended_as_lost_and_can_be_retried(tmp_path, cli):
    import os
    import signal
    import subprocess
    import sys
    import time

    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    marker = tmp_path / "marker"
    source = write(tmp_path, CRASHABLE)
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "sluiceway", "run", str(source), "-p", f"marker={marker}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **home},
    )
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        orchestrator.kill()  # a crash: nothing is cleaned up, nothing is recorded
        orchestrator.wait()
    finally:
        task_pid = int(marker.read_text())
        os.kill(task_pid, signal.SIGKILL)  # the task outlives its orchestrator, as a detached process does
    (run_id,) = [line.split()[0] for line in cli("runs", "list", env=home).stdout.splitlines()]
    listed = cli("runs", "list", env=home).stdout
    assert f"{run_id}" in listed and "FAILED" in listed

    shown = cli("runs", "show", run_id, env=home)
    assert "Lost: the process running it ended before the run did" in shown.stdout
    assert "slow-once " in shown.stdout and "FAILED    : Lost: the process running it ended" in shown.stdout
    attempts = cli("runs", "show", run_id, "--task", "slow-once", env=home).stdout
    assert "#1 " in attempts and " lost" in attempts

    retried = cli("runs", "retry", run_id, env=home)
    assert retried.returncode == 0, retried.stderr
    assert f"run {run_id} SUCCEEDED" in retried.stdout
    assert "#2 " in cli("runs", "show", run_id, "--task", "slow-once", env=home).stdout  # attempt numbers go on


def test_settings_this_machine_ignores_are_noted_once_each(tmp_path, cli):
    from tests.conftest import EXAMPLES

    result = cli("run", str(EXAMPLES / "nightly_segmentation.py"), env={"SLUICEWAY_HOME": str(tmp_path / "home")})
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 3, result.stderr
    assert any("resource requests and limits" in note and "train" in note for note in notes)
    assert any(note.startswith("note: ignored on this machine: secrets") for note in notes)
    assert any("node selectors" in note for note in notes)


def test_the_python_api_warns_about_ignored_settings(tmp_path, monkeypatch):
    import warnings

    import sluiceway
    from sluiceway import dsl
    from sluiceway.local import SettingIgnoredHere

    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path / "home"))

    @dsl.component
    def hungry() -> int:
        return 1

    @dsl.pipeline(name="hungry")
    def pipeline():
        hungry().set_memory_limit("64Gi")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sluiceway.run(pipeline).state == "SUCCEEDED"
    (warning,) = [w for w in caught if issubclass(w.category, SettingIgnoredHere)]
    assert "resource requests and limits" in str(warning.message) and "hungry" in str(warning.message)
    assert warning.filename == __file__  # it points at the caller's line


def test_runs_are_recorded_under_an_experiment_and_listed_by_it(tmp_path, cli):
    import json

    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    source = write(tmp_path, RUNNABLE)
    assert cli("run", str(source), "-p", "n=1", "--experiment", "tuning", env=home).returncode == 0
    assert cli("run", str(source), "-p", "n=2", env=home).returncode == 0
    (tuned,) = json.loads(cli("runs", "list", "--experiment", "tuning", "--output", "json", env=home).stdout)
    assert tuned["experiment"] == "tuning" and tuned["parameters"] == {"n": 1} and tuned["namespace"] == "default"
    first = cli("runs", "list", "--limit", "1", env=home)
    assert len(first.stdout.splitlines()) == 1 and "more runs: add --page " in first.stderr
    token = first.stderr.split("--page ")[1].strip()
    second = cli("runs", "list", "--limit", "1", "--page", token, env=home)
    assert second.stdout.split()[0] == tuned["id"] and second.stderr == ""


def test_tokens_are_made_listed_and_revoked_on_the_configured_store(tmp_path, cli):
    env = {"SLUICEWAY_HOME": str(tmp_path)}
    made = cli("tokens", "create", "--namespace", "team-a", "--namespace", "team-b", "--role", "viewer", "--name", "ci", env=env)
    assert made.returncode == 0, made.stderr
    token_id = made.stdout.strip().split("_")[1]
    assert "token " + token_id + ": viewer in team-a, viewer in team-b" in made.stderr
    listed = cli("tokens", "list", env=env)
    assert re.fullmatch(rf"{token_id}  ci  viewer in team-a, viewer in team-b  made \S+ \S+  never used  active\n", listed.stdout)
    assert made.stdout.strip().split("_", 2)[2] not in listed.stdout  # the secret is shown once only
    assert cli("tokens", "revoke", token_id, env=env).stdout == f"token {token_id} is revoked\n"
    assert re.search(r"  revoked \S+ \S+$", cli("tokens", "list", env=env).stdout, re.M)
    unknown = cli("tokens", "revoke", "nope", env=env)
    assert unknown.returncode == 1 and unknown.stderr == "error: no token 'nope'\n"
    bad = cli("tokens", "create", "--namespace", "Team A", "--role", "admin", env=env)
    assert bad.returncode == 2 and "'Team A' is not a namespace" in bad.stderr
    assert cli("tokens", "create", "--namespace", "team-a", "--role", "owner", env=env).returncode == 2
