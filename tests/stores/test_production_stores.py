"""The embedded engine on production stores, end to end: metadata on PostgreSQL, artifacts in S3 (SeaweedFS, which
checks every signature), chosen by one configuration file. Runs, caching and lineage work as on the defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.databases import scratch_database
from tests.s3_servers import S3Server, Scratch


def test_postgresql_and_s3_from_one_configuration_file(seaweedfs_s3: S3Server, tmp_path: Path, cli: Any):
    place = Scratch(seaweedfs_s3)
    home = {"SLUICEWAY_HOME": str(tmp_path / "home")}
    secret = seaweedfs_s3.admin.secret_access_key
    with scratch_database("postgresql") as url:
        settings = tmp_path / "sluiceway.yaml"
        settings.write_text(
            json.dumps(  # JSON is YAML
                {
                    "metadata": {"url": url},
                    "artifacts": {
                        "url": place.uri("artifacts"),
                        "endpoint": seaweedfs_s3.endpoint_url,
                        "region": "us-east-1",
                        "access_key_id": seaweedfs_s3.admin.access_key_id,
                        "secret_access_key": secret,
                    },
                }
            )
        )

        def sluiceway(*args: str) -> Any:
            return cli("--config", str(settings), *args, env=home)

        assert sluiceway("db", "upgrade").returncode == 0
        first = sluiceway("run", str(REPO / "examples" / "train_and_evaluate.py"))
        assert first.returncode == 0, first.stderr
        (run_id,) = re.findall(r"^run (\S+) SUCCEEDED", first.stdout, flags=re.MULTILINE)
        stored = place.keys()
        (model,) = [name for name in stored if name.endswith("/train-model/1/model")]
        model_uri = place.uri(model)

        again = sluiceway("run", str(REPO / "examples" / "train_and_evaluate.py"))
        assert again.returncode == 0 and "≡ train-model cached" in again.stdout  # the entry's artifacts are checked in S3

        lineage = sluiceway("lineage", model_uri)
        assert lineage.returncode == 0, lineage.stderr
        assert f"{run_id}/train-model" in lineage.stdout

        listed = json.loads(sluiceway("runs", "list", "--output", "json").stdout)
        assert [run["state"] for run in listed] == ["SUCCEEDED", "SUCCEEDED"]
        for output in (first, again, lineage):
            assert secret not in output.stdout + output.stderr
    assert not (tmp_path / "home" / "metadata.db").exists() and not (tmp_path / "home" / "artifacts").exists()
    assert [path for path in (tmp_path / "home").rglob("*") if path.is_file() and secret.encode() in path.read_bytes()] == []
