"""The fake cluster, exercised through the official `kubernetes` client over HTTP: what a Job backend relies on."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiClient, ApiException

from tests.fake_kubernetes import FakeKubernetes

NS = "default"


def job_manifest(name: str, code: str, backoff_limit: int = 0, pod_spec: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.12-slim", "command": ["python", "-c", code]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"run": "r1"}},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container], **(pod_spec or {})}},
            **spec,
        },
    }


def conditions(job: dict[str, Any] | None) -> list[tuple[str, str]]:
    return [(c["type"], c["reason"]) for c in ((job or {}).get("status") or {}).get("conditions") or []]


def finished(kube: FakeKubernetes, name: str, timeout: float = 10.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = kube.get("batch/v1", "jobs", NS, name)
        return job if {"Complete", "Failed"} & {kind for kind, _ in conditions(job)} else None

    job = kube.wait_for(done, timeout)
    assert job is not None
    return job


def job_pods(kube: FakeKubernetes, name: str) -> list[dict[str, Any]]:
    return kube.list("v1", "pods", NS, f"job-name={name}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# Objects.


def test_create_get_list_with_selectors(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    made = []
    for name, labels in [("a", {"app": "x", "tier": "web"}), ("b", {"app": "x", "tier": "db"}), ("c", {"app": "y"})]:
        made.append(core.create_namespaced_config_map(NS, {"metadata": {"name": name, "labels": labels}, "data": {"k": name}}))
    assert [int(cm.metadata.resource_version) for cm in made] == sorted({int(cm.metadata.resource_version) for cm in made})
    assert made[0].metadata.uid and made[0].metadata.creation_timestamp and made[0].metadata.namespace == NS

    def names(**kwargs: Any) -> list[str]:
        return [cm.metadata.name for cm in core.list_namespaced_config_map(NS, **kwargs).items]

    assert names() == ["a", "b", "c"]
    assert names(label_selector="app=x") == ["a", "b"]
    assert names(label_selector="app==x,tier!=db") == ["a"]
    assert names(label_selector="tier in (db, cache)") == ["b"]
    assert names(label_selector="tier notin (db)") == ["a", "c"]
    assert names(label_selector="!tier") == ["c"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b", label_selector="app=x") == ["a"]
    listed = core.list_namespaced_config_map(NS)
    assert listed.metadata.resource_version == str(kube.resource_version)
    assert core.read_namespaced_config_map("b", NS).data == {"k": "b"}

    page = core.list_namespaced_config_map(NS, limit=2)
    assert [cm.metadata.name for cm in page.items] == ["a", "b"] and page.metadata.var_continue
    rest = core.list_namespaced_config_map(NS, limit=2, _continue=page.metadata.var_continue)
    assert [cm.metadata.name for cm in rest.items] == ["c"] and not rest.metadata.var_continue

    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}})
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", NS)
    assert missing.value.status == 404 and json.loads(missing.value.body)["reason"] == "NotFound"
    with pytest.raises(ApiException) as bad_selector:
        names(field_selector="data.k=a")
    assert bad_selector.value.status == 400
    generated = core.create_namespaced_config_map(NS, {"metadata": {"generateName": "gen-"}})
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == 9
    with pytest.raises(ApiException) as invalid:  # a Job template must say restartPolicy Never or OnFailure
        client.BatchV1Api(api).create_namespaced_job(
            NS, {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "i"}]}}}}
        )
    assert invalid.value.status == 422 and "restartPolicy" in json.loads(invalid.value.body)["message"]


def test_replace_conflict_patch_and_status_subresource(kube: FakeKubernetes, api: ApiClient) -> None:
    batch = client.BatchV1Api(api)
    job = batch.create_namespaced_job(NS, job_manifest("held", "pass", suspend=True))  # suspended: the controller leaves it alone
    assert job.spec.backoff_limit == 0 and job.spec.template.metadata.labels["job-name"] == "held"
    assert job.metadata.generation == 1
    stale = job.metadata.resource_version
    patched = batch.patch_namespaced_job("held", NS, {"metadata": {"labels": {"extra": "1"}}, "status": {"active": 9}})
    assert patched.metadata.labels == {"run": "r1", "extra": "1"}
    assert patched.status.active is None  # status changes only through /status
    job.metadata.labels = {"run": "r2"}
    job.metadata.resource_version = stale
    with pytest.raises(ApiException) as conflict:
        batch.replace_namespaced_job("held", NS, job)
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["reason"] == "Conflict"

    status = batch.patch_namespaced_job_status("held", NS, {"status": {"active": 2}, "metadata": {"labels": {"ignored": "1"}}})
    assert status.status.active == 2 and "ignored" not in status.metadata.labels
    resumed = batch.patch_namespaced_job("held", NS, [{"op": "replace", "path": "/spec/suspend", "value": False}])
    assert resumed.spec.suspend is False and resumed.metadata.generation == 2

    custom = client.CustomObjectsApi(api)
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "wf-"},
        "spec": {"entrypoint": "main"},
    }
    created = custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", NS, "workflows", workflow)
    name = created["metadata"]["name"]
    changed = custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", NS, "workflows", name, {"spec": {"shutdown": "Stop"}})
    assert changed["spec"] == {"entrypoint": "main", "shutdown": "Stop"} and changed["metadata"]["generation"] == 2
    everywhere = custom.list_cluster_custom_object("argoproj.io", "v1alpha1", "workflows")
    assert everywhere["kind"] == "WorkflowList" and [w["metadata"]["name"] for w in everywhere["items"]] == [name]
    run = custom.create_namespaced_custom_object(
        "tekton.dev", "v1", NS, "pipelineruns", {"kind": "PipelineRun", "metadata": {"name": "pr"}, "spec": {}, "status": {"x": 1}}
    )
    assert "status" not in run  # Tekton's CRD has a status subresource
    done = custom.patch_namespaced_custom_object_status(
        "tekton.dev", "v1", NS, "pipelineruns", "pr", {"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}
    )
    assert done["status"]["conditions"][0]["type"] == "Succeeded"


# The Job controller and the kubelet.


def test_job_runs_to_complete_with_success_criteria_met_first(kube: FakeKubernetes, api: ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    since = batch.list_namespaced_job(NS).metadata.resource_version
    batch.create_namespaced_job(NS, job_manifest("hi", "print('hi')"))
    seen = []
    stream = watch.Watch()
    for event in stream.stream(batch.list_namespaced_job, NS, label_selector="run=r1", resource_version=since, timeout_seconds=10):
        seen.append((event["type"], [c.type for c in event["object"].status.conditions or []]))
        if "Complete" in seen[-1][1]:
            stream.stop()
    assert seen[0] == ("ADDED", [])
    assert ("MODIFIED", ["SuccessCriteriaMet"]) in seen
    assert seen[-1] == ("MODIFIED", ["SuccessCriteriaMet", "Complete"])

    job = batch.read_namespaced_job("hi", NS)
    assert job.status.succeeded == 1 and not job.status.failed and not job.status.active
    assert job.status.terminating == 0 and job.status.ready == 0
    assert job.status.start_time and job.status.completion_time and job.status.completion_time >= job.status.start_time
    assert {(c.type, c.reason, c.status) for c in job.status.conditions} == {
        ("SuccessCriteriaMet", "CompletionsReached", "True"),
        ("Complete", "CompletionsReached", "True"),
    }
    (pod,) = core.list_namespaced_pod(NS, label_selector="batch.kubernetes.io/job-name=hi").items
    assert pod.metadata.name.startswith("hi-") and pod.status.phase == "Succeeded"
    assert pod.metadata.labels["controller-uid"] == job.metadata.uid
    assert (pod.metadata.owner_references[0].kind, pod.metadata.owner_references[0].controller) == ("Job", True)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert core.read_namespaced_pod_log(pod.metadata.name, NS, container="main") == "hi\n"
    assert core.list_namespaced_pod(NS, field_selector="status.phase=Succeeded").items


def test_failing_job_without_retries(kube: FakeKubernetes) -> None:
    job = finished(kube, kube.create("batch/v1", "jobs", NS, job_manifest("bad", "import sys; sys.exit(3)"))["metadata"]["name"])
    assert conditions(job) == [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    assert job["status"]["failed"] == 1 and "completionTime" not in job["status"] and "active" not in job["status"]
    (pod,) = job_pods(kube, "bad")
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_backoff_limit_two_runs_three_pods(kube: FakeKubernetes) -> None:
    job = finished(
        kube, kube.create("batch/v1", "jobs", NS, job_manifest("flaky", "raise SystemExit(1)", backoff_limit=2))["metadata"]["name"]
    )
    assert conditions(job)[-1] == ("Failed", "BackoffLimitExceeded")
    assert job["status"]["failed"] == 3
    assert len(job_pods(kube, "flaky")) == 3


def test_pod_deadline_fails_the_attempt(kube: FakeKubernetes) -> None:
    started = time.monotonic()
    manifest = job_manifest("slow", "import time; time.sleep(30)", pod_spec={"activeDeadlineSeconds": 1})
    job = finished(kube, kube.create("batch/v1", "jobs", NS, manifest)["metadata"]["name"])
    assert time.monotonic() - started < 5
    assert conditions(job)[-1] == ("Failed", "BackoffLimitExceeded")  # a pod deadline counts against backoffLimit
    (pod,) = job_pods(kube, "slow")
    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", "DeadlineExceeded")


def test_job_deadline_fails_the_job(kube: FakeKubernetes) -> None:
    manifest = job_manifest("late", "import time; time.sleep(30)", backoff_limit=5, activeDeadlineSeconds=1)
    job = finished(kube, kube.create("batch/v1", "jobs", NS, manifest)["metadata"]["name"])
    assert conditions(job) == [("FailureTarget", "DeadlineExceeded"), ("Failed", "DeadlineExceeded")]
    assert job["status"]["terminating"] == 0 and "active" not in job["status"]
    assert kube.wait_for(lambda: not kube.pod_processes())


def test_env_from_secrets_configmaps_and_the_downward_api(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(NS, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cr3t"}})
    assert core.read_namespaced_secret("creds", NS).data == {"token": "czNjcjN0"}  # stringData is stored as data
    core.create_namespaced_config_map(NS, {"metadata": {"name": "settings"}, "data": {"LEVEL": "debug"}})
    code = "import os; print(os.environ['TOKEN'], os.environ['LEVEL'], os.environ['POD'], os.environ['HOSTNAME'], os.environ['GREETING'])"
    manifest = job_manifest("env", code)
    manifest["spec"]["template"]["spec"]["containers"][0].update(
        env=[
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GREETING", "value": "hello-$(POD)"},
        ],
        envFrom=[{"configMapRef": {"name": "settings"}}],
    )
    kube.create("batch/v1", "jobs", NS, manifest)
    assert conditions(finished(kube, "env"))[-1][0] == "Complete"
    (pod,) = job_pods(kube, "env")
    name = pod["metadata"]["name"]
    assert core.read_namespaced_pod_log(name, NS) == f"s3cr3t debug {name} {name} hello-{name}\n"


def test_termination_message(kube: FakeKubernetes) -> None:
    kube.create("batch/v1", "jobs", NS, job_manifest("says", "open('/dev/termination-log', 'w').write('answer=42')"))
    finished(kube, "says")
    (pod,) = job_pods(kube, "says")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "answer=42"


def test_a_missing_secret_holds_the_container_until_it_exists(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    manifest = job_manifest("waits", "import os; print(os.environ['TOKEN'])")
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "later", "key": "t"}}}
    ]
    kube.create("batch/v1", "jobs", NS, manifest)

    def waiting() -> str | None:
        pods = job_pods(kube, "waits")
        statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
        return (
            statuses
            and statuses[0]["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError"
            and pods[0]["metadata"]["name"]
        )

    name = kube.wait_for(waiting)
    with pytest.raises(ApiException) as not_started:
        core.read_namespaced_pod_log(name, NS, container="main")
    assert not_started.value.status == 400
    assert (
        json.loads(not_started.value.body)["message"] == f'container "main" in pod "{name}" is waiting to start: CreateContainerConfigError'
    )
    core.create_namespaced_secret(NS, {"metadata": {"name": "later"}, "data": {"t": "dA=="}})
    assert conditions(finished(kube, "waits"))[-1][0] == "Complete"
    assert core.read_namespaced_pod_log(name, NS) == "t\n"


# Watches.


def until(core: client.CoreV1Api, last: str, **options: Any) -> list[tuple[str, str]]:
    """The ConfigMap events a watch sends, up to the first about `last`."""
    stream, events = watch.Watch(), []
    for event in stream.stream(core.list_namespaced_config_map, NS, timeout_seconds=5, **options):
        events.append((event["type"], event["object"].metadata.name))
        if events[-1][1] == last:
            stream.stop()
    return events


def test_watch_replays_then_resumes_from_a_resource_version(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name in ("a", "b"):
        core.create_namespaced_config_map(NS, {"metadata": {"name": name, "labels": {"keep": "yes"}}})
    assert until(core, "b") == [("ADDED", "a"), ("ADDED", "b")]  # no resourceVersion: the current objects first

    since = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c", "labels": {"keep": "yes"}}})
    core.patch_namespaced_config_map("a", NS, {"data": {"x": "1"}})
    core.patch_namespaced_config_map("b", NS, {"metadata": {"labels": {"keep": "no"}}})  # leaves the selection
    core.delete_namespaced_config_map("c", NS)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "end", "labels": {"keep": "yes"}}})
    events = until(core, "end", label_selector="keep=yes", resource_version=since)
    assert events == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b"), ("DELETED", "c"), ("ADDED", "end")]


def test_resuming_after_compaction_gets_410_expired(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    since = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}})
    kube.compact()
    raw = core.list_namespaced_config_map(NS, watch=True, resource_version=since, timeout_seconds=2, _preload_content=False)
    lines = [json.loads(line) for line in raw.data.decode().splitlines()]
    assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in lines] == [("ERROR", 410, "Expired")]
    with pytest.raises(ApiException) as expired:
        list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=since, timeout_seconds=1))
    assert expired.value.status == 410
    now = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "b"}})
    assert until(core, "b", resource_version=now) == [("ADDED", "b")]  # a current resourceVersion resumes


def test_watch_timeout_ends_the_stream_with_a_bookmark(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}})
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, NS, allow_watch_bookmarks=True, timeout_seconds=1))
    assert 0.9 <= time.monotonic() - started < 2.5
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[-1]["raw_object"]["metadata"]["resourceVersion"] == str(kube.resource_version)


def test_cut_watches_breaks_open_streams(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}})
    outcome: dict[str, Any] = {}

    def follow() -> None:
        try:
            outcome["events"] = [e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=20)]
        except Exception as error:
            outcome["error"] = error

    reader = threading.Thread(target=follow)
    reader.start()
    kube.wait_for(lambda: any(r.watch and r.status == 200 for r in kube.requests))
    time.sleep(0.1)
    assert kube.cut_watches() == 1
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert "error" in outcome, outcome  # the stream broke: no clean end
    assert kube.watch_events_sent == 1


# Logs.


def test_logs_plain_tail_and_follow(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.2)"
    kube.create("batch/v1", "jobs", NS, job_manifest("talk", code))
    name = kube.wait_for(lambda: [p for p in job_pods(kube, "talk") if p.get("status", {}).get("phase") == "Running"])[0]["metadata"][
        "name"
    ]
    started = time.monotonic()
    followed = list(watch.Watch().stream(core.read_namespaced_pod_log, name, NS, container="main", _request_timeout=10))
    assert followed == ["line 0", "line 1", "line 2"]
    assert 0.2 < time.monotonic() - started < 3  # it streamed until the container ended
    assert core.read_namespaced_pod_log(name, NS) == "line 0\nline 1\nline 2\n"
    assert core.read_namespaced_pod_log(name, NS, tail_lines=1) == "line 2\n"
    stamped = core.read_namespaced_pod_log(name, NS, timestamps=True).splitlines()
    assert stamped[0].endswith("Z line 0") and stamped[0][:4].isdigit()
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod_log("nope", NS)
    assert missing.value.status == 404


def test_cut_log_streams(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    kube.create("batch/v1", "jobs", NS, job_manifest("chatty", "import time; print('up', flush=True); time.sleep(60)"))
    (name,) = kube.wait_for(lambda: [name.split("/")[1] for name in kube.pod_processes()])
    lines: list[str] = []
    outcome: dict[str, Any] = {}

    def follow() -> None:
        try:
            lines.extend(watch.Watch().stream(core.read_namespaced_pod_log, name, NS))
        except Exception as error:
            outcome["error"] = error

    reader = threading.Thread(target=follow)
    reader.start()
    kube.wait_for(lambda: any(r.path.endswith("/log") and r.status == 200 for r in kube.requests))
    assert kube.cut_watches() == 0  # watches only, by default
    assert kube.cut_watches(logs=True) == 1
    reader.join(timeout=5)
    assert not reader.is_alive() and "error" in outcome
    assert kube.pod_processes()  # the container runs on


def test_image_pull_failure_keeps_the_pod_pending_until_the_deadline(kube: FakeKubernetes, api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    kube.fail_image_pull("python:3.12-slim")
    kube.create("batch/v1", "jobs", NS, job_manifest("pull", "print(1)", activeDeadlineSeconds=1))

    def backing_off() -> dict[str, Any] | None:
        pods = job_pods(kube, "pull")
        statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
        return pods[0] if statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "ImagePullBackOff" else None

    pod = kube.wait_for(backing_off)
    assert pod is not None and pod["status"]["phase"] == "Pending"
    assert (kube.get("batch/v1", "jobs", NS, "pull") or {})["status"]["active"] == 1
    with pytest.raises(ApiException) as waiting:
        core.read_namespaced_pod_log(pod["metadata"]["name"], NS)
    assert waiting.value.status == 400 and "trying and failing to pull image" in json.loads(waiting.value.body)["message"]
    assert conditions(finished(kube, "pull"))[-1] == ("Failed", "DeadlineExceeded")


# Deletion.


def test_background_delete_kills_the_process_and_removes_the_pods(kube: FakeKubernetes, api: ApiClient) -> None:
    batch = client.BatchV1Api(api)
    kube.create("batch/v1", "jobs", NS, job_manifest("long", "import time; print('up', flush=True); time.sleep(60)"))
    (pid,) = kube.wait_for(lambda: list(kube.pod_processes().values()))
    answer = batch.delete_namespaced_job("long", NS, propagation_policy="Background")
    assert answer["kind"] == "Status" and answer["status"] == "Success"
    assert kube.get("batch/v1", "jobs", NS, "long") is None
    kube.wait_for(lambda: gone(pid) and not job_pods(kube, "long"), timeout=3)


def test_foreground_delete_answers_the_job_and_waits_for_its_pods(kube: FakeKubernetes, api: ApiClient) -> None:
    kube.create("batch/v1", "jobs", NS, job_manifest("fore", "import time; time.sleep(60)"))
    (pid,) = kube.wait_for(lambda: list(kube.pod_processes().values()))
    answer = client.BatchV1Api(api).delete_namespaced_job("fore", NS, propagation_policy="Foreground")
    assert answer["kind"] == "Job" and answer["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in answer["metadata"]["finalizers"]
    kube.wait_for(lambda: kube.get("batch/v1", "jobs", NS, "fore") is None, timeout=3)
    assert gone(pid) and not job_pods(kube, "fore")


def test_a_deleted_pod_counts_as_failed_and_is_replaced(kube: FakeKubernetes, api: ApiClient) -> None:
    kube.create("batch/v1", "jobs", NS, job_manifest("again", "import time; time.sleep(60)", backoff_limit=1))
    (first,) = kube.wait_for(lambda: [name.split("/")[1] for name in kube.pod_processes()])
    terminating = client.CoreV1Api(api).delete_namespaced_pod(first, NS)
    assert terminating.metadata.deletion_timestamp  # a running pod goes gracefully: answered while it terminates
    (second,) = kube.wait_for(lambda: [name.split("/")[1] for name in kube.pod_processes() if not name.endswith(first)])
    job = kube.wait_for(lambda: kube.get("batch/v1", "jobs", NS, "again") if kube.get("v1", "pods", NS, first) is None else None)
    assert job is not None and (job["status"]["failed"], job["status"]["active"], conditions(job)) == (1, 1, [])
    assert second != first


def test_delete_without_a_policy_orphans_the_pods(kube: FakeKubernetes, api: ApiClient) -> None:
    kube.create("batch/v1", "jobs", NS, job_manifest("orphan", "import time; time.sleep(60)"))
    kube.wait_for(lambda: kube.pod_processes())
    client.BatchV1Api(api).delete_namespaced_job("orphan", NS)
    kube.wait_for(lambda: kube.get("batch/v1", "jobs", NS, "orphan") is None)
    (pod,) = job_pods(kube, "orphan")
    assert "ownerReferences" not in pod["metadata"] and kube.pod_processes()  # batch/v1's default: Orphan


def test_ttl_seconds_after_finished_deletes_job_and_pods(kube: FakeKubernetes) -> None:
    kube.create("batch/v1", "jobs", NS, job_manifest("brief", "pass", ttlSecondsAfterFinished=0))
    kube.wait_for(lambda: kube.get("batch/v1", "jobs", NS, "brief") is None and not job_pods(kube, "brief"), timeout=5)
    kinds = [r for r in kube.requests if r.method == "DELETE"]
    assert kinds == []  # the controller deleted it, not a client


# Faults, auth, kubeconfig, shutdown.


def test_fail_requests_and_the_request_log(kube: FakeKubernetes, api: ApiClient) -> None:
    batch = client.BatchV1Api(api)
    kube.fail_requests(2, status=500, path_contains="/jobs")
    for _ in range(2):
        with pytest.raises(ApiException) as failed:
            batch.list_namespaced_job(NS)
        assert failed.value.status == 500 and json.loads(failed.value.body)["reason"] == "InternalError"
    assert batch.list_namespaced_job(NS, label_selector="run=r1").items == []
    client.CoreV1Api(api).list_namespaced_pod(NS)
    assert [(r.method, r.path, r.status) for r in kube.requests] == [
        ("GET", "/apis/batch/v1/namespaces/default/jobs", 500),
        ("GET", "/apis/batch/v1/namespaces/default/jobs", 500),
        ("GET", "/apis/batch/v1/namespaces/default/jobs", 200),
        ("GET", "/api/v1/namespaces/default/pods", 200),
    ]
    assert kube.requests[2].query == {"labelSelector": "run=r1"} and not kube.requests[2].watch
    kube.fail_for(0.3, status=503)
    with pytest.raises(ApiException) as unavailable:
        batch.list_namespaced_job(NS)
    assert unavailable.value.status == 503
    time.sleep(0.35)
    batch.list_namespaced_job(NS)


def test_token_and_kubeconfig(kube: FakeKubernetes, tmp_path: Any) -> None:
    path = kube.write_kubeconfig(tmp_path / "config", namespace="team")
    with config.new_client_from_config(config_file=str(path)) as from_config:
        assert client.VersionApi(from_config).get_code().git_version == "v1.31.0"
        assert client.CoreV1Api(from_config).list_namespaced_pod("team").items == []
    assert config.list_kube_config_contexts(config_file=str(path))[1]["context"]["namespace"] == "team"
    configuration = client.Configuration()
    configuration.host = kube.url
    with ApiClient(configuration) as anonymous, pytest.raises(ApiException) as unauthorized:
        client.CoreV1Api(anonymous).list_namespaced_pod(NS)
    assert unauthorized.value.status == 401


def test_stop_is_fast_and_leaves_no_process() -> None:
    with FakeKubernetes(command_map={"python": sys.executable}) as kube:
        kube.create(
            "batch/v1",
            "jobs",
            NS,
            job_manifest("stuck", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"),
        )
        (pid,) = kube.wait_for(lambda: list(kube.pod_processes().values()))
        started = time.monotonic()
    assert time.monotonic() - started < 1
    assert gone(pid)


def test_mapped_paths_are_the_pods_own_and_exit_hooks_read_them(kube: FakeKubernetes) -> None:
    """What workflow controllers build on: a step writes under a mapped prefix; a hook reads it after exit and may
    replace the termination message (as Tekton's entrypoint writes results there)."""
    read: dict[str, str] = {}

    def hook(pod: dict[str, Any], host_path: Any, code: int) -> str:
        with open(host_path("/tekton/results/answer")) as file:
            read[pod["metadata"]["name"]] = file.read()
        return f"exit {code}"

    kube.kubelet.mapped_prefixes.append("/tekton/results/")
    kube.kubelet.exit_hooks.append(hook)
    for name in ("one", "two"):  # each pod has its own folder: no pod sees another's files
        code = f"open('/tekton/results/answer', 'w').write('{name}')"
        kube.create(
            "v1",
            "pods",
            NS,
            {
                "metadata": {"name": name},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "python:3.12-slim", "command": ["python", "-c", code]}],
                },
            },
        )
    for name in ("one", "two"):
        pod = kube.wait_for(lambda n=name: (p := kube.get("v1", "pods", NS, n)) and p.get("status", {}).get("phase") == "Succeeded" and p)
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "exit 0"
    assert read == {"one": "one", "two": "two"}
