"""Plugins: built-ins and installed third-party packages register through the same hooks."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sluiceway.core import PluginError
from sluiceway.plugins import PluginManager, hookimpl, hookspecs
from tests.conftest import REPO, run_cli

PACKAGES = Path(__file__).resolve().parents[1] / "plugin_packages"


def install(package: str, target: Path) -> None:
    """Really install a plugin package (built as a wheel by pip) into `target`."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(PACKAGES / package)],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    install("acme_backend", target)
    return target


@pytest.fixture(scope="module")
def clashing_site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("clashing-site")
    install("clashing_store", target)
    return target


def test_built_ins_are_listed_with_their_origin():
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    (local,) = [r for r in listing["registered"] if r["name"] == "file"]
    assert local["kind"] == "artifact_store" and local["plugin"] == "sluiceway.plugins.builtins"
    assert re.fullmatch(r"sluiceway \S+ \(built-in\)", local["origin"])


def test_an_installed_third_party_plugin_is_listed(site: Path):
    result = run_cli("plugins", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  acme\s+Runs pipelines on the Acme cluster\s+\[plugin acme, acme-backend 1\.2\.0\]$", result.stdout, re.M)
    assert re.search(r"^  acme\s+Acme object storage\s+\[plugin acme, acme-backend 1\.2\.0\]$", result.stdout, re.M)
    assert re.search(r"^  file\s+.*\[plugin sluiceway\.plugins\.builtins", result.stdout, re.M)


def test_a_name_clash_names_both_plugins(clashing_site: Path):
    result = run_cli("plugins", env={"PYTHONPATH": str(clashing_site)})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "artifact store 'file' is registered twice: by plugin 'sluiceway.plugins.builtins'" in result.stderr
    assert "by plugin 'clashing' (clashing-store 0.3.0)" in result.stderr


def test_a_plugin_can_be_disabled(clashing_site: Path):
    result = run_cli("plugins", env={"PYTHONPATH": str(clashing_site), "SLUICEWAY_DISABLE_PLUGINS": "clashing"})
    assert result.returncode == 0, result.stderr
    assert "clashing" not in result.stdout


def test_registered_targets_load_lazily_and_say_when_they_cannot(site: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    manager = PluginManager()
    backend = manager.registry.get("backend", "acme")
    assert backend.load().__name__ == "AcmeBackend"
    with pytest.raises(PluginError, match=r"no backend named 'nope' is installed \(installed: acme, argo, k8s_job, local, tekton\)"):
        manager.registry.get("backend", "nope")


def test_observer_hooks_reach_every_plugin():
    seen = []

    class Recorder:
        @hookimpl
        def after_task(self, run_id, task_name, attempt, state):
            seen.append((run_id, task_name, attempt, state))

    manager = PluginManager(load_entry_points=False)
    manager.register(Recorder(), name="recorder", origin="tests")
    manager.hook.after_task(run_id="r1", task_name="train", attempt=2, state="FAILED")
    assert seen == [("r1", "train", 2, "FAILED")]


def test_managers_are_independent():
    first, second = PluginManager(load_entry_points=False), PluginManager(load_entry_points=False)
    first.register(object(), name="only-in-first", origin="tests")
    assert "only-in-first" in dict(first.plugins()) and "only-in-first" not in dict(second.plugins())


def test_every_hook_is_documented_with_its_signature():
    reference = (REPO / "docs" / "reference" / "plugins.md").read_text()
    hooks = [name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "sluiceway_spec")]
    assert len(hooks) == 10
    for name in hooks:
        signature = f"{name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")
        assert f"`{signature}`" in reference, f"docs/reference/plugins.md lacks `{signature}`"


def test_observer_hooks_hear_a_real_run(site: Path, tmp_path: Path):
    source = tmp_path / "hello.py"
    source.write_text(
        "from sluiceway import dsl\n\n\n@dsl.component\ndef hi() -> str:\n    return 'hi'\n\n\n@dsl.pipeline(name='greet')\ndef greet():\n    hi()\n"
    )
    result = run_cli("run", str(source), env={"PYTHONPATH": str(site), "SLUICEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    assert re.search(r"^acme saw run greet-\S+ of greet$", result.stdout, re.M)


def test_the_built_in_backend_and_stores_are_registered():
    registry = PluginManager(load_entry_points=False).registry
    assert [(e.kind, e.name) for e in registry.all()] == [
        ("backend", "argo"),
        ("backend", "k8s_job"),
        ("backend", "local"),
        ("backend", "tekton"),
        ("metadata_store", "sql"),
        ("artifact_store", "file"),
        ("artifact_store", "oss"),
        ("artifact_store", "s3"),
    ]
    assert registry.get("artifact_store", "s3").load().__name__ == "S3ArtifactStore"
    assert registry.get("artifact_store", "oss").load().__name__ == "OssArtifactStore"
    assert registry.get("backend", "argo").load().__name__ == "ArgoLauncher"
    assert registry.get("backend", "tekton").load().__name__ == "TektonLauncher"
    assert registry.get("backend", "local").load().__name__ == "LocalLauncher"
