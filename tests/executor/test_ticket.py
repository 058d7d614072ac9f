"""`python -m sluiceway.executor --ticket URI --retry N`: a workflow engine's pod waits for what the run's engine
decided, and runs the launched attempt or applies the decision (sluiceway/executor/ticket.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sluiceway import dsl
from sluiceway.core.task_spec import InputBinding, TaskSpec, decode_result, encode
from sluiceway.core.tickets import DECIDED, Decision, encode_decision
from tests.executor.test_executor import component_of


@dsl.component
def add(a: int, b: int = 10) -> int:
    return a + b


@dsl.component
def fail() -> int:
    raise RuntimeError("no")


@dsl.component
def wordy(size: int) -> str:
    return "w" * size


def spec_for(tmp_path: Path, component, inputs: dict[str, InputBinding] | None = None, attempt: int = 1) -> TaskSpec:
    """A spec as the engine writes it: folders of the engine's machine (the pod uses its own), the result stored."""
    output_root = (tmp_path / "store" / "run-1" / "task" / str(attempt)).as_uri()
    return TaskSpec(
        run_id="run-1",
        task="task",
        attempt=attempt,
        component=component_of(component),
        inputs=inputs or {},
        output_root=output_root,
        work_dir="/nonexistent/engine/work",
        result_path="/nonexistent/engine/result.json",
        result_uri=f"{output_root}/.sluiceway/result.json",
    )


def start_pod(tmp_path: Path, retry: int = 0, *extra: str) -> subprocess.Popen[str]:
    root = (tmp_path / "tickets").as_uri()
    command = [
        sys.executable,
        "-m",
        "sluiceway.executor",
        "--ticket",
        root,
        "--instance",
        "task",
        "--retry",
        str(retry),
        "--outputs",
        str(tmp_path / "out"),
        *extra,
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "SLUICEWAY_TASK_STORES": "{}"}
    )


def write_ticket(tmp_path: Path, name: str, data: bytes, instance: str = "task") -> None:
    folder = tmp_path / "tickets" / instance
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def finish(pod: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = pod.communicate(timeout=60)
    return pod.returncode, stderr


def test_a_launched_attempt_runs_when_its_ticket_arrives_and_stores_its_result(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, add, {"a": InputBinding(value=2)})
    pod = start_pod(tmp_path)
    time.sleep(0.3)  # the pod started before the engine launched the attempt: it waits
    assert pod.poll() is None
    write_ticket(tmp_path, "0.json", encode(spec))
    code, stderr = finish(pod)
    assert code == 0, stderr
    stored = decode_result(Path(spec.result_uri.removeprefix("file://")).read_bytes())  # type: ignore[union-attr]
    assert stored.succeeded and stored.values == {"Output": 12}
    assert (tmp_path / "out" / "Output").read_text() == "12"


def test_the_native_retry_picks_its_own_attempt(tmp_path: Path) -> None:
    write_ticket(tmp_path, "0.json", encode(spec_for(tmp_path, fail)))
    write_ticket(tmp_path, "1.json", encode(spec_for(tmp_path, add, {"a": InputBinding(value=1)}, attempt=2)))
    code, _ = finish(start_pod(tmp_path, retry=1))
    assert code == 0
    assert (tmp_path / "out" / "Output").read_text() == "11"
    code, stderr = finish(start_pod(tmp_path, retry=0))
    assert code == 1 and "attempt 1 failed" in stderr


def test_a_decision_is_applied_without_running_anything(tmp_path: Path) -> None:
    write_ticket(tmp_path, DECIDED, encode_decision(Decision(state="RUNNING", outputs={"branch": "1"})))
    code, stderr = finish(start_pod(tmp_path))
    assert code == 0 and "decided by the run's engine" in stderr
    assert (tmp_path / "out" / "branch").read_text() == "1"
    write_ticket(tmp_path, DECIDED, encode_decision(Decision(state="FAILED", exit_code=1, message="a comparison failed")))
    code, stderr = finish(start_pod(tmp_path))
    assert code == 1 and "FAILED: a comparison failed" in stderr


def test_a_launched_attempt_wins_over_a_later_decision(tmp_path: Path) -> None:
    write_ticket(tmp_path, "0.json", encode(spec_for(tmp_path, add, {"a": InputBinding(value=5)})))
    write_ticket(tmp_path, DECIDED, encode_decision(Decision(state="SUCCEEDED")))
    code, _ = finish(start_pod(tmp_path))
    assert code == 0 and (tmp_path / "out" / "Output").read_text() == "15"


def test_no_ticket_ends_the_pod_as_an_unusable_spec_saying_why(tmp_path: Path) -> None:
    code, stderr = finish(start_pod(tmp_path, 0, "--wait-seconds", "0.3"))
    assert code == 2
    assert "no ticket at" in stderr and "still followed" in stderr and "Traceback" not in stderr


def test_values_past_the_outputs_limit_point_to_the_stored_result(tmp_path: Path) -> None:
    """Tekton keeps at most 4096 bytes of results per step: the executor keeps its outputs under the limit given."""
    spec = spec_for(tmp_path, wordy, {"size": InputBinding(value=2000)})
    write_ticket(tmp_path, "0.json", encode(spec))
    code, _ = finish(start_pod(tmp_path, 0, "--outputs-limit", "1000"))
    assert code == 0
    assert (tmp_path / "out" / "Output").read_text() == spec.result_uri
    stored = decode_result(Path(spec.result_uri.removeprefix("file://")).read_bytes())  # type: ignore[union-attr]
    assert stored.values == {"Output": "w" * 2000}


def test_a_malformed_ticket_command_line_exits_2_with_the_usage(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "sluiceway.executor", "--ticket", "x", "--retry", "0"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2 and "usage:" in completed.stderr


def test_an_attempt_cancelled_before_its_pod_started_is_not_run(tmp_path: Path) -> None:
    write_ticket(tmp_path, "0.json", encode(spec_for(tmp_path, add, {"a": InputBinding(value=1)})))
    write_ticket(tmp_path, "0.cancelled.json", encode_decision(Decision(state="CANCELLED", message="stopped")))
    code, stderr = finish(start_pod(tmp_path))
    assert code == 0 and "CANCELLED: stopped" in stderr
    assert not (tmp_path / "out" / "Output").exists()


def test_a_pod_whose_group_ended_without_it_ends_and_a_driver_leaves_its_outputs(tmp_path: Path) -> None:
    """GRP-3: an iteration the loop never opened (the run stopped) has no ticket; its pods end when the loop is final."""
    pod = start_pod(tmp_path, 0, "--within", "outer for-loop", "--driver", "loop")
    write_ticket(tmp_path, DECIDED, encode_decision(Decision(state="RUNNING", opened=True)), instance="for-loop")
    time.sleep(0.5)
    assert pod.poll() is None  # the loop still runs: the iteration may yet open
    write_ticket(tmp_path, DECIDED, encode_decision(Decision(state="FAILED", exit_code=1, opened=True)), instance="for-loop")
    code, stderr = finish(pod)
    assert code == 0 and "'for-loop' ended (FAILED) without running this instance" in stderr
    assert (tmp_path / "out" / "iterations").read_text() == "[]"


def test_an_exit_task_ends_unrun_only_when_its_handler_was_never_entered(tmp_path: Path) -> None:
    entered = encode_decision(Decision(state="FAILED", exit_code=1, opened=True))
    write_ticket(tmp_path, DECIDED, entered, instance="guard")
    pod = start_pod(tmp_path, 0, "--handler", "guard")
    time.sleep(0.5)
    assert pod.poll() is None  # entered: the exit task will run, once the engine launches it
    write_ticket(tmp_path, DECIDED, encode_decision(Decision(state="SKIPPED", message="never entered")), instance="guard")
    code, stderr = finish(pod)
    assert code == 0 and "was never entered" in stderr


def test_every_waiting_pod_ends_when_the_run_ends(tmp_path: Path) -> None:
    pod = start_pod(tmp_path)
    write_ticket(tmp_path, "../_ended.json", encode_decision(Decision(state="ENDED")))
    code, stderr = finish(pod)
    assert code == 0 and "the run ended" in stderr
