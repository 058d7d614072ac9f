"""Step caching on the embedded default: hits, misses and why (CACHE-1 to CACHE-4)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import sluiceway
from sluiceway import dsl
from sluiceway.core import ir
from sluiceway.core.lifecycle import TaskState
from sluiceway.core.task_spec import ArtifactRef, InputBinding
from sluiceway.engine.caching import cache_key, cache_parts

T = TaskState


def key(*args):
    return cache_key(cache_parts(*args))


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@dsl.component
def write(text: str, out: dsl.Output[dsl.Dataset]):
    from pathlib import Path

    Path(out.path).write_text(text)


@dsl.component
def read(data: dsl.Input[dsl.Dataset]) -> str:
    from pathlib import Path

    return Path(data.path).read_text()


@dsl.pipeline(name="cached")
def cached(text: str = "hello"):
    read(data=write(text=text).output)


def states(report):
    return {task_id: (task.state, task.attempts) for task_id, task in report.tasks.items()}


def test_a_second_identical_run_reuses_every_output():
    first = sluiceway.run(cached)
    second = sluiceway.run(cached)
    assert states(first) == {"write": (T.SUCCEEDED, 1), "read": (T.SUCCEEDED, 1)}
    assert states(second) == {"write": (T.CACHED, 0), "read": (T.CACHED, 0)}
    assert second.tasks["read"].outputs == first.tasks["read"].outputs
    assert second.tasks["write"].message == f"reused the outputs of {first.run_id}/write"


def test_a_changed_input_misses_and_what_follows_misses_too():
    sluiceway.run(cached, {"text": "hello"})
    changed = sluiceway.run(cached, {"text": "bye"})
    assert states(changed) == {"write": (T.SUCCEEDED, 1), "read": (T.SUCCEEDED, 1)}
    assert changed.tasks["read"].outputs["Output"].value == "bye"


def test_caching_can_be_turned_off_per_task_and_per_run():
    @dsl.pipeline(name="uncached")
    def uncached():
        write(text="x").set_caching_options(False)

    sluiceway.run(uncached)
    assert states(sluiceway.run(uncached)) == {"write": (T.SUCCEEDED, 1)}
    sluiceway.run(cached)
    assert states(sluiceway.run(cached, caching=False)) == {"write": (T.SUCCEEDED, 1), "read": (T.SUCCEEDED, 1)}


def test_a_stale_entry_misses():
    @dsl.pipeline(name="fresh")
    def fresh():
        write(text="x").set_caching_options(True, max_staleness="PT0S")

    sluiceway.run(fresh)
    assert states(sluiceway.run(fresh)) == {"write": (T.SUCCEEDED, 1)}


def test_an_entry_whose_artifact_is_gone_misses(home):
    first = sluiceway.run(cached)
    (artifact,) = first.tasks["write"].outputs["out"].artifacts
    Path(artifact.uri.removeprefix("file://")).unlink()
    again = sluiceway.run(cached)
    assert again.tasks["write"].state == T.SUCCEEDED


def test_cache_clear_forgets_entries(home, cli):
    sluiceway.run(cached)
    cleared = cli("cache", "clear", env={"SLUICEWAY_HOME": str(home)})
    assert cleared.returncode == 0 and cleared.stdout.strip() == "removed 2 cache entries"
    assert states(sluiceway.run(cached))["write"] == (T.SUCCEEDED, 1)


@dsl.component
def scale(x: float) -> float:
    """Scale a number."""
    return x * 2


def test_the_key_ignores_names_and_descriptions_but_not_code_values_or_environment():
    component = scale.component_spec
    settings = ir.TaskSettings()
    value_of = lambda binding: binding.value  # noqa: E731
    base = key(component, {"x": InputBinding(value=2.0)}, settings, value_of)
    renamed = msgspec.structs.replace(component, name="other", description="Another text.")
    assert key(renamed, {"x": InputBinding(value=2.0)}, settings, value_of) == base
    assert key(component, {"x": InputBinding(value=2)}, settings, value_of) == base  # an int given to a float input
    assert key(component, {"x": InputBinding(value=3.0)}, settings, value_of) != base
    assert key(component, {"x": InputBinding(value=2.0)}, ir.TaskSettings(env={"MODE": "fast"}), value_of) != base
    changed_code = msgspec.structs.replace(
        component,
        implementation=msgspec.structs.replace(component.implementation, source="def scale(x: float) -> float:\n    return x * 3\n"),
    )
    assert key(changed_code, {"x": InputBinding(value=2.0)}, settings, value_of) != base


def test_artifacts_are_keyed_by_content_not_by_where_they_are():
    component = read.component_spec
    settings = ir.TaskSettings()
    one = InputBinding(artifacts=(ArtifactRef(uri="file:///a/1", type="Dataset", digest="sha256:aa"),))
    moved = InputBinding(artifacts=(ArtifactRef(uri="file:///b/2", type="Dataset", digest="sha256:aa"),))
    other = InputBinding(artifacts=(ArtifactRef(uri="file:///a/1", type="Dataset", digest="sha256:bb"),))
    original = key(component, {"data": one}, settings, lambda b: None)
    assert key(component, {"data": moved}, settings, lambda b: None) == original
    assert key(component, {"data": other}, settings, lambda b: None) != original


def test_a_miss_says_which_part_of_the_key_changed(home, cli):
    import json

    env = {"SLUICEWAY_HOME": str(home)}
    first = sluiceway.run(cached, {"text": "hello"})
    second = sluiceway.run(cached, {"text": "bye"})
    third = sluiceway.run(cached, {"text": "bye"})

    def explain(report, task):
        shown = cli("runs", "show", report.run_id, "--task", task, "--output", "json", env=env)
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)["cache"]

    assert explain(first, "write") == "miss: no earlier execution of this task to reuse"
    assert explain(second, "write") == f"miss: since run {first.run_id}, input 'text' changed"
    assert explain(second, "read") == f"miss: since run {first.run_id}, input 'data' changed"
    assert explain(third, "write") == f"hit: reused the outputs of {second.run_id}/write"


@dsl.component
def square(n: int) -> int:
    return n * n


def test_a_loop_whose_iterations_are_all_cached_still_ends():
    @dsl.pipeline(name="cached-loop")
    def cached_loop():
        with dsl.ParallelFor([1, 2, 3, 4, 5], parallelism=2) as item:
            square(n=item)

    sluiceway.run(cached_loop)
    again = sluiceway.run(cached_loop)  # it once waited forever: cached iterations finished without waking the loop
    assert again.tasks["for-loop"].state == T.SUCCEEDED
    assert {again.tasks[f"for-loop/{i}/square"].state for i in range(5)} == {T.CACHED}
