"""The Tekton Pipelines simulator (tekton/), driven through the official client's CustomObjectsApi.

Each test follows one rule of Tekton Pipelines v1 (../shared/backend-semantics.md section 2) and names the upstream
document it follows ("T:" paths are in tektoncd/pipeline). Every PipelineRun written here is first validated in
strict mode against the Tekton v1 schema (tests/manifest_schemas.py), as the admission webhook would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from tests.fake_kubernetes import FakeKubernetes
from tests.manifest_schemas import tekton_schema

NS = "default"
V1 = "tekton.dev/v1"
IMAGE = "python:3.12-slim"


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    """A fresh fake cluster with the Tekton simulator, whose pods run `python` as this interpreter."""
    with FakeKubernetes(command_map={"python": sys.executable}, engines=("tekton",)) as fake:
        yield fake


@pytest.fixture
def crd(api: ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


# Writing PipelineRuns.


def step(code: str) -> dict[str, Any]:
    return {"name": "main", "image": IMAGE, "command": ["python", "-c", code]}


def task(name: str, code: str, *, results: tuple[str, ...] = (), declares: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A pipeline task whose one step runs `code`; `declares` names string params of its taskSpec, `fields` are the
    pipeline task's own (params, runAfter, when, retries, ...)."""
    spec: dict[str, Any] = {"steps": [step(code)]}
    if results:
        spec["results"] = [{"name": result, "type": "string"} for result in results]
    if declares:
        spec["params"] = [{"name": param, "type": "string"} for param in declares]
    return {"name": name, "taskSpec": spec, **fields}


def pipelinerun(name: str, tasks: list[dict[str, Any]], finally_: Sequence[dict[str, Any]] = (), **spec: Any) -> dict[str, Any]:
    """A PipelineRun with an embedded pipelineSpec; `pipeline` adds to the pipelineSpec, other `spec` keys to the run's spec."""
    pipeline: dict[str, Any] = {"tasks": tasks, **spec.pop("pipeline", {})}
    if finally_:
        pipeline["finally"] = list(finally_)
    return {"apiVersion": V1, "kind": "PipelineRun", "metadata": {"name": name}, "spec": {"pipelineSpec": pipeline, **spec}}


def journal_code(journal: Path, label: str, seconds: float = 0.0) -> str:
    """A step that notes its start and end in a host file shared by every pod (pods are local processes)."""
    return (
        f"import time; open({str(journal)!r}, 'a').write('{label}+\\n'); time.sleep({seconds}); "
        f"open({str(journal)!r}, 'a').write('{label}-\\n')"
    )


# Running and reading.


def run(crd: client.CustomObjectsApi, manifest: dict[str, Any]) -> None:
    tekton_schema().validate(manifest)  # strict, as the webhook decodes with unknown fields disallowed
    crd.create_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", manifest)


def read(crd: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    result: dict[str, Any] = crd.get_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", name)
    return result


def condition(obj: dict[str, Any] | None) -> tuple[str, str, str]:
    found = next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Succeeded"), None)
    return (found["status"], found["reason"], found.get("message", "")) if found else ("", "", "")


def finished(kube: FakeKubernetes, crd: client.CustomObjectsApi, name: str, timeout: float = 20.0) -> dict[str, Any]:
    kube.wait_for(lambda: condition(read(crd, name))[0] in ("True", "False"), timeout)
    return read(crd, name)


def taskruns(kube: FakeKubernetes, run_name: str) -> dict[str, dict[str, Any]]:
    return {tr["metadata"]["name"]: tr for tr in kube.list(V1, "taskruns", NS, f"tekton.dev/pipelineRun={run_name}")}


def skipped(pr: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["reason"] for entry in pr["status"].get("skippedTasks") or []}


def started(kube: FakeKubernetes, taskrun: str) -> None:
    """Wait until the TaskRun's step is running."""
    kube.wait_for(
        lambda: any("running" in s for s in ((kube.get(V1, "taskruns", NS, taskrun) or {}).get("status") or {}).get("steps") or [])
    )


# The graph.


def test_run_after_orders_tasks_and_independent_tasks_start_together(
    kube: FakeKubernetes, crd: client.CustomObjectsApi, tmp_path: Path
) -> None:
    """T: docs/pipelines.md "Configuring the Task execution order" (runAfter; tasks without edges run at once)."""
    journal = tmp_path / "journal"
    tasks = [
        task("a", journal_code(journal, "a", 1.0)),
        task("b", journal_code(journal, "b", 1.0)),
        task("c", journal_code(journal, "c"), runAfter=["a", "b"]),
    ]
    run(crd, pipelinerun("order", tasks))
    pr = finished(kube, crd, "order")
    assert condition(pr) == ("True", "Succeeded", "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0")
    lines = journal.read_text().split()
    assert set(lines[:2]) == {"a+", "b+"}  # both started before either ended
    assert lines[-2:] == ["c+", "c-"]
    assert pr["status"]["startTime"] and pr["status"]["completionTime"]
    refs = pr["status"]["childReferences"]
    assert refs == [{"apiVersion": V1, "kind": "TaskRun", "name": f"order-{t}", "pipelineTaskName": t} for t in ("a", "b", "c")]


def test_result_reference_is_an_edge_and_passes_the_bytes_untrimmed(
    kube: FakeKubernetes, crd: client.CustomObjectsApi, tmp_path: Path
) -> None:
    """T: docs/pipelines.md "Passing one Task's Results into the Parameters or when expressions of another" (an
    implicit edge) and docs/tasks.md "Emitting Results" (the value as written, trailing newline included)."""
    journal = tmp_path / "journal"
    produce = f"import time; time.sleep(0.3); open('$(results.out.path)', 'w').write('hello\\n'); open({str(journal)!r}, 'a').write('a\\n')"
    consume = f"import os; open({str(journal)!r}, 'a').write('b:' + repr(os.environ['X']) + '\\n')"
    tasks = [
        task("a", produce, results=("out",)),
        task("b", consume, declares=("x",), params=[{"name": "x", "value": "$(tasks.a.results.out)"}]),
    ]
    tasks[1]["taskSpec"]["steps"][0]["env"] = [{"name": "X", "value": "$(params.x)"}]  # a newline would break the code's quotes
    run(crd, pipelinerun("edge", tasks, pipeline={"results": [{"name": "greeting", "value": "$(tasks.a.results.out)"}]}))
    pr = finished(kube, crd, "edge")
    assert condition(pr)[:2] == ("True", "Succeeded")
    assert journal.read_text() == "a\nb:'hello\\n'\n"
    runs = taskruns(kube, "edge")
    assert runs["edge-a"]["status"]["results"] == [{"name": "out", "type": "string", "value": "hello\n"}]
    assert runs["edge-b"]["spec"]["params"] == [{"name": "x", "value": "hello\n"}]
    assert pr["status"]["results"] == [{"name": "greeting", "value": "hello\n"}]


def test_pods_and_taskruns_carry_tektons_shape_and_go_with_their_run(
    kube: FakeKubernetes, crd: client.CustomObjectsApi, api: ApiClient
) -> None:
    """T: docs/taskruns.md "Specifying a Pod template", docs/pipelineruns.md "Specifying taskRunTemplate" and
    docs/variables.md (params, array params expanded, context variables); labels as Tekton sets them."""
    code = "import sys; print(sys.argv[1:])"
    manifest = pipelinerun(
        "shape",
        [task("t", code, declares=("who",), params=[{"name": "who", "value": "$(params.who)"}])],
        params=[{"name": "words", "value": ["x", "y"]}, {"name": "who", "value": "you"}],
        pipeline={
            "params": [
                {"name": "words", "type": "array"},
                {"name": "who", "type": "string"},
                {"name": "site", "type": "object", "properties": {"url": {"type": "string"}}, "default": {"url": "https://example.com"}},
            ]
        },
        taskRunTemplate={
            "serviceAccountName": "builder",
            "podTemplate": {
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "imagePullSecrets": [{"name": "reg"}],
            },
        },
    )
    body = manifest["spec"]["pipelineSpec"]["tasks"][0]
    body["taskSpec"]["steps"][0]["args"] = [
        "$(params.words[*])",
        "$(params.who)",
        "$(params.site.url)",
        "$(context.pipelineRun.name)",
        "$(context.pipelineRun.namespace)",
        "$(context.taskRun.name)",
    ]
    body["taskSpec"]["steps"][0]["env"] = [{"name": "RETRY", "value": "$(context.task.retry-count)"}]
    run(crd, manifest)
    pr = finished(kube, crd, "shape")
    assert condition(pr)[:2] == ("True", "Succeeded")
    taskrun = taskruns(kube, "shape")["shape-t"]
    assert taskrun["metadata"]["ownerReferences"][0] | {"uid": ""} == {
        "apiVersion": V1, "kind": "PipelineRun", "name": "shape", "uid": "", "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    assert taskrun["status"]["podName"] == "shape-t-pod"
    assert taskrun["status"]["steps"][0]["terminated"]["exitCode"] == 0
    pod = kube.get("v1", "pods", NS, "shape-t-pod")
    assert pod is not None
    labels = pod["metadata"]["labels"]
    assert {k: labels[k] for k in ("tekton.dev/pipelineRun", "tekton.dev/pipelineTask", "tekton.dev/taskRun", "tekton.dev/memberOf")} == {
        "tekton.dev/pipelineRun": "shape", "tekton.dev/pipelineTask": "t", "tekton.dev/taskRun": "shape-t", "tekton.dev/memberOf": "tasks",
    }  # fmt: skip
    assert labels["app.kubernetes.io/managed-by"] == "tekton-pipelines"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "TaskRun" and pod["metadata"]["ownerReferences"][0]["controller"]
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["name"] == "step-main" and spec["restartPolicy"] == "Never"
    assert container["args"] == ["x", "y", "you", "https://example.com", "shape", "default", "shape-t"]
    assert container["env"] == [{"name": "RETRY", "value": "0"}]
    assert spec["serviceAccountName"] == "builder" and spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}] and spec["imagePullSecrets"] == [{"name": "reg"}]
    assert spec["activeDeadlineSeconds"] >= 5399  # 1.5 times the TaskRun's timeout (what the 60 min pipeline default leaves)
    logs = client.CoreV1Api(api).read_namespaced_pod_log("shape-t-pod", NS, container="step-main")
    assert logs.strip() == "['x', 'y', 'you', 'https://example.com', 'shape', 'default', 'shape-t']"
    kube.delete(V1, "pipelineruns", NS, "shape")
    kube.wait_for(lambda: not kube.list(V1, "taskruns", NS) and not kube.list("v1", "pods", NS))


# when, and how skips propagate.


def test_when_skip_does_not_cascade_over_run_after_but_skips_result_consumers(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Guard Task execution using when expressions" and "Guarding a Task only": a when-skipped
    task's ordering dependants run, its result consumers are skipped ("Results were missing"), and that skip cascades."""
    when_false = [{"input": "$(params.mode)", "operator": "in", "values": ["full"]}]
    when_true = [{"input": "$(params.mode)", "operator": "notin", "values": ["full"]}]
    tasks = [
        task("guarded", "open('$(results.out.path)', 'w').write('x')", results=("out",), when=when_false),
        task("allowed", "pass", when=when_true),
        task("after", "pass", runAfter=["guarded"]),
        task("consumer", "pass", declares=("v",), params=[{"name": "v", "value": "$(tasks.guarded.results.out)"}]),
        task("grandchild", "pass", runAfter=["consumer"]),
    ]
    run(
        crd,
        pipelinerun(
            "guards", tasks, params=[{"name": "mode", "value": "quick"}], pipeline={"params": [{"name": "mode", "type": "string"}]}
        ),
    )
    pr = finished(kube, crd, "guards")
    assert condition(pr) == ("True", "Completed", "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 3")
    assert skipped(pr) == {
        "guarded": "When Expressions evaluated to false",
        "consumer": "Results were missing",
        "grandchild": "Parent Tasks were skipped",
    }
    assert pr["status"]["skippedTasks"][0]["whenExpressions"] == [{"input": "quick", "operator": "in", "values": ["full"]}]
    assert sorted(taskruns(kube, "guards")) == ["guards-after", "guards-allowed"]


def test_a_failure_stops_the_run_lets_running_tasks_retry_and_then_runs_finally(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Using the onError field" (stopAndFail: no new tasks, running ones finish with their
    retries) and "Adding Finally to the Pipeline" / "Using Execution Status of pipelineTask" ($(tasks.status))."""
    slow_flaky = "import sys, time; time.sleep(0.6); sys.exit(0 if '$(context.task.retry-count)' == '1' else 1)"
    tasks = [
        task("fails", "import sys; sys.exit(3)"),
        task("flaky", slow_flaky, retries=1),
        task("later", "pass", runAfter=["fails"]),
    ]
    report = "import sys; print('$(params.all)', '$(params.fails)', '$(params.flaky)')"
    statuses = {"all": "$(tasks.status)", "fails": "$(tasks.fails.status)", "flaky": "$(tasks.flaky.status)"}
    final = task("report", report, declares=tuple(statuses), params=[{"name": k, "value": v} for k, v in statuses.items()])
    run(crd, pipelinerun("stops", tasks, [final]))
    pr = finished(kube, crd, "stops")
    assert condition(pr) == ("False", "Failed", "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1")
    assert skipped(pr) == {"later": "PipelineRun was stopping"}
    runs = taskruns(kube, "stops")
    assert condition(runs["stops-fails"]) == ("False", "Failed", '"step-main" exited with code 3')
    assert condition(runs["stops-flaky"])[:2] == ("True", "Succeeded") and len(runs["stops-flaky"]["status"]["retriesStatus"]) == 1
    assert runs["stops-report"]["spec"]["params"] == [
        {"name": "all", "value": "Failed"},
        {"name": "fails", "value": "Failed"},
        {"name": "flaky", "value": "Succeeded"},
    ]
    assert runs["stops-report"]["metadata"]["labels"]["tekton.dev/memberOf"] == "finally"


def test_a_failing_finally_task_fails_a_run_whose_tasks_succeeded(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Adding Finally to the Pipeline" ("Execution Status of finally tasks affects the PipelineRun")."""
    run(crd, pipelinerun("finale", [task("ok", "pass")], [task("cleanup", "import sys; sys.exit(1)")]))
    pr = finished(kube, crd, "finale")
    assert condition(pr) == ("False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 0")


def test_on_error_continue_ignores_the_failure(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Using the onError field" (continue: FailureIgnored, dependants run, the run succeeds)."""
    run(
        crd,
        pipelinerun("lenient", [task("fails", "import sys; sys.exit(2)", onError="continue"), task("next", "pass", runAfter=["fails"])]),
    )
    pr = finished(kube, crd, "lenient")
    assert condition(pr) == ("True", "Succeeded", "Tasks Completed: 2 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0")
    assert condition(taskruns(kube, "lenient")["lenient-fails"])[:2] == ("False", "FailureIgnored")


def test_a_missing_result_fails_a_task_consumer_and_skips_a_finally_consumer(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Passing one Task's Results into the Parameters or when expressions of another" and
    "Consuming Task execution results in finally" (InvalidTaskResultReference; a finally task is skipped instead)."""
    consumer = task("consumer", "pass", declares=("v",), params=[{"name": "v", "value": "$(tasks.silent.results.out)"}])
    run(crd, pipelinerun("unwritten", [task("silent", "pass", results=("out",)), consumer]))
    pr = finished(kube, crd, "unwritten")
    assert condition(pr) == ("False", "InvalidTaskResultReference", "Could not find result with name out for task silent")
    assert sorted(taskruns(kube, "unwritten")) == ["unwritten-silent"]
    run(crd, pipelinerun("unwritten-finally", [task("silent", "pass", results=("out",))], [consumer]))
    pr = finished(kube, crd, "unwritten-finally")
    assert condition(pr) == ("True", "Completed", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 1")
    assert skipped(pr) == {"consumer": "Results were missing"}


# Retries and timeouts.


def test_retries_make_a_new_pod_per_attempt(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Using the retries field", docs/taskruns.md "Specifying Retries" and docs/variables.md
    ($(context.task.retry-count)): N+1 attempts, each a new pod, earlier ones archived in status.retriesStatus."""
    flaky = "import sys; print('attempt $(context.task.retry-count)'); sys.exit(0 if '$(context.task.retry-count)' == '2' else 1)"
    run(crd, pipelinerun("retry", [task("flaky", flaky, retries=2), task("hopeless", "import sys; sys.exit(1)", retries=1)]))
    pr = finished(kube, crd, "retry")
    assert condition(pr)[:2] == ("False", "Failed")
    runs = taskruns(kube, "retry")
    flaky_run, hopeless = runs["retry-flaky"], runs["retry-hopeless"]
    assert condition(flaky_run)[:2] == ("True", "Succeeded")
    assert [condition({"status": attempt})[:2] for attempt in flaky_run["status"]["retriesStatus"]] == [("False", "Failed")] * 2
    assert [attempt["podName"] for attempt in flaky_run["status"]["retriesStatus"]] == ["retry-flaky-pod", "retry-flaky-pod-retry1"]
    assert flaky_run["status"]["podName"] == "retry-flaky-pod-retry2"
    assert sorted(pod["metadata"]["name"] for pod in kube.list("v1", "pods", NS, "tekton.dev/taskRun=retry-flaky")) == [
        "retry-flaky-pod", "retry-flaky-pod-retry1", "retry-flaky-pod-retry2",
    ]  # fmt: skip
    assert condition(hopeless) == ("False", "Failed", '"step-main" exited with code 1')
    assert len(hopeless["status"]["retriesStatus"]) == 1


def test_a_task_timeout_counts_per_attempt_and_is_retried(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelines.md "Configuring the failure timeout" and docs/taskruns.md "Configuring the failure timeout"
    (per attempt: a timed-out attempt is retried; TaskRunTimeout)."""
    run(crd, pipelinerun("slow", [task("sleepy", "import time; time.sleep(30)", timeout="1s", retries=1)]))
    pr = finished(kube, crd, "slow")
    assert condition(pr)[:2] == ("False", "Failed")
    taskrun = taskruns(kube, "slow")["slow-sleepy"]
    assert condition(taskrun) == ("False", "TaskRunTimeout", 'TaskRun "slow-sleepy" failed to finish within "1s"')
    assert condition({"status": taskrun["status"]["retriesStatus"][0]})[1] == "TaskRunTimeout"
    assert taskrun["status"]["steps"][0]["terminated"]["reason"] == "TaskRunTimeout"
    kube.wait_for(lambda: not kube.pod_processes())  # the pods were deleted, their processes killed


def test_the_pipeline_timeout_cancels_everything_and_fails_the_run(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Configuring a failure timeout" (timeouts.pipeline: running TaskRuns cancelled,
    finally included, PipelineRunTimeout)."""
    manifest = pipelinerun(
        "deadline", [task("sleepy", "import time; time.sleep(30)")], [task("final", "pass")], timeouts={"pipeline": "1.5s"}
    )
    run(crd, manifest)
    pr = finished(kube, crd, "deadline")
    assert condition(pr) == ("False", "PipelineRunTimeout", 'PipelineRun "deadline" failed to finish within "1.5s"')
    runs = taskruns(kube, "deadline")
    assert sorted(runs) == ["deadline-sleepy"]
    assert runs["deadline-sleepy"]["spec"]["statusMessage"] == "TaskRun cancelled as the PipelineRun it belongs to has timed out."
    kube.wait_for(lambda: condition(kube.get(V1, "taskruns", NS, "deadline-sleepy"))[1] == "TaskRunCancelled")


def test_the_tasks_timeout_cancels_tasks_and_still_runs_finally(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Configuring a failure timeout" (timeouts.tasks: running tasks cancelled, counted as
    failed, the run stops; finally runs within timeouts.finally)."""
    tasks = [task("sleepy", "import time; time.sleep(30)"), task("after", "pass", runAfter=["sleepy"])]
    final = task("final", "print('$(params.all)')", declares=("all",), params=[{"name": "all", "value": "$(tasks.status)"}])
    run(crd, pipelinerun("budget", tasks, [final], timeouts={"pipeline": "1m", "tasks": "1s", "finally": "30s"}))
    pr = finished(kube, crd, "budget")
    assert condition(pr) == ("False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1")
    assert skipped(pr) == {"after": "PipelineRun was stopping"}
    runs = taskruns(kube, "budget")
    # The TaskRun's own timeout is what the tasks budget leaves, so it may time out just before the run cancels it.
    assert condition(runs["budget-sleepy"])[1] in ("TaskRunCancelled", "TaskRunTimeout")
    assert condition(runs["budget-final"])[:2] == ("True", "Succeeded") and runs["budget-final"]["spec"]["params"][0]["value"] == "Failed"
    assert pr["status"]["finallyStartTime"]


def test_the_finally_timeout_cancels_finally_tasks(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Configuring a failure timeout" (timeouts.finally, counted from finallyStartTime:
    running finally TaskRuns are cancelled and the run fails)."""
    final = task("slow-final", "import time; time.sleep(30)")
    run(crd, pipelinerun("late", [task("quick", "pass")], [final], timeouts={"pipeline": "1m", "tasks": "30s", "finally": "1s"}))
    pr = finished(kube, crd, "late")
    assert condition(pr) == ("False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 0")
    # The TaskRun's own timeout is what the finally budget leaves, so it may time out just before the run cancels it.
    assert condition(taskruns(kube, "late")["late-slow-final"])[1] in ("TaskRunCancelled", "TaskRunTimeout")


# Matrix.


def test_matrix_fans_out_and_aggregates_results(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/matrix.md "Fan Out", "Context Variables" and "Results" (one TaskRun per combination named
    <run>-<task>-<i>, string results aggregated into an array consumed whole with [*])."""
    make = "import json; open('$(results.items.path)', 'w').write(json.dumps(['p', 'q']))"
    square = "open('$(results.out.path)', 'w').write('$(params.letter)$(params.number)')"
    gather = "import sys; print(sys.argv[1:])"
    producer = task("make", make)
    producer["taskSpec"]["results"] = [{"name": "items", "type": "array"}]
    fan = task("fan", square, results=("out",), declares=("letter", "number"))
    fan["matrix"] = {"params": [{"name": "letter", "value": "$(tasks.make.results.items[*])"}, {"name": "number", "value": ["1", "2"]}]}
    join = task("join", gather)
    join["taskSpec"]["params"] = [{"name": "all", "type": "array"}]
    join["taskSpec"]["steps"][0]["args"] = ["$(params.all[*])"]
    join["params"] = [{"name": "all", "value": "$(tasks.fan.results.out[*])"}]
    run(crd, pipelinerun("grid", [producer, fan, join]))
    pr = finished(kube, crd, "grid")
    assert condition(pr)[:2] == ("True", "Succeeded")
    runs = taskruns(kube, "grid")
    fanned = [runs[f"grid-fan-{i}"] for i in range(4)]
    assert [tr["spec"]["params"] for tr in fanned][1] == [{"name": "letter", "value": "p"}, {"name": "number", "value": "2"}]
    assert runs["grid-join"]["spec"]["params"] == [{"name": "all", "value": ["p1", "p2", "q1", "q2"]}]
    assert kube.get("v1", "pods", NS, "grid-join-pod")["spec"]["containers"][0]["args"] == ["p1", "p2", "q1", "q2"]  # type: ignore[index]


def test_an_empty_matrix_skips_the_task_and_the_skip_cascades(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/matrix.md "Fan Out" (an empty array skips the PipelineTask) and pipelinerunresolution.go `skip()`
    (EmptyArrayInMatrixParams cascades like every skip but a when-skip)."""
    fan = task("fan", "pass", declares=("item",))
    fan["matrix"] = {"params": [{"name": "item", "value": "$(params.items[*])"}]}
    manifest = pipelinerun(
        "nothing",
        [fan, task("after", "pass", runAfter=["fan"])],
        params=[{"name": "items", "value": []}],
        pipeline={"params": [{"name": "items", "type": "array"}]},
    )
    run(crd, manifest)
    pr = finished(kube, crd, "nothing")
    assert condition(pr) == ("True", "Completed", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 2")
    assert skipped(pr) == {"fan": "Matrix Parameters have an empty array", "after": "Parent Tasks were skipped"}
    assert taskruns(kube, "nothing") == {}


# Results over the limit.


def test_results_over_4096_bytes_fail_the_taskrun(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/tasks.md "Emitting Results" (the termination message holds 4096 bytes; past it the step fails with
    "Termination message is above max allowed size 4096, caused by large task result.", nothing trimmed)."""
    fits = task("fits", "open('$(results.out.path)', 'w').write('x' * 3500)", results=("out",))
    too_big = task("too-big", "open('$(results.out.path)', 'w').write('x' * 5000)", results=("out",))
    run(crd, pipelinerun("sizes", [fits, too_big]))
    pr = finished(kube, crd, "sizes")
    assert condition(pr)[:2] == ("False", "Failed")
    runs = taskruns(kube, "sizes")
    assert runs["sizes-fits"]["status"]["results"][0]["value"] == "x" * 3500
    assert condition(runs["sizes-too-big"]) == ("False", "Failed", '"step-main" exited with code 1')
    assert "results" not in runs["sizes-too-big"]["status"]
    terminated = runs["sizes-too-big"]["status"]["steps"][0]["terminated"]
    assert terminated["exitCode"] == 1 and '"StartedAt"' in terminated["message"]


# Cancellation.


def cancellable(name: str) -> dict[str, Any]:
    return pipelinerun(
        name, [task("sleepy", "import time; time.sleep(30)"), task("after", "pass", runAfter=["sleepy"])], [task("final", "pass")]
    )


def test_cancelled_run_finally_cancels_tasks_and_runs_finally(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Gracefully cancelling a PipelineRun" (CancelledRunFinally: running tasks cancelled,
    the rest skipped, finally runs, the run Cancelled)."""
    run(crd, cancellable("graceful"))
    started(kube, "graceful-sleepy")
    assert condition(read(crd, "graceful")) == (
        "Unknown",
        "Running",
        "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 3, Skipped: 0",
    )
    crd.patch_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", "graceful", {"spec": {"status": "CancelledRunFinally"}})
    pr = finished(kube, crd, "graceful")
    assert condition(pr) == ("False", "Cancelled", 'PipelineRun "graceful" was cancelled')
    # Tekton checks "stopping" first, and a cancelled TaskRun is a failed one (pipelinerunresolution.go `skip()`).
    assert skipped(pr) == {"after": "PipelineRun was stopping"}
    runs = taskruns(kube, "graceful")
    assert condition(runs["graceful-sleepy"]) == (
        "False", "TaskRunCancelled", 'TaskRun "graceful-sleepy" was cancelled. TaskRun cancelled as the PipelineRun it belongs to has been cancelled.',
    )  # fmt: skip
    assert condition(runs["graceful-final"])[:2] == ("True", "Succeeded")


def test_cancelled_ends_the_run_without_finally(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Cancelling a PipelineRun" (Cancelled: TaskRuns cancelled, no finally, no retries)."""
    run(crd, cancellable("abrupt"))
    started(kube, "abrupt-sleepy")
    crd.patch_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", "abrupt", {"spec": {"status": "Cancelled"}})
    pr = finished(kube, crd, "abrupt")
    assert condition(pr) == ("False", "Cancelled", 'PipelineRun "abrupt" was cancelled')
    kube.wait_for(lambda: condition(kube.get(V1, "taskruns", NS, "abrupt-sleepy"))[1] == "TaskRunCancelled")
    assert sorted(taskruns(kube, "abrupt")) == ["abrupt-sleepy"]
    kube.wait_for(lambda: not kube.pod_processes())


def test_stopped_run_finally_lets_running_tasks_finish(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Gracefully stopping a PipelineRun" (StoppedRunFinally: running tasks finish, no new
    ones start, finally runs)."""
    manifest = pipelinerun(
        "stop", [task("busy", "import time; time.sleep(1.5)"), task("after", "pass", runAfter=["busy"])], [task("final", "pass")]
    )
    run(crd, manifest)
    started(kube, "stop-busy")
    crd.patch_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", "stop", {"spec": {"status": "StoppedRunFinally"}})
    pr = finished(kube, crd, "stop")
    assert condition(pr) == ("False", "Cancelled", 'PipelineRun "stop" was cancelled')
    assert skipped(pr) == {"after": "PipelineRun was gracefully stopped"}
    runs = taskruns(kube, "stop")
    assert condition(runs["stop-busy"])[:2] == ("True", "Succeeded") and condition(runs["stop-final"])[:2] == ("True", "Succeeded")


def test_a_pending_run_waits_until_its_status_is_cleared(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Pending PipelineRuns" (PipelineRunPending: nothing starts until spec.status is cleared)."""
    run(crd, pipelinerun("later", [task("t", "pass")], status="PipelineRunPending"))
    kube.wait_for(lambda: condition(read(crd, "later"))[1] == "PipelineRunPending")
    assert "startTime" not in read(crd, "later")["status"] and taskruns(kube, "later") == {}
    crd.patch_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", "later", {"spec": {"status": None}})
    assert condition(finished(kube, crd, "later"))[:2] == ("True", "Succeeded")


# What the simulator refuses.


def test_a_matrix_over_256_combinations_fails_the_run(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/matrix.md "Configuring a Matrix" (at most 256 combinations by default)."""
    fan = task("fan", "pass", declares=("a", "b"))
    fan["matrix"] = {"params": [{"name": "a", "value": [str(i) for i in range(17)]}, {"name": "b", "value": [str(i) for i in range(16)]}]}
    run(crd, pipelinerun("huge", [fan]))
    status, reason, message = condition(finished(kube, crd, "huge"))
    assert (status, reason) == ("False", "PipelineValidationFailed") and "272 combinations" in message
    assert taskruns(kube, "huge") == {}


def refused_runs() -> dict[str, tuple[dict[str, Any], str, str]]:
    """PipelineRuns the simulator does not run, or Tekton refuses: name -> (manifest, reason, part of the message)."""
    two_steps = task("two", "pass")
    two_steps["taskSpec"]["steps"].append({**step("pass"), "name": "second"})
    scripted = task("scripted", "pass")
    scripted["taskSpec"]["steps"][0] = {"name": "main", "image": IMAGE, "script": "echo hi"}
    by_reference = {"apiVersion": V1, "kind": "PipelineRun", "metadata": {"name": "by-ref"}, "spec": {"pipelineRef": {"name": "elsewhere"}}}
    missing_param = pipelinerun("no-param", [task("t", "pass")], pipeline={"params": [{"name": "needed", "type": "string"}]})
    return {
        "by-ref": (by_reference, "CouldntGetPipeline", "pipelineRef is not simulated"),
        "task-ref": (
            pipelinerun("task-ref", [{"name": "t", "taskRef": {"name": "elsewhere"}}]),
            "CouldntGetTask",
            "taskRef is not simulated",
        ),
        "two-steps": (pipelinerun("two-steps", [two_steps]), "PipelineValidationFailed", "exactly one step per task, not 2"),
        "scripted": (pipelinerun("scripted", [scripted]), "PipelineValidationFailed", "does not run step scripts"),
        "cel": (pipelinerun("cel", [task("t", "pass", when=[{"cel": "'a' == 'a'"}])]), "PipelineValidationFailed", "CEL"),
        "cycle": (
            pipelinerun("cycle", [task("a", "pass", runAfter=["b"]), task("b", "pass", runAfter=["a"])]),
            "PipelineInvalidGraph",
            "cycle detected",
        ),
        "unknown": (pipelinerun("unknown", [task("a", "pass", runAfter=["ghost"])]), "PipelineInvalidGraph", "['ghost']"),
        "twice": (pipelinerun("twice", [task("a", "pass")], [task("a", "pass")]), "PipelineValidationFailed", "must be unique"),
        "ordered-finally": (
            pipelinerun("ordered-finally", [task("a", "pass")], [task("f", "pass", runAfter=["a"])]),
            "PipelineValidationFailed",
            "no runAfter allowed under spec.finally",
        ),
        "lenient-retries": (
            pipelinerun("lenient-retries", [task("a", "pass", onError="continue", retries=1)]),
            "PipelineValidationFailed",
            "OnError cannot be set to continue when using Retries",
        ),
        "no-param": (missing_param, "ParameterMissing", "['needed']"),
    }


def test_what_tekton_or_the_simulator_refuses_fails_the_run_plainly(kube: FakeKubernetes, crd: client.CustomObjectsApi) -> None:
    """T: docs/pipelineruns.md "Specifying the target Pipeline" (refs: not simulated), docs/tasks.md "Defining Steps"
    (one command step only), docs/pipelines.md "Configuring the Task execution order" (a graph without cycles),
    "Adding Finally to the Pipeline" (no runAfter in finally), "Using the onError field" (not with retries) and
    "Specifying Parameters" (ParameterMissing): each run fails at once, with no TaskRun."""
    cases = refused_runs()
    for manifest, _, _ in cases.values():
        run(crd, manifest)
    for name, (_, reason, fragment) in cases.items():
        status, actual, message = condition(finished(kube, crd, name))
        assert (status, actual) == ("False", reason) and fragment in message, name
    assert kube.list(V1, "taskruns", NS) == []
