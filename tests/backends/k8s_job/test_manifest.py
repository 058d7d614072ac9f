"""The Job of an attempt: every field the backend promises, and valid in strict mode against Kubernetes' own schemas
(the offline OpenAPI schemas of `kubernetes-validate`)."""

from __future__ import annotations

import kubernetes_validate
import pytest

from sluiceway.backends.k8s_job.manifest import (
    ATTEMPT_LABEL,
    RUN_LABEL,
    SPEC_ENV,
    STORES_ENV,
    TASK_LABEL,
    PodSettings,
    job_manifest,
    job_name,
    label_value,
)
from sluiceway.core import SluicewayError, ir
from sluiceway.core.task_spec import TaskSpec, decode_spec

KUBERNETES = "1.31.0"
"""The oldest version whose Job status rules the fake follows; the schemas of later versions accept the same Jobs."""


def validate(manifest: dict) -> None:
    for version in (KUBERNETES, kubernetes_validate.latest_version()):
        kubernetes_validate.validate(manifest, version, strict=True)


def component(implementation: ir.Implementation | None = None) -> ir.Component:
    return ir.Component(
        name="train",
        implementation=implementation or ir.PythonFunction(function="train", source="def train(): pass", base_image="python:3.11-slim"),
    )


def spec(run_id: str = "demo-20261128-231500-abc123", task: str = "train", attempt: int = 1, **fields) -> TaskSpec:
    return TaskSpec(
        run_id=run_id,
        task=task,
        attempt=attempt,
        component=fields.pop("component", component()),
        output_root=f"s3://bucket/runs/{run_id}/{task}/{attempt}",
        work_dir="/home/me/.sluiceway/runs/x/work",
        result_path="/home/me/.sluiceway/runs/x/result.json",
        **fields,
    )


FULL_SETTINGS = ir.TaskSettings(
    timeout_seconds=90.5,
    resources=ir.Resources(
        cpu_request="500m", cpu_limit="2", memory_request="1Gi", memory_limit="4Gi", accelerator_type="nvidia.com/gpu", accelerator_count=1
    ),
    secrets=(ir.SecretRef(secret="db-password", env={"DB_PASSWORD": "password"}), ir.SecretRef(secret="tls.cert", mount_path="/etc/tls")),
    node_selector={"pool": "gpu"},
)
POD_SETTINGS = PodSettings(
    namespace="ml",
    image="registry.internal/sluiceway-runtime:0.1.0",
    service_account="pipeline-runner",
    image_pull_secrets=("registry-login",),
    node_selector={"zone": "a"},
    tolerations=({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},),
    labels={"team": "vision"},
    annotations={"owner": "vision@example.com"},
    ttl_seconds_after_finished=600,
    credentials_secret="artifact-credentials",
)


def test_a_job_carries_everything_the_task_asks_for_and_is_valid():
    manifest = job_manifest(spec(), FULL_SETTINGS, POD_SETTINGS, result_uri="s3://bucket/r.json", timeout_seconds=90.5)
    validate(manifest)
    job = manifest["spec"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert job["backoffLimit"] == 0  # never Kubernetes' default of 6: the engine makes each retry a Job of its own
    assert job["ttlSecondsAfterFinished"] == 600
    assert pod["restartPolicy"] == "Never"
    assert job["activeDeadlineSeconds"] == 91  # the attempt's timeout, whole seconds, rounded up (one Job per attempt)
    assert pod["terminationGracePeriodSeconds"] == 5
    assert pod["nodeSelector"] == {"zone": "a", "pool": "gpu"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "pipeline-runner"
    assert pod["imagePullSecrets"] == [{"name": "registry-login"}]
    assert container["image"] == "registry.internal/sluiceway-runtime:0.1.0"
    assert container["command"] == ["python", "-m", "sluiceway.executor", "--spec-env", SPEC_ENV]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-password", "key": "password"}}} in container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "artifact-credentials"}}]
    mounted = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[mounted["/etc/tls"]]["secret"] == {"secretName": "tls.cert"}
    assert len(volumes) == len(pod["volumes"])  # names never collide
    assert "emptyDir" in volumes[mounted["/tmp/sluiceway"]]
    labels = manifest["metadata"]["labels"]
    assert labels == {"team": "vision", RUN_LABEL: "demo-20261128-231500-abc123", TASK_LABEL: "train", ATTEMPT_LABEL: "1"}
    assert job["template"]["metadata"]["labels"] == labels
    assert manifest["metadata"]["annotations"]["owner"] == "vision@example.com"


def test_the_pod_gets_the_task_spec_with_its_own_paths_and_a_result_uri():
    manifest = job_manifest(spec(), ir.TaskSettings(), POD_SETTINGS, result_uri="s3://bucket/result.json", timeout_seconds=None)
    env = {entry["name"]: entry.get("value") for entry in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    in_pod = decode_spec(env[SPEC_ENV].encode())
    assert in_pod.result_uri == "s3://bucket/result.json"
    assert in_pod.work_dir.startswith("/tmp/sluiceway/") and in_pod.result_path.startswith("/tmp/sluiceway/")
    assert in_pod.component == spec().component and in_pod.output_root == spec().output_root
    assert "activeDeadlineSeconds" not in manifest["spec"]


def test_a_bare_job_is_valid_too():
    manifest = job_manifest(spec(), ir.TaskSettings(), PodSettings(image="runtime:1"), result_uri="file:///r.json", timeout_seconds=None)
    validate(manifest)
    assert manifest["metadata"]["namespace"] == "default"
    assert set(manifest["spec"]["template"]["spec"]) == {"restartPolicy", "terminationGracePeriodSeconds", "containers", "volumes"}


def test_packages_are_installed_in_the_pod_before_the_executor_starts():
    with_packages = component(
        ir.PythonFunction(
            function="f",
            source="def f(): pass",
            base_image="python:3.11-slim",
            packages_to_install=("pandas==2.2.0",),
            pip_index_urls=("https://pypi.internal/simple",),
        )
    )
    manifest = job_manifest(spec(component=with_packages), ir.TaskSettings(), POD_SETTINGS, result_uri="s3://b/r", timeout_seconds=None)
    validate(manifest)
    command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["sh", "-c"]
    folder = f"/tmp/sluiceway/{job_name('demo-20261128-231500-abc123', 'train', 1)}"
    assert command[2] == (
        "python -m pip install --quiet --no-warn-script-location --disable-pip-version-check"
        f" --index-url https://pypi.internal/simple --target {folder}/packages pandas==2.2.0"
        f' && export PYTHONPATH={folder}/packages"${{PYTHONPATH:+:$PYTHONPATH}}"'
        f" && exec python -m sluiceway.executor --spec-env {SPEC_ENV}"
    )


def test_container_components_run_in_their_own_image_and_python_ones_with_a_base_image_in_theirs():
    container = component(ir.Container(image="ghcr.io/acme/trainer:3", command=("train",)))
    custom = component(ir.PythonFunction(function="f", source="def f(): pass", base_image="ghcr.io/acme/py-with-sluiceway:1"))
    for given, image in ((container, "ghcr.io/acme/trainer:3"), (custom, "ghcr.io/acme/py-with-sluiceway:1")):
        manifest = job_manifest(spec(component=given), ir.TaskSettings(), POD_SETTINGS, result_uri="s3://b/r", timeout_seconds=None)
        assert manifest["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_without_a_runtime_image_a_default_python_component_is_refused():
    with pytest.raises(SluicewayError, match=r"the k8s_job backend needs `backend\.image`"):
        job_manifest(spec(), ir.TaskSettings(), PodSettings(), result_uri="s3://b/r", timeout_seconds=None)


@pytest.mark.parametrize(
    ("run_id", "task", "attempt"),
    [
        ("demo-20261128-231500-abc123", "train", 1),
        ("Demo_Pipeline-20261128-231500-abc123", "train-3", 2),  # uppercase and underscores
        ("a-very-long-pipeline-name-that-goes-on-and-on-20261128-231500-abc123", "a-long-task-name-in-a-loop-17", 12),
    ],
)
def test_job_names_and_labels_are_valid_and_never_shared(run_id: str, task: str, attempt: int):
    manifest = job_manifest(spec(run_id, task, attempt), ir.TaskSettings(), POD_SETTINGS, result_uri="s3://b/r", timeout_seconds=None)
    validate(manifest)
    name = manifest["metadata"]["name"]
    assert len(name) <= 63 and name == name.lower() and name[0].isalnum() and name[-1].isalnum()
    assert name != job_name(run_id, task, attempt + 1)
    assert manifest["metadata"]["annotations"][RUN_LABEL] == run_id  # whole, where a label had to be cut
    assert len(label_value(run_id)) <= 63


def test_a_spec_too_large_for_the_environment_is_read_from_the_artifact_store():
    manifest = job_manifest(
        spec(), ir.TaskSettings(), POD_SETTINGS, result_uri="s3://b/r", timeout_seconds=None, spec_uri="s3://b/spec.json"
    )
    validate(manifest)
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "sluiceway.executor", "--spec-uri", "s3://b/spec.json"]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert SPEC_ENV not in env and env[STORES_ENV] == "{}"
