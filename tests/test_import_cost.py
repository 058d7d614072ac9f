"""What runs inside every task loads only what a task needs (the executor starts fast).

Import time itself is measured in bench/, never here; this checks which modules load.
"""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    return set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout))


def test_task_runtime_types_do_not_load_yaml_validation_or_the_dsl_builder():
    modules = loaded_after("import sluiceway.core.task_spec, sluiceway.dsl.artifacts, sluiceway.dsl.annotations")
    assert "sluiceway.core.task_spec" in modules and "sluiceway.dsl.artifacts" in modules
    unwanted = {"yaml", "sluiceway.core.validation", "sluiceway.core.serialize", "sluiceway.dsl.components", "pluggy", "click"}
    assert modules & unwanted == set()


def test_package_names_still_resolve_on_first_use():
    modules = loaded_after("from sluiceway.core import validate, Pipeline; from sluiceway import dsl; dsl.pipeline; dsl.If")
    assert {"sluiceway.core.validation", "sluiceway.dsl.pipelines", "sluiceway.dsl.control_flow"} <= modules


def test_the_executor_and_the_s3_store_load_boto3_only_when_a_request_is_made():
    modules = loaded_after(
        "import sluiceway.executor.run, sluiceway.stores.s3; sluiceway.stores.s3.S3ArtifactStore(endpoint_url='http://x')"
    )
    assert "sluiceway.stores.s3.store" in modules
    assert {name for name in modules if name.split(".")[0] in ("boto3", "botocore", "s3transfer")} == set()


def test_the_executor_and_the_oss_store_load_oss2_only_when_a_request_is_made():
    modules = loaded_after(
        "import sluiceway.executor.run, sluiceway.stores.oss; "
        "sluiceway.stores.oss.OssArtifactStore(endpoint='https://oss-cn-hangzhou.aliyuncs.com')"
    )
    assert "sluiceway.stores.oss.store" in modules and "sluiceway.stores.objects.store" in modules
    assert {name for name in modules if name.split(".")[0] in ("oss2", "crcmod", "requests", "aliyunsdkcore")} == set()
