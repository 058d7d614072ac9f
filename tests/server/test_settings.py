"""The `server` section of the configuration, and what the server does with auth."""

from __future__ import annotations

import logging

import pytest

from sluiceway import config
from sluiceway.config import ConfigError


def test_the_server_section_has_defaults_and_takes_overrides_from_the_environment(tmp_path):
    defaults = config.load(None, {}).server
    assert (defaults.host, defaults.port, defaults.max_body_bytes, defaults.auth.enabled) == ("127.0.0.1", 8888, 16 * 1024 * 1024, True)
    given = tmp_path / "sluiceway.yaml"
    given.write_text("server: {host: 0.0.0.0, port: 9000, auth: {enabled: true}}\n", encoding="utf-8")
    loaded = config.load(given, {"SLUICEWAY_SERVER__PORT": "9100", "SLUICEWAY_SERVER__AUTH__ENABLED": "false"}).server
    assert (loaded.host, loaded.port, loaded.auth.enabled) == ("0.0.0.0", 9100, False)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SLUICEWAY_SERVER__PORT": "70000"}, r"server\.port: expected `int` <= 65535"),
        ({"SLUICEWAY_SERVER__AUTH__ENABLD": "false"}, r"server\.auth: object contains unknown field `enabld`"),
        ({"SLUICEWAY_SERVER__AUTH__ENABLED": "maybe"}, r"server\.auth\.enabled: expected `bool`"),
        ({"SLUICEWAY_SERVER__MAX_BODY_BYTES": "0"}, r"server\.max_body_bytes: expected `int` >= 1"),
    ],
)
def test_mistakes_in_the_server_section_name_the_setting(environ, message):
    with pytest.raises(ConfigError, match=message):
        config.load(None, environ)


def test_auth_on_starts_quietly_and_auth_off_is_said_loudly(tmp_path, monkeypatch, caplog):
    from sluiceway.server import create_app

    monkeypatch.setenv("SLUICEWAY_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        create_app(config.load(None, {}))
    assert not any("AUTH IS DISABLED" in record.message for record in caplog.records)
    with caplog.at_level(logging.WARNING):
        create_app(config.load(None, {"SLUICEWAY_SERVER__AUTH__ENABLED": "false"}))
    assert any("AUTH IS DISABLED" in record.message and record.levelno == logging.WARNING for record in caplog.records)
