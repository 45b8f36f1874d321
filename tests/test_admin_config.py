"""The operating config keys (`state.database_url`, `usage_retention_days`, `admin`, `server.watch_config`)
are validated with their paths; the admin API's config view hides every secret."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.admin.redact import config_view
from gateway.config import ConfigError, parse

BASE: dict[str, Any] = {"providers": {"mock": {"type": "mock"}}, "models": {"demo": "mock/demo"}}


def problems(extra: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse({**BASE, **extra}, "test.yaml")
    return info.value.problems


def test_bad_database_and_admin_settings_name_their_paths() -> None:
    assert problems({"state": {"database_url": "mysql://x"}}) == [
        "state.database_url: expected sqlite:///path or postgresql://user:password@host/db"
    ]
    assert problems({"state": {"database_url": "sqlite:///:memory:"}})[0].startswith("state.database_url:")
    assert problems({"state": {"usage_retention_days": 0}}) == ["state.usage_retention_days: must be > 0"]
    assert problems({"admin": {"key": "short"}}) == ["admin.key: use at least 16 characters"]
    assert problems({"admin": {"key_sha256": "abc"}}) == [
        "admin.key_sha256: expected 64 hex digits (the sha256 of the key)"
    ]
    assert problems({"admin": {"token": "x"}})[0].startswith("admin.token: unknown key")
    assert problems({"server": {"watch_config": "often"}})[0].startswith("server.watch_config:")


def test_empty_values_from_unset_variables_mean_off() -> None:
    cfg = parse({**BASE, "state": {"database_url": ""}, "admin": {"key": ""}}, "test.yaml")
    assert cfg.state is not None and cfg.state.database_url is None and cfg.admin is None


def test_auth_may_hold_no_keys_when_the_database_does() -> None:
    cfg = parse({**BASE, "auth": {"keys": []}, "state": {"database_url": "sqlite:///k.db"}}, "test.yaml")
    assert cfg.auth is not None and cfg.auth.keys == []
    assert problems({"auth": {"keys": []}})[0].startswith("auth.keys: at least one key")


def test_config_view_hides_every_secret() -> None:
    cfg = parse(
        {
            "providers": {
                "oai": {
                    "type": "openai",
                    "base_url": "https://user:url-password@api.example.com/v1",
                    "api_key": "sk-upstream",
                    "headers": {"X-Auth": "header-secret"},
                }
            },
            "models": {"m": "oai/m"},
            "auth": {"keys": [{"name": "team", "key": "sk-team-secret"}]},
            "state": {
                "redis_url": "redis://:redis-password@r:6379/0",
                "database_url": "postgresql://u:db-password@h/db",
            },
            "admin": {"key": "admin-secret-0123456789"},
        },
        "test.yaml",
    )
    view = config_view(cfg)
    text = str(view)
    for secret in (
        "url-password",
        "sk-upstream",
        "header-secret",
        "sk-team-secret",
        "redis-password",
        "db-password",
        "admin-secret",
    ):
        assert secret not in text, secret
    assert view["providers"]["oai"]["headers"] == {"X-Auth": "***"}
    assert view["state"]["database_url"] == "postgresql://u:***@h/db"
    assert view["auth"]["keys"][0]["name"] == "team"  # names stay: they are not secrets
