"""The Argo Workflows simulator (argo/), driven as a backend drives Argo: Workflows created, read and patched through
the official client's CustomObjectsApi. Each test's docstring names the upstream document (A: paths in
argoproj/argo-workflows) or section of ../shared/backend-semantics.md whose rule it checks. Every Workflow here is
first validated in strict mode against the published schema and the full CRD (../shared/schemas/argo)."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from tests.fake_kubernetes import FakeKubernetes
from tests.fake_kubernetes.argo.expressions import RESULTS, ExpressionError, evaluate_depends, evaluate_when
from tests.fake_kubernetes.argo.operator import backoff_seconds
from tests.fake_kubernetes.argo.spec import seconds
from tests.manifest_schemas import argo_crd, argo_schema, errors

NS = "default"
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
OUT = "/tmp/sluiceway/outputs"  # the folder steps write output parameter files to


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    """A fake cluster with the Argo simulator, whose pods run `python` as this interpreter."""
    with FakeKubernetes(command_map={"python": sys.executable}, engines=("argo",)) as fake:
        yield fake


@pytest.fixture
def api(kube: FakeKubernetes) -> Iterator[client.CustomObjectsApi]:
    api_client: ApiClient = kube.api_client()
    yield client.CustomObjectsApi(api_client)
    api_client.close()


# Building Workflows.


def container(code: str, **template: Any) -> dict[str, Any]:
    """A container template running `python -c code`."""
    return {"container": {"image": "python:3.12-slim", "command": ["python", "-c", code]}, **template}


def writes(name: str, value: str, exit_code: int = 0, **template: Any) -> dict[str, Any]:
    """A container template that writes `value` to the output parameter `name`, then exits with `exit_code`."""
    code = f"import sys; open('{OUT}/{name}', 'w').write({value!r}); sys.exit({exit_code})"
    outputs = {"parameters": [{"name": name, "valueFrom": {"path": f"{OUT}/{name}"}}]}
    return container(code, outputs=outputs, **template)


def echo(parameter: str = "message", default: str | None = None) -> dict[str, Any]:
    """A template that takes one input and writes it back as its output parameter `out`."""
    inputs: dict[str, Any] = {"name": parameter, **({"default": default} if default is not None else {})}
    template = writes("out", "{{inputs.parameters." + parameter + "}}")
    return {**template, "inputs": {"parameters": [inputs]}}


def task(name: str, template: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "template": template, **fields}


def args(**values: str) -> dict[str, Any]:
    return {"parameters": [{"name": key, "value": value} for key, value in values.items()]}


def workflow(name: str, templates: dict[str, dict[str, Any]], entrypoint: str = "main", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"entrypoint": entrypoint, "templates": [{"name": key, **value} for key, value in templates.items()], **spec},
    }


def dag(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    extra = {key: fields.pop(key) for key in list(fields) if key in ("parallelism", "outputs", "inputs")}
    return {"dag": {"tasks": list(tasks), **fields}, **extra}


# Running them.


def submit(api: client.CustomObjectsApi, manifest: dict[str, Any]) -> None:
    """Validate strictly against the published schema and the full CRD (tests/manifest_schemas.py), then create."""
    assert errors(argo_schema(), manifest) == [] and errors(argo_crd(), manifest) == []
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, copy.deepcopy(manifest))


def finished(kube: FakeKubernetes, api: client.CustomObjectsApi, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The Workflow once it carries `workflows.argoproj.io/completed: "true"`, read back through the API."""

    def completed() -> bool:
        stored = kube.get(f"{GROUP}/{VERSION}", PLURAL, NS, name) or {}
        return (stored.get("metadata", {}).get("labels") or {}).get("workflows.argoproj.io/completed") == "true"

    kube.wait_for(completed, timeout)
    found: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
    return found


def run(kube: FakeKubernetes, api: client.CustomObjectsApi, manifest: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    submit(api, manifest)
    return finished(kube, api, manifest["metadata"]["name"], timeout)


def nodes(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Workflow's nodes by name."""
    return {node["name"]: node for node in wf["status"]["nodes"].values()}


def phases(wf: dict[str, Any]) -> dict[str, str]:
    return {name: node["phase"] for name, node in nodes(wf).items()}


def output(node: dict[str, Any], name: str = "out") -> str | None:
    return next((p["value"] for p in (node.get("outputs") or {}).get("parameters") or [] if p["name"] == name), None)


def timeline(path: Path) -> list[tuple[float, str, str]]:
    """(time, "start"|"end", who) lines that pods appended to a host file."""
    entries = []
    for line in path.read_text().splitlines():
        moment, event, who = line.split()
        entries.append((float(moment), event, who))
    return sorted(entries)


def stamp(path: Path, who: str, sleep: float = 0.0, until_started: int = 0) -> str:
    """Python that appends start and end lines, `sleep` seconds apart, to a host file (pods are local processes); with
    `until_started`, it first waits (10 s at most) until that many pods have started, so overlaps do not hang on load."""
    line = "f.write(str(time.time()) + ' {event} ' + {who!r} + '\\n'); f.flush()"
    start, end = line.format(event="start", who=who), line.format(event="end", who=who)
    wait = f"[time.sleep(0.05) for _ in range(200) if open({str(path)!r}).read().count(' start ') < {until_started}]"
    return f"import time; f = open({str(path)!r}, 'a'); {start}; {wait}; time.sleep({sleep}); {end}"


def most_at_once(entries: list[tuple[float, str, str]]) -> int:
    running = peak = 0
    for _, event, _ in entries:
        running += 1 if event == "start" else -1
        peak = max(peak, running)
    return peak


# DAG dependencies.


def test_failure_cascades_as_omitted_and_a_failed_handler_runs(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/enhanced-depends-logic.md; backend-semantics 1.1: a failed task's dependants are Omitted ("omitted:
    depends condition not met"), and so are theirs; a `.Failed` handler runs; an Omitted leaf inherits the failure, so
    the DAG fails."""
    manifest = workflow(
        "cascade",
        {
            "main": dag(
                task("a", "fail"),
                task("b", "ok", depends="a"),
                task("c", "ok", depends="b"),
                task("handler", "ok", depends="a.Failed"),
            ),
            "fail": container("import sys; sys.exit(3)"),
            "ok": container("pass"),
        },
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    assert phases(wf) == {
        "cascade": "Failed",
        "cascade.a": "Failed",
        "cascade.b": "Omitted",
        "cascade.c": "Omitted",
        "cascade.handler": "Succeeded",
    }
    assert found["cascade.a"]["message"] == "Error (exit code 3)" and found["cascade.a"]["outputs"]["exitCode"] == "3"
    assert found["cascade.b"]["type"] == "Skipped" and found["cascade.b"]["message"] == "omitted: depends condition not met"
    assert wf["status"]["phase"] == "Failed" and wf["metadata"]["labels"]["workflows.argoproj.io/phase"] == "Failed"
    assert found["cascade.b"]["id"] in found["cascade.a"]["children"]  # dependants hang off their dependency


def test_a_failed_handler_that_succeeds_leaves_the_dag_succeeded(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """backend-semantics 1.1 (A: workflow/controller/dag.go `assessDAGPhase`): only the leaf tasks' branches count, so
    a failure absorbed by a succeeding `depends: A.Failed` handler leaves the DAG Succeeded."""
    manifest = workflow(
        "absorbed",
        {
            "main": dag(task("a", "fail"), task("handler", "ok", depends="a.Failed || a.Errored")),
            "fail": container("raise SystemExit(1)"),
            "ok": container("pass"),
        },
    )
    wf = run(kube, api, manifest)
    assert phases(wf) == {"absorbed": "Succeeded", "absorbed.a": "Failed", "absorbed.handler": "Succeeded"}
    assert wf["status"]["phase"] == "Succeeded"


def test_skip_does_not_cascade(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/enhanced-depends-logic.md (a bare `A` is `A.Succeeded || A.Skipped || A.Daemoned`); backend-semantics 1.1:
    a task depending on a Skipped one runs, one depending on `.Succeeded` is Omitted, and the DAG Succeeds."""
    manifest = workflow(
        "skips",
        {
            "main": dag(
                task("a", "ok", when="1 == 2"),
                task("b", "ok", dependencies=["a"]),
                task("c", "ok", depends="a.Succeeded"),
            ),
            "ok": container("pass"),
        },
    )
    wf = run(kube, api, manifest)
    assert phases(wf) == {"skips": "Succeeded", "skips.a": "Skipped", "skips.b": "Succeeded", "skips.c": "Omitted"}
    assert nodes(wf)["skips.a"]["message"] == "when '1 == 2' evaluated false"


def test_when_true_false_and_an_evaluation_error(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/walk-through/conditionals.md; backend-semantics 1.2: `when` is evaluated after substitution, bare words
    being strings; false gives Skipped, and an expression that cannot be evaluated makes the node Error."""
    manifest = workflow(
        "conditions",
        {
            "main": dag(
                task("yes", "ok", when="{{workflow.parameters.mode}} == fast && '{{workflow.parameters.mode}}' != 'slow'"),
                task("no", "ok", when="{{workflow.parameters.mode}} == slow || 1 == 2"),
                task("broken", "ok", when="{{workflow.parameters.mode}} =="),
            ),
            "ok": container("pass"),
        },
        arguments=args(mode="fast"),
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    assert phases(wf) == {"conditions": "Error", "conditions.yes": "Succeeded", "conditions.no": "Skipped", "conditions.broken": "Error"}
    assert found["conditions.broken"]["type"] == "Skipped" and "fast ==" in found["conditions.broken"]["message"]
    assert wf["status"]["phase"] == "Error"


def test_when_and_depends_expressions() -> None:
    """A: docs/enhanced-depends-logic.md and workflow/controller/dag.go `shouldExecute` (govaluate, bare words as
    strings): the two expression languages on their own."""
    assert evaluate_when("heads == heads") and evaluate_when("'a b' != \"c\" && (1 == 1.0 || false)")
    assert not evaluate_when("2 == '2'") and not evaluate_when("!true")
    for broken in ("heads", "a ==", "a - b == c", "(true"):
        with pytest.raises(ExpressionError):
            evaluate_when(broken)
    results = {name: dict.fromkeys(RESULTS, False) for name in ("a", "b-c", "fan")}
    results["a"]["Errored"] = results["b-c"]["Skipped"] = results["fan"]["AnySucceeded"] = True
    assert evaluate_depends("b-c && (a.Failed || a.Errored) && !a.Omitted", results)
    assert not evaluate_depends("a", results) and evaluate_depends("fan.AnySucceeded && !fan.AllFailed", results)


# Fan-out.


def test_with_items_runs_each_item_and_aggregates_outputs_in_item_order(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/walk-through/loops.md, docs/variables.md; backend-semantics 1.3: items named `task(i:label)` under a
    TaskGroup, `{{item.key}}` for objects, and `tasks.X.outputs.parameters.P` as a JSON list in item order (the
    first item finishes last here)."""
    items = [{"name": "b", "wait": "0.6"}, {"name": "a", "wait": "0"}, {"name": "c", "wait": "0"}]
    slow_echo = writes("out", "{{inputs.parameters.message}}")
    slow_echo["container"]["command"][2] = "import time; time.sleep({{inputs.parameters.wait}}); " + slow_echo["container"]["command"][2]
    manifest = workflow(
        "items",
        {
            "main": dag(
                task("fan", "slow-echo", arguments=args(message="{{item.name}}", wait="{{item.wait}}"), withItems=items),
                task("gather", "echo", depends="fan.Succeeded", arguments=args(message="{{tasks.fan.outputs.parameters.out}}")),
            ),
            "slow-echo": {**slow_echo, "inputs": {"parameters": [{"name": "message"}, {"name": "wait"}]}},
            "echo": echo(),
        },
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    group = found["items.fan"]
    assert group["type"] == "TaskGroup" and group["phase"] == "Succeeded"
    assert [found[f"items.fan({i}:name:{item['name']},wait:{item['wait']})"]["phase"] for i, item in enumerate(items)] == ["Succeeded"] * 3
    assert output(found["items.gather"]) == '["b","a","c"]'


def test_with_param_from_a_task_output_and_an_empty_list(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/walk-through/loops.md; backend-semantics 1.3: `withParam` takes a JSON list, here a task's output; an
    empty list makes the task Skipped ("Skipped, empty params"), which its dependants treat as any skip."""
    manifest = workflow(
        "params",
        {
            "main": dag(
                task("gen", "gen"),
                task("fan", "echo", depends="gen", arguments=args(message="{{item}}"), withParam="{{tasks.gen.outputs.parameters.list}}"),
                task("none", "echo", arguments=args(message="{{item}}"), withParam="{{workflow.parameters.empty}}"),
                task("after", "echo", depends="none", arguments=args(message="ran")),
            ),
            "gen": writes("list", '["x", 2]\n'),
            "echo": echo(),
        },
        arguments=args(empty="[]"),
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    assert phases(wf)["params"] == "Succeeded"
    assert [output(found[name]) for name in ("params.fan(0:x)", "params.fan(1:2)", "params.after")] == ["x", "2", "ran"]
    assert found["params.none"]["type"] == "Skipped" and found["params.none"]["phase"] == "Skipped"
    assert found["params.none"]["message"] == "Skipped, empty params"


# Concurrency.


def test_template_parallelism_caps_one_invocation(kube: FakeKubernetes, api: client.CustomObjectsApi, tmp_path: Path) -> None:
    """A: docs/parallelism.md, docs/fields.md (`templates[].parallelism`); backend-semantics 1.3: at most that many
    children of one invocation run at once (seen from the pods' own start and end times)."""
    log = tmp_path / "log"
    manifest = workflow(
        "capped",
        {
            "main": dag(task("fan", "stamp", arguments=args(who="{{item}}"), withItems=["1", "2", "3"]), parallelism=2),
            "stamp": {
                **container(stamp(log, "{{inputs.parameters.who}}", 0.2, until_started=2)),
                "inputs": {"parameters": [{"name": "who"}]},
            },
        },
    )
    wf = run(kube, api, manifest)
    assert wf["status"]["phase"] == "Succeeded"
    entries = timeline(log)
    assert len(entries) == 6 and most_at_once(entries) == 2  # each waits for a second to start, so 2 overlap, never 3


def test_workflow_parallelism_caps_pods(kube: FakeKubernetes, api: client.CustomObjectsApi, tmp_path: Path) -> None:
    """A: docs/parallelism.md; backend-semantics 1.3: `spec.parallelism` caps the workflow's pods."""
    log = tmp_path / "log"
    manifest = workflow(
        "serial",
        {"main": dag(task("a", "a"), task("b", "b")), "a": container(stamp(log, "a", 0.3)), "b": container(stamp(log, "b", 0.3))},
        parallelism=1,
    )
    assert run(kube, api, manifest)["status"]["phase"] == "Succeeded"
    assert most_at_once(timeline(log)) == 1


def test_fail_fast_stops_new_tasks_unless_disabled(kube: FakeKubernetes, api: client.CustomObjectsApi, tmp_path: Path) -> None:
    """A: docs/walk-through/dag.md ("fail fast"); backend-semantics 1.1: once a task has failed no new task starts, what
    runs finishes, then the DAG fails; with `failFast: false` the independent branch runs to completion."""
    results = {}
    for fail_fast in (True, False):
        name = f"fast-{str(fail_fast).lower()}"
        marker = tmp_path / name
        manifest = workflow(
            name,
            {
                "main": dag(task("boom", "fail"), task("slow", "slow"), task("later", "ok", depends="slow"), failFast=fail_fast),
                "fail": container(f"open({str(marker)!r}, 'w'); raise SystemExit(1)"),
                # Ends a second after the failure, by when the controller has seen it, however loaded the machine.
                "slow": container(
                    f"import os, time; [time.sleep(0.05) for _ in range(400) if not os.path.exists({str(marker)!r})]; time.sleep(1)"
                ),
                "ok": container("pass"),
            },
        )
        wf = run(kube, api, manifest)
        assert wf["status"]["phase"] == "Failed"
        results[fail_fast] = phases(wf)
    assert results[True] == {"fast-true": "Failed", "fast-true.boom": "Failed", "fast-true.slow": "Succeeded"}
    assert results[False]["fast-false.later"] == "Succeeded"


# Retries.


def test_retries_follow_limit_and_policy(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/retries.md, docs/walk-through/retrying-failed-or-errored-steps.md; backend-semantics 1.4: at most
    `limit`+1 attempts `name(i)` under a Retry node; OnFailure (the default) retries only a non-zero exit, not an
    Error such as a missing output; Always retries both; `{{retries}}` counts the attempts from 0."""
    missing = {**container("pass"), "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": f"{OUT}/never"}}]}}
    manifest = workflow(
        "retries",
        {
            "main": dag(task("fails", "fails"), task("errors", "errors"), task("errors-always", "errors-always"), task("second", "second")),
            "fails": container("raise SystemExit(1)", retryStrategy={"limit": "2"}),
            "errors": {**missing, "retryStrategy": {"limit": "3", "retryPolicy": "OnFailure"}},
            "errors-always": {**missing, "retryStrategy": {"limit": "1", "retryPolicy": "Always"}},
            "second": container(
                "import sys; sys.exit(0 if {{retries}} >= 1 else 1)", retryStrategy={"limit": "5", "retryPolicy": "Always"}
            ),
        },
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)

    def attempts(name: str) -> list[str]:
        return [wf["status"]["nodes"][child]["phase"] for child in found[f"retries.{name}"].get("children", [])]

    assert found["retries.fails"]["type"] == "Retry" and found["retries.fails(0)"]["type"] == "Pod"
    assert attempts("fails") == ["Failed"] * 3 and found["retries.fails"]["phase"] == "Failed"
    assert found["retries.fails"]["message"] == "No more retries left"
    assert attempts("errors") == ["Error"] and found["retries.errors"]["phase"] == "Error"
    assert attempts("errors-always") == ["Error", "Error"]
    assert attempts("second") == ["Failed", "Succeeded"] and found["retries.second"]["phase"] == "Succeeded"
    commands = [pod["spec"]["containers"][0]["command"][2] for pod in kube.list("v1", "pods", NS, "workflows.argoproj.io/workflow=retries")]
    assert sum("sys.exit(0 if 0 >= 1" in command for command in commands) == 1
    assert sum("sys.exit(0 if 1 >= 1" in command for command in commands) == 1


def test_backoff_and_durations() -> None:
    """A: docs/retries.md ("Back-Off": duration * factor^n, at most cap); durations are Go durations or seconds."""
    assert seconds("5", "d") == 5 and seconds("1m30s", "d") == 90 and seconds(7, "d") == 7 and seconds("250ms", "d") == 0.25
    backoff = {"duration": "1s", "factor": "2", "cap": "3s"}
    assert [backoff_seconds(backoff, tries, "b") for tries in (1, 2, 3, 4)] == [1, 2, 3, 3]
    assert backoff_seconds({}, 3, "b") == 0


# Timeouts.


def test_template_active_deadline_fails_the_attempt(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/walk-through/timeouts.md; backend-semantics 1.5: a template's activeDeadlineSeconds becomes the pod's,
    and a pod past it fails its node."""
    manifest = workflow("deadline", {"main": container("import time; time.sleep(30)", activeDeadlineSeconds="1")})
    wf = run(kube, api, manifest)
    node = nodes(wf)["deadline"]
    assert node["type"] == "Pod" and node["phase"] == "Failed"
    assert node["message"] == "Pod was active on the node longer than the specified deadline"
    assert kube.list("v1", "pods", NS)[0]["spec"]["activeDeadlineSeconds"] == 1


def test_workflow_deadline_kills_running_pods_but_not_the_exit_handler(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/walk-through/timeouts.md, workflow/controller/operator.go `failNodesWithoutCreatedPodsAfterDeadlineOrShutdown`;
    backend-semantics 1.5: past spec.activeDeadlineSeconds running pods are killed, but exit handlers still run."""
    manifest = workflow(
        "overdue",
        {"main": dag(task("sleep", "sleep")), "sleep": container("import time; time.sleep(60)"), "bye": container("pass")},
        activeDeadlineSeconds=1,
        onExit="bye",
    )
    wf = run(kube, api, manifest)
    assert phases(wf) == {"overdue": "Failed", "overdue.sleep": "Failed", "overdue.onExit": "Succeeded"}
    assert nodes(wf)["overdue.sleep"]["message"] == "Step exceeded its deadline"
    assert wf["status"]["phase"] == "Failed" and kube.pod_processes() == {}


# Exit handlers, hooks and shutdown.


def test_exit_handler_sees_the_workflow_status(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/walk-through/exit-handlers.md, docs/variables.md; backend-semantics 1.6: `spec.onExit` runs whatever the
    outcome with `{{workflow.status}}`; a failing exit handler fails a workflow that succeeded, and a failed one stays
    Failed whatever its exit handler does."""
    for name, main_code, exit_code, phase in (("ok-then-bad-exit", 0, 1, "Failed"), ("bad-then-ok-exit", 1, 0, "Failed")):
        manifest = workflow(
            name,
            {"main": container(f"raise SystemExit({main_code})"), "bye": writes("status", "{{workflow.status}}", exit_code)},
            onExit="bye",
        )
        wf = run(kube, api, manifest)
        handler = nodes(wf)[f"{name}.onExit"]
        assert output(handler, "status") == ("Succeeded" if main_code == 0 else "Failed")
        assert handler["phase"] == ("Failed" if exit_code else "Succeeded")
        assert wf["status"]["phase"] == phase


def test_task_exit_hook_runs_after_the_task_whatever_its_outcome(
    kube: FakeKubernetes, api: client.CustomObjectsApi, tmp_path: Path
) -> None:
    """A: docs/lifecyclehook.md; backend-semantics 1.6: `hooks.exit` runs once its task has finished, failed or not,
    with `{{tasks.X.status}}`, and the task's dependants wait for it."""
    log = tmp_path / "log"
    hook = {**writes("seen", "{{inputs.parameters.status}}"), "inputs": {"parameters": [{"name": "status"}]}}
    hook["container"]["command"][2] = stamp(log, "hook", 0.3) + "; " + hook["container"]["command"][2]
    manifest = workflow(
        "hooked",
        {
            "main": dag(
                task("a", "fail", hooks={"exit": {"template": "hook", "arguments": args(status="{{tasks.a.status}}")}}),
                task("b", "after", depends="a.Failed"),
            ),
            "fail": container("raise SystemExit(2)"),
            "hook": hook,
            "after": container(stamp(log, "after")),
        },
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    assert phases(wf) == {"hooked": "Succeeded", "hooked.a": "Failed", "hooked.a.onExit": "Succeeded", "hooked.b": "Succeeded"}
    assert output(found["hooked.a.onExit"], "seen") == "Failed" and found["hooked.a.onExit"]["id"] in found["hooked.a"]["children"]
    assert [(event, who) for _, event, who in timeline(log)] == [("start", "hook"), ("end", "hook"), ("start", "after"), ("end", "after")]


@pytest.mark.parametrize("strategy", ["Stop", "Terminate"])
def test_shutdown_stop_runs_the_exit_handler_terminate_does_not(kube: FakeKubernetes, api: client.CustomObjectsApi, strategy: str) -> None:
    """A: docs/cli/argo_stop.md, docs/cli/argo_terminate.md; backend-semantics 1.6: `spec.shutdown` kills running pods
    and starts nothing new; Stop still runs the exit handler, Terminate does not."""
    name = strategy.lower()
    submit(
        api,
        workflow(
            name,
            {"main": dag(task("sleep", "sleep")), "sleep": container("import time; time.sleep(60)"), "bye": container("pass")},
            onExit="bye",
        ),
    )
    kube.wait_for(lambda: kube.pod_processes(), 10)
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, {"spec": {"shutdown": strategy}})
    wf = finished(kube, api, name)
    assert wf["status"]["phase"] == "Failed" and wf["status"]["message"] == f"Stopped with strategy '{strategy}'"
    assert nodes(wf)[f"{name}.sleep"]["phase"] == "Failed"
    assert (f"{name}.onExit" in nodes(wf)) is (strategy == "Stop")
    if strategy == "Stop":
        assert nodes(wf)[f"{name}.onExit"]["phase"] == "Succeeded"


# Outputs and variables.


def test_output_parameters_trim_one_newline_and_a_missing_file_is_an_error(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: workflow/executor/executor.go `SaveParameters`; backend-semantics 1.7: the file's text with exactly one
    trailing newline trimmed; a missing file makes the node Error unless `valueFrom.default` is set; a dag template's
    outputs come from `valueFrom.parameter`."""
    missing_with_default = {
        **container("pass"),
        "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": f"{OUT}/absent", "default": "fallback"}}]},
    }
    inner_outputs = {"parameters": [{"name": "twice", "valueFrom": {"parameter": "{{tasks.two.outputs.parameters.out}}"}}]}
    manifest = workflow(
        "outputs",
        {
            "main": dag(task("inner", "inner"), task("missing", "missing"), task("defaulted", "defaulted")),
            "inner": dag(task("two", "two-newlines"), outputs=inner_outputs),
            "two-newlines": writes("out", "value\n\n"),
            "missing": {**container("pass"), "outputs": {"parameters": [{"name": "p", "valueFrom": {"path": f"{OUT}/absent"}}]}},
            "defaulted": missing_with_default,
        },
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    assert output(found["outputs.inner.two"]) == "value\n"
    assert output(found["outputs.inner"], "twice") == "value\n" and found["outputs.inner"]["type"] == "DAG"
    assert found["outputs.missing"]["phase"] == "Error" and f"{OUT}/absent" in found["outputs.missing"]["message"]
    assert output(found["outputs.defaulted"], "p") == "fallback" and found["outputs.defaulted"]["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Error"


def test_outputs_of_skipped_producers(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/variables.md "Outputs of Skipped and Omitted Nodes"; backend-semantics 1.7: a skipped producer's output
    is its `valueFrom.default`; without one the output is absent, so an argument that is only that reference is
    dropped and the consumer's input default applies, and any other use is a terminal error (no retry)."""
    with_default = writes("out", "never")
    with_default["outputs"]["parameters"][0]["valueFrom"]["default"] = "producer-default"
    manifest = workflow(
        "absent",
        {
            "main": dag(
                task("p1", "with-default", when="false"),
                task("p2", "no-default", when="false"),
                task("c1", "echo", depends="p1", arguments=args(message="{{tasks.p1.outputs.parameters.out}}")),
                task("c2", "echo", depends="p2", arguments=args(message="{{tasks.p2.outputs.parameters.out}}")),
                task("c3", "echo-retried", depends="p2", arguments=args(message="x-{{tasks.p2.outputs.parameters.out}}")),
            ),
            "with-default": with_default,
            "no-default": writes("out", "never"),
            "echo": echo(default="consumer-default"),
            "echo-retried": {**echo(), "retryStrategy": {"limit": "2", "retryPolicy": "Always"}},
        },
    )
    wf = run(kube, api, manifest)
    found = nodes(wf)
    assert output(found["absent.c1"]) == "producer-default" and output(found["absent.c2"]) == "consumer-default"
    assert found["absent.c3"]["phase"] == "Error" and "Skipped or Omitted" in found["absent.c3"]["message"]
    assert "children" not in found["absent.c3"] and wf["status"]["phase"] == "Error"


# Pods and the Workflow object.


def test_pods_carry_argo_labels_owner_and_pod_settings(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """A: docs/fields.md (podMetadata, serviceAccountName, imagePullSecrets, nodeSelector, tolerations, metadata);
    backend-semantics 1.8: pods named after the node, owned by the Workflow (deleting it deletes them), labelled with
    the workflow and `completed`; the Workflow carries the phase and completed labels."""
    template = container(
        "import os; assert os.environ['GREETING'] == 'hi'", nodeSelector={"disk": "ssd"}, metadata={"labels": {"step": "one"}}
    )
    template["container"].update(
        env=[{"name": "GREETING", "value": "{{workflow.parameters.greeting}}"}], resources={"requests": {"cpu": "100m"}}
    )
    template["tolerations"] = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    manifest = workflow(
        "shape",
        {"main": template},
        arguments=args(greeting="hi"),
        serviceAccountName="runner",
        imagePullSecrets=[{"name": "registry"}],
        podMetadata={"labels": {"team": "ml"}, "annotations": {"note": "x"}},
    )
    wf = run(kube, api, manifest)
    assert wf["status"]["phase"] == "Succeeded" and wf["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"
    assert wf["status"]["startedAt"] and wf["status"]["finishedAt"]
    (pod,) = kube.list("v1", "pods", NS, "workflows.argoproj.io/workflow=shape")
    assert pod["metadata"]["name"].startswith("shape-main-")
    assert pod["metadata"]["labels"] == {
        "team": "ml",
        "step": "one",
        "workflows.argoproj.io/workflow": "shape",
        "workflows.argoproj.io/completed": "true",
    }
    assert pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"] == "shape" and pod["metadata"]["annotations"]["note"] == "x"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Workflow" and pod["metadata"]["ownerReferences"][0]["controller"] is True
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["serviceAccountName"] == "runner" and spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["imagePullSecrets"] == [{"name": "registry"}] and spec["tolerations"][0]["key"] == "gpu"
    assert spec["containers"][0]["name"] == "main" and spec["containers"][0]["resources"] == {"requests": {"cpu": "100m"}}
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "shape")
    kube.wait_for(lambda: not kube.list("v1", "pods", NS), 10)


def test_unsupported_fields_fail_the_workflow_with_their_name(kube: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """The simulator refuses what it does not simulate (a steps template here), naming the field, as Argo's
    validation fails a Workflow with "invalid spec: ..." (A: workflow/validate/validate.go)."""
    manifest = workflow("steps", {"main": {"steps": [[{"name": "a", "template": "ok"}]]}, "ok": container("pass")})
    wf = run(kube, api, manifest)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "invalid spec: spec.templates[0].steps: not supported by the Argo simulator"
    assert kube.list("v1", "pods", NS) == []
