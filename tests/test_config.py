"""The configuration file: where it is found, environment overrides, clear errors, and the reference page kept in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sluiceway import config
from sluiceway.config import ConfigError
from tests.conftest import REPO
from tests.databases import scratch_database

REFERENCE = REPO / "docs" / "reference" / "configuration.md"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_is_found_by_option_then_environment_then_default(tmp_path):
    given = write(tmp_path / "given.yaml", "metadata: {url: 'sqlite:///given.db'}\n")
    named = write(tmp_path / "named.yaml", "metadata: {url: 'sqlite:///named.db'}\n")
    environ = {"SLUICEWAY_CONFIG": str(named)}
    assert config.load(given, environ).metadata.url == "sqlite:///given.db"
    assert config.load(None, environ).metadata.url == "sqlite:///named.db"
    default = config.load(None, {})
    assert default.metadata.url is None and default.artifacts.url is None and default.source is None


def test_environment_variables_override_single_settings(tmp_path):
    named = write(tmp_path / "c.yaml", "metadata: {url: 'sqlite:///file.db'}\nartifacts: {url: 'file:///data'}\n")
    loaded = config.load(named, {"SLUICEWAY_METADATA__URL": "postgresql+psycopg://db/runs"})
    assert loaded.metadata.url == "postgresql+psycopg://db/runs" and loaded.artifacts.url == "file:///data"
    assert config.load(None, {"SLUICEWAY_ARTIFACTS__URL": "file:///elsewhere"}).artifacts.url == "file:///elsewhere"
    assert config.load(None, {"SLUICEWAY_HOME": "/x", "SLUICEWAY_FORK_SERVER": "0"}).metadata.url is None  # not overrides


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("metdata: {url: x}\n", {}, r"c\.yaml: object contains unknown field `metdata`"),
        ("metadata: {uri: x}\n", {}, r"c\.yaml: metadata: object contains unknown field `uri`"),
        ("metadata: {url: 5}\n", {}, r"c\.yaml: metadata\.url: expected `str \| null`, got `int`"),
        ("metadata: [1]\n", {}, r"c\.yaml: metadata: expected `object`, got `array`"),
        ("metadata:\n  url: 'x\n", {}, r"c\.yaml:\d+: not valid YAML"),
        ("- 1\n", {}, r"c\.yaml: a configuration file is a mapping of sections"),
        ("", {"SLUICEWAY_METADATA__URI": "x"}, r"with overrides from SLUICEWAY_METADATA__URI\): metadata: object contains unknown"),
        ("", {"SLUICEWAY_DATABASE__URL": "x"}, r"SLUICEWAY_DATABASE__URL: there is no configuration section 'database'"),
    ],
)
def test_mistakes_are_named_with_the_file_and_the_setting(tmp_path, text, environ, message):
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path / "c.yaml", text), environ)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read the configuration file .*nope\.yaml: No such file"):
        config.load(tmp_path / "nope.yaml", {})


def test_every_setting_is_documented_and_every_documented_setting_exists():
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", REFERENCE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    reference = config.settings_reference()
    assert documented == set(reference)
    assert all(reference.values()), "every setting has a docstring in sluiceway/config.py"


@pytest.mark.parametrize("server", ["postgresql", "mysql"])
def test_a_pipeline_runs_with_its_metadata_on_a_database_server(tmp_path, cli, server):
    home = tmp_path / "home"
    with scratch_database(server) as url:
        upgraded = cli("db", "upgrade", env={"SLUICEWAY_HOME": str(home), "SLUICEWAY_METADATA__URL": url})
        assert upgraded.returncode == 0, upgraded.stderr
        settings = write(tmp_path / "sluiceway.yaml", f"metadata:\n  url: '{url}'\n")
        env = {"SLUICEWAY_HOME": str(home)}
        ran = cli("--config", str(settings), "run", str(REPO / "examples" / "quickstart.py"), env=env)
        assert ran.returncode == 0, ran.stderr
        (run_id,) = re.findall(r"^run (\S+) SUCCEEDED", ran.stdout, flags=re.MULTILINE)
        listed = cli("runs", "list", env={**env, "SLUICEWAY_CONFIG": str(settings)})
        assert run_id in listed.stdout and "SUCCEEDED" in listed.stdout
        assert not (home / "metadata.db").exists()  # nothing went to the embedded SQLite
        assert run_id not in cli("runs", "list", env=env).stdout  # which is a different database


def test_a_database_server_behind_the_schema_is_refused_with_the_command(tmp_path, cli):
    with scratch_database("postgresql") as url:
        result = cli("run", str(REPO / "examples" / "quickstart.py"), env={"SLUICEWAY_HOME": str(tmp_path), "SLUICEWAY_METADATA__URL": url})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has schema version none" in result.stderr and "run `sluiceway db upgrade --url postgresql+psycopg://" in result.stderr


def test_artifacts_go_where_the_configuration_says(tmp_path, cli):
    elsewhere = tmp_path / "shared-artifacts"
    env = {"SLUICEWAY_HOME": str(tmp_path / "home"), "SLUICEWAY_ARTIFACTS__URL": elsewhere.as_uri()}
    ran = cli("run", str(REPO / "examples" / "train_and_evaluate.py"), env=env)
    assert ran.returncode == 0, ran.stderr
    assert any(path.is_file() for path in elsewhere.rglob("*"))
    assert not (tmp_path / "home" / "artifacts").exists()


def test_settings_that_do_not_fit_the_store_are_refused_before_anything_runs(tmp_path, cli):
    env = {"SLUICEWAY_HOME": str(tmp_path / "home"), "SLUICEWAY_ARTIFACTS__ENDPOINT": "http://127.0.0.1:9000"}
    result = cli("run", str(REPO / "examples" / "quickstart.py"), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the artifacts settings do not fit the file:// store" in result.stderr and "endpoint" in result.stderr
    unknown_store = cli("run", str(REPO / "examples" / "quickstart.py"), env={**env, "SLUICEWAY_ARTIFACTS__URL": "gs://bucket/x"})
    assert "no artifact store for gs:// URIs" in unknown_store.stderr
